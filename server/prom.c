#include "server/prom.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/app.h"
#include "server/version.h"

#define MAX_SERIES 256
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

void ft_prom_request(ft_prom *p, const char *route, const char *method, unsigned status, double seconds)
{
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
    for (int i = 0; i < p->nseries; i++)
        put(&t, "finetuned_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n", p->series[i].route,
            p->series[i].method, p->series[i].status, (unsigned long long)p->series[i].n);
    put(&t, "# HELP finetuned_http_request_duration_seconds HTTP request duration by route.\n"
            "# TYPE finetuned_http_request_duration_seconds histogram\n");
    for (int i = 0; i < p->nroutes; i++) {
        char labels[128];
        snprintf(labels, sizeof labels, "route=\"%s\"", p->durations[i].route);
        put_histogram(&t, "finetuned_http_request_duration_seconds", labels, &p->durations[i].h, req_buckets);
    }
    int running = 0;
    double rate = 0;
    for (int w = 0; w < FT_MAX_WORKERS; w++) {
        running += p->worker_rate[w] > 0;
        rate += p->worker_rate[w];
    }
    put(&t, "# HELP finetuned_jobs_running Jobs training in this process.\n# TYPE finetuned_jobs_running gauge\n"
            "finetuned_jobs_running %d\n", running);
    put(&t, "# HELP finetuned_training_samples_per_second Training throughput of this process.\n"
            "# TYPE finetuned_training_samples_per_second gauge\nfinetuned_training_samples_per_second %.3f\n", rate);
    put(&t, "# HELP finetuned_jobs_finished_total Jobs this process finished, by final status.\n"
            "# TYPE finetuned_jobs_finished_total counter\n");
    for (int i = 0; i < p->njobs_done; i++)
        put(&t, "finetuned_jobs_finished_total{status=\"%s\"} %llu\n", p->jobs_done[i].status,
            (unsigned long long)p->jobs_done[i].n);
    put(&t, "# HELP finetuned_job_duration_seconds Wall time of jobs this process ran to the end.\n"
            "# TYPE finetuned_job_duration_seconds histogram\n");
    put_histogram(&t, "finetuned_job_duration_seconds", "", &p->job_seconds, job_buckets);
    pthread_mutex_unlock(&p->lock);
    *len = t.len;
    return t.buf;
}
