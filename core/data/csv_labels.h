/* CSV label column (internal): collects one label per row, then decides the
 * task and builds the dataset's labels or targets. */
#ifndef FT_CSV_LABELS_H
#define FT_CSV_LABELS_H

#include <stdint.h>

#include "core/data/ingest.h"
#include "core/data/parse_helpers.h"

typedef struct {
    ft_task task;            /* what the user asked for */
    uint64_t max_classes;    /* distinct labels allowed for classification */
    const char *column;      /* label column name, for messages */
    size_t col;              /* its 1-based position, for messages */
    ft_strtab *tab;          /* distinct label texts (until `overflow`) */
    int overflow;            /* more distinct texts than max_classes */
    int all_numeric;         /* every label parsed as a finite number */
    int all_int;             /* every label is a plain integer token */
    ft_chunkbuf rows;        /* per row: uint32 text id, float value */
    uint64_t nrows;          /* labels added */
    char **fixed_names;      /* class names from a scikit-learn header, or NULL */
    size_t nfixed;           /* their count */
} ft_csv_labels;

void ft_csv_labels_init(ft_csv_labels *l, ft_task task, uint64_t max_classes, const char *column, size_t col);
void ft_csv_labels_free(ft_csv_labels *l);

/* Take the class names of a scikit-learn header line (copied); labels must
 * then be class indices 0..n-1. */
int ft_csv_labels_fix_names(ft_csv_labels *l, char *const *names, size_t n, ft_error *err);

/* Add the label of the record at `line`. */
int ft_csv_labels_add(ft_csv_labels *l, const char *p, size_t n, uint64_t line, ft_error *err);

/* Decide the task and create the dataset of rows x features (x zeroed),
 * with its labels or targets filled in; *reason explains the task choice. */
ft_dataset *ft_csv_labels_build(ft_csv_labels *l, int features, char *reason, size_t cap, ft_error *err);

#endif
