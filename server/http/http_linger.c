/* Lingering close. An error decided while a request body is still arriving
 * (413, a full disk, bad multipart) is answered at once and the connection
 * closed, without reading the rest of the body. But closing a socket with
 * unread data makes the kernel send a reset, which can destroy the answer
 * before the client reads it, and a client that sends its whole body before
 * reading (Python's urllib, many scripts) only sees "connection reset".
 * So, as Apache and nginx do, the server half-closes (the answer and a FIN
 * go out) and keeps reading and discarding for a bounded time and amount
 * before it really closes: the client can finish sending and read the
 * answer, and a client that keeps sending is cut at the bound. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/http/http_internal.h"

#define LINGER_SECONDS 2.0
#define LINGER_BYTES ((size_t)64 << 20)
#define LINGER_MAX 64              /* sockets lingering at once; past it, a plain close */

typedef struct {
    int fd;                        /* our own descriptor (a dup), or -1 */
    double until;
    size_t discarded;
} lingering;

struct ft_http_lingerer {
    int epoll;
    pthread_mutex_t lock;
    lingering socks[LINGER_MAX];
    bool stop;                     /* under lock */
    char scratch[65536];           /* what is discarded is read into this */
    pthread_t thread;
    bool started;
};

static void forget(ft_http_lingerer *g, lingering *l)
{
    epoll_ctl(g->epoll, EPOLL_CTL_DEL, l->fd, NULL);
    close(l->fd); /* the last descriptor of the socket: now it closes */
    l->fd = -1;
}

/* Discard what the client sent; forget the socket at its end or past a bound. */
static void drain(ft_http_lingerer *g, lingering *l)
{
    for (;;) {
        ssize_t n = recv(l->fd, g->scratch, sizeof g->scratch, MSG_DONTWAIT);
        if (n > 0 && (l->discarded += (size_t)n) <= LINGER_BYTES)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && ft_http_now() < l->until)
            return;
        forget(g, l); /* end of the body, an error, or past a bound */
        return;
    }
}

static void *linger_main(void *arg)
{
    ft_http_lingerer *g = arg;
    for (;;) {
        struct epoll_event ev[16];
        int n = epoll_wait(g->epoll, ev, 16, 100);
        pthread_mutex_lock(&g->lock);
        for (int i = 0; i < n; i++) {
            lingering *l = &g->socks[ev[i].data.u32];
            if (l->fd >= 0)
                drain(g, l);
        }
        double now = ft_http_now();
        for (int i = 0; i < LINGER_MAX; i++)
            if (g->socks[i].fd >= 0 && (g->stop || now >= g->socks[i].until))
                forget(g, &g->socks[i]);
        bool stop = g->stop;
        pthread_mutex_unlock(&g->lock);
        if (stop)
            return NULL;
    }
}

ft_http_lingerer *ft_http_lingerer_start(ft_error *err)
{
    ft_http_lingerer *g = calloc(1, sizeof *g);
    if (!g || (g->epoll = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        free(g);
        ft_fail(err, FT_EIO, NULL, "cannot start the lingering-close thread (epoll)");
        return NULL;
    }
    for (int i = 0; i < LINGER_MAX; i++)
        g->socks[i].fd = -1;
    pthread_mutex_init(&g->lock, NULL);
    if (pthread_create(&g->thread, NULL, linger_main, g) != 0) {
        ft_http_lingerer_stop(g);
        ft_fail(err, FT_ENOMEM, NULL, "cannot start the lingering-close thread");
        return NULL;
    }
    g->started = true;
    return g;
}

void ft_http_linger(ft_http_lingerer *g, int fd)
{
    shutdown(fd, SHUT_WR); /* the answer, then FIN */
    pthread_mutex_lock(&g->lock);
    int slot = 0;
    while (slot < LINGER_MAX && g->socks[slot].fd >= 0)
        slot++;
    int own = slot < LINGER_MAX && !g->stop ? dup(fd) : -1;
    if (own >= 0) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)slot};
        g->socks[slot] = (lingering){own, ft_http_now() + LINGER_SECONDS, 0};
        if (epoll_ctl(g->epoll, EPOLL_CTL_ADD, own, &ev) != 0)
            forget(g, &g->socks[slot]);
    }
    pthread_mutex_unlock(&g->lock);
}

void ft_http_lingerer_stop(ft_http_lingerer *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_mutex_unlock(&g->lock);
    if (g->started)
        pthread_join(g->thread, NULL); /* it closes what still lingers */
    close(g->epoll);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
