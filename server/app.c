#include "server/app.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void ft_app_dataset_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.safetensors", app->dir_datasets, id);
}

void ft_app_model_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.safetensors", app->dir_models, id);
}

void ft_app_checkpoint_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.ckpt", app->dir_checkpoints, id);
}

void ft_app_new_id(const char *prefix, char *out, size_t n)
{
    unsigned char r[12];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t k = getrandom(r + got, sizeof r - got, 0);
        if (k > 0)
            got += (size_t)k;
    }
    char hex[25];
    for (int i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    snprintf(out, n, "%s_%s", prefix, hex);
}

bool ft_app_valid_id(const char *prefix, const char *s)
{
    size_t p = strlen(prefix);
    if (!s || strncmp(s, prefix, p) != 0 || s[p] != '_' || strlen(s + p + 1) != 24)
        return false;
    for (const char *c = s + p + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

void ft_app_notify(ft_app *app)
{
    pthread_mutex_lock(&app->lock);
    app->generation++;
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);
}

unsigned long ft_app_wait(ft_app *app, unsigned long seen, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&app->lock);
    while (app->generation == seen && !app->shutting_down)
        if (pthread_cond_timedwait(&app->changed, &app->lock, &until) != 0)
            break;
    unsigned long g = app->generation;
    pthread_mutex_unlock(&app->lock);
    return g;
}

atomic_bool *ft_app_job_started(ft_app *app, const char *id)
{
    atomic_bool *flag = NULL;
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS && !flag; i++)
        if (!app->running[i].id[0]) {
            snprintf(app->running[i].id, sizeof app->running[i].id, "%s", id);
            atomic_store(&app->running[i].cancel, false);
            flag = &app->running[i].cancel;
        }
    pthread_mutex_unlock(&app->lock);
    return flag;
}

void ft_app_job_ended(ft_app *app, const char *id)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS; i++)
        if (strcmp(app->running[i].id, id) == 0)
            app->running[i].id[0] = '\0';
    pthread_mutex_unlock(&app->lock);
}

void ft_app_cancel(ft_app *app, const char *id)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS; i++)
        if (strcmp(app->running[i].id, id) == 0)
            atomic_store(&app->running[i].cancel, true);
    pthread_mutex_unlock(&app->lock);
}

void ft_app_log(const ft_app *app, const char *event, ...)
{
    char line[2048];
    size_t used = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, event);
    if (app->cfg.log_json) {
        json_t *o = json_pack("{s:s, s:s}", "ts", ts, "event", event);
        for (const char *k; (k = va_arg(ap, const char *));) {
            const char *v = va_arg(ap, const char *);
            json_object_set_new(o, k, json_string(v ? v : ""));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        used = (size_t)snprintf(line, sizeof line, "%s", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        used = (size_t)snprintf(line, sizeof line, "%s %s", ts, event);
        for (const char *k; (k = va_arg(ap, const char *)) && used < sizeof line;) {
            const char *v = va_arg(ap, const char *);
            bool quote = v && strpbrk(v, " \"=") != NULL;
            used += (size_t)snprintf(line + used, sizeof line - used, quote ? " %s=\"%s\"" : " %s=%s", k,
                                     v ? v : "");
        }
    }
    va_end(ap);
    if (used >= sizeof line)
        used = sizeof line - 1;
    fprintf(stderr, "%.*s\n", (int)used, line);
}
