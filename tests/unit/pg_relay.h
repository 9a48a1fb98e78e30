/* A relay for the store tests: it passes a PostgreSQL session between the
 * store and the test cluster through a Unix socket of its own, and can cut
 * the session right after passing a COMMIT on. The server then commits and
 * the store never hears back: a network cut at the worst moment, which a
 * trigger cannot make (whatever runs inside the server runs before the
 * commit). Static inline: a header for one test file. */
#ifndef FT_PG_RELAY_H
#define FT_PG_RELAY_H

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define RELAY_MAX 8

typedef struct {
    int fd;                 /* the listening socket */
    char upstream[300];     /* the server's socket (a directory of up to 255 bytes) */
    atomic_bool stop;       /* set to end the thread */
    atomic_bool armed;      /* cut the session that sends the next COMMIT */
    atomic_int cuts;        /* sessions cut so far */
    pthread_t thread;
} pg_relay;

/* A Unix stream socket listening on path, or connected to it: -1 on error. */
static inline int relay_socket(const char *path, bool listening)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = fd < 0 ? -1
             : listening ? (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? listen(fd, RELAY_MAX) : -1)
                         : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static inline bool relay_write(int fd, const char *p, ssize_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, (size_t)n);
        if (k <= 0)
            return false;
        p += k, n -= k;
    }
    return true;
}

/* Pass one read of side (0 the store, 1 the server) of pair on to the
 * other side: false when the pair is to be closed. */
static inline bool relay_pass(pg_relay *r, int pair[2], int side)
{
    char buf[65536];
    ssize_t k = read(pair[side], buf, sizeof buf);
    if (k <= 0 || !relay_write(pair[!side], buf, k))
        return false;
    if (side == 0 && memmem(buf, (size_t)k, "COMMIT", 6) && atomic_exchange(&r->armed, false)) {
        atomic_fetch_add(&r->cuts, 1);
        return false;
    }
    return true;
}

static inline void *relay_main(void *p)
{
    pg_relay *r = p;
    int pair[RELAY_MAX][2];
    int n = 0;
    while (!atomic_load(&r->stop)) {
        struct pollfd pf[1 + 2 * RELAY_MAX];
        pf[0] = (struct pollfd){.fd = r->fd, .events = POLLIN};
        for (int i = 0; i < n; i++)
            for (int side = 0; side < 2; side++)
                pf[1 + 2 * i + side] = (struct pollfd){.fd = pair[i][side], .events = POLLIN};
        if (poll(pf, (nfds_t)(1 + 2 * n), 50) <= 0)
            continue;
        int live = n;
        for (int i = 0; i < n; i++)
            for (int side = 0; side < 2; side++)
                if (pair[i][0] >= 0 && pf[1 + 2 * i + side].revents && !relay_pass(r, pair[i], side)) {
                    close(pair[i][0]);
                    close(pair[i][1]);
                    pair[i][0] = pair[i][1] = -1;
                    live--;
                }
        for (int i = 0, j = 0; i < n; i++) /* drop the closed pairs */
            if (pair[i][0] >= 0)
                memcpy(pair[j++], pair[i], sizeof pair[i]);
        n = live;
        if ((pf[0].revents & POLLIN) && n < RELAY_MAX) {
            int c = accept4(r->fd, NULL, NULL, SOCK_CLOEXEC);
            int s = c >= 0 ? relay_socket(r->upstream, false) : -1;
            if (s >= 0) {
                pair[n][0] = c, pair[n][1] = s;
                n++;
            } else if (c >= 0) {
                close(c);
            }
        }
    }
    for (int i = 0; i < n; i++) {
        close(pair[i][0]);
        close(pair[i][1]);
    }
    return NULL;
}

/* Start a relay from dir/.s.PGSQL.port to the server's socket in
 * server_dir (each up to 255 bytes): 0, or -1. */
static inline int relay_start(pg_relay *r, const char dir[256], const char server_dir[256], int port)
{
    char path[300];
    snprintf(path, sizeof path, "%s/.s.PGSQL.%d", dir, port);
    snprintf(r->upstream, sizeof r->upstream, "%s/.s.PGSQL.%d", server_dir, port);
    atomic_store(&r->stop, false);
    atomic_store(&r->armed, false);
    atomic_store(&r->cuts, 0);
    if ((r->fd = relay_socket(path, true)) < 0)
        return -1;
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        close(r->fd);
        return -1;
    }
    return 0;
}

static inline void relay_stop(pg_relay *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

#endif
