#include "server/app/prom.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "server/app/app.h"
#include "server/app/version.h"

/* Series are bounded: routes are the table's patterns (or "unmatched") and
 * methods are folded to a fixed set, so clients cannot mint label values;
 * 28 routes x 8 methods x a dozen statuses stays well inside this. */
#define MAX_SERIES 1024
#define MAX_ROUTES 64
#define NBUCKETS 12

static const double req_buckets[NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   10};
static const double job_buckets[NBUCKETS] = {1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 86400};

typedef struct {
    uint64_t counts[NBUCKETS]; /* per bucket (not cumulative) */
    uint64_t n;
    double sum;
} histogram;

struct ft_prom {
    pthread_mutex_t lock;
    struct {
        char route[96], method[8];
        unsigned status;
        uint64_t n;
    } series[MAX_SERIES];
    int nseries;
    struct {
        char route[96];
        histogram h;
    } durations[MAX_ROUTES];
    int nroutes;
    struct {
        char status[16];
        uint64_t n;
    } jobs_done[8];
    int njobs_done;
    histogram job_seconds;
    uint64_t webhook_attempts[FT_WEBHOOK_OUTCOMES];
    histogram webhook_seconds;
    double worker_rate[FT_MAX_WORKERS];
};

ft_prom *ft_prom_new(void)
{
    ft_prom *p = calloc(1, sizeof *p);
    if (p)
        pthread_mutex_init(&p->lock, NULL);
    return p;
}

void ft_prom_free(ft_prom *p)
{
    if (p)
        pthread_mutex_destroy(&p->lock);
    free(p);
}

static void observe(histogram *h, const double *buckets, double v)
{
    for (int i = 0; i < NBUCKETS; i++)
        if (v <= buckets[i]) {
            h->counts[i]++;
            break;
        }
    h->n++;
    h->sum += v;
}

/* The method as a label value: any other token a client sends becomes
 * "OTHER", so arbitrary methods cannot grow the series table (or fill it and
 * crowd out real series). */
static const char *method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "OTHER";
}

void ft_prom_request(ft_prom *p, const char *route, const char *method, unsigned status, double seconds)
{
    method = method_label(method);
    pthread_mutex_lock(&p->lock);
    int i = 0;
    while (i < p->nseries && !(p->series[i].status == status && strcmp(p->series[i].route, route) == 0 &&
                               strcmp(p->series[i].method, method) == 0))
        i++;
    if (i == p->nseries && p->nseries < MAX_SERIES) {
        snprintf(p->series[i].route, sizeof p->series[i].route, "%s", route);
        snprintf(p->series[i].method, sizeof p->series[i].method, "%s", method);
        p->series[i].status = status;
        p->nseries++;
    }
    if (i < p->nseries)
        p->series[i].n++;
    int r = 0;
    while (r < p->nroutes && strcmp(p->durations[r].route, route) != 0)
        r++;
    if (r == p->nroutes && p->nroutes < MAX_ROUTES)
        snprintf(p->durations[p->nroutes++].route, sizeof p->durations[r].route, "%s", route);
    if (r < p->nroutes)
        observe(&p->durations[r].h, req_buckets, seconds);
    pthread_mutex_unlock(&p->lock);
}

void ft_prom_job_finished(ft_prom *p, const char *status, double seconds)
{
    pthread_mutex_lock(&p->lock);
    int i = 0;
    while (i < p->njobs_done && strcmp(p->jobs_done[i].status, status) != 0)
        i++;
    if (i == p->njobs_done && i < 8)
        snprintf(p->jobs_done[p->njobs_done++].status, sizeof p->jobs_done[i].status, "%s", status);
    if (i < p->njobs_done)
        p->jobs_done[i].n++;
    observe(&p->job_seconds, job_buckets, seconds);
    pthread_mutex_unlock(&p->lock);
}

const char *const ft_webhook_outcomes[FT_WEBHOOK_OUTCOMES] = {"delivered", "retry", "failed"};

void ft_prom_webhook_attempt(ft_prom *p, ft_webhook_outcome outcome, double seconds)
{
    pthread_mutex_lock(&p->lock);
    p->webhook_attempts[outcome]++;
    observe(&p->webhook_seconds, req_buckets, seconds);
    pthread_mutex_unlock(&p->lock);
}

void ft_prom_worker_rate(ft_prom *p, int worker, double rate)
{
    if (worker < 0 || worker >= FT_MAX_WORKERS)
        return;
    pthread_mutex_lock(&p->lock);
    p->worker_rate[worker] = rate;
    pthread_mutex_unlock(&p->lock);
}

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b)
            return;
        t->buf = b;
        t->cap = cap;
    }
}

/* A label value in the exposition format: backslash, quote and newline
 * escaped. Route patterns are ours, but the format must hold whatever they
 * become. */
static const char *label_value(const char *v, char *out, size_t n)
{
    size_t j = 0;
    for (; *v && j + 3 < n; v++) {
        if (*v == '\\' || *v == '"') {
            out[j++] = '\\';
            out[j++] = *v;
        } else if (*v == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = *v;
        }
    }
    out[j] = '\0';
    return out;
}

static void put_histogram(text *t, const char *name, const char *labels, const histogram *h, const double *b)
{
    uint64_t cum = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        cum += h->counts[i];
        put(t, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", b[i], (unsigned long long)cum);
    }
    put(t, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "", (unsigned long long)h->n);
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    put(t, "%s_sum%s%s%s %.6f\n", name, open, labels, close, h->sum);
    put(t, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)h->n);
}

static void put_store_figures(text *t, ft_app *app)
{
    ft_error err = {0};
    json_t *s = ft_store_stats(app->store, &err);
    if (!s)
        return;
    static const char *const statuses[] = {"queued", "running", "succeeded", "failed", "cancelled"};
    json_t *jobs = json_object_get(s, "jobs");
    put(t, "# HELP finetuned_jobs Jobs in the store by status.\n# TYPE finetuned_jobs gauge\n");
    for (size_t i = 0; i < 5; i++)
        put(t, "finetuned_jobs{status=\"%s\"} %lld\n", statuses[i],
            (long long)json_integer_value(json_object_get(jobs, statuses[i])));
    static const char *const delivery_statuses[] = {"pending", "delivered", "failed"};
    json_t *deliveries = json_object_get(s, "webhook_deliveries");
    put(t, "# HELP finetuned_webhook_deliveries Webhook deliveries in the outbox by status (pending: not yet "
           "delivered, retries included).\n# TYPE finetuned_webhook_deliveries gauge\n");
    for (size_t i = 0; i < 3; i++)
        put(t, "finetuned_webhook_deliveries{status=\"%s\"} %lld\n", delivery_statuses[i],
            (long long)json_integer_value(json_object_get(deliveries, delivery_statuses[i])));
    put(t, "# HELP finetuned_queue_depth Jobs waiting for a worker.\n# TYPE finetuned_queue_depth gauge\n");
    put(t, "finetuned_queue_depth %lld\n", (long long)json_integer_value(json_object_get(jobs, "queued")));
    const char *kinds[] = {"datasets", "models"};
    for (int k = 0; k < 2; k++) {
        json_t *o = json_object_get(s, kinds[k]);
        put(t, "# HELP finetuned_%s Stored %s.\n# TYPE finetuned_%s gauge\n", kinds[k], kinds[k], kinds[k]);
        put(t, "finetuned_%s %lld\n", kinds[k], (long long)json_integer_value(json_object_get(o, "count")));
        put(t, "# HELP finetuned_%s_bytes Bytes of stored %s.\n# TYPE finetuned_%s_bytes gauge\n", kinds[k],
            kinds[k], kinds[k]);
        put(t, "finetuned_%s_bytes %lld\n", kinds[k], (long long)json_integer_value(json_object_get(o, "bytes")));
    }
    json_decref(s);
}

/* Samples/s of the jobs running here, as their progress reports it (the
 * figure GET /v1/jobs/{id} shows, refreshed every epoch and every second
 * within long epochs). The workers' own step-time rates are the fallback
 * when the store cannot be read: they are only sampled within epochs
 * longer than a second, so short-epoch jobs would read 0 from them. */
static double running_rate(ft_app *app, char (*ids)[64], int n, double fallback)
{
    double rate = 0;
    for (int i = 0; i < n; i++) {
        ft_error err = {0};
        json_t *job = ft_store_job_get(app->store, ids[i], &err);
        if (!job)
            return fallback;
        const char *status = json_string_value(json_object_get(job, "status"));
        json_t *v = json_object_get(json_object_get(job, "progress"), "samples_per_second");
        if (status && strcmp(status, "running") == 0 && json_is_number(v) && json_number_value(v) > 0)
            rate += json_number_value(v);
        json_decref(job);
    }
    return rate;
}

/* The standard process_* families (as the official client libraries
 * export them), so the usual dashboards and alerts work unchanged. */
static void put_process_figures(text *t)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        put(t, "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
               "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                (double)ru.ru_stime.tv_usec * 1e-6);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages_total = 0, pages_rss = 0;
    if (f) {
        if (fscanf(f, "%llu %llu", &pages_total, &pages_rss) == 2) {
            unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
            put(t, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
                pages_rss * page);
            put(t, "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                   "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes %llu\n",
                pages_total * page);
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int fds = -1; /* the directory's own descriptor is not one of ours */
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 2; /* "." and ".." */
        put(t, "# HELP process_open_fds Number of open file descriptors.\n"
               "# TYPE process_open_fds gauge\nprocess_open_fds %d\n", fds);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        put(t, "# HELP process_max_fds Maximum number of open file descriptors.\n"
               "# TYPE process_max_fds gauge\nprocess_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
}

char *ft_prom_render(ft_prom *p, ft_app *app, size_t *len)
{
    text t = {0};
    put(&t, "# HELP finetuned_build_info Build information.\n# TYPE finetuned_build_info gauge\n");
    put(&t, "finetuned_build_info{version=\"%s\"} 1\n", FT_VERSION);
    put(&t, "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
            "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
        (long long)app->started_at);
    put_store_figures(&t, app);
    pthread_mutex_lock(&p->lock);
    put(&t, "# HELP finetuned_http_requests_total HTTP requests by route, method and status.\n"
            "# TYPE finetuned_http_requests_total counter\n");
    for (int i = 0; i < p->nseries; i++) {
        char route[200];
        put(&t, "finetuned_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
            label_value(p->series[i].route, route, sizeof route), p->series[i].method, p->series[i].status,
            (unsigned long long)p->series[i].n);
    }
    put(&t, "# HELP finetuned_http_request_duration_seconds HTTP request duration by route.\n"
            "# TYPE finetuned_http_request_duration_seconds histogram\n");
    for (int i = 0; i < p->nroutes; i++) {
        char labels[256], route[200];
        snprintf(labels, sizeof labels, "route=\"%s\"", label_value(p->durations[i].route, route, sizeof route));
        put_histogram(&t, "finetuned_http_request_duration_seconds", labels, &p->durations[i].h, req_buckets);
    }
    double worker_rate = 0;
    for (int w = 0; w < FT_MAX_WORKERS; w++)
        worker_rate += p->worker_rate[w];
    put(&t, "# HELP finetuned_jobs_finished_total Jobs this process finished, by final status.\n"
            "# TYPE finetuned_jobs_finished_total counter\n");
    for (int i = 0; i < p->njobs_done; i++)
        put(&t, "finetuned_jobs_finished_total{status=\"%s\"} %llu\n", p->jobs_done[i].status,
            (unsigned long long)p->jobs_done[i].n);
    put(&t, "# HELP finetuned_job_duration_seconds Wall time of jobs this process ran to the end.\n"
            "# TYPE finetuned_job_duration_seconds histogram\n");
    put_histogram(&t, "finetuned_job_duration_seconds", "", &p->job_seconds, job_buckets);
    put(&t, "# HELP finetuned_webhook_attempts_total Webhook delivery attempts this process made, by outcome "
            "(retry: failed, to be tried again; failed: given up).\n# TYPE finetuned_webhook_attempts_total counter\n");
    for (int i = 0; i < FT_WEBHOOK_OUTCOMES; i++)
        put(&t, "finetuned_webhook_attempts_total{outcome=\"%s\"} %llu\n", ft_webhook_outcomes[i],
            (unsigned long long)p->webhook_attempts[i]);
    put(&t, "# HELP finetuned_webhook_attempt_duration_seconds Time of this process's webhook delivery attempts.\n"
            "# TYPE finetuned_webhook_attempt_duration_seconds histogram\n");
    put_histogram(&t, "finetuned_webhook_attempt_duration_seconds", "", &p->webhook_seconds, req_buckets);
    pthread_mutex_unlock(&p->lock);
    /* Running = jobs holding a worker here, whatever phase they are in
     * (loading data, building the feature cache, testing): a throughput of
     * 0 does not mean idle. */
    char ids[FT_MAX_WORKERS][64];
    int running = 0;
    pthread_mutex_lock(&app->lock);
    for (int w = 0; w < FT_MAX_WORKERS; w++)
        if (app->running[w].id[0])
            memcpy(ids[running++], app->running[w].id, sizeof ids[0]);
    pthread_mutex_unlock(&app->lock);
    put(&t, "# HELP finetuned_training_samples_per_second Training throughput of this process's running jobs.\n"
            "# TYPE finetuned_training_samples_per_second gauge\nfinetuned_training_samples_per_second %.3f\n",
        running_rate(app, ids, running, worker_rate));
    put(&t, "# HELP finetuned_jobs_running Jobs running in this process's workers.\n"
            "# TYPE finetuned_jobs_running gauge\nfinetuned_jobs_running %d\n", running);
    put(&t, "# HELP finetuned_workers Training worker threads of this process.\n"
            "# TYPE finetuned_workers gauge\nfinetuned_workers %d\n", app->workers ? app->cfg.workers : 0);
    put(&t, "# HELP finetuned_event_streams Open Server-Sent Events streams.\n"
            "# TYPE finetuned_event_streams gauge\nfinetuned_event_streams %d\n", atomic_load(&app->sse_streams));
    put(&t, "# HELP finetuned_heavy_requests Uploads, predictions, evaluations and job submits running or "
            "waiting on the request pool.\n# TYPE finetuned_heavy_requests gauge\nfinetuned_heavy_requests %d\n",
        ft_http_heavy_requests(app->http));
    put_process_figures(&t);
    *len = t.len;
    return t.buf;
}
