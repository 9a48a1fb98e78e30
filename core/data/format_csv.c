/* The CSV format: a header row naming the columns, numeric features, one
 * label column (by name, default the last). Any text is CSV to the sniffer
 * (weakly: a file name ending in .tar, say, overrides it).
 *
 * Besides plain CSV this recognises scikit-learn's bundled format, whose first
 * line is "n_samples,n_features[,class names]" (iris.csv, wine_data.csv,
 * breast_cancer.csv; boston_house_prices.csv has a real header after it):
 * the file is recognised only when the second line has n_features + 1
 * fields, and then the row count is checked against n_samples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/csv_labels.h"
#include "core/data/csv_reader.h"
#include "core/data/format.h"
#include "core/util/numparse.h"

typedef struct {
    ft_csv_reader rd;     /* tokenizer */
    const ft_ingest_options *opt;
    char **names;         /* column names (owned) */
    size_t ncols;         /* columns in the header */
    size_t label;         /* 0-based label column */
    int features;         /* ncols - 1 */
    ft_chunkbuf x;        /* parsed feature rows */
    ft_csv_labels labels; /* parsed labels */
    uint64_t sk_rows;     /* rows promised by a scikit-learn header, or 0 */
    json_t *sk_classes;   /* class names from a scikit-learn header, or NULL */
    uint64_t header_line; /* line of the header row */
    json_t *info;         /* summary facts */
} csv_parser;

static void free_names(csv_parser *c)
{
    for (size_t i = 0; c->names && i < c->ncols; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
}

/* Copy the current record's fields as column names. */
static int take_names(csv_parser *c, ft_error *err)
{
    ft_csv_reader *r = &c->rd;
    if (r->nfields > c->opt->max_columns)
        return ft_fail(err, FT_ETOOBIG, NULL, "line %llu: %zu columns exceed the limit of %llu",
                       (unsigned long long)r->line, r->nfields, (unsigned long long)c->opt->max_columns);
    free_names(c);
    c->ncols = r->nfields;
    if (!(c->names = calloc(c->ncols, sizeof *c->names)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < c->ncols; i++) {
        ft_csv_field f = r->field[i];
        if (!ft_utf8_valid(f.p, f.n))
            return ft_fail(err, FT_EFORMAT, NULL,
                           "line %llu, column %zu: the column name is not valid UTF-8 (the file must be UTF-8)",
                           (unsigned long long)r->line, i + 1);
        char gen[32];
        if (f.n == 0)
            snprintf(gen, sizeof gen, "column_%zu", i + 1);
        if (!(c->names[i] = f.n ? strndup(f.p, f.n) : strdup(gen)))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    return 0;
}

static int name_columns(csv_parser *c, size_t n, int sklearn, ft_error *err)
{
    free_names(c);
    c->ncols = n;
    if (!(c->names = calloc(n, sizeof *c->names)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char gen[32];
        if (sklearn)
            snprintf(gen, sizeof gen, i + 1 == n ? "target" : "feature_%zu", i);
        else
            snprintf(gen, sizeof gen, "%zu", i);
        if (!(c->names[i] = strdup(gen)))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    return 0;
}

static int all_numeric(const ft_csv_reader *r)
{
    float v;
    for (size_t i = 0; i < r->nfields && i < r->fcap; i++)
        if (ft_parse_f32(r->field[i].p, r->field[i].n, &v) != FT_NUM_OK)
            return 0;
    return 1;
}

static int names_numeric(const csv_parser *c)
{
    float v;
    for (size_t i = 0; i < c->ncols; i++)
        if (ft_parse_f32(c->names[i], strlen(c->names[i]), &v) != FT_NUM_OK)
            return 0;
    return 1;
}

/* The first line "n_samples,n_features[,names...]" of scikit-learn's files:
 * two positive integers, then either class names (none numeric) or nothing. */
static int sklearn_first_line(const ft_csv_reader *r, uint64_t *rows, uint64_t *feats, int *named)
{
    if (r->nfields < 2 || r->nfields > r->fcap)
        return 0;
    float v;
    for (int i = 0; i < 2; i++) {
        ft_csv_field f = r->field[i];
        if (!ft_is_int_token(f.p, f.n) || f.p[0] == '-' || f.p[0] == '+' ||
            ft_parse_f32(f.p, f.n, &v) != FT_NUM_OK || v < 1)
            return 0;
        *(i ? feats : rows) = (uint64_t)v;
    }
    size_t empty = 0, names = 0;
    for (size_t i = 2; i < r->nfields; i++) {
        ft_csv_field f = r->field[i];
        if (f.n == 0)
            empty++;
        else if (ft_parse_f32(f.p, f.n, &v) == FT_NUM_INVALID)
            names++;
    }
    *named = names > 0;
    return empty == r->nfields - 2 || names == r->nfields - 2;
}

static int find_label(csv_parser *c, ft_error *err)
{
    const char *want = c->opt->label;
    if (!want) {
        c->label = c->ncols - 1;
        return 0;
    }
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < c->ncols; i++) {
        if (strcmp(c->names[i], want) != 0)
            continue;
        if (found != SIZE_MAX)
            return ft_fail(err, FT_EINVAL, "label", "the label column '%s' appears twice (columns %zu and %zu)",
                           want, found + 1, i + 1);
        found = i;
    }
    if (found == SIZE_MAX) {
        char list[300] = "";
        for (size_t i = 0; i < c->ncols; i++) {
            size_t used = strlen(list);
            if (used + strlen(c->names[i]) + 8 >= sizeof list) {
                snprintf(list + used, sizeof list - used, ", ...");
                break;
            }
            snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", c->names[i]);
        }
        return ft_fail(err, FT_EINVAL, "label", "there is no column named '%s' (the columns are %s)",
                       want, list);
    }
    c->label = found;
    return 0;
}

static int number_fail(const csv_parser *c, size_t col, ft_num_status st, const ft_csv_field *f, ft_error *err)
{
    char text[256];
    ft_msg_text(text, sizeof text, f->p, f->n);
    const char *what = st == FT_NUM_EMPTY       ? "missing value"
                       : st == FT_NUM_NONFINITE ? "is not a finite number (NaN and infinity are not allowed)"
                       : st == FT_NUM_RANGE     ? "is out of the float32 range"
                                                : "is not a number";
    if (st == FT_NUM_EMPTY)
        return ft_fail(err, FT_EFORMAT, NULL, "line %llu, column %zu ('%s'): missing value",
                       (unsigned long long)c->rd.line, col + 1, c->names[col]);
    return ft_fail(err, FT_EFORMAT, NULL, "line %llu, column %zu ('%s'): '%s' %s",
                   (unsigned long long)c->rd.line, col + 1, c->names[col], text, what);
}

/* Parse the current record as a data row. */
static int data_row(csv_parser *c, ft_error *err)
{
    ft_csv_reader *r = &c->rd;
    if (r->nfields != c->ncols)
        return ft_fail(err, FT_EFORMAT, NULL, "line %llu: expected %zu fields (as in the header) but found %zu",
                       (unsigned long long)r->line, c->ncols, r->nfields);
    size_t row_bytes = (size_t)c->features * sizeof(float);
    /* Stored size as the rows accumulate: features plus a 4-byte label or target. */
    if (ft_ingest_budget(c->labels.nrows + 1, row_bytes + sizeof(float), c->opt->max_dataset_bytes, err) != 0) {
        ft_error_prefix(err, "line %llu", (unsigned long long)r->line);
        return -1;
    }
    float *x = ft_chunkbuf_reserve(&c->x, row_bytes, err);
    if (!x)
        return -1;
    for (size_t j = 0; j < c->ncols; j++) {
        const ft_csv_field *f = &r->field[j];
        if (j == c->label)
            continue;
        ft_num_status st = ft_parse_f32(f->p, f->n, x);
        if (st != FT_NUM_OK)
            return number_fail(c, j, st, f, err);
        x++;
    }
    const ft_csv_field *lf = &r->field[c->label];
    return ft_csv_labels_add(&c->labels, lf->p, lf->n, r->line, err);
}

/* The header, or the scikit-learn first line and what follows it. Leaves
 * *pending set when the current record is a data row still to parse. */
static int read_header(csv_parser *c, int *pending, ft_error *err)
{
    ft_csv_reader *r = &c->rd;
    int rc = ft_csv_next(r, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return ft_fail(err, FT_EFORMAT, NULL, "the file is empty");
    *pending = 0;
    c->header_line = r->line;
    if (c->opt->no_header) {
        if (r->nfields > c->opt->max_columns)
            return take_names(c, err); /* reports the limit */
        *pending = 1;
        return name_columns(c, r->nfields, 0, err);
    }
    uint64_t rows = 0, feats = 0;
    int named = 0;
    int sklearn = sklearn_first_line(r, &rows, &feats, &named);
    if (take_names(c, err) != 0)
        return -1;
    if (sklearn) {
        rc = ft_csv_next(r, err);
        if (rc < 0)
            return -1;
        if (rc == 1 && r->nfields == feats + 1) {
            c->sk_rows = rows;
            if (named) {
                /* Line 1 names the classes; the columns have no names. */
                if (!(c->sk_classes = json_array()))
                    return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
                for (size_t i = 2; i < c->ncols; i++)
                    json_array_append_new(c->sk_classes, json_string(c->names[i]));
                *pending = 1;
                return name_columns(c, r->nfields, 1, err);
            }
            if (!all_numeric(r)) { /* line 2 is the real header */
                c->header_line = r->line;
                return take_names(c, err);
            }
            *pending = 1;
            return name_columns(c, r->nfields, 1, err);
        }
        /* Not scikit-learn's format after all: line 1 is an ordinary header. */
        *pending = rc == 1;
    }
    if (names_numeric(c))
        return ft_fail(err, FT_EFORMAT, NULL,
                       "line %llu: the header row is all numbers; the first line must name the columns "
                       "(or pass header=false)", (unsigned long long)c->header_line);
    return 0;
}

/* Warn about header fields that were empty and got generated names. */
static void warn_unnamed(csv_parser *c)
{
    size_t unnamed = 0, first = 0;
    for (size_t i = 0; i < c->ncols; i++) {
        char gen[32];
        snprintf(gen, sizeof gen, "column_%zu", i + 1);
        if (strcmp(c->names[i], gen) == 0 && unnamed++ == 0)
            first = i;
    }
    if (unnamed == 1)
        ft_info_warn(c->info, "column %zu has no name and is called 'column_%zu'%s", first + 1, first + 1,
                     first == 0 ? " (a pandas index written by to_csv? use index=False)" : "");
    else if (unnamed > 1)
        ft_info_warn(c->info, "%zu columns have no name and are called 'column_N' (N = their position)", unnamed);
}

static int check_columns(csv_parser *c, ft_error *err)
{
    if (c->ncols >= 2)
        return 0;
    const char *hint = "";
    const char *name = c->names[0];
    if (strchr(name, ';'))
        hint = " (it contains ';': pass delimiter=';')";
    else if (strchr(name, '\t') && c->opt->delimiter != ' ')
        hint = " (it contains tabs: pass delimiter=tab)";
    else if (strchr(name, ' ') && c->opt->delimiter != ' ')
        hint = " (it contains spaces: pass delimiter=whitespace if the file is space-separated)";
    return ft_fail(err, FT_EFORMAT, NULL,
                   "line %llu: the header has only one column; a dataset needs at least one feature "
                   "column and a label column%s",
                   (unsigned long long)c->rd.line, hint);
}

static int parse(csv_parser *c, ft_dataset **out, ft_error *err)
{
    int pending = 0;
    if (read_header(c, &pending, err) != 0 || check_columns(c, err) != 0 || find_label(c, err) != 0)
        return -1;
    warn_unnamed(c);
    if (c->ncols - 1 > INT32_MAX)
        return ft_fail(err, FT_ETOOBIG, NULL, "too many columns");
    c->features = (int)(c->ncols - 1);
    c->labels.column = c->names[c->label];
    c->labels.col = c->label + 1;
    if (c->sk_classes && c->label + 1 == c->ncols) {
        size_t k = json_array_size(c->sk_classes);
        char **names = calloc(k, sizeof *names);
        if (!names)
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        for (size_t i = 0; i < k; i++)
            names[i] = (char *)json_string_value(json_array_get(c->sk_classes, i));
        int rc = ft_csv_labels_fix_names(&c->labels, names, k, err);
        free(names);
        if (rc != 0)
            return -1;
    }
    for (;;) {
        if (pending) {
            pending = 0;
        } else {
            int rc = ft_csv_next(&c->rd, err);
            if (rc < 0)
                return -1;
            if (rc == 0)
                break;
        }
        if (data_row(c, err) != 0)
            return -1;
    }
    if (c->labels.nrows == 0)
        return ft_fail(err, FT_EFORMAT, NULL, "line %llu: the header is not followed by any data rows",
                       (unsigned long long)c->header_line);
    if (c->sk_rows && c->sk_rows != c->labels.nrows)
        return ft_fail(err, FT_EFORMAT, NULL,
                       "the scikit-learn header line says %llu rows but the file has %llu",
                       (unsigned long long)c->sk_rows, (unsigned long long)c->labels.nrows);
    char reason[256];
    ft_dataset *ds = ft_csv_labels_build(&c->labels, c->features, reason, sizeof reason, err);
    if (!ds)
        return -1;
    ft_chunkbuf_drain(&c->x, ft_dataset_x_f32(ds));
    json_t *features = json_array();
    for (size_t i = 0; i < c->ncols; i++)
        if (i != c->label)
            json_array_append_new(features, json_string(c->names[i]));
    json_object_set_new(c->info, "label_column", json_string(c->names[c->label]));
    json_object_set_new(c->info, "features", features);
    json_object_set_new(c->info, "task_reason", json_string(reason));
    if (c->sk_rows)
        json_object_set_new(c->info, "sklearn_header", json_true());
    if (ft_dataset_target_kind(ds) == FT_TARGET_CLASSES && ft_dataset_target_dim(ds) == 1)
        ft_info_warn(c->info, "every row has the same label '%s': there is only one class",
                     ft_dataset_class_name(ds, 0));
    *out = ds;
    return 0;
}

static int csv_parse(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                     ft_error *err)
{
    ft_stream *in = files[0].stream;
    csv_parser c;
    memset(&c, 0, sizeof c);
    c.opt = opt;
    c.info = info;
    ft_chunkbuf_init(&c.x, 4u << 20);
    ft_csv_labels_init(&c.labels, opt->task, opt->max_classes, "", 0);
    /* Store one more field than the header has, so a ragged row's count is exact. */
    if (ft_csv_open(&c.rd, in, opt->delimiter, opt->max_line_bytes, opt->max_columns + 1, err) != 0)
        return -1;
    int rc = parse(&c, out, err);
    ft_csv_close(&c.rd);
    ft_csv_labels_free(&c.labels);
    ft_chunkbuf_free(&c.x);
    free_names(&c);
    json_decref(c.sk_classes);
    return rc;
}

/* Text: no NUL byte in the first bytes (an empty file too: its parser says so). */
static ft_sniff csv_sniff(const unsigned char *head, size_t n, bool gz)
{
    (void)gz;
    return memchr(head, 0, n) ? FT_SNIFF_NO : FT_SNIFF_WEAK;
}

/* The dialect from the first byte: delimiter, task, header, label column. */
static size_t csv_fuzz_options(const uint8_t *data, size_t size, ft_ingest_options *o)
{
    static const char delims[] = {',', ';', '\t', ' '};
    (void)size;
    o->delimiter = delims[data[0] & 3];
    o->task = (ft_task)((data[0] >> 2) % 3);
    o->no_header = (data[0] >> 4) & 1;
    o->label = (data[0] >> 5) & 1 ? "label" : NULL;
    return 1;
}

static const char *const csv_suffixes[] = {".csv", ".csv.gz", ".tsv", NULL};

const ft_format_desc ft_format_csv = {
    .id = FT_FORMAT_CSV, .name = "csv", .what = "CSV text", .suffixes = csv_suffixes, .files = 1,
    .options = FT_OPT_LABEL | FT_OPT_TASK | FT_OPT_DELIMITER | FT_OPT_HEADER, .sniff = csv_sniff,
    .parse = csv_parse, .fuzz_options = csv_fuzz_options,
};
