/* GET /v1/jobs/{id}/events: a JSON page of events, or with
 * Accept: text/event-stream a Server-Sent Events stream that follows the job
 * until it ends (resumable with Last-Event-ID). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/routes.h"

static bool terminal(const char *status)
{
    return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                      strcmp(status, "cancelled") == 0);
}

typedef struct {
    ft_app *app;
    char id[64];
    long long last_seq;
    time_t last_write;  /* for keepalives */
    bool done;
    char *pending;     /* formatted bytes not yet sent */
    size_t len, off;
} sse_stream;

static void append(sse_stream *s, const char *text)
{
    size_t n = strlen(text);
    char *p = realloc(s->pending, s->len + n + 1);
    if (!p)
        return;
    memcpy(p + s->len, text, n + 1);
    s->pending = p;
    s->len += n;
}

/* Fetch new events; at the end of the job, the final status. */
static void refill(sse_stream *s)
{
    ft_error err = {0};
    json_t *events = ft_store_job_events(s->app->store, s->id, s->last_seq, 100, &err);
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        /* Numbers as in JSON replies (10 significant digits, not 17). */
        char *data = json_dumps(e, JSON_COMPACT | JSON_REAL_PRECISION(10));
        long long seq = (long long)json_integer_value(json_object_get(e, "seq"));
        char head[64];
        snprintf(head, sizeof head, "id: %lld\ndata: ", seq);
        append(s, head);
        append(s, data ? data : "{}");
        append(s, "\n\n");
        free(data);
        s->last_seq = seq;
    }
    size_t got = json_array_size(events);
    json_decref(events);
    if (got)
        return;
    json_t *job = ft_store_job_get(s->app->store, s->id, &err);
    const char *status = json_string_value(json_object_get(job, "status"));
    if (!job || terminal(status)) {
        char end[160];
        snprintf(end, sizeof end, "event: end\ndata: {\"job\":\"%s\",\"status\":\"%s\"}\n\n", s->id,
                 status ? status : "unknown");
        append(s, end);
        s->done = true;
    }
    json_decref(job);
}

static long sse_next(void *ctx, char *buf, size_t max)
{
    sse_stream *s = ctx;
    if (s->off == s->len) {
        free(s->pending);
        s->pending = NULL;
        s->len = s->off = 0;
        if (s->done || atomic_load(&s->app->shutting_down))
            return -1;
        refill(s);
        if (s->len == 0) {
            /* Nothing new: the HTTP layer parks the stream until something
             * changes (or a second passes, to notice other processes'
             * writes). A comment every 15 s keeps proxies from closing an
             * idle stream. */
            if (time(NULL) - s->last_write < 15)
                return 0;
            append(s, ": keepalive\n\n");
        }
        s->last_write = time(NULL);
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->pending + s->off, n);
    s->off += n;
    return (long)n;
}

static void sse_done(void *ctx)
{
    sse_stream *s = ctx;
    atomic_fetch_sub(&s->app->sse_streams, 1);
    free(s->pending);
    free(s);
}

static bool wants_stream(ft_req *r)
{
    const char *accept = ft_req_header(r, "Accept");
    return accept && strstr(accept, "text/event-stream");
}

static bool parse_seq(ft_req *r, const char *s, long long *out)
{
    char *end;
    *out = 0;
    if (!s)
        return true;
    *out = strtoll(s, &end, 10);
    if (*s == '\0' || *end || *out < 0) {
        ft_reply_error(r, 400, "invalid_cursor", "after", "after must be an event sequence number");
        return false;
    }
    return true;
}

void ft_route_job_events(ft_app *app, ft_req *r)
{
    json_t *job = ft_route_job(app, r);
    if (!job)
        return;
    const char *id = ft_req_param(r, "id");
    json_decref(job);
    ft_error err = {0};
    long long after;
    const char *resume = ft_req_header(r, "Last-Event-ID");
    if (!parse_seq(r, resume ? resume : ft_req_query(r, "after"), &after))
        return;
    if (!wants_stream(r)) {
        int limit;
        if (!ft_req_limit(r, &limit))
            return;
        json_t *events = ft_store_job_events(app->store, id, after, limit + 1, &err);
        if (!events) {
            ft_reply_ft_error(r, &err, 422);
            return;
        }
        bool more = json_array_size(events) > (size_t)limit;
        if (more)
            json_array_remove(events, (size_t)limit);
        ft_reply_list(r, events, more);
        return;
    }
    if (atomic_fetch_add(&app->sse_streams, 1) >= app->cfg.max_sse_streams) {
        atomic_fetch_sub(&app->sse_streams, 1);
        ft_reply_error(r, 429, "too_many_streams", NULL,
                       "too many open event streams (%d); poll GET /v1/jobs/{id}/events instead",
                       app->cfg.max_sse_streams);
        ft_reply_header(r, "Retry-After", "5");
        return;
    }
    sse_stream *s = calloc(1, sizeof *s);
    if (!s) {
        atomic_fetch_sub(&app->sse_streams, 1);
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
        return;
    }
    s->app = app;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->last_seq = after;
    s->last_write = time(NULL);
    ft_reply_stream(r, "text/event-stream", sse_next, sse_done, s);
}
