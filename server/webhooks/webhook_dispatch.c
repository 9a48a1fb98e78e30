/* The dispatcher: --webhook-senders threads per process (every role) that
 * take due deliveries from the store's outbox, POST them signed, and record
 * each attempt. Each sender holds one delivery at a time under its lease,
 * so an endpoint that is slow to answer holds up one sender, not the
 * others' deliveries. A failed attempt is retried after --webhook-retry-base ms,
 * doubling each time up to --webhook-retry-cap, until --webhook-max-age
 * after the event, when the delivery is marked failed. */
#include "server/webhooks/webhooks.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "server/app/prom.h"
#include "server/app/version.h"

/* The longest sleep between looks at the outbox: wake-ups come with every
 * job change, this only bounds what a missed one can cost. */
#define FALLBACK_POLL_MS 5000
/* The wait after a due delivery could not be claimed (another process is
 * committing its claim of it). */
#define MISSED_CLAIM_MS 50
/* The response body kept with an attempt. */
#define RESPONSE_PREFIX 256

struct ft_webhooks {
    ft_app *app;
    int senders;        /* threads started */
    atomic_bool stop;
    pthread_t thread[]; /* the senders */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first RESPONSE_PREFIX bytes of the body, as printable ASCII (the
 * store keeps text; anything else becomes '?'); the rest is read and
 * dropped. */
typedef struct {
    char text[RESPONSE_PREFIX + 1];
    size_t len;
} prefix;

static size_t keep_prefix(char *data, size_t size, size_t nmemb, void *ctx)
{
    prefix *p = ctx;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n && p->len < RESPONSE_PREFIX; i++) {
        unsigned char ch = (unsigned char)data[i];
        p->text[p->len++] = (ch >= 0x20 && ch < 0x7f) || ch == '\n' || ch == '\t' ? (char)ch : '?';
    }
    p->text[p->len] = '\0';
    return n;
}

/* Abort a transfer when the dispatcher is stopping. */
static int still_wanted(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&((ft_webhooks *)ctx)->stop) ? 1 : 0;
}

/* One POST of d; fills a (status, error, response prefix). */
static void post(ft_webhooks *w, const ft_delivery *d, ft_delivery_attempt *a, prefix *body, char *error,
                 size_t error_len)
{
    const ft_config *cfg = &w->app->cfg;
    ft_error err = {0};
    ft_webhook_url u;
    char addr[INET6_ADDRSTRLEN + 2], pin[512], signature[FT_WEBHOOK_SIGNATURE_MAX], header[3][128];
    int64_t stamp = a->started_ms / 1000;
    if (ft_webhook_url_parse(d->url, "url", &u, &err) != 0 ||
        ft_webhook_resolve(&u, cfg->webhook_allow_private, addr, sizeof addr, &err) != 0 ||
        ft_webhook_sign(d->secret, d->id, stamp, d->payload, strlen(d->payload), signature, &err) != 0) {
        snprintf(error, error_len, "%s", err.msg);
        return;
    }
    bool v6 = strchr(u.host, ':') != NULL; /* a literal IPv6 host is bracketed in a pin too */
    snprintf(pin, sizeof pin, "%s%s%s:%d:%s", v6 ? "[" : "", u.host, v6 ? "]" : "", u.port, addr);
    snprintf(header[0], sizeof header[0], "webhook-id: %s", d->id);
    snprintf(header[1], sizeof header[1], "webhook-timestamp: %lld", (long long)stamp);
    snprintf(header[2], sizeof header[2], "webhook-signature: %s", signature);
    CURL *h = curl_easy_init();
    struct curl_slist *pins = curl_slist_append(NULL, pin), *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    for (int i = 0; i < 3 && headers; i++)
        headers = curl_slist_append(headers, header[i]);
    char curl_error[CURL_ERROR_SIZE] = "";
    if (!h || !pins || !headers)
        snprintf(error, error_len, "out of memory preparing the request");
    else {
        /* Connect to the checked address only: no redirects, no proxy (a
         * proxy would resolve the name itself), no other protocols. */
        curl_easy_setopt(h, CURLOPT_URL, d->url);
        curl_easy_setopt(h, CURLOPT_RESOLVE, pins);
        curl_easy_setopt(h, CURLOPT_PROXY, "");
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)cfg->webhook_connect_timeout);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)cfg->webhook_timeout);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "finetuned/" FT_VERSION);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, d->payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(d->payload));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_prefix);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, still_wanted);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_error);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK)
            snprintf(error, error_len, "%s", curl_error[0] ? curl_error : curl_easy_strerror(rc));
        else
            a->http_status = (int)status;
    }
    curl_slist_free_all(pins);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
}

/* When to try again after attempt number n (1-based) failed: 0 to give up. */
static int64_t next_attempt(const ft_config *cfg, const ft_delivery *d, int n, int64_t now)
{
    int64_t delay = cfg->webhook_retry_base_ms, cap = (int64_t)cfg->webhook_retry_cap * 1000;
    for (int i = 1; i < n && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    int64_t at = now + delay;
    return at <= d->created_ms + (int64_t)cfg->webhook_max_age * 1000 ? at : 0;
}

/* Deliver d once and record the outcome. */
static void attempt(ft_webhooks *w, const ft_delivery *d)
{
    char error[512] = "";
    prefix body = {.len = 0};
    ft_delivery_attempt a = {.started_ms = now_ms()};
    post(w, d, &a, &body, error, sizeof error);
    int64_t end = now_ms();
    a.duration_ms = end - a.started_ms;
    a.delivered = a.http_status >= 200 && a.http_status < 300;
    if (!a.delivered && !error[0])
        snprintf(error, sizeof error, "the endpoint answered HTTP %d", a.http_status);
    a.error = a.delivered ? NULL : error;
    a.response = body.len ? body.text : NULL;
    a.next_attempt_ms = a.delivered ? 0 : next_attempt(&w->app->cfg, d, d->attempts + 1, end);
    if (atomic_load(&w->stop))
        return; /* cut short by the shutdown: not the endpoint's fault; the lease lapses and it goes again */
    ft_error err = {0};
    if (ft_store_delivery_record(w->app->store, d, &a, &err) < 0)
        ft_app_log(w->app, "webhook_error", "delivery", d->id, "error", err.msg, NULL);
    ft_webhook_outcome outcome = a.delivered ? FT_WEBHOOK_DELIVERED : a.next_attempt_ms ? FT_WEBHOOK_RETRY : FT_WEBHOOK_FAILED;
    ft_prom_webhook_attempt(w->app->prom, outcome, (double)a.duration_ms / 1000.0);
    char status[16];
    snprintf(status, sizeof status, "%d", a.http_status);
    ft_app_log(w->app, "webhook_attempt", "delivery", d->id, "endpoint", d->endpoint, "status", status, "outcome",
               ft_webhook_outcomes[outcome], NULL);
}

/* Send what is due, then return how long to sleep (at most
 * FALLBACK_POLL_MS). Each claim is preceded by a plain read of when the
 * next delivery is due: the dispatcher wakes with every job change, and
 * finding nothing due must not take SQLite's write lock. */
static int deliver_due(ft_webhooks *w, int lease_ms)
{
    ft_error err = {0};
    while (!atomic_load(&w->stop)) {
        int64_t due;
        int rc = ft_store_delivery_next_due(w->app->store, &due, &err);
        int64_t wait = rc == 1 ? due - now_ms() : FALLBACK_POLL_MS;
        ft_delivery d;
        if (rc == 1 && wait <= 0)
            rc = ft_store_delivery_claim(w->app->store, lease_ms, &d, &err);
        if (rc < 0) {
            ft_app_log(w->app, "webhook_error", "error", err.msg, NULL);
            return FALLBACK_POLL_MS;
        }
        if (wait > 0)
            return wait > FALLBACK_POLL_MS ? FALLBACK_POLL_MS : (int)wait;
        if (rc == 0)
            return MISSED_CLAIM_MS; /* due, but another dispatcher holds it: look again shortly */
        attempt(w, &d);
        ft_delivery_free(&d);
    }
    return 0;
}

static void *run(void *ctx)
{
    ft_webhooks *w = ctx;
    /* A claim lasts longer than any attempt can: past it, the delivery is
     * another dispatcher's to send. */
    int lease_ms = (w->app->cfg.webhook_connect_timeout + w->app->cfg.webhook_timeout + 5) * 1000;
    unsigned long seen = ft_app_wait(w->app, 0, 0);
    /* At shutdown the change signal no longer waits: stop looking then. */
    while (!atomic_load(&w->stop) && !atomic_load(&w->app->shutting_down)) {
        int ms = deliver_due(w, lease_ms);
        if (!atomic_load(&w->stop))
            seen = ft_app_wait(w->app, seen, ms);
    }
    return NULL;
}

ft_webhooks *ft_webhooks_start(ft_app *app, ft_error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        ft_fail(err, FT_EIO, NULL, "cannot initialise libcurl");
        return NULL;
    }
    int want = app->cfg.webhook_senders;
    ft_webhooks *w = calloc(1, sizeof *w + (size_t)want * sizeof w->thread[0]);
    if (!w) {
        curl_global_cleanup();
        ft_fail(err, FT_ENOMEM, NULL, "out of memory starting the webhook dispatcher");
        return NULL;
    }
    w->app = app;
    while (w->senders < want && pthread_create(&w->thread[w->senders], NULL, run, w) == 0)
        w->senders++;
    if (w->senders < want) {
        ft_fail(err, FT_EIO, NULL, "cannot start webhook sender thread %d of %d", w->senders + 1, want);
        ft_webhooks_stop(w);
        return NULL;
    }
    return w;
}

void ft_webhooks_stop(ft_webhooks *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    ft_app_notify(w->app);
    for (int i = 0; i < w->senders; i++)
        pthread_join(w->thread[i], NULL);
    free(w);
    curl_global_cleanup();
}
