/* core/job internals: reading one field of a job spec object, with the
 * field's path ("lr_schedule.gamma") in every error, and the fields a phase
 * may give again. Shared by the spec's parsers (spec_parse.c, spec_train.c,
 * spec_phases.c). */
#ifndef FT_SPEC_FIELDS_H
#define FT_SPEC_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/nn/model.h"
#include "core/train/train.h"
#include "core/util/error.h"

/* Reject keys of obj outside `allowed` (NULL-terminated); path names obj. */
int ft_spec_keys(const json_t *obj, const char *path, const char *const *allowed, ft_error *err);

/* "path.key" (or "key" at the top, path "") into out. */
void ft_spec_path(char *out, size_t n, const char *path, const char *key);

/* Integer field in [lo, hi]; absent keeps *out. */
int ft_spec_int(const json_t *obj, const char *path, const char *key, long long lo, long long hi, long long *out,
                ft_error *err);

/* Number field in [lo, hi]; absent keeps *out. */
int ft_spec_num(const json_t *obj, const char *path, const char *key, double lo, double hi, double *out,
                ft_error *err);

/* Boolean field; absent keeps *out. */
int ft_spec_bool(const json_t *obj, const char *path, const char *key, bool *out, ft_error *err);

/* "metric": an epoch metric early stopping and schedules can watch, copied
 * into out (n bytes); absent keeps out. */
int ft_spec_metric(const json_t *obj, const char *path, char *out, size_t n, ft_error *err);

/* freeze: "base", "none", {"trainable_last": k} or {"trainable_from":
 * "<layer>"} into t's freeze fields (t->trainable_from points into v). */
int ft_spec_freeze(const json_t *v, ft_transfer *t, ft_error *err);

/* optimizer: {"type": ..., and the keys of that optimiser} into o; the type
 * defaults to o's. */
int ft_spec_optimizer(const json_t *v, ft_optim_config *o, ft_error *err);

/* early_stopping: an object (on, with its defaults) or null (leaves c). */
int ft_spec_early_stopping(const json_t *v, ft_train_config *c, ft_error *err);

/* augment: {"hflip", "crop": {"padding"}, "brightness", "contrast",
 * "views" (default FT_AUGMENT_DEFAULT_VIEWS; 0: bypass the feature cache)}
 * or null (none) into a; checked against the data by ft_job_plan_augment. */
int ft_spec_augment(const json_t *v, ft_augment *a, ft_error *err);

/* lr_schedule: a name or an object, checked against c's epochs and lr. */
int ft_spec_schedule(const json_t *v, ft_train_config *c, ft_error *err);

#endif
