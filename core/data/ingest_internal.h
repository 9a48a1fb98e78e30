/* The parsers behind ft_ingest (internal to core/ and the fuzz harnesses).
 *
 * Each parser reads from an ft_stream (or a safetensors handle), honours the
 * resolved options, and on success returns a dataset and adds its
 * format-specific facts (label column, skipped entries, warnings, ...) to
 * `info`, a JSON object that becomes part of the summary. Messages name the
 * place in the input but not the file: ft_ingest adds that prefix. */
#ifndef FT_INGEST_INTERNAL_H
#define FT_INGEST_INTERNAL_H

#include "core/data/ingest.h"
#include "core/util/safetensors.h"
#include "core/util/stream.h"

/* opt with every 0 field replaced by its default (opt may be NULL). */
void ft_ingest_resolve(const ft_ingest_options *opt, ft_ingest_options *out);

/* Start gunzipping the stream if it begins with gzip magic. */
int ft_stream_auto_gunzip(ft_stream *s, const ft_ingest_options *opt, ft_error *err);

/* Gunzip if needed, then take opt->format or recognise the content (and,
 * failing that, the extension of `name`). */
int ft_sniff_stream(ft_stream *s, const ft_ingest_options *opt, const char *name, ft_format *fmt,
                    ft_error *err);

/* CSV text (the stream may be gunzipped). */
int ft_csv_parse(ft_stream *in, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                 ft_error *err);

/* A tar archive of <class>/<name>.png (the streams may be gunzipped).
 * `prescan` is a second stream over the same archive: it is read first to
 * count the images, so that the dataset budget is checked before any image
 * is decoded. */
int ft_images_tar_parse(ft_stream *in, ft_stream *prescan, const ft_ingest_options *opt, ft_dataset **out,
                        json_t *info, ft_error *err);

/* An IDX pair; the names prefix messages about one file of the pair. */
int ft_idx_parse(ft_stream *images, const char *images_name, ft_stream *labels,
                 const char *labels_name, const ft_ingest_options *opt, ft_dataset **out,
                 ft_error *err);

/* Read an IDX header from a stream (consuming it). */
int ft_idx_read_header(ft_stream *in, ft_idx_header *h, ft_error *err);

/* A safetensors file holding x and y. */
int ft_st_dataset_parse(ft_st_file *f, const ft_ingest_options *opt, ft_dataset **out,
                        json_t *info, ft_error *err);

/* Append a warning sentence to info["warnings"]. */
void ft_info_warn(json_t *info, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
