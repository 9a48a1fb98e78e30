/* The HTTP layer: libmicrohttpd with an internal thread pool (epoll where
 * available), a route table, request bodies (JSON, raw, streamed uploads),
 * the error envelope, CORS, bearer auth, request ids, logs and metrics.
 * Route handlers see only this interface, never libmicrohttpd. It knows
 * nothing of the application: its settings come in an ft_http_config and
 * its logs, metrics and ids go through ft_http_hooks (as core takes an
 * ft_job_env), and the application's state is passed to handlers unread. */
#ifndef FT_HTTP_H
#define FT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>

#include <jansson.h>

#include "core/util/error.h"

typedef struct ft_app ft_app; /* the application's state: handed to handlers, never read here */
typedef struct ft_req ft_req;
typedef struct ft_http ft_http;

typedef enum {
    FT_BODY_NONE,   /* no body: one announced is refused (413) before it is read */
    FT_BODY_JSON,   /* application/json, up to max_json_bytes, parsed before the handler */
    FT_BODY_RAW,    /* any type, up to max_json_bytes, kept in memory (predict) */
    FT_BODY_UPLOAD  /* multipart/form-data or a raw body, streamed to temp files */
} ft_body_kind;

typedef void (*ft_handler)(ft_app *app, ft_req *req);

enum {
    FT_ROUTE_OPEN = 1,    /* reachable without the API key (health, metrics) */
    FT_ROUTE_HEAVY = 2,   /* runs on the request pool, off the HTTP threads (http_pool.c) */
    FT_ROUTE_PUBLIC = 4   /* reachable without the API key, but not a probe: a worker does not serve it (the dashboard) */
};

typedef struct {
    const char *method;   /* "GET", "POST", "DELETE" */
    const char *pattern;  /* "/v1/jobs/{id}/cancel": {name} matches one path segment */
    ft_body_kind body;
    ft_handler handler;
    unsigned flags;       /* FT_ROUTE_* */
    const void *data;     /* what a shared handler serves (a resource row), or NULL */
} ft_route;

/* The server's settings. Strings are borrowed: they must outlive it. */
typedef struct {
    const char *listen_host;   /* a numeric address, or "localhost" */
    int listen_port;           /* 0 picks a free port (ft_http_port) */
    int threads;               /* libmicrohttpd's thread pool */
    int heavy_threads;         /* the request pool's threads (FT_ROUTE_HEAVY handlers) */
    int heavy_queue;           /* heavy requests waiting for one; past it 503 */
    int max_connections;       /* open connections in all */
    int max_per_ip;            /* open connections from one address */
    int connection_timeout;    /* seconds: idle time, and the deadline of a request head */
    size_t min_body_rate;      /* bytes/s a body keeps past the timeout */
    size_t max_json_bytes;     /* JSON and raw bodies */
    size_t max_upload_bytes;   /* streamed uploads */
    const char *api_key;       /* bearer key; "" = no auth */
    const char *cors_origins;  /* comma-separated origins or "*"; "" = no CORS */
    const char *allowed_hosts; /* Host names served without an API key beside the listen address */
    const char *tmp_dir;       /* where uploads are streamed */
} ft_http_config;

/* What the server asks of the application; each hook gets ctx. */
typedef struct {
    void *ctx;
    /* Log one line: an event, then key, value strings up to a NULL key. */
    void (*log)(void *ctx, const char *event, va_list kv);
    /* A request ended: its route pattern ("unmatched"), method, status and
     * duration (for metrics). */
    void (*request_done)(void *ctx, const char *route, const char *method, unsigned status, double seconds);
    /* Wait up to ms for the application to signal a change after `seen`;
     * returns the current change count. Parked streams resume after it. */
    unsigned long (*wait_change)(void *ctx, unsigned long seen, int ms);
    /* End a wait_change now (the server is stopping). */
    void (*wake)(void *ctx);
    /* A new id: prefix + random digits (request ids). */
    void (*new_id)(const char *prefix, char *out, size_t n);
} ft_http_hooks;

/* Start listening with the given routes (the array must outlive the server).
 * The config and hooks are copied; `app` is passed to every handler. */
ft_http *ft_http_start(const ft_http_config *cfg, const ft_http_hooks *hooks, ft_app *app, const ft_route *routes,
                       size_t nroutes, ft_error *err);
/* The port actually bound (useful with --listen 127.0.0.1:0). */
int ft_http_port(const ft_http *h);
/* Requests of heavy routes running or waiting on the request pool. */
int ft_http_heavy_requests(ft_http *h);
/* Stop accepting new connections; requests in flight continue. */
void ft_http_quiesce(ft_http *h);
/* Whether a listen address is a loopback one (127.x, ::1, localhost). */
bool ft_http_loopback(const char *host);
/* Stop and free (waits for handlers to return). */
void ft_http_stop(ft_http *h);

/* ---- requests ---- */

const char *ft_req_method(const ft_req *r);
const char *ft_req_path(const ft_req *r);
const char *ft_req_route(const ft_req *r); /* the matched pattern, for logs and metrics */
const char *ft_req_id(const ft_req *r);    /* request id (echoed as X-Request-Id) */
/* The matched route's `data`. */
const void *ft_req_route_data(const ft_req *r);
/* Path parameter by name ("id"), query argument, request header; NULL if absent. */
const char *ft_req_param(const ft_req *r, const char *name);
const char *ft_req_query(const ft_req *r, const char *key);
const char *ft_req_header(const ft_req *r, const char *name);
/* Parsed body of an FT_BODY_JSON route (borrowed). */
json_t *ft_req_json(const ft_req *r);
/* Body of an FT_BODY_RAW route. */
const unsigned char *ft_req_raw(const ft_req *r, size_t *len);

/* One streamed part of an FT_BODY_UPLOAD body: a multipart file part, or the
 * whole raw body (field "" then). The temp file is removed after the request
 * unless the handler takes it with ft_req_take_part. */
typedef struct {
    char field[64];         /* multipart field name ("file", "images", ...) */
    char filename[256];     /* client file name, a label only: never used as a path */
    char content_type[128];
    char path[PATH_MAX];    /* temp file holding the bytes */
    uint64_t bytes;
} ft_upload_part;

size_t ft_req_parts(const ft_req *r, const ft_upload_part **parts);
/* Plain (non-file) multipart fields arrive as query-like values. */
const char *ft_req_form(const ft_req *r, const char *key);
/* The handler keeps (renames) part i's temp file: do not delete it. */
void ft_req_take_part(ft_req *r, size_t i);

/* ---- responses: each handler sends exactly one ---- */

/* JSON body (reference stolen). */
void ft_reply_json(ft_req *r, unsigned status, json_t *body);
/* The error envelope {"error": {"message", "type", "param", "code"}}. The
 * type follows from the status. */
void ft_reply_error(ft_req *r, unsigned status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Map a core/store error to a status: invalid -> 422 (or `invalid_status`),
 * not found -> 404, too big -> 413, no space -> 507, format -> 400, others
 * -> 500 with a generic message (details go to the log, not the client). */
void ft_reply_ft_error(ft_req *r, const ft_error *e, unsigned invalid_status);
/* Bytes with a content type (take = the buffer is malloc'd and now ours). */
void ft_reply_bytes(ft_req *r, unsigned status, const char *content_type, void *data, size_t len, bool take);
/* A file from disk, streamed (download). */
void ft_reply_file(ft_req *r, const char *path, const char *content_type, const char *download_name);
/* An unbounded stream: `next` fills up to max bytes and returns the count,
 * -1 at the end, or 0 when it has nothing yet (it must not block): the
 * connection is then parked, without holding a thread, and `next` is called
 * again after the next ft_app_notify or within a second. `done` frees ctx. */
void ft_reply_stream(ft_req *r, const char *content_type,
                     long (*next)(void *ctx, char *buf, size_t max), void (*done)(void *ctx), void *ctx);
/* Extra response header for the reply about to be sent. */
void ft_reply_header(ft_req *r, const char *name, const char *value);

/* Query helpers shared by list routes: limit (default 20, 1..100) and after.
 * Return false after replying 400 on a bad value. */
bool ft_req_limit(ft_req *r, int *limit);

#endif
