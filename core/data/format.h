/* One descriptor per dataset format (internal to core/data and the fuzz
 * harnesses), in the manner of KANN's operator table and SQLite's virtual
 * table modules: a format is one file, core/data/format_<name>.c, that
 * defines `const ft_format_desc ft_format_<name>`, plus one row in
 * core/data/format_list.h. formats.c sniffs by iterating the table, ingest.c
 * dispatches through it, and tests/fuzz builds one target per format file.
 *
 * A parser reads already-opened (and gunzipped) streams, honours the
 * resolved options, and on success returns a dataset and adds its
 * format-specific facts (label column, skipped entries, warnings, ...) to
 * `info`, a JSON object that becomes part of the summary. A one-file
 * format's messages name the place in the input but not the file: ft_ingest
 * adds that prefix; a two-file format names the file at fault itself. */
#ifndef FT_FORMAT_H
#define FT_FORMAT_H

#include <stdbool.h>

#include "core/data/format_list.h"
#include "core/data/ingest.h"
#include "core/util/safetensors.h"
#include "core/util/stream.h"

/* How sure a look at a file's first bytes is. */
typedef enum {
    FT_SNIFF_NO = 0, /* not this format */
    FT_SNIFF_WEAK,   /* could be (plain text): a file-name ending overrides it */
    FT_SNIFF_SURE    /* a magic number or a valid header */
} ft_sniff;

/* The upload options a format reads (bits of ft_format_desc.options). */
enum {
    FT_OPT_LABEL = 1u << 0,      /* "label" */
    FT_OPT_TASK = 1u << 1,       /* "task" */
    FT_OPT_DELIMITER = 1u << 2,  /* "delimiter" */
    FT_OPT_HEADER = 1u << 3,     /* "header" */
    FT_OPT_IMAGE_SIZE = 1u << 4, /* "image_size" */
    FT_OPT_COLOR = 1u << 5,      /* "color" */
    FT_OPT_FIT = 1u << 6         /* "fit" */
};

/* Most files a format reads (an IDX pair). */
#define FT_FORMAT_MAX_FILES 2

/* One input file of a dataset: a path or a memory buffer, and its stream. */
typedef struct {
    const char *path;  /* the file, or NULL when data is given */
    const char *name;  /* what messages and the summary call it (may be NULL) */
    const void *data;  /* or: its bytes in memory */
    size_t len;        /* their count */
    ft_stream *stream; /* open on it, gunzipped if it was gzip (set by ft_ingest_files) */
} ft_format_file;

/* A dataset format. */
typedef struct {
    ft_format id;                /* its enum value (from its row in format_list.h) */
    const char *name;            /* "csv": the format option's spelling and the summary's "format" */
    const char *what;            /* "CSV text": how messages list it */
    const char *const *suffixes; /* file-name endings that suggest it (NULL-terminated) */
    int files;                   /* 1, or 2 for an images file and a labels file (the source's pair) */
    unsigned options;            /* FT_OPT_* bits: the upload options it reads */
    /* Recognise the first n bytes of a file (n may be short: the whole file),
     * decoded if `gz` (the file was gzip-compressed); NULL: never sniffed. */
    ft_sniff (*sniff)(const unsigned char *head, size_t n, bool gz);
    /* Parse files[0 .. files) into *out; see the header comment. */
    int (*parse)(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                 ft_error *err);
    /* Fuzz entry: set the options this format reads from the leading bytes
     * of a fuzz input (size >= 1) and return how many it used; the rest is
     * the format's file(s). NULL: the format takes no options. */
    size_t (*fuzz_options)(const uint8_t *data, size_t size, ft_ingest_options *opt);
} ft_format_desc;

#define FT_FORMAT_DECLARE(ID, name) extern const ft_format_desc ft_format_##name;
FT_FORMAT_LIST(FT_FORMAT_DECLARE)
#undef FT_FORMAT_DECLARE

/* The descriptor of a format (NULL for FT_FORMAT_AUTO or an invalid value). */
const ft_format_desc *ft_format_find(ft_format id);

/* The descriptor spelled `name` (case-insensitive), or NULL. */
const ft_format_desc *ft_format_by_name(const char *name);

/* Every format's FT_OPT_* bits together: the options some format reads. */
unsigned ft_format_options_read(void);

/* The first two-file format (what an images + labels source holds). */
const ft_format_desc *ft_format_pair(void);

/* Gunzip if needed, then take opt->format or recognise the content (and,
 * failing that, the extension of `name`). */
int ft_sniff_stream(ft_stream *s, const ft_ingest_options *opt, const char *name, const ft_format_desc **fmt,
                    ft_error *err);

/* Ingest files[0 .. n): one file (its format sniffed unless opt->format
 * says) or an images + labels pair; as ft_ingest otherwise. The fuzz
 * harness calls it with files in memory. */
int ft_ingest_files(ft_format_file *files, int n, const ft_ingest_options *opt, ft_dataset **out,
                    json_t **summary, ft_error *err);

/* opt with every 0 field replaced by its default (opt may be NULL). */
void ft_ingest_resolve(const ft_ingest_options *opt, ft_ingest_options *out);

/* Refuse options out of range (a caller may set the struct directly). */
int ft_ingest_check(const ft_ingest_options *opt, ft_error *err);

/* A safetensors file holding x and y; also the loader of stored datasets. */
int ft_st_dataset_parse(ft_st_file *f, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                        ft_error *err);

#endif
