/* Training workers: threads that claim queued jobs from the store, run them
 * through core/ (ft_job_run), report progress, metrics and events, checkpoint
 * at least every epoch and every --checkpoint-interval seconds, and finish
 * only while they still hold the job's lease. */
#ifndef FT_WORKER_H
#define FT_WORKER_H

#include "server/app/app.h"

ft_workers *ft_workers_start(ft_app *app, ft_error *err);
/* A job was queued: let an idle worker look now instead of at its next poll. */
void ft_workers_wake(ft_workers *w);
/* Graceful stop (app->shutting_down must already be set): running jobs save
 * a checkpoint and go back to the queue; returns within about 9 seconds.
 * False if a worker was still busy (in a phase with no stop check): its job
 * was requeued, but the thread still runs and may use the app's store, so
 * the caller must exit without freeing the app. */
bool ft_workers_stop(ft_workers *w);

#endif
