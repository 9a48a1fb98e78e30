/* Ingest options: their defaults, their upload / CLI spellings (one row per
 * option), and the range checks ft_ingest applies before reading anything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/data/format.h"

void ft_ingest_resolve(const ft_ingest_options *opt, ft_ingest_options *out)
{
    static const ft_ingest_options zero;
    *out = opt ? *opt : zero;
#define DEFAULT(field, value) \
    if (!out->field)          \
        out->field = (value);
    DEFAULT(delimiter, ',');
    DEFAULT(max_columns, FT_DEFAULT_MAX_COLUMNS);
    DEFAULT(max_classes, FT_DEFAULT_MAX_CLASSES);
    DEFAULT(max_line_bytes, FT_DEFAULT_MAX_LINE_BYTES);
    DEFAULT(max_decompressed_bytes, FT_DEFAULT_MAX_DECOMPRESSED);
    DEFAULT(max_image_pixels, FT_DEFAULT_MAX_IMAGE_PIXELS);
    DEFAULT(max_entry_bytes, FT_DEFAULT_MAX_ENTRY_BYTES);
    DEFAULT(max_dataset_bytes, FT_DEFAULT_MAX_DATASET_BYTES);
#undef DEFAULT
}

int ft_ingest_check(const ft_ingest_options *o, ft_error *err)
{
    if ((o->image_height > 0) != (o->image_width > 0) || o->image_height < 0 || o->image_width < 0 ||
        o->image_height > FT_MAX_IMAGE_SIDE || o->image_width > FT_MAX_IMAGE_SIDE)
        return ft_fail(err, FT_EINVAL, "image_size", "image_size needs a height and a width from 1 to %d",
                       FT_MAX_IMAGE_SIDE);
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r' || o->delimiter == '\0')
        return ft_fail(err, FT_EINVAL, "delimiter", "the delimiter cannot be a quote or a line break");
    if ((unsigned)o->task > FT_TASK_REGRESSION || (unsigned)o->color > FT_COLOR_RGB || (unsigned)o->fit > FT_FIT_SQUASH ||
        (o->format != FT_FORMAT_AUTO && !ft_format_find(o->format)))
        return ft_fail(err, FT_EINVAL, NULL, "invalid ingest option value");
    return 0;
}

/* ---- options from strings (query parameters, CLI flags) ---- */

static int set_format(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    const ft_format_desc *d = ft_format_by_name(value);
    if (d || strcasecmp(value, "auto") == 0) {
        opt->format = d ? d->id : FT_FORMAT_AUTO;
        return 0;
    }
    char names[256];
    ft_format_names(names, sizeof names);
    return ft_fail(err, FT_EINVAL, key, "format must be %s, not '%s'", names, value);
}

static int set_label(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    if (!*value)
        return ft_fail(err, FT_EINVAL, key, "label must name a column");
    opt->label = value;
    return 0;
}

/* A word an option accepts (case-insensitive) and the value it means. */
typedef struct {
    const char *word;
    int value;
} word_value;

/* The value of `word` in words[0 .. n), or -1. */
static int word_lookup(const char *word, const word_value *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(word, words[i].word) == 0)
            return words[i].value;
    return -1;
}

static int set_task(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    static const word_value words[] = {
        {"auto", FT_TASK_AUTO}, {"classification", FT_TASK_CLASSIFICATION}, {"regression", FT_TASK_REGRESSION}};
    int v = word_lookup(value, words, sizeof words / sizeof words[0]);
    if (v < 0)
        return ft_fail(err, FT_EINVAL, key, "task must be auto, classification or regression, not '%s'", value);
    opt->task = (ft_task)v;
    return 0;
}

static int set_delimiter(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    char d = strcasecmp(value, "tab") == 0 || strcmp(value, "\\t") == 0 ? '\t' : value[0];
    if (strcasecmp(value, "whitespace") == 0 || strcasecmp(value, "space") == 0 || strcmp(value, " ") == 0)
        d = ' ';
    else if (d != '\t' && (strlen(value) != 1 || d <= ' ' || d >= 0x7F || d == '"' || d == '.' || d == '-' ||
                           d == '+' || (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') ||
                           (d >= 'A' && d <= 'Z')))
        return ft_fail(err, FT_EINVAL, key,
                       "delimiter must be one punctuation character such as ',' ';' '|', "
                       "or 'tab', or 'whitespace' (runs of spaces and tabs)");
    opt->delimiter = d;
    return 0;
}

static int set_header(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    static const word_value words[] = {{"true", 1}, {"1", 1}, {"yes", 1}, {"false", 0}, {"0", 0}, {"no", 0}};
    int v = word_lookup(value, words, sizeof words / sizeof words[0]);
    if (v < 0)
        return ft_fail(err, FT_EINVAL, key, "header must be true or false");
    opt->no_header = !v;
    return 0;
}

static int parse_dim(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v < 1 || v > FT_MAX_IMAGE_SIDE)
        return -1;
    *out = (int)v;
    return (int)(end - s);
}

static int set_image_size(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    int h, w, n = parse_dim(value, &h);
    if (n > 0 && value[n] == '\0')
        w = h;
    else if (n <= 0 || (value[n] != 'x' && value[n] != 'X') || parse_dim(value + n + 1, &w) <= 0 ||
             value[n + 1 + parse_dim(value + n + 1, &w)] != '\0')
        return ft_fail(err, FT_EINVAL, key,
                       "image_size must be HEIGHTxWIDTH (e.g. 28x28) or one size, each from 1 to %d",
                       FT_MAX_IMAGE_SIDE);
    opt->image_height = h;
    opt->image_width = w;
    return 0;
}

static int set_color(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    static const word_value words[] = {{"grayscale", FT_COLOR_GRAYSCALE}, {"gray", FT_COLOR_GRAYSCALE},
                                       {"grey", FT_COLOR_GRAYSCALE},      {"greyscale", FT_COLOR_GRAYSCALE},
                                       {"rgb", FT_COLOR_RGB},             {"auto", FT_COLOR_AUTO}};
    int v = word_lookup(value, words, sizeof words / sizeof words[0]);
    if (v < 0)
        return ft_fail(err, FT_EINVAL, key, "color must be grayscale or rgb, not '%s'", value);
    opt->color = (ft_color)v;
    return 0;
}

static int set_fit(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    static const word_value words[] = {{"crop", FT_FIT_CROP}, {"squash", FT_FIT_SQUASH}};
    int v = word_lookup(value, words, sizeof words / sizeof words[0]);
    if (v < 0)
        return ft_fail(err, FT_EINVAL, key, "fit must be crop or squash, not '%s'", value);
    opt->fit = (ft_fit)v;
    return 0;
}

/* One row per option; `read_by` is the FT_OPT_* bit formats declare (0:
 * every format). An upload reads them in this order. */
static const struct {
    const char *key;
    unsigned read_by;
    int (*set)(ft_ingest_options *opt, const char *key, const char *value, ft_error *err);
} options[] = {
    {"format", 0, set_format},
    {"label", FT_OPT_LABEL, set_label},
    {"task", FT_OPT_TASK, set_task},
    {"delimiter", FT_OPT_DELIMITER, set_delimiter},
    {"header", FT_OPT_HEADER, set_header},
    {"image_size", FT_OPT_IMAGE_SIZE, set_image_size},
    {"color", FT_OPT_COLOR, set_color},
    {"fit", FT_OPT_FIT, set_fit},
};
#define NOPTIONS (sizeof options / sizeof options[0])

int ft_ingest_option_set(ft_ingest_options *opt, const char *key, const char *value, ft_error *err)
{
    if (!value)
        return ft_fail(err, FT_EINVAL, key, "option '%s' needs a value", key);
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(key, options[i].key) == 0)
            return options[i].set(opt, key, value, err);
    return ft_fail(err, FT_EINVAL, key, "unknown dataset option '%s'", key);
}

const char *ft_ingest_option_key(size_t i)
{
    unsigned read = ft_format_options_read();
    for (size_t k = 0; k < NOPTIONS; k++)
        if ((!options[k].read_by || (options[k].read_by & read)) && i-- == 0)
            return options[k].key;
    return NULL;
}
