/* Internal: the server and request structs shared by http.c (the daemon
 * and dispatch), http_reply.c (requests and replies), http_body.c (request
 * bodies and uploads), http_stream.c (streamed replies), http_access.c and
 * http_pool.c. */
#ifndef FT_HTTP_INTERNAL_H
#define FT_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>

#include "server/http/http.h"

#define FT_MAX_PARAMS 4
#define FT_MAX_PARTS 4
#define FT_MAX_HEADERS 8
#define FT_MAX_FIELDS 16             /* plain multipart fields per upload */
#define FT_MAX_FIELD_BYTES 4096      /* bytes per plain multipart field */

typedef struct ft_http_stream ft_http_stream;
typedef struct ft_http_pool ft_http_pool;
typedef struct ft_http_lingerer ft_http_lingerer;

/* Where a connection is in its current request: the reaper gives a head
 * and a body each a deadline; a reply has none (event streams are long). */
typedef enum { FT_CONN_HEAD, FT_CONN_BODY, FT_CONN_REPLY } ft_conn_phase;

/* An open connection, for the head and body deadlines (http.c, reap_slow). */
typedef struct ft_http_conn {
    struct ft_http_conn *prev, *next;
    int fd;
    double since;                    /* monotonic time the current phase began */
    ft_conn_phase phase;
    uint64_t received;               /* body bytes received in FT_CONN_BODY */
    bool cut;                        /* already shut down */
    bool linger;                     /* answered before its body was read: linger at close */
} ft_http_conn;

struct ft_http {
    struct MHD_Daemon *daemon;
    ft_http_config cfg;
    ft_http_hooks hooks;
    ft_app *app;                     /* passed to handlers only */
    uint8_t key_digest[32];          /* SHA-256 of the API key (ft_http_authorized) */
    const ft_route *routes;
    size_t nroutes;
    int port;
    /* Streams with nothing to send are suspended (a blocked callback would
     * stall every connection of its pool thread); the waker thread resumes
     * them when the app signals a change, and at least every second; the
     * hang-up watcher when a parked stream's client goes (http_stream.c). */
    pthread_mutex_t lock;
    ft_http_stream *suspended;            /* list, under lock */
    bool stopping;                   /* under lock: no more suspending */
    pthread_t waker;
    bool waker_started;
    int hangup_epoll;                /* parked streams' sockets, EPOLLRDHUP */
    ft_http_pool *pool;              /* runs the heavy routes' handlers */
    ft_http_lingerer *linger;          /* half-closed sockets read to their end, bounded */
    pthread_t hangup_watcher;
    bool hangup_watcher_started;
    /* libmicrohttpd's connection timeout counts idle time only, so a client
     * sending a byte now and then (slowloris) would hold a connection
     * forever. The reaper thread shuts down connections whose request head
     * is not complete within the connection timeout, or whose body is
     * slower than the body deadline allows (reap_slow). */
    pthread_mutex_t conns_lock;
    pthread_cond_t reaper_wake;
    ft_http_conn *conns;                  /* open connections, under conns_lock */
    bool reaper_stop;                /* under conns_lock */
    pthread_t reaper;
    bool reaper_started;
};

struct ft_req {
    ft_http *http;
    struct MHD_Connection *conn;
    const ft_route *route;
    char method[16];
    char path[2048];
    char id[80];                     /* request id (X-Request-Id) */
    double t0;                       /* monotonic start time */
    struct {
        char name[32];
        char value[256];
    } params[FT_MAX_PARAMS];
    int nparams;

    /* body */
    char *body;                      /* JSON / raw body bytes */
    size_t body_len, body_cap;
    size_t limit;                    /* byte cap for this request's body */
    uint64_t received;               /* body bytes seen */
    json_t *json;                    /* parsed JSON body */
    struct MHD_PostProcessor *post;  /* multipart parser */
    ft_upload_part parts[FT_MAX_PARTS];
    bool keep[FT_MAX_PARTS];         /* taken by the handler */
    size_t nparts;
    int part_fd;                     /* temp file being written, or -1 */
    json_t *form;                    /* plain multipart fields */
    size_t nfields;                  /* plain multipart fields seen */
    bool has_body;                   /* the head announces a body (Content-Length > 0 or chunked) */

    /* response */
    struct MHD_Response *resp;
    unsigned status;
    struct {
        char name[64];
        char value[256];
    } headers[FT_MAX_HEADERS];
    int nheaders;
    char error_code[64];             /* for the log line */
    const char *json_out;            /* resp's JSON bytes (owned by resp), for a reply sent mid-body */
    size_t json_out_len;
};

/* Body handling (http_body.c). Return false after deciding a reply. */
bool ft_body_begin(ft_req *r);
bool ft_body_feed(ft_req *r, const char *data, size_t len);
bool ft_body_end(ft_req *r);
void ft_body_free(ft_req *r);

/* Requests and replies (http_reply.c). */
double ft_http_now(void);
/* Log one line through the hooks: an event, then key, value strings up to NULL. */
void ft_http_log(const ft_http *h, const char *event, ...);
/* The reply of r (a handler replies once: a second reply is dropped). */
void ft_set_response(ft_req *r, unsigned status, struct MHD_Response *resp);
/* Run r's handler; it must reply (a missing reply becomes a 500). */
void ft_run_handler(ft_req *r);

/* The request pool (http_pool.c): `nthreads` threads, and up to `queue`
 * requests waiting for one. submit suspends r's connection and returns
 * true, or returns false when the pool is full or stopping; stop runs what
 * was accepted, then joins. */
ft_http_pool *ft_http_pool_start(ft_http *h, int nthreads, int queue, ft_error *err);
bool ft_http_pool_submit(ft_http_pool *p, ft_req *r);
void ft_http_pool_stop(ft_http_pool *p);

/* Lingering close (http_linger.c): after an answer decided mid-body, fd
 * is half-closed and what the client still sends is read and discarded, up
 * to a bound, before the socket really closes (so the answer is not lost
 * to a reset). The caller closes its own fd as usual. */
ft_http_lingerer *ft_http_lingerer_start(ft_error *err);
void ft_http_linger(ft_http_lingerer *g, int fd);
void ft_http_lingerer_stop(ft_http_lingerer *g);

/* The stream threads (http_stream.c): started once the daemon runs; stop
 * also resumes every parked stream, as libmicrohttpd must not be stopped
 * with suspended connections. */
bool ft_http_streams_start(ft_http *h, ft_error *err);
void ft_http_streams_stop(ft_http *h);

/* Access (http_access.c). */
void ft_http_key_digest(const char *key, uint8_t out[32]); /* SHA-256 */
/* The API key, compared as a digest in constant time (open routes pass). */
bool ft_http_authorized(ft_req *r);
/* The request's Origin if --cors-origin allows it ("*" for all), else NULL. */
const char *ft_http_cors_origin(ft_req *r);
/* Without an API key, the Host must name this server (DNS rebinding). */
bool ft_http_host_allowed(ft_req *r);
/* A POST/PUT/PATCH/DELETE from a browser comes from our origin or a CORS one. */
bool ft_http_origin_allowed(ft_req *r);

#endif
