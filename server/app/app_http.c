/* The app's side of server/http: its settings taken from the service's
 * config, and its hooks (logs, Prometheus counts, ids, the change signal). */
#include <time.h>

#include "server/app/app.h"
#include "server/app/prom.h"

static void log_line(void *ctx, const char *event, va_list kv)
{
    ft_app_logv(ctx, event, kv);
}

static void count_request(void *ctx, const char *route, const char *method, unsigned status, double seconds)
{
    ft_app *app = ctx;
    if (app->prom)
        ft_prom_request(app->prom, route, method, status, seconds);
}

/* At shutdown ft_app_wait returns at once: parked streams are then resumed
 * every 50 ms rather than in a busy loop. */
static unsigned long wait_change(void *ctx, unsigned long seen, int ms)
{
    ft_app *app = ctx;
    if (!atomic_load(&app->shutting_down))
        return ft_app_wait(app, seen, ms);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    return seen;
}

static void wake(void *ctx)
{
    ft_app_notify(ctx);
}

ft_http *ft_app_http_start(ft_app *app, const ft_route *routes, size_t nroutes, ft_error *err)
{
    const ft_config *c = &app->cfg;
    ft_http_config cfg = {
        .listen_host = c->listen_host,
        .listen_port = c->listen_port,
        .threads = c->http_threads,
        .heavy_threads = c->heavy_threads,
        .heavy_queue = c->heavy_queue,
        .max_connections = c->max_connections,
        .max_per_ip = c->max_per_ip,
        .connection_timeout = c->connection_timeout,
        .min_body_rate = c->min_body_rate,
        .max_json_bytes = c->max_json_bytes,
        .max_upload_bytes = c->max_upload_bytes,
        .api_key = c->api_key,
        .cors_origins = c->cors_origins,
        .allowed_hosts = c->allowed_hosts,
        .tmp_dir = app->dir_tmp,
    };
    ft_http_hooks hooks = {.ctx = app, .log = log_line, .request_done = count_request, .wait_change = wait_change,
                           .wake = wake, .new_id = ft_app_new_id};
    return ft_http_start(&cfg, &hooks, app, routes, nroutes, err);
}
