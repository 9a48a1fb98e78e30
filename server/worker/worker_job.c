/* Running one claimed job (worker_pool.c claims and holds it): train it
 * through core/ (ft_job_run), report progress, metrics and events,
 * checkpoint at least every epoch and every --checkpoint-interval seconds,
 * and finish only while the lease holds. */
#include "server/worker/worker_job.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/job/spec.h"
#include "core/util/fsutil.h"
#include "server/app/prom.h"
#include "server/objects/job_plan.h"
#include "server/objects/objects.h"
#include "server/sweeps/sweep.h"

typedef enum { STOP_NONE, STOP_CANCEL, STOP_SHUTDOWN, STOP_LEASE_LOST, STOP_CHECKPOINT_FAILED } stop_reason;

typedef struct {
    ft_app *app;
    int index;                  /* the worker's, for its metrics */
    const ft_claim *claim;
    atomic_bool *cancel;        /* set by a cancel request */
    atomic_bool *lost;          /* set by the heartbeat when the lease is lost */
    char ckpt[PATH_MAX], ckpt_next[PATH_MAX]; /* the checkpoint, and this attempt's next one */
    long steps_per_epoch;       /* from the last progress report */
    double last_ckpt, last_report;
    stop_reason stop;
    ft_error stop_err;
} job_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Whether in + i starts a path into the data dir, spelt as the app builds
 * them (--data-dir + "/..."). Only those: layer names such as ONNX's
 * "/layer1/layer1.0/conv1/Conv" look like paths and must stay. */
static bool data_dir_path(const ft_app *app, const char *in, size_t i)
{
    size_t len = strlen(app->cfg.data_dir);
    return (i == 0 || strchr(" '\"(=", in[i - 1])) && len && strncmp(in + i, app->cfg.data_dir, len) == 0 &&
           (in[i + len] == '/' || !in[i + len] || strchr(" '\"),;:", in[i + len]));
}

/* Job errors are shown to API users, and core's messages about files name
 * them ("cannot write /srv/data/checkpoints/job_....ckpt.tmp: No space left
 * on device"). The user gets "a file in the data dir" instead of the path;
 * the log keeps the whole message. */
static void without_paths(const ft_app *app, const char *in, char *out, size_t n)
{
    static const char placeholder[] = "a file in the data dir";
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < n;) {
        if (!data_dir_path(app, in, i)) {
            out[o++] = in[i++];
            continue;
        }
        while (in[i] && !strchr(" '\"),;", in[i]) && !(in[i] == ':' && (in[i + 1] == ' ' || !in[i + 1])))
            i++;
        for (const char *p = placeholder; *p && o + 1 < n; p++)
            out[o++] = *p;
    }
    out[o] = '\0';
}

/* Events are shown to API users: paths in them become "a file in the data
 * dir" (the log keeps the whole message). Fenced: a stale attempt's events
 * are dropped. */
static void event(job_run *j, const char *level, const char *message, const json_t *data)
{
    ft_error err = {0};
    char shown[1024];
    without_paths(j->app, message, shown, sizeof shown);
    if (strcmp(shown, message) != 0)
        ft_app_log(j->app, "job_event", "job", j->claim->id, "detail", message, NULL);
    ft_store_job_event(j->app->store, j->claim->id, j->claim->lease, level, shown, data, &err);
    ft_app_notify(j->app);
}

static bool lease_lost(const job_run *j)
{
    return atomic_load(j->lost);
}

static int publish_checkpoint(void *ctx, ft_error *err)
{
    job_run *j = ctx;
    return rename(j->ckpt_next, j->ckpt) == 0 ? 0 : ft_fail_errno(err, errno, "cannot rename into", j->ckpt);
}

/* Save a checkpoint under this attempt's own name, then rename it over the
 * job's checkpoint under the lease: a stale attempt can never replace the
 * checkpoint of the attempt that took its job over. */
static bool checkpoint(job_run *j, ft_trainer *tr)
{
    ft_error err = {0};
    int held = -1;
    if (ft_trainer_save_checkpoint(tr, j->ckpt_next, &err) == 0)
        held = ft_store_job_fenced(j->app->store, j->claim->id, j->claim->lease, publish_checkpoint, j, &err);
    if (held != 1)
        unlink(j->ckpt_next);
    if (held == 0)
        j->stop = STOP_LEASE_LOST;
    if (held < 0) {
        j->stop = STOP_CHECKPOINT_FAILED;
        j->stop_err = err;
    }
    if (held == 1)
        j->last_ckpt = now_s();
    return held == 1;
}

static json_t *progress_json(const ft_progress *p)
{
    return json_pack("{s:i, s:i, s:I, s:I, s:f, s:f}", "epoch", p->epoch, "epochs", p->epochs, "step",
                     (json_int_t)p->step, "steps_per_epoch", (json_int_t)p->steps_per_epoch, "samples_per_second",
                     p->samples_per_second, "eta_seconds", p->eta_seconds);
}

/* Progress for the job object (the heartbeat thread keeps the lease).
 * False if the lease is lost. */
static bool report(job_run *j, const json_t *progress, const json_t *metrics)
{
    ft_error err = {0};
    if (ft_store_job_progress(j->app->store, j->claim->id, j->claim->lease, progress, metrics, &err) == 0 ||
        lease_lost(j)) {
        j->stop = STOP_LEASE_LOST;
        return false;
    }
    j->last_report = now_s();
    ft_app_notify(j->app);
    return true;
}

static int on_step(void *ctx, ft_trainer *tr, const ft_progress *p)
{
    job_run *j = ctx;
    if (lease_lost(j)) {
        j->stop = STOP_LEASE_LOST;
        return 1;
    }
    if (atomic_load(j->cancel)) {
        j->stop = STOP_CANCEL;
        return 1;
    }
    if (atomic_load(&j->app->shutting_down)) {
        /* A failed checkpoint is not the job's fault either: it goes back to
         * the queue and resumes from its previous checkpoint. */
        if (!checkpoint(j, tr) && j->stop == STOP_CHECKPOINT_FAILED) {
            char msg[sizeof j->stop_err.msg + 128];
            snprintf(msg, sizeof msg, "could not save a checkpoint at shutdown (%s); the job resumes from its "
                     "previous checkpoint", j->stop_err.msg);
            event(j, "warning", msg, NULL);
        }
        if (j->stop != STOP_LEASE_LOST)
            j->stop = STOP_SHUTDOWN;
        return 1;
    }
    j->steps_per_epoch = p->steps_per_epoch;
    double t = now_s();
    if (t - j->last_report >= 1.0) {
        json_t *progress = progress_json(p);
        bool ok = report(j, progress, NULL);
        json_decref(progress);
        ft_prom_worker_rate(j->app->prom, j->index, p->samples_per_second);
        if (!ok)
            return 1;
    }
    if (t - j->last_ckpt >= j->app->cfg.checkpoint_seconds && !checkpoint(j, tr))
        return 1;
    return 0;
}

static int on_epoch(void *ctx, ft_trainer *tr, const ft_epoch_metrics *m)
{
    job_run *j = ctx;
    ft_error err = {0};
    json_t *row = ft_epoch_metrics_json(m);
    bool held = ft_store_job_metric_put(j->app->store, j->claim->id, j->claim->lease, m->epoch, row, &err) != 0;
    /* The trainer's total, not the spec's: after a phase that stopped early
     * the job has fewer epochs left than it planned. */
    int total = ft_trainer_epochs_total(tr);
    double eta = (total - m->epoch) * m->seconds;
    json_t *progress = json_pack("{s:i, s:i, s:I, s:I, s:f, s:f}", "epoch", m->epoch, "epochs", total, "step",
                                 (json_int_t)j->steps_per_epoch, "steps_per_epoch", (json_int_t)j->steps_per_epoch,
                                 "samples_per_second", m->samples_per_second, "eta_seconds", eta > 0 ? eta : 0.0);
    char msg[256];
    snprintf(msg, sizeof msg, "epoch %d done in %.2f s", m->epoch, m->seconds);
    event(j, "info", msg, row);
    bool ok = held && report(j, progress, row);
    json_decref(progress);
    json_decref(row);
    if (!ok) {
        j->stop = STOP_LEASE_LOST;
        return 1;
    }
    if (!checkpoint(j, tr))
        return 1;
    return atomic_load(j->cancel) ? (j->stop = STOP_CANCEL, 1) : 0;
}

/* Between steps (the feature cache's build, or the wait for another job's):
 * the stops on_step makes, without its checkpoint (a stopped build has
 * nothing to save; a requeued job resumes from its previous checkpoint). */
static int should_stop(void *ctx)
{
    job_run *j = ctx;
    if (lease_lost(j))
        j->stop = STOP_LEASE_LOST;
    else if (atomic_load(j->cancel))
        j->stop = STOP_CANCEL;
    else if (atomic_load(&j->app->shutting_down))
        j->stop = STOP_SHUTDOWN;
    return j->stop != STOP_NONE;
}

static void on_event(void *ctx, const char *level, const char *message, const json_t *data)
{
    event(ctx, level, message, data);
}

static ft_dataset *load_dataset(void *ctx, const ft_dataset_ref *ref, ft_error *err)
{
    job_run *j = ctx;
    return ft_stored_dataset_load(j->app, ref->id, "dataset", err);
}

static ft_model *load_model(void *ctx, const char *id, ft_error *err)
{
    job_run *j = ctx;
    return ft_stored_model_load(j->app, id, FT_STORED_WEIGHTS, "base_model", err);
}

/* Fail the job under the lease. Returns the outcome: "failed", or
 * "not_recorded" if the database refused the write (a full disk): the job
 * stays running until its lease runs out and a claim takes it again. */
static int remove_checkpoint(void *ctx, ft_error *err)
{
    job_run *j = ctx;
    return unlink(j->ckpt) == 0 || errno == ENOENT ? 0 : ft_fail_errno(err, errno, "cannot remove", j->ckpt);
}

static const char *fail(job_run *j, const ft_error *e)
{
    ft_error err = {0};
    /* A failed job never resumes: its checkpoint goes first, under the lease.
     * On a full disk that is the room the failure record needs. */
    ft_store_job_fenced(j->app->store, j->claim->id, j->claim->lease, remove_checkpoint, j, &err);
    char message[sizeof e->msg + 64];
    without_paths(j->app, e->msg, message, sizeof message);
    if (strcmp(message, e->msg) != 0)
        ft_app_log(j->app, "job_error", "job", j->claim->id, "detail", e->msg, NULL);
    json_t *error = json_pack("{s:s, s:s, s:o}", "message", message, "code", ft_errcode_name(e->code), "param",
                              e->param[0] ? json_string(e->param) : json_null());
    int held = ft_store_job_fail(j->app->store, j->claim->id, j->claim->lease, error, &err);
    json_decref(error);
    return held == 1 ? "failed" : "not_recorded";
}

/* Commit the success row, retrying transient failures (SQLITE_BUSY, a full
 * disk) a few times while the heartbeat keeps the lease. 1 if the job
 * succeeded with model `mid`, 0 if the lease is lost, -1 if unknown. */
static int record_success(job_run *j, const char *mid, const json_t *model_obj, const json_t *result)
{
    ft_error err = {0};
    int held = -1;
    for (int attempt = 0; attempt < 5 && held < 0; attempt++) {
        if (attempt)
            nanosleep(&(struct timespec){0, 100000000L << attempt}, NULL); /* 0.2 s .. 1.6 s */
        held = ft_store_job_succeed(j->app->store, j->claim->id, j->claim->lease, model_obj, result, &err);
        if (held < 0)
            ft_app_log(j->app, "job_success_not_recorded", "job", j->claim->id, "detail", err.msg, NULL);
    }
    if (held == 0) {
        /* A commit that reported an error may still have landed, ending the
         * lease: then the job is ours and points at this model. */
        json_t *job = ft_store_job_get(j->app->store, j->claim->id, &err);
        const char *model = json_string_value(json_object_get(job, "result_model"));
        held = !job ? -1 : model && strcmp(model, mid) == 0 ? 1 : 0;
        json_decref(job);
    }
    return held;
}

/* Save the trained model and finish the job, fenced by the lease. Returns
 * the outcome: "succeeded", "failed" (the model could not be saved),
 * "lease_lost" (another worker owns the job) or "not_recorded" (its row
 * could not be written; it will be reclaimed). */
static const char *succeed(job_run *j, ft_job_spec *spec, ft_job_result *res)
{
    ft_app *app = j->app;
    char mid[64], path[PATH_MAX];
    ft_error err = {0};
    ft_app_new_id("mdl", mid, sizeof mid);
    ft_app_model_path(app, mid, path, sizeof path);
    const char *dataset = spec->dataset.id;
    ft_model_set_meta(res->model, "job", j->claim->id, &err);
    ft_model_set_meta(res->model, "dataset", dataset, &err);
    if (spec->base_model)
        ft_model_set_meta(res->model, "base_model", spec->base_model, &err);
    if (ft_model_save(res->model, path, &err) != 0) {
        ft_app_log(app, "job_error", "job", j->claim->id, "detail", err.msg, NULL);
        ft_error shown = {.code = err.code};
        snprintf(shown.msg, sizeof shown.msg, "could not save the trained model (is the disk full?)");
        return fail(j, &shown);
    }
    struct stat st = {0};
    stat(path, &st);
    json_t *name = json_object_get(spec->json, "name");
    json_t *extra = json_pack("{s:o, s:I, s:s, s:s, s:s, s:o}", "name", name ? json_deep_copy(name) : json_null(),
                              "bytes", (json_int_t)st.st_size, "source", "job", "job", j->claim->id, "dataset",
                              dataset, "base_model", spec->base_model ? json_string(spec->base_model) : json_null());
    json_t *model_obj = ft_model_object(res->model, mid, extra);
    json_t *result = json_pack("{s:O, s:O, s:f, s:i, s:b, s:b}", "test_metrics", res->test ? res->test : json_null(),
                               "validation_metrics", res->validation ? res->validation : json_null(), "train_seconds", res->train_seconds, "epochs_completed", res->epochs_done,
                               "stopped_early", res->stopped_early, "feature_cache", res->cached);
    int held = record_success(j, mid, model_obj, result);
    if (held == 0)
        unlink(path); /* another worker owns the job now: this model must not appear */
    json_decref(extra);
    json_decref(model_obj);
    json_decref(result);
    /* Not recorded: the model file stays (a row may yet point at it; the
     * start-up sweep removes it if none does), the lease lapses and the job
     * runs again. */
    return held == 1 ? "succeeded" : held == 0 ? "lease_lost" : "not_recorded";
}

void ft_worker_run_job(ft_app *app, int index, const ft_claim *claim, atomic_bool *cancel, atomic_bool *lost)
{
    job_run run = {.app = app, .index = index, .claim = claim, .cancel = cancel, .lost = lost};
    job_run *j = &run;
    ft_job_spec spec;
    ft_job_result res = {0};
    ft_error err = {0};
    double started = now_s();
    const char *final = "failed";
    ft_app_checkpoint_path(app, j->claim->id, j->ckpt, sizeof j->ckpt);
    j->last_ckpt = j->last_report = started;
    /* ".tmp." makes the start-up sweep remove it if a crash leaves it. The
     * data dir is at most half of PATH_MAX, so the name fits. */
    if (snprintf(j->ckpt_next, sizeof j->ckpt_next, "%s.tmp.%s", j->ckpt, j->claim->lease) >=
        (int)sizeof j->ckpt_next) {
        ft_fail(&err, FT_EIO, NULL, "the checkpoint path is too long");
        final = fail(j, &err);
        goto out;
    }
    if (ft_job_spec_parse(j->claim->spec, &spec, &err) != 0) {
        final = fail(j, &err);
        goto out;
    }
    bool resuming = access(j->ckpt, F_OK) == 0;
    char msg[256];
    snprintf(msg, sizeof msg, "attempt %d started%s", j->claim->attempts,
             resuming ? ", resuming from the last checkpoint" : "");
    event(j, "info", msg, NULL);
    if (j->claim->attempts == 1 && !resuming) {
        /* The plan's warnings and advice belong in the job's story too. */
        json_t *job = ft_store_job_get(app->store, j->claim->id, &err);
        size_t i;
        json_t *w;
        json_array_foreach(json_object_get(job, "warnings"), i, w)
            event(j, json_string_value(json_object_get(w, "level")), json_string_value(json_object_get(w, "message")), w);
        json_decref(job);
    }
    ft_job_env env = {
        .ctx = j,
        .load_dataset = load_dataset,
        .load_model = load_model,
        .hooks = {.ctx = j, .on_step = on_step, .on_epoch = on_epoch, .should_stop = should_stop, .on_event = on_event},
        .resume_from = resuming ? j->ckpt : NULL,
        .feature_store = app->features,
    };
    /* Plan again before allocating anything: the budget may have shrunk (a
     * restart with a smaller --max-job-memory) since the job was queued. */
    json_t *warnings = NULL;
    int planned = ft_job_plan_stored(app, &spec, &warnings, &err);
    json_decref(warnings);
    if (planned != 0) {
        final = fail(j, &err);
    } else if (ft_job_run(&spec, &env, &res, &err) == 0) {
        final = succeed(j, &spec, &res);
    } else if (err.code == FT_ECANCELLED && j->stop == STOP_CANCEL) {
        int held = ft_store_job_cancelled(app->store, j->claim->id, j->claim->lease, &err);
        final = held == 1 ? "cancelled" : "not_recorded";
    } else if (err.code == FT_ECANCELLED && j->stop == STOP_SHUTDOWN) {
        ft_store_job_requeue(app->store, j->claim->id, j->claim->lease, &err);
        final = "requeued";
    } else if (err.code == FT_ECANCELLED && j->stop == STOP_LEASE_LOST) {
        final = "lease_lost"; /* someone else runs it now; leave everything to them */
    } else {
        if (j->stop == STOP_CHECKPOINT_FAILED) {
            err = j->stop_err;
            ft_error_prefix(&err, "checkpoint failed");
        }
        final = fail(j, &err);
    }
    ft_job_spec_free(&spec);
out:
    ft_job_result_free(&res);
    /* The checkpoint goes only with a recorded end: the fenced terminal
     * write proved the lease, and an ended job is never claimed again. */
    bool ended = strcmp(final, "succeeded") == 0 || strcmp(final, "failed") == 0 || strcmp(final, "cancelled") == 0;
    if (ended) {
        unlink(j->ckpt);
        ft_sweep_job_ended(app, j->claim->id);
    }
    ft_prom_worker_rate(app->prom, j->index, 0);
    if (ended)
        ft_prom_job_finished(app->prom, final, now_s() - started);
    char secs[32];
    snprintf(secs, sizeof secs, "%.2f", now_s() - started);
    ft_app_log(app, "job_finished", "job", j->claim->id, "outcome", final, "seconds", secs, NULL);
    ft_app_notify(app);
}
