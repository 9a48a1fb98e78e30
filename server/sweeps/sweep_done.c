/* A sweep's completion, seen from a job that ended (sweep.h). */
#include "server/sweeps/sweep.h"

void ft_sweep_job_ended(ft_app *app, const char *job_id)
{
    char sweep[64];
    ft_error err = {0};
    int rc = ft_store_sweep_settle(app->store, job_id, sweep, &err);
    if (rc == 1) {
        ft_app_log(app, "sweep_completed", "sweep", sweep, NULL);
        ft_app_notify(app); /* the dispatcher: its sweep.completed event is queued */
    }
    else if (rc < 0)
        ft_app_log(app, "sweep_settle_failed", "job", job_id, "detail", err.msg, NULL);
}
