/* Service configuration: command-line flags, each mirrored by a FINETUNED_*
 * environment variable (flag --max-upload-bytes <-> FINETUNED_MAX_UPLOAD_BYTES).
 * Flags win over the environment, which wins over the defaults. */
#ifndef FT_CONFIG_H
#define FT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What a process of the service does (--role). */
typedef enum {
    FT_ROLE_ALL,     /* serve the API and train: the single-process default */
    FT_ROLE_API,     /* serve the API, queue jobs, never train */
    FT_ROLE_WORKER,  /* train queued jobs; serve only /healthz, /readyz, /metrics */
} ft_role;

typedef struct {
    char listen_host[256];       /* --listen host part (default 127.0.0.1) */
    int listen_port;             /* --listen port part (default 8080; 0 picks a free port) */
    /* Half of PATH_MAX, so any file below them still fits a PATH_MAX path. */
    char data_dir[PATH_MAX / 2];       /* --data-dir (default ./data) */
    char migrations_dir[PATH_MAX / 2]; /* --migrations-dir (default: beside the binary) */
    char store[1024];            /* --store: a PostgreSQL URI or keyword string; empty = SQLite in data_dir */
    ft_role role;                /* --role api|worker|all (default all) */
    int workers;                 /* --workers: training threads (default 1) */
    int blas_threads;            /* --blas-threads: threads per job, predict or evaluate (default cores / workers) */
    int http_threads;            /* --http-threads: request thread pool (default 4) */
    int heavy_threads;           /* --heavy-threads: threads for uploads, predict, evaluate, submits (default 2) */
    int heavy_queue;             /* --heavy-queue: such requests waiting for one, past it 503 (default 64) */
    size_t max_upload_bytes;     /* --max-upload-bytes (default 1 GiB) */
    size_t max_json_bytes;       /* --max-json-bytes: JSON request bodies (default 1 MiB) */
    size_t max_dataset_bytes;    /* --max-dataset-bytes: a dataset as stored (default 4 GiB) */
    char api_key[512];           /* --api-key / --api-key-file; empty = no auth */
    char cors_origins[1024];     /* --cors-origin: comma-separated origins or "*"; empty = no CORS */
    char allowed_hosts[1024];    /* --allowed-hosts: extra Host names served without an API key */
    bool log_json;               /* --log-format json|text */
    int checkpoint_seconds;      /* --checkpoint-interval (default 30) */
    int lease_seconds;           /* --lease-seconds (default 30) */
    int max_attempts;            /* --max-attempts per job (default 3) */
    int max_sweep_jobs;          /* --max-sweep-jobs: variants x seeds of one sweep (default 64) */
    size_t min_free_bytes;       /* --min-free-disk: /readyz headroom (default 100 MiB) */
    size_t cache_limit_bytes;    /* --feature-cache-limit (default 1 GiB) */
    size_t feature_store_bytes;  /* --feature-store-limit: frozen-prefix features kept on disk (default 4 GiB, 0 off) */
    size_t max_job_memory;       /* --max-job-memory: estimated peak per job (default 3/4 of RAM / workers) */
    int max_connections;         /* --max-connections (default 256) */
    int max_per_ip;              /* --max-connections-per-ip (default 64) */
    int connection_timeout;      /* --connection-timeout seconds (default 30) */
    size_t min_body_rate;        /* --min-body-rate: bytes/s a body keeps past the timeout (default 16K) */
    int max_sse_streams;         /* --max-event-streams (default 16) */
    bool webhook_allow_private;  /* --webhook-allow-private: webhooks may reach private, loopback, link-local hosts */
    int webhook_retry_base_ms;   /* --webhook-retry-base: first retry delay, doubling per attempt (default 5000 ms) */
    int webhook_retry_cap;       /* --webhook-retry-cap: longest delay between attempts, seconds (default 3600) */
    int webhook_max_age;         /* --webhook-max-age: seconds after the event past which a delivery fails (default 86400) */
    int webhook_connect_timeout; /* --webhook-connect-timeout seconds (default 5) */
    int webhook_timeout;         /* --webhook-timeout: a whole attempt, seconds (default 10) */
    int webhook_senders;         /* --webhook-senders: deliveries in flight at once per process (default 4) */
    char port_file[4096];        /* --port-file: write the bound port here (tests) */
} ft_config;

/* Fill cfg from defaults, the environment and argv (argv[0] is "serve").
 * On a bad value, print the reason to `errors` and return -1. --help prints
 * the flag table to `out` and returns 1. */
int ft_config_load(ft_config *cfg, int argc, char **argv, FILE *out, FILE *errors);

/* "123", "64K", "100M", "1G" -> bytes; -1 if malformed. */
int ft_config_parse_size(const char *s, size_t *out);

/* The flag table as text (for --help and docs). */
void ft_config_usage(FILE *out);

#endif
