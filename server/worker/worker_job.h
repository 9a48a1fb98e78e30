/* Internal to server/worker: running one claimed job (worker_job.c). */
#ifndef FT_WORKER_JOB_H
#define FT_WORKER_JOB_H

#include <stdatomic.h>

#include "server/app/app.h"

/* Run the job `claim` holds to an end recorded under its lease (succeeded,
 * failed, cancelled), or hand it back (shutdown, lease lost). Worker
 * `index` names it in the metrics; `cancel` is the job's cancel flag and
 * `lost` is set by the heartbeat when the lease is gone. */
void ft_worker_run_job(ft_app *app, int index, const ft_claim *claim, atomic_bool *cancel, atomic_bool *lost);

#endif
