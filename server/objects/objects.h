/* The middle tier: what routes (server/api) and workers (server/worker)
 * both need of the stored things, and nothing of HTTP. A stored dataset or
 * model loaded by id, the API JSON objects, and the resource table that the
 * list, get and delete routes run on. */
#ifndef FT_OBJECTS_H
#define FT_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/job/spec.h"
#include "core/nn/model.h"
#include "server/app/app.h"

/* The stored dataset `id`. FT_ENOTFOUND naming `param` (the field that
 * holds the id) if the id is malformed or its file is gone. */
ft_dataset *ft_stored_dataset_load(ft_app *app, const char *id, const char *param, ft_error *err);

/* How much of a stored model file to read. */
typedef enum {
    FT_STORED_WEIGHTS, /* the whole model */
    FT_STORED_LAYOUT   /* the header only: layout and metadata, no weights (job plans) */
} ft_stored_part;

/* The stored model `id`: FT_ENOTFOUND naming `param` if the id is
 * malformed or has no row, FT_EIO if its file does not load (the server's
 * own file: a server fault, and the message, which names the path, is for
 * the log). */
ft_model *ft_stored_model_load(ft_app *app, const char *id, ft_stored_part part, const char *param, ft_error *err);

/* The API object of a stored model: id, layer table, classes, shapes,
 * parameter counts, plus `extra` fields (lineage, name, bytes...). */
json_t *ft_model_object(const ft_model *m, const char *id, const json_t *extra);
/* The API object of a new dataset: its ingest summary plus id, name (null
 * if not UTF-8) and the stored file's size. */
json_t *ft_dataset_object(const json_t *summary, const char *id, const char *name, uint64_t bytes);
/* The row of a new job: its spec, the plan's warnings, and the name and
 * metadata the spec carries. */
json_t *ft_job_object(const ft_job_spec *spec, const char *id, const json_t *warnings, int max_attempts);

/* One kind of stored thing the API lists, gets and deletes (cf. SQLite's
 * virtual-table modules: a struct of functions per kind, one row each). */
typedef struct {
    const char *object;    /* the API object's name: "dataset" */
    const char *id_prefix; /* "ds": ids are prefix_ + 24 hex digits */
    /* The object, or NULL with FT_ENOTFOUND. */
    json_t *(*get)(ft_store *s, const char *id, ft_error *err);
    /* A page of objects, newest first. */
    json_t *(*list)(ft_store *s, const ft_list_query *q, bool *has_more, ft_error *err);
    /* Insert a new row from its API object; NULL: created otherwise (jobs). */
    int (*insert)(ft_store *s, const json_t *obj, ft_error *err);
    /* Delete the row (FT_EINVAL while a job uses it); NULL: no delete. */
    int (*remove)(ft_store *s, const char *id, ft_error *err);
    /* The file deleted with the row, or NULL if the kind has none. */
    void (*file_path)(const ft_app *app, const char *id, char *out, size_t n);
    bool list_by_status;   /* the list takes ?status= and ?sweep= (jobs) */
} ft_resource;

/* The resources, one row each. */
typedef enum {
    FT_RESOURCE_DATASET,
    FT_RESOURCE_MODEL,
    FT_RESOURCE_JOB,
    FT_RESOURCE_WEBHOOK,
    FT_RESOURCE_SWEEP
} ft_resource_kind;
extern const ft_resource ft_resources[];

#endif
