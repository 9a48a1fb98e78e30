/* The daemon and dispatch: routing, the checks before a body, queueing
 * replies, the head and body deadlines, logs and metrics per request. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http/http_internal.h"

/* ---- routing ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Percent-decoding of the path and the query arguments, except %00: a NUL
 * would end the C string early, so "/healthz%00x" or
 * "/v1/models/{id}/content%00.png" would reach the route its prefix names.
 * Kept as the three characters, it matches no route and no id. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls, (void)conn;
    char *out = s;
    for (const char *in = s; *in;) {
        int hi = in[0] == '%' ? hex_digit(in[1]) : -1, lo = hi >= 0 ? hex_digit(in[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            in += 3;
        } else {
            *out++ = *in++;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

/* Match path against pattern, capturing {params}. */
static bool match(const char *pattern, const char *path, ft_req *r)
{
    int n = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        const char *pe = strchr(pattern, '/'), *se = strchr(path, '/');
        size_t plen = pe ? (size_t)(pe - pattern) : strlen(pattern);
        size_t slen = se ? (size_t)(se - path) : strlen(path);
        if (pattern[0] == '{') {
            if (slen == 0 || n >= FT_MAX_PARAMS || slen >= sizeof r->params[0].value)
                return false;
            snprintf(r->params[n].name, sizeof r->params[n].name, "%.*s", (int)(plen - 2), pattern + 1);
            snprintf(r->params[n].value, sizeof r->params[n].value, "%.*s", (int)slen, path);
            n++;
        } else if (plen != slen || strncmp(pattern, path, plen) != 0) {
            return false;
        }
        pattern += plen, path += slen;
    }
    if (*pattern || *path)
        return false;
    r->nparams = n;
    return true;
}

/* Find the route; *allow lists the methods the path accepts (for 405). */
static const ft_route *route_for(ft_req *r, char *allow, size_t allow_n)
{
    const ft_http *h = r->http;
    const char *method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    const ft_route *found = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < h->nroutes; i++) {
        ft_req probe = {.nparams = 0};
        if (!match(h->routes[i].pattern, r->path, &probe))
            continue;
        size_t used = strlen(allow);
        snprintf(allow + used, allow_n - used, "%s%s", used ? ", " : "", h->routes[i].method);
        if (!found && strcmp(h->routes[i].method, method) == 0) {
            found = &h->routes[i];
            memcpy(r->params, probe.params, sizeof r->params);
            r->nparams = probe.nparams;
        }
    }
    return found;
}

static void new_request_id(ft_req *r)
{
    const char *given = ft_req_header(r, "X-Request-Id");
    bool ok = given && strlen(given) > 0 && strlen(given) <= 64;
    for (const char *c = given; ok && *c; c++)
        ok = (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '-' ||
             *c == '_' || *c == '.';
    if (ok)
        snprintf(r->id, sizeof r->id, "%s", given);
    else
        r->http->hooks.new_id("req", r->id, sizeof r->id);
}

/* Everything decided from the request line and headers, before the body. */
static bool preflight(ft_req *r)
{
    char allow[128];
    if (!ft_http_host_allowed(r)) {
        ft_reply_error(r, 403, "host_not_allowed", "Host",
                       "the Host '%s' is not an address of this server: without an API key, only the listen "
                       "address and --allowed-hosts names are served (DNS rebinding protection)",
                       ft_req_header(r, "Host"));
        return false;
    }
    r->route = route_for(r, allow, sizeof allow);
    if (strcmp(r->method, "OPTIONS") == 0) {
        if (!allow[0]) {
            ft_reply_error(r, 404, "unknown_route", NULL, "no route %s", r->path);
            return false;
        }
        const char *origin = ft_http_cors_origin(r);
        ft_reply_bytes(r, 204, "text/plain", "", 0, false);
        char methods[160];
        snprintf(methods, sizeof methods, "%s, OPTIONS", allow);
        ft_reply_header(r, "Allow", methods);
        if (origin) {
            ft_reply_header(r, "Access-Control-Allow-Methods", methods);
            ft_reply_header(r, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, Idempotency-Key, X-Request-Id, Last-Event-ID");
            ft_reply_header(r, "Access-Control-Max-Age", "600");
        }
        return false;
    }
    if (!r->route) {
        if (allow[0]) {
            ft_reply_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s (allowed: %s)", r->method,
                           r->path, allow);
            ft_reply_header(r, "Allow", allow);
        } else {
            ft_reply_error(r, 404, "unknown_route", NULL, "no route %s %s", r->method, r->path);
        }
        return false;
    }
    if (!ft_http_origin_allowed(r)) {
        ft_reply_error(r, 403, "origin_not_allowed", "Origin",
                       "%s from the origin '%s' is refused: it is neither this server's origin nor a --cors-origin",
                       r->method, ft_req_header(r, "Origin"));
        return false;
    }
    if (!ft_http_authorized(r)) {
        ft_reply_error(r, 401, "invalid_api_key", NULL,
                       "missing or invalid API key: send Authorization: Bearer <key>");
        ft_reply_header(r, "WWW-Authenticate", "Bearer");
        return false;
    }
    return ft_body_begin(r);
}

static ft_http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* The connection closes with a body still arriving: linger (http_linger.c). */
static void linger_on_close(ft_req *r)
{
    ft_http_conn *c = conn_of(r->conn);
    if (!c)
        return;
    pthread_mutex_lock(&r->http->conns_lock);
    c->linger = true;
    pthread_mutex_unlock(&r->http->conns_lock);
}

/* Queue the reply. `before_body`: it is sent before the announced body is
 * read, so the connection closes after it rather than read the body. */
static enum MHD_Result queue(ft_req *r, bool before_body)
{
    struct MHD_Response *resp = r->resp;
    if (before_body && r->has_body) {
        MHD_add_response_header(resp, "Connection", "close");
        linger_on_close(r);
    }
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    /* The handler's headers first: a Cache-Control of its own replaces the default. */
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
    if (!MHD_get_response_header(resp, "Cache-Control"))
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    const char *origin = ft_http_cors_origin(r);
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    r->resp = NULL;
    return rc;
}

/* An error decided while the body arrives (413 past the cap, bad multipart):
 * libmicrohttpd takes no response until the body has ended, and reading the
 * rest only to answer would let the client hold the connection as long as it
 * likes. So the JSON reply is written to the socket here (best effort: it is
 * small and the socket buffer empty) and the connection closed. */
static enum MHD_Result reply_mid_body(ft_req *r)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const char *origin = ft_http_cors_origin(r);
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "X-Request-Id: %s\r\nCache-Control: no-store\r\nConnection: close\r\n%s%s%s\r\n",
                     r->status, MHD_get_reason_phrase_for(r->status), r->json_out_len, r->id,
                     origin ? "Access-Control-Allow-Origin: " : "", origin ? origin : "", origin ? "\r\n" : "");
    if (info && r->json_out && n > 0 && (size_t)n < sizeof head &&
        send(info->connect_fd, head, (size_t)n, MSG_NOSIGNAL) == n)
        send(info->connect_fd, r->json_out, r->json_out_len, MSG_NOSIGNAL);
    linger_on_close(r);
    return MHD_NO; /* libmicrohttpd closes the connection */
}

/* ---- the head and body deadlines ---- */

/* The connection enters a phase of its request (the next head after a reply). */
static void conn_mark(ft_http *h, struct MHD_Connection *conn, ft_conn_phase phase)
{
    ft_http_conn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&h->conns_lock);
    c->phase = phase;
    c->since = ft_http_now();
    c->received = 0;
    pthread_mutex_unlock(&h->conns_lock);
}

static void conn_received(ft_http *h, struct MHD_Connection *conn, size_t bytes)
{
    ft_http_conn *c = conn_of(conn);
    if (!c)
        return;
    pthread_mutex_lock(&h->conns_lock);
    c->received += bytes;
    pthread_mutex_unlock(&h->conns_lock);
}

/* A head gets the connection timeout. A body gets the timeout plus one
 * second per --min-body-rate bytes received (the MinRate rule of Apache's
 * mod_reqtimeout): an upload that keeps that rate goes through however
 * large, one that trickles is cut after about the timeout. A reply has no
 * deadline here: event streams last, and a stalled reader meets the idle
 * timeout. */
static const char *overdue(const ft_http_conn *c, double now, const ft_http_config *cfg)
{
    double spent = now - c->since, limit = cfg->connection_timeout;
    if (c->phase == FT_CONN_HEAD && spent > limit)
        return "dropped a connection: its request head took longer than the connection timeout";
    if (c->phase == FT_CONN_BODY && spent > limit + (double)c->received / (double)cfg->min_body_rate)
        return "dropped a connection: its request body came slower than --min-body-rate past the connection "
               "timeout";
    return NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ft_http *h = cls;
    ft_http_conn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info || !(c = calloc(1, sizeof *c)))
            return; /* untracked: only the idle timeout applies */
        c->fd = info->connect_fd;
        c->since = ft_http_now();
        pthread_mutex_lock(&h->conns_lock);
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        pthread_mutex_unlock(&h->conns_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    /* libmicrohttpd closes the socket after this call: while c is in the
     * list (under the lock), c->fd is still this connection's. */
    pthread_mutex_lock(&h->conns_lock);
    if (c->linger && !c->cut)
        ft_http_linger(h->linger, c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&h->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* Every 250 ms: shut down the connections past their head or body
 * deadline; libmicrohttpd sees the socket close and frees the connection as
 * usual. */
static void *reap_slow(void *arg)
{
    ft_http *h = arg;
    pthread_mutex_lock(&h->conns_lock);
    while (!h->reaper_stop) {
        double now = ft_http_now();
        for (ft_http_conn *c = h->conns; c; c = c->next) {
            const char *why = c->cut ? NULL : overdue(c, now, &h->cfg);
            if (why) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
                ft_http_log(h, "http_server", "message", why, NULL);
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L)
            until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&h->reaper_wake, &h->conns_lock, &until);
    }
    pthread_mutex_unlock(&h->conns_lock);
    return NULL;
}

static void reply_busy(ft_req *r)
{
    ft_reply_error(r, 503, "server_busy", NULL,
                   "the server is busy with other uploads, predictions, evaluations and job submissions "
                   "(--heavy-threads %d, --heavy-queue %d); retry shortly",
                   r->http->cfg.heavy_threads, r->http->cfg.heavy_queue);
    ft_reply_header(r, "Retry-After", "1");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)version;
    ft_http *h = cls;
    ft_req *r = *con_cls;
    if (!r) {
        conn_mark(h, conn, FT_CONN_BODY);
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *con_cls = r;
        r->http = h;
        r->conn = conn;
        r->t0 = ft_http_now();
        r->part_fd = -1;
        snprintf(r->method, sizeof r->method, "%s", method);
        new_request_id(r);
        const char *cl = ft_req_header(r, "Content-Length");
        r->has_body = ft_req_header(r, "Transfer-Encoding") || (cl && strtoull(cl, NULL, 10) > 0);
        if (strlen(url) >= sizeof r->path) {
            ft_reply_error(r, 414, "uri_too_long", NULL, "the request path is longer than %zu bytes",
                           sizeof r->path - 1);
            return queue(r, true);
        }
        snprintf(r->path, sizeof r->path, "%s", url);
        if (!preflight(r))
            return queue(r, true);
        return MHD_YES;
    }
    if (*upload_size) {
        conn_received(h, conn, *upload_size);
        if (!ft_body_feed(r, upload_data, *upload_size))
            return reply_mid_body(r);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->resp) /* the request pool's thread has replied (FT_ROUTE_HEAVY) */
        return queue(r, false);
    conn_mark(h, conn, FT_CONN_REPLY);
    if (ft_body_end(r)) {
        if (!(r->route->flags & FT_ROUTE_HEAVY))
            ft_run_handler(r);
        else if (ft_http_pool_submit(h->pool, r))
            return MHD_YES; /* called again once the pool thread has replied */
        else
            reply_busy(r);
    }
    if (!r->resp)
        ft_reply_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->id);
    return queue(r, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ft_http *h = cls;
    ft_req *r = *con_cls;
    conn_mark(h, conn, FT_CONN_HEAD); /* a kept-alive connection's next head starts now */
    if (!r)
        return;
    double secs = ft_http_now() - r->t0;
    unsigned status = r->status ? r->status : 499; /* client went away before a reply */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
        status = 499;
    char st[16], ms[32];
    snprintf(st, sizeof st, "%u", status);
    snprintf(ms, sizeof ms, "%.1f", secs * 1000);
    ft_http_log(h, "request", "request_id", r->id, "method", r->method, "route", ft_req_route(r), "path", r->path,
                "status", st, "ms", ms, r->error_code[0] ? "error" : NULL, r->error_code, NULL);
    if (h->hooks.request_done)
        h->hooks.request_done(h->hooks.ctx, ft_req_route(r), r->method, status, secs);
    ft_body_free(r);
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    ft_http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    ft_http_log(h, "http_server", "message", msg, NULL);
}

ft_http *ft_http_start(const ft_http_config *cfg, const ft_http_hooks *hooks, ft_app *app, const ft_route *routes,
                       size_t nroutes, ft_error *err)
{
    ft_http *h = calloc(1, sizeof *h);
    if (!h) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    h->cfg = *cfg;
    h->hooks = *hooks;
    h->app = app;
    h->routes = routes;
    h->nroutes = nroutes;
    h->hangup_epoll = -1;
    ft_http_key_digest(cfg->api_key, h->key_digest);
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->conns_lock, NULL);
    pthread_cond_init(&h->reaper_wake, NULL);
    const ft_http_config *c = cfg;
    /* What requests use is ready before the first can arrive. */
    if (!(h->pool = ft_http_pool_start(h, c->heavy_threads, c->heavy_queue, err)) ||
        !(h->linger = ft_http_lingerer_start(err)) || !ft_http_streams_start(h, err)) {
        ft_http_stop(h);
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->listen_host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->listen_port);
    } else if (inet_pton(AF_INET6, c->listen_host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)c->listen_port);
        flags |= MHD_USE_IPv6;
    } else if (strcmp(c->listen_host, "localhost") == 0) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->listen_port);
        v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        ft_http_stop(h);
        ft_fail(err, FT_EINVAL, "listen", "--listen needs a numeric address (e.g. 127.0.0.1 or 0.0.0.0), got '%s'",
                c->listen_host);
        return NULL;
    }
    /* epoll where the library has it, else whatever polling it supports.
     * No MHD_OPTION_LISTENING_ADDRESS_REUSE: set to 1 it means SO_REUSEPORT,
     * and a second instance on the same port would start "successfully" and
     * take half the connections. The default (SO_REUSEADDR) still allows a
     * quick restart. */
    unsigned modes[] = {MHD_USE_EPOLL, MHD_USE_AUTO};
    for (size_t m = 0; m < 2 && !h->daemon; m++)
        h->daemon = MHD_start_daemon(
            flags | modes[m], 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)c->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)c->max_per_ip,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->connection_timeout, MHD_OPTION_NOTIFY_COMPLETED,
            on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (!h->daemon) {
        ft_http_stop(h);
        ft_fail(err, FT_EIO, "listen", "cannot listen on %s:%d (address in use or not available)",
                c->listen_host, c->listen_port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : c->listen_port;
    if (pthread_create(&h->reaper, NULL, reap_slow, h) != 0) {
        ft_http_stop(h);
        ft_fail(err, FT_ENOMEM, NULL, "cannot start the HTTP connection reaper thread");
        return NULL;
    }
    h->reaper_started = true;
    return h;
}

int ft_http_port(const ft_http *h) { return h->port; }

void ft_http_quiesce(ft_http *h)
{
    if (h && h->daemon) {
        MHD_socket s = MHD_quiesce_daemon(h->daemon);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

void ft_http_stop(ft_http *h)
{
    if (!h)
        return;
    ft_http_pool_stop(h->pool); /* before the daemon: its requests wait suspended */
    ft_http_streams_stop(h);
    pthread_mutex_lock(&h->conns_lock);
    h->reaper_stop = true;
    pthread_cond_signal(&h->reaper_wake);
    pthread_mutex_unlock(&h->conns_lock);
    if (h->reaper_started)
        pthread_join(h->reaper, NULL);
    if (h->daemon)
        MHD_stop_daemon(h->daemon); /* closes every connection: the list empties */
    ft_http_lingerer_stop(h->linger);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->conns_lock);
    pthread_cond_destroy(&h->reaper_wake);
    free(h);
}
