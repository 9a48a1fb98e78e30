/* Every check a job spec passes before it is queued, on stored records
 * only: shared by POST /v1/jobs and POST /v1/sweeps (each variant). */
#ifndef FT_JOB_CHECK_H
#define FT_JOB_CHECK_H

#include <jansson.h>

#include "core/job/spec.h"
#include "server/app/app.h"

/* Parse body into *spec (freed by the caller with ft_job_spec_free, also
 * on failure) and check it against the store: dataset references are
 * stored ids, validation and test sets match the training set, and the plan
 * (shapes, head, memory budget) holds; *warnings receives the plan's
 * warnings. On failure -1 with err filled and *code set to the API error
 * code the refusal has (NULL: reply with err as it is: ft_reply_ft_error
 * with 422). */
int ft_job_check_stored(ft_app *app, const json_t *body, ft_job_spec *spec, json_t **warnings, ft_error *err,
                        const char **code);

#endif
