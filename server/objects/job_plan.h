/* ft_data_info (what a job plan needs to know of a dataset) built from a
 * stored dataset object, and job plans from stored records only, so job
 * submission never loads the data or the weights. */
#ifndef FT_JOB_PLAN_H
#define FT_JOB_PLAN_H

#include <jansson.h>

#include "core/job/spec.h"
#include "server/app.h"

/* Fill info from a dataset API object; class names point into obj, which
 * must outlive info. Free with ft_data_info_free. */
int ft_data_info_from_object(const json_t *obj, ft_data_info *info, ft_error *err);

/* Plan a job (ft_job_plan) from its datasets' stored summaries and the base
 * model's layout, with the service's thread count, feature-cache limit and
 * --max-job-memory budget (over it: FT_ETOOBIG). An unknown dataset or base
 * model is FT_ENOTFOUND naming the field. Submit and the worker (before it
 * allocates anything) both plan this way. */
int ft_job_plan_stored(ft_app *app, ft_job_spec *spec, json_t **warnings, ft_error *err);

#endif
