/* The dataset formats: one row each, X(ENUM_SUFFIX, name). The row gives the
 * format its ft_format value (FT_FORMAT_<ENUM_SUFFIX>) and registers its
 * descriptor, ft_format_<name>, defined in core/data/format_<name>.c (the
 * fuzz build finds the format's libFuzzer target by that file name too).
 * Content sniffing tries the rows in this order. */
#ifndef FT_FORMAT_LIST_H
#define FT_FORMAT_LIST_H

#define FT_FORMAT_LIST(X)  \
    X(CSV, csv)            \
    X(TAR, tar)            \
    X(ZIP, zip)            \
    X(IDX, idx)            \
    X(SAFETENSORS, safetensors)

#endif
