/* Streamed replies (Server-Sent Events): a stream with nothing to send is
 * parked (its connection suspended) rather than blocking its pool thread,
 * and resumed when the application signals a change (hooks.wait_change), every second, or when a parked
 * client hangs up.
 *
 * Why the hang-up watch: libmicrohttpd does not poll a suspended
 * connection, so a client that vanished while its stream was parked was
 * noticed only at the next write (the 15 s keepalive), and its stream slot
 * stayed taken until then: new streams got 429 meanwhile. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "server/http/http_internal.h"

struct ft_http_stream {
    long (*next)(void *ctx, char *buf, size_t max);
    void (*done)(void *ctx);
    void *ctx;
    ft_http *http;
    struct MHD_Connection *conn;
    bool parked;                 /* in http->suspended (under its lock) */
    ft_http_stream *next_suspended;
};

/* The client closed or reset the connection (a read-side hang-up counts:
 * libmicrohttpd itself closes a connection whose client stopped sending). */
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Ask the watcher to report this connection's next hang-up, once. Its
 * registration goes away by itself when libmicrohttpd closes the socket
 * (epoll drops a file on its last close), so a reused fd number is simply
 * registered anew (ENOENT on MOD). */
static void watch_hangup(ft_http *h, int fd)
{
    struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLONESHOT};
    if (epoll_ctl(h->hangup_epoll, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(h->hangup_epoll, EPOLL_CTL_ADD, fd, &ev);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    ft_http_stream *s = cls;
    long n = s->next(s->ctx, buf, max);
    if (n != 0)
        return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info && client_gone(info->connect_fd))
        return MHD_CONTENT_READER_END_WITH_ERROR; /* closes it: the stream's slot is free at once */
    /* Nothing to send yet: park the connection rather than block (or spin)
     * in this thread, which serves other connections too. */
    ft_http *h = s->http;
    pthread_mutex_lock(&h->lock);
    bool stopping = h->stopping;
    if (!stopping) {
        if (!s->parked) {
            s->next_suspended = h->suspended;
            h->suspended = s;
            s->parked = true;
        }
        if (info)
            watch_hangup(h, info->connect_fd);
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&h->lock);
    return stopping ? MHD_CONTENT_READER_END_OF_STREAM : 0;
}

static void stream_free(void *cls)
{
    ft_http_stream *s = cls;
    /* libmicrohttpd may close a connection it was asked to suspend (the
     * client had already gone): never resume it after this. */
    ft_http *h = s->http;
    pthread_mutex_lock(&h->lock);
    for (ft_http_stream **p = &h->suspended; *p; p = &(*p)->next_suspended)
        if (*p == s) {
            *p = s->next_suspended;
            break;
        }
    pthread_mutex_unlock(&h->lock);
    s->done(s->ctx);
    free(s);
}

/* Every parked stream looks again: for news, or for its client gone. */
static void resume_streams(ft_http *h)
{
    pthread_mutex_lock(&h->lock);
    for (ft_http_stream *s = h->suspended; s; s = s->next_suspended) {
        s->parked = false;
        MHD_resume_connection(s->conn);
    }
    h->suspended = NULL;
    pthread_mutex_unlock(&h->lock);
}

static bool stopping(ft_http *h)
{
    pthread_mutex_lock(&h->lock);
    bool stop = h->stopping;
    pthread_mutex_unlock(&h->lock);
    return stop;
}

/* Resume parked streams on every change the application signals, and every second
 * (to notice other processes' writes and to send keepalives). */
static void *waker_main(void *arg)
{
    ft_http *h = arg;
    unsigned long seen = 0;
    while (!stopping(h)) {
        seen = h->hooks.wait_change(h->hooks.ctx, seen, 1000);
        resume_streams(h);
    }
    return NULL;
}

/* Resume parked streams as soon as one of their clients hangs up. The
 * events only say "look again"; their data is never used, so a connection
 * closed meanwhile cannot be touched here. */
static void *hangup_main(void *arg)
{
    ft_http *h = arg;
    while (!stopping(h)) {
        struct epoll_event ev[16];
        if (epoll_wait(h->hangup_epoll, ev, 16, 100) > 0)
            resume_streams(h);
    }
    return NULL;
}

bool ft_http_streams_start(ft_http *h, ft_error *err)
{
    h->hangup_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (h->hangup_epoll < 0) {
        ft_fail(err, FT_EIO, NULL, "cannot create the event-stream watch (epoll)");
        return false;
    }
    if (pthread_create(&h->waker, NULL, waker_main, h) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "cannot start the HTTP stream thread");
        return false;
    }
    h->waker_started = true;
    if (pthread_create(&h->hangup_watcher, NULL, hangup_main, h) != 0) {
        ft_fail(err, FT_ENOMEM, NULL, "cannot start the HTTP stream hang-up thread");
        return false;
    }
    h->hangup_watcher_started = true;
    return true;
}

void ft_http_streams_stop(ft_http *h)
{
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_mutex_unlock(&h->lock);
    if (h->waker_started) {
        h->hooks.wake(h->hooks.ctx); /* end the waker's wait */
        pthread_join(h->waker, NULL);
    }
    if (h->hangup_watcher_started)
        pthread_join(h->hangup_watcher, NULL);
    /* libmicrohttpd must not be stopped with suspended connections. */
    resume_streams(h);
    if (h->hangup_epoll >= 0)
        close(h->hangup_epoll);
}

void ft_reply_stream(ft_req *r, const char *content_type, long (*next)(void *ctx, char *buf, size_t max),
                     void (*done)(void *ctx), void *ctx)
{
    ft_http_stream *s = malloc(sizeof *s);
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free) : NULL;
    if (!resp) {
        free(s);
        done(ctx);
        ft_reply_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->id);
        return;
    }
    *s = (ft_http_stream){next, done, ctx, r->http, r->conn, false, NULL};
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    ft_set_response(r, 200, resp);
}
