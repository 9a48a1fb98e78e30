/* Job plans from stored records only (dataset summaries and the base
 * model's layout), so job submission never loads the data or the weights. */
#ifndef FT_JOB_PLAN_H
#define FT_JOB_PLAN_H

#include <jansson.h>

#include "core/job/spec.h"
#include "server/app/app.h"

/* Plan a job (ft_job_plan) from its datasets' stored summaries and the base
 * model's layout, with the service's thread count, feature-cache limit and
 * --max-job-memory budget (over it: FT_ETOOBIG). An unknown dataset or base
 * model is FT_ENOTFOUND naming the field. Submit and the worker (before it
 * allocates anything) both plan this way. */
int ft_job_plan_stored(ft_app *app, ft_job_spec *spec, json_t **warnings, ft_error *err);

#endif
