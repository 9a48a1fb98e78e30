/* CSV labels: classes or regression targets, and the auto rule between them.
 *
 * Every label text is interned (up to the class limit) while its numeric
 * value, if any, is kept per row, so the task can be decided after the last
 * row without a second pass over the file. */
#include "core/data/csv_labels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util/numparse.h"

typedef struct {
    uint32_t id; /* interned text, or UINT32_MAX past the class limit */
    float value; /* numeric value, or NaN */
} label_row;

void ft_csv_labels_init(ft_csv_labels *l, ft_task task, uint64_t max_classes, const char *column, size_t col)
{
    memset(l, 0, sizeof *l);
    l->task = task;
    l->max_classes = max_classes;
    l->column = column;
    l->col = col;
    l->all_numeric = l->all_int = 1;
    ft_chunkbuf_init(&l->rows, 1u << 20);
}

void ft_csv_labels_free(ft_csv_labels *l)
{
    ft_strtab_free(l->tab);
    ft_chunkbuf_free(&l->rows);
    for (size_t i = 0; i < l->nfixed; i++)
        free(l->fixed_names[i]);
    free(l->fixed_names);
    l->tab = NULL;
    l->fixed_names = NULL;
    l->nfixed = 0;
}

int ft_csv_labels_fix_names(ft_csv_labels *l, char *const *names, size_t n, ft_error *err)
{
    if (!(l->fixed_names = calloc(n ? n : 1, sizeof *l->fixed_names)))
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (; l->nfixed < n; l->nfixed++)
        if (!(l->fixed_names[l->nfixed] = strdup(names[l->nfixed])))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    return 0;
}

static int label_fail(const ft_csv_labels *l, ft_errcode code, uint64_t line, const char *p, size_t n,
                      const char *what, ft_error *err)
{
    char text[256];
    ft_msg_text(text, sizeof text, p, n);
    return ft_fail(err, code, NULL, "line %llu, column %zu ('%s'): the label '%s' %s",
                   (unsigned long long)line, l->col, l->column, text, what);
}

int ft_csv_labels_add(ft_csv_labels *l, const char *p, size_t n, uint64_t line, ft_error *err)
{
    if (n == 0)
        return ft_fail(err, FT_EFORMAT, NULL, "line %llu, column %zu ('%s'): missing label",
                       (unsigned long long)line, l->col, l->column);
    label_row *row = ft_chunkbuf_reserve(&l->rows, sizeof *row, err);
    if (!row)
        return -1;
    row->value = NAN;
    row->id = UINT32_MAX;
    if (l->fixed_names) {
        float v;
        if (!ft_is_int_token(p, n) || ft_parse_f32(p, n, &v) != FT_NUM_OK || v < 0 || v >= (float)l->nfixed) {
            char what[128];
            snprintf(what, sizeof what, "is not a class index 0..%zu (the first line names %zu classes)",
                     l->nfixed - 1, l->nfixed);
            return label_fail(l, FT_EFORMAT, line, p, n, what, err);
        }
        row->id = (uint32_t)v;
        row->value = v;
        l->nrows++;
        return 0;
    }
    float v;
    ft_num_status st = ft_parse_f32(p, n, &v);
    if (st == FT_NUM_OK)
        row->value = v;
    else if (l->task != FT_TASK_CLASSIFICATION && st == FT_NUM_NONFINITE)
        return label_fail(l, FT_EFORMAT, line, p, n, "is not a finite number", err);
    else if (l->task != FT_TASK_CLASSIFICATION && st == FT_NUM_RANGE)
        return label_fail(l, FT_EFORMAT, line, p, n, "is out of the float32 range", err);
    else if (l->task == FT_TASK_REGRESSION)
        return label_fail(l, FT_EFORMAT, line, p, n, "is not a number (the task is regression)", err);
    else
        l->all_numeric = 0;
    l->all_int &= ft_is_int_token(p, n);
    if (!l->overflow) {
        int added;
        if (!l->tab && !(l->tab = ft_strtab_new()))
            return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        if (ft_strtab_intern(l->tab, p, n, &row->id, &added, err) != 0)
            return -1;
        if (added && !ft_utf8_valid(p, n))
            return label_fail(l, FT_EFORMAT, line, p, n, "is not valid UTF-8 text", err);
        if (ft_strtab_count(l->tab) > l->max_classes) {
            l->overflow = 1;
            row->id = UINT32_MAX;
        }
    }
    if (l->overflow && (l->task == FT_TASK_CLASSIFICATION || !l->all_numeric))
        return ft_fail(err, FT_ETOOBIG, NULL,
                       "line %llu: the label column '%s' has more than %llu distinct values "
                       "(the limit for classes); is it the right column?",
                       (unsigned long long)line, l->column, (unsigned long long)l->max_classes);
    l->nrows++;
    return 0;
}

/* Sort order of class texts: numerically when every label is a number. */
typedef struct {
    const char *text;
    double value;
    uint32_t id;
} class_key;

static int by_text(const void *a, const void *b)
{
    const class_key *x = a, *y = b;
    return strcmp(x->text, y->text);
}

static int by_value(const void *a, const void *b)
{
    const class_key *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Visit every label row in order. */
#define FOR_EACH_ROW(l, r, body)                                                   \
    do {                                                                           \
        size_t row_i_ = 0;                                                         \
        for (size_t c_ = 0; c_ < (l)->rows.n; c_++) {                              \
            label_row *rows_ = (label_row *)(void *)(l)->rows.chunk[c_].data;      \
            size_t n_ = (l)->rows.chunk[c_].used / sizeof(label_row);              \
            for (size_t k_ = 0; k_ < n_; k_++, row_i_++) {                         \
                const label_row *r = &rows_[k_];                                   \
                size_t i = row_i_;                                                 \
                (void)i;                                                           \
                body                                                               \
            }                                                                      \
        }                                                                          \
    } while (0)

static ft_dataset *build_targets(ft_csv_labels *l, int features, ft_error *err)
{
    ft_dataset *ds = ft_dataset_new(l->nrows, ft_shape1(features), FT_X_F32, FT_TARGET_VALUES, 1, err);
    if (!ds)
        return NULL;
    float *t = ft_dataset_targets(ds);
    FOR_EACH_ROW(l, r, { t[i] = r->value; });
    return ds;
}

static ft_dataset *build_classes(ft_csv_labels *l, int features, ft_error *err)
{
    size_t k = l->fixed_names ? l->nfixed : ft_strtab_count(l->tab);
    if (k > INT32_MAX) {
        ft_fail(err, FT_ETOOBIG, NULL, "too many classes");
        return NULL;
    }
    class_key *keys = calloc(k, sizeof *keys);
    uint32_t *rank = calloc(k, sizeof *rank);
    ft_dataset *ds = NULL;
    if (!keys || !rank) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    for (uint32_t id = 0; id < k; id++) {
        keys[id].id = id;
        keys[id].text = l->fixed_names ? l->fixed_names[id] : ft_strtab_get(l->tab, id);
        float v = 0;
        ft_parse_f32(keys[id].text, strlen(keys[id].text), &v);
        keys[id].value = v;
    }
    /* A scikit-learn header fixes the order; otherwise classes are sorted. */
    if (!l->fixed_names)
        qsort(keys, k, sizeof *keys, l->all_numeric ? by_value : by_text);
    if (!(ds = ft_dataset_new(l->nrows, ft_shape1(features), FT_X_F32, FT_TARGET_CLASSES, (int)k, err)))
        goto done;
    for (size_t c = 0; c < k; c++) {
        rank[keys[c].id] = (uint32_t)c;
        if (ft_dataset_set_class_name(ds, (int)c, keys[c].text, err) != 0) {
            ft_dataset_free(ds);
            ds = NULL;
            goto done;
        }
    }
    int32_t *y = ft_dataset_labels(ds);
    FOR_EACH_ROW(l, r, { y[i] = (int32_t)rank[r->id]; });
done:
    free(keys);
    free(rank);
    return ds;
}

/* Whether distinct integer labels look like class indices: they start at 0
 * or 1, or are exactly {-1, 1}. Integer measurements (ages, counts of
 * things, prices in whole units) rarely do. */
static int index_like(const ft_csv_labels *l)
{
    float lo = INFINITY, hi = -INFINITY;
    size_t n = ft_strtab_count(l->tab);
    for (uint32_t id = 0; id < n; id++) {
        const char *s = ft_strtab_get(l->tab, id);
        float v = 0;
        ft_parse_f32(s, strlen(s), &v);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return lo == 0 || lo == 1 || (n == 2 && lo == -1 && hi == 1);
}

ft_dataset *ft_csv_labels_build(ft_csv_labels *l, int features, char *reason, size_t cap, ft_error *err)
{
    size_t distinct = l->tab ? ft_strtab_count(l->tab) : 0;
    int classes;
    if (l->task == FT_TASK_REGRESSION) {
        classes = 0;
        snprintf(reason, cap, "task=regression was requested");
    } else if (l->fixed_names) {
        classes = 1;
        snprintf(reason, cap, "the class names come from the scikit-learn header line");
    } else if (l->task == FT_TASK_CLASSIFICATION) {
        classes = 1;
        snprintf(reason, cap, "task=classification was requested");
    } else if (!l->all_numeric) {
        classes = 1;
        snprintf(reason, cap, "auto: the labels are text");
    } else if (l->all_int && !l->overflow && distinct <= FT_AUTO_MAX_INT_CLASSES && index_like(l)) {
        classes = 1;
        snprintf(reason, cap,
                 "auto: the labels are class indices (%zu distinct integers from 0 or 1); "
                 "pass task=regression to treat them as numbers",
                 distinct);
    } else {
        classes = 0;
        if (l->all_int)
            snprintf(reason, cap,
                     "auto: the labels are integers but not class indices (more than %d values, or not "
                     "starting at 0 or 1); pass task=classification to treat them as classes",
                     FT_AUTO_MAX_INT_CLASSES);
        else
            snprintf(reason, cap, "auto: the labels are numbers");
    }
    return classes ? build_classes(l, features, err) : build_targets(l, features, err);
}
