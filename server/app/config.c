#include "server/app/config.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/data/ingest.h"
#include "server/store/store.h"

typedef enum { OPT_STR, OPT_INT, OPT_SIZE, OPT_BOOL_JSON, OPT_LISTEN, OPT_KEYFILE, OPT_STORE, OPT_ROLE, OPT_FLAG } opt_kind;

typedef struct {
    const char *flag;   /* without the leading -- */
    opt_kind kind;
    size_t offset;      /* field in ft_config */
    size_t size;        /* field size (strings) */
    long min, max;      /* integer range */
    const char *help;
} option;

#define STR(f) OPT_STR, offsetof(ft_config, f), sizeof(((ft_config *)0)->f)
#define INT(f) OPT_INT, offsetof(ft_config, f), sizeof(int)
#define SIZE(f) OPT_SIZE, offsetof(ft_config, f), sizeof(size_t)

static const option options[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, 0, "ADDR:PORT to listen on (default 127.0.0.1:8080; port 0 = any free port)"},
    {"data-dir", STR(data_dir), 0, 0, "directory for the database, datasets, models, checkpoints (default ./data)"},
    {"migrations-dir", STR(migrations_dir), 0, 0, "SQL migrations (default: migrations/ beside the binary's tree)"},
    {"store", OPT_STORE, offsetof(ft_config, store), sizeof(((ft_config *)0)->store), 0, 0, "PostgreSQL for the queue and records: a postgres:// or postgresql:// URI or a libpq keyword string, shared by many API and worker processes (default: SQLite in DATA_DIR/finetuned.db, one process)"},
    {"role", OPT_ROLE, offsetof(ft_config, role), 0, 0, 0, "api (serve the API, never train), worker (train; serve only /healthz, /readyz, /metrics) or all (default all)"},
    {"workers", INT(workers), 1, 64, "training worker threads (default 1)"},
    {"blas-threads", INT(blas_threads), 1, 256, "threads per job, predict or evaluate (default: cores / workers)"},
    {"http-threads", INT(http_threads), 1, 256, "HTTP request threads (default 4)"},
    {"heavy-threads", INT(heavy_threads), 1, 64, "threads for upload parsing, predict, evaluate, job submits (default 2)"},
    {"heavy-queue", INT(heavy_queue), 0, 10000, "such requests waiting for a thread; past it 503 (default 64)"},
    {"max-upload-bytes", SIZE(max_upload_bytes), 1, LONG_MAX, "largest upload, bytes (K/M/G suffixes; default 1G)"},
    {"max-json-bytes", SIZE(max_json_bytes), 64, LONG_MAX, "largest JSON request body (default 1M)"},
    {"max-dataset-bytes", SIZE(max_dataset_bytes), 1, LONG_MAX, "largest dataset as stored, checked before decoding (default 4G)"},
    {"api-key", STR(api_key), 0, 0, "require Authorization: Bearer KEY on /v1 routes"},
    {"api-key-file", OPT_KEYFILE, 0, 0, 0, 0, "read the API key from a file (first line)"},
    {"cors-origin", STR(cors_origins), 0, 0, "allowed CORS origins, comma-separated, or *"},
    {"allowed-hosts", STR(allowed_hosts), 0, 0, "without an API key, Host names served besides the listen address (comma-separated)"},
    {"log-format", OPT_BOOL_JSON, offsetof(ft_config, log_json), 0, 0, 0, "text or json request/job logs on stderr"},
    {"checkpoint-interval", INT(checkpoint_seconds), 1, 86400, "seconds between mid-epoch checkpoints (default 30)"},
    {"lease-seconds", INT(lease_seconds), 2, 86400, "job lease; a dead worker's job is requeued after it (default 30)"},
    {"max-attempts", INT(max_attempts), 1, 100, "attempts per job before it fails (default 3)"},
    {"min-free-disk", SIZE(min_free_bytes), 0, LONG_MAX, "free space /readyz requires in the data dir (default 100M)"},
    {"feature-cache-limit", SIZE(cache_limit_bytes), 0, LONG_MAX, "memory for the frozen-prefix cache per job (default 1G)"},
    {"feature-store-limit", SIZE(feature_store_bytes), 0, LONG_MAX, "disk for frozen-prefix features kept between jobs in DATA_DIR/features, least recently used first out (default 4G, 0 turns it off)"},
    {"max-sweep-jobs", INT(max_sweep_jobs), 1, 10000, "jobs one sweep may queue (variants x seeds); more get 422 (default 64)"},
    {"max-job-memory", SIZE(max_job_memory), 1, LONG_MAX, "a job's estimated peak memory; larger jobs get 422 at submit (default: 3/4 of RAM / workers)"},
    {"max-connections", INT(max_connections), 1, 100000, "concurrent connections (default 256)"},
    {"max-connections-per-ip", INT(max_per_ip), 1, 100000, "concurrent connections per client IP (default 64)"},
    {"connection-timeout", INT(connection_timeout), 1, 3600, "idle timeout and request head deadline, seconds (default 30)"},
    {"min-body-rate", SIZE(min_body_rate), 1, LONG_MAX, "a request body may take the connection timeout plus 1 s per this many bytes (default 16K)"},
    {"max-event-streams", INT(max_sse_streams), 1, 1000, "concurrent Server-Sent Events streams (default 16)"},
    {"webhook-allow-private", OPT_FLAG, offsetof(ft_config, webhook_allow_private), 0, 0, 0, "let webhooks reach private, loopback and link-local addresses (off: refused, against SSRF); takes no value (the variable: 1 or true)"},
    {"webhook-retry-base", INT(webhook_retry_base_ms), 1, 3600000, "milliseconds before a webhook's first retry, doubling per attempt (default 5000)"},
    {"webhook-retry-cap", INT(webhook_retry_cap), 1, 86400, "longest wait between webhook attempts, seconds (default 3600)"},
    {"webhook-max-age", INT(webhook_max_age), 1, 2592000, "seconds after its event past which a webhook delivery is given up as failed (default 86400)"},
    {"webhook-connect-timeout", INT(webhook_connect_timeout), 1, 300, "webhook connect timeout, seconds (default 5)"},
    {"webhook-timeout", INT(webhook_timeout), 1, 600, "webhook attempt timeout, whole request, seconds (default 10)"},
    {"webhook-senders", INT(webhook_senders), 1, 64, "webhook deliveries this process sends at once, so that a slow endpoint holds up only one of them (default 4)"},
    {"port-file", STR(port_file), 0, 0, "write the bound port to this file once listening"},
};
#define NOPTIONS (sizeof options / sizeof *options)

static void defaults(ft_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    snprintf(c->data_dir, sizeof c->data_dir, "./data");
    c->workers = 1;
    c->http_threads = 4;
    c->heavy_threads = 2;
    c->heavy_queue = 64;
    c->max_upload_bytes = (size_t)1 << 30;
    c->max_json_bytes = (size_t)1 << 20;
    c->max_dataset_bytes = FT_DEFAULT_MAX_DATASET_BYTES; /* why 4 GiB: core/data/ingest.h */
    c->checkpoint_seconds = 30;
    c->lease_seconds = 30;
    c->max_attempts = 3;
    c->max_sweep_jobs = 64;
    c->min_free_bytes = (size_t)100 << 20;
    c->cache_limit_bytes = (size_t)1 << 30;
    c->feature_store_bytes = (size_t)4 << 30;
    c->max_connections = 256;
    c->max_per_ip = 64;
    c->connection_timeout = 30;
    c->min_body_rate = (size_t)16 << 10;
    c->max_sse_streams = 16;
    c->webhook_retry_base_ms = 5000;
    c->webhook_retry_cap = 3600;
    c->webhook_max_age = 86400;
    c->webhook_connect_timeout = 5;
    c->webhook_timeout = 10;
    c->webhook_senders = 4;
}

int ft_config_parse_size(const char *s, size_t *out)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10, end++; break;
    case 'M': shift = 20, end++; break;
    case 'G': shift = 30, end++; break;
    case 'T': shift = 40, end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

static int set_option(ft_config *c, const option *o, const char *v, FILE *errors)
{
    char *base = (char *)c + o->offset;
    switch (o->kind) {
    case OPT_STR:
        if (strlen(v) >= o->size) {
            fprintf(errors, "finetuned serve: --%s is too long\n", o->flag);
            return -1;
        }
        memcpy(base, v, strlen(v) + 1);
        return 0;
    case OPT_INT: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (end == v || *end || errno || n < o->min || n > o->max) {
            fprintf(errors, "finetuned serve: --%s must be an integer between %ld and %ld, got '%s'\n", o->flag,
                    o->min, o->max, v);
            return -1;
        }
        *(int *)base = (int)n;
        return 0;
    }
    case OPT_SIZE:
        if (ft_config_parse_size(v, (size_t *)base) != 0 || *(size_t *)base < (size_t)o->min) {
            fprintf(errors, "finetuned serve: --%s must be a size such as 512K, 100M or 1G, got '%s'\n", o->flag, v);
            return -1;
        }
        return 0;
    case OPT_BOOL_JSON:
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
            fprintf(errors, "finetuned serve: --log-format must be text or json\n");
            return -1;
        }
        c->log_json = strcmp(v, "json") == 0;
        return 0;
    case OPT_LISTEN: {
        const char *colon = strrchr(v, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        size_t hlen = colon ? (size_t)(colon - v) : 0;
        if (!colon || *end || port < 0 || port > 65535 || hlen == 0 || hlen >= sizeof c->listen_host) {
            fprintf(errors, "finetuned serve: --listen must be ADDR:PORT, e.g. 127.0.0.1:8080, got '%s'\n", v);
            return -1;
        }
        memcpy(c->listen_host, v, hlen);
        c->listen_host[hlen] = '\0';
        c->listen_port = (int)port;
        return 0;
    }
    case OPT_STORE:
        if (*v && !ft_store_target_is_postgres(v)) {
            fprintf(errors, "finetuned serve: --store must be a postgres:// or postgresql:// URI or a libpq keyword "
                            "string such as 'host=/run/postgresql dbname=finetuned' (SQLite, the default, needs no "
                            "--store), got '%s'\n", v);
            return -1;
        }
        return set_option(c, &(option){o->flag, OPT_STR, o->offset, o->size, 0, 0, NULL}, v, errors);
    case OPT_ROLE:
        if (strcmp(v, "all") != 0 && strcmp(v, "api") != 0 && strcmp(v, "worker") != 0) {
            fprintf(errors, "finetuned serve: --role must be api, worker or all, got '%s'\n", v);
            return -1;
        }
        c->role = strcmp(v, "api") == 0 ? FT_ROLE_API : strcmp(v, "worker") == 0 ? FT_ROLE_WORKER : FT_ROLE_ALL;
        return 0;
    case OPT_FLAG:
        if (strcmp(v, "1") != 0 && strcmp(v, "true") != 0 && strcmp(v, "0") != 0 && strcmp(v, "false") != 0) {
            fprintf(errors, "finetuned serve: --%s takes no value; its variable must be 1, true, 0 or false\n", o->flag);
            return -1;
        }
        *(bool *)base = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
        return 0;
    case OPT_KEYFILE: {
        FILE *f = fopen(v, "r");
        if (!f || !fgets(c->api_key, sizeof c->api_key, f)) {
            fprintf(errors, "finetuned serve: cannot read an API key from %s\n", v);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        c->api_key[strcspn(c->api_key, "\r\n")] = '\0';
        if (!c->api_key[0]) {
            fprintf(errors, "finetuned serve: the API key file %s is empty\n", v);
            return -1;
        }
        return 0;
    }
    }
    return -1;
}

/* FINETUNED_MAX_UPLOAD_BYTES for "max-upload-bytes". */
static void env_name(const char *flag, char *out, size_t n)
{
    size_t i = (size_t)snprintf(out, n, "FINETUNED_");
    for (; *flag && i + 1 < n; flag++)
        out[i++] = *flag == '-' ? '_' : (char)toupper((unsigned char)*flag);
    out[i] = '\0';
}

void ft_config_usage(FILE *out)
{
    fprintf(out, "usage: finetuned serve [flags]\n\nflags (each also read from the FINETUNED_* variable shown):\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        char env[64];
        env_name(options[i].flag, env, sizeof env);
        fprintf(out, "  --%-24s %-34s %s\n", options[i].flag, env, options[i].help);
    }
}

static const option *find(const char *flag)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].flag, flag) == 0)
            return &options[i];
    return NULL;
}

int ft_config_load(ft_config *c, int argc, char **argv, FILE *out, FILE *errors)
{
    defaults(c);
    for (size_t i = 0; i < NOPTIONS; i++) {
        char env[64];
        env_name(options[i].flag, env, sizeof env);
        const char *v = getenv(env);
        if (v && *v && set_option(c, &options[i], v, errors) != 0)
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ft_config_usage(out);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(errors, "finetuned serve: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        snprintf(name, sizeof name, "%.*s", (int)len, a + 2);
        const option *o = find(name);
        if (!o) {
            fprintf(errors, "finetuned serve: unknown flag --%s (see --help)\n", name);
            return -1;
        }
        /* A flag is switched on by its name alone. */
        const char *v = eq ? eq + 1 : o->kind == OPT_FLAG ? "1" : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(errors, "finetuned serve: --%s needs a value\n", name);
            return -1;
        }
        if (set_option(c, o, v, errors) != 0)
            return -1;
    }
    if (c->max_job_memory == 0) {
        /* Room for every worker's job at once, with a quarter left for the rest. */
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        size_t ram = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)4 << 30;
        c->max_job_memory = ram / 4 * 3 / (size_t)c->workers;
    }
    if (c->blas_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->blas_threads = cores > c->workers ? (int)(cores / c->workers) : 1;
    }
    return 0;
}
