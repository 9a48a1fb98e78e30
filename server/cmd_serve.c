/* finetuned serve: start-up, signal handling and graceful shutdown. */
#include <cblas.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util/fsutil.h"
#include "server/cli.h"
#include "server/app/prom.h"
#include "server/api/routes.h"
#include "server/app/version.h"
#include "server/webhooks/webhooks.h"
#include "server/worker/worker.h"

/* The write end of the pipe that carries SIGTERM / SIGINT to the main
 * thread (a signal handler can only reach the rest of the program through
 * a global). A handler rather than a blocked mask and sigwait alone:
 * OpenBLAS starts its threads before main (a library constructor) with
 * these signals unblocked, and the kernel gives a process-directed signal
 * to any thread that does not block it, so a SIGTERM during start-up took
 * the default action (the process died, status -15) in an OpenBLAS thread. */
static int signal_pipe = -1;

static void on_signal(int sig)
{
    unsigned char b = (unsigned char)sig;
    ssize_t n = write(signal_pipe, &b, 1); /* async-signal-safe */
    (void)n;
}

/* Handle SIGTERM / SIGINT from now on; keep them blocked in the threads
 * started from here (they inherit the mask), so they reach the main thread
 * once it waits (wait_for_signal) or an OpenBLAS thread before. */
static bool catch_signals(sigset_t *sigs, int *pipe_read)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return false;
    signal_pipe = fds[1];
    *pipe_read = fds[0];
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigemptyset(sigs);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return true;
}

static int wait_for_signal(const sigset_t *sigs, int pipe_read)
{
    pthread_sigmask(SIG_UNBLOCK, sigs, NULL);
    unsigned char b = 0;
    while (read(pipe_read, &b, 1) != 1)
        ; /* EINTR */
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    return b;
}

/* The store's announcements (with PostgreSQL: every process's submits,
 * job events and cancels) become this process's wake-ups, so idle workers
 * start at once, event streams move on and a cancel reaches the job within
 * a batch, whichever process took the request. NULL topic: some may have
 * been missed, so wake everything. Runs on the store's listener thread. */
static void on_store_notice(void *ctx, const char *topic, const char *payload)
{
    ft_app *app = ctx;
    if (!topic || strcmp(topic, FT_TOPIC_QUEUE) == 0)
        ft_workers_wake(app->workers);
    if (!topic || strcmp(topic, FT_TOPIC_EVENTS) == 0)
        ft_app_notify(app);
    if (topic && strcmp(topic, FT_TOPIC_CANCEL) == 0)
        ft_app_cancel(app, payload);
}

/* The routes a process of this role serves: a worker answers only the
 * open probes (/healthz, /readyz, /metrics), for orchestrators and
 * Prometheus; the rest of the API is the API processes'. */
static size_t role_routes(const ft_app *app, ft_route *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < ft_nroutes && n < cap; i++)
        if (app->cfg.role != FT_ROLE_WORKER || (ft_routes[i].flags & FT_ROUTE_OPEN))
            out[n++] = ft_routes[i];
    return n;
}

int ft_cmd_serve(int argc, char **argv)
{
    static ft_app app; /* lives for the whole process */
    int rc = ft_config_load(&app.cfg, argc, argv, stdout, stderr);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    sigset_t sigs;
    int signals;
    if (!catch_signals(&sigs, &signals)) {
        fprintf(stderr, "finetuned serve: cannot set up signal handling (pipe)\n");
        return 1;
    }

    ft_error err = {0};
    if (ft_app_open(&app, &err) != 0) {
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
        return 1;
    }
    /* Each worker trains with --blas-threads data-parallel shards, each
     * calling a single-threaded OpenBLAS. */
    openblas_set_num_threads(1);
    static ft_route routes[64]; /* served for the whole process */
    size_t nroutes = role_routes(&app, routes, sizeof routes / sizeof routes[0]);
    /* Every role delivers webhooks: whichever process ended a job, its
     * events go out even if no other kind of process runs. First, so that
     * libcurl's global set-up runs before any other thread. */
    ft_webhooks *webhooks = NULL;
    if (!(webhooks = ft_webhooks_start(&app, &err)) ||
        (app.cfg.role != FT_ROLE_API && !(app.workers = ft_workers_start(&app, &err))) ||
        ft_store_listen(app.store, on_store_notice, &app, &err) != 0 ||
        !(app.http = ft_app_http_start(&app, routes, nroutes, &err))) {
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
        atomic_store(&app.shutting_down, true);
        ft_store_listen(app.store, NULL, NULL, &err);
        ft_webhooks_stop(webhooks);
        ft_workers_stop(app.workers);
        return 1;
    }
    char port[16], workers[16];
    snprintf(port, sizeof port, "%d", ft_http_port(app.http));
    snprintf(workers, sizeof workers, "%d", app.workers ? app.cfg.workers : 0);
    static const char *const roles[] = {"all", "api", "worker"};
    if (app.cfg.port_file[0] && ft_write_file_atomic(app.cfg.port_file, port, strlen(port), &err) != 0)
        fprintf(stderr, "finetuned serve: %s\n", err.msg);
    ft_app_log(&app, "listening", "address", app.cfg.listen_host, "port", port, "data_dir", app.cfg.data_dir,
               "role", roles[app.cfg.role], "store", ft_store_shared(app.store) ? "postgres" : "sqlite", "workers",
               workers, "version", FT_VERSION, "auth", app.cfg.api_key[0] ? "on" : "off", NULL);
    if (app.cfg.role == FT_ROLE_API && !ft_store_shared(app.store))
        ft_app_log(&app, "warning", "message",
                   "--role api with the SQLite store: no other process can share this data dir, so queued jobs "
                   "will not run; use --store postgres://... and start --role worker processes",
                   NULL);
    if (!app.cfg.api_key[0] && !ft_http_loopback(app.cfg.listen_host))
        ft_app_log(&app, "warning", "message",
                   "listening on a non-loopback address without an API key: anyone who can reach it can use the "
                   "service; set --api-key, --api-key-file or FINETUNED_API_KEY",
                   NULL);

    int sig = wait_for_signal(&sigs, signals);
    ft_app_log(&app, "shutting_down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    atomic_store(&app.shutting_down, true);
    ft_store_stop_retrying(app.store);
    ft_http_quiesce(app.http);
    ft_app_notify(&app); /* end event streams */
    ft_store_listen(app.store, NULL, NULL, &err); /* no wake-up may reach the workers as they go */
    ft_webhooks_stop(webhooks);
    bool workers_done = ft_workers_stop(app.workers);
    ft_http_stop(app.http);
    if (!workers_done) {
        /* A worker still busy uses the store and OpenBLAS's buffers: free
         * nothing and skip the atexit handlers (OpenBLAS frees its memory
         * there), or it crashes under the busy thread. */
        ft_app_log(&app, "stopped", "detail", "a worker was still busy; its job was requeued", NULL);
        fflush(NULL);
        _exit(0);
    }
    ft_app_close(&app);
    ft_app_log(&app, "stopped", NULL);
    return 0;
}
