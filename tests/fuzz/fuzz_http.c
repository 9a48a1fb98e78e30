/* libFuzzer: the HTTP service in-process. The real routes, body handling
 * (JSON, raw, multipart and raw uploads), store and libmicrohttpd run on
 * 127.0.0.1 with a free port, a temp data dir and no training workers; each
 * input is sent over a loopback connection and the reply is checked.
 *
 * Input: up to four requests separated by a line "%%", each written as you
 * would type it; tests/fuzz/fuzz_http_input.h describes the format and how
 * the harness frames it. A request it framed must get a reply, and not a
 * 5xx (507 aside). An input's own Content-Length or a raw request (one
 * starting with "!") makes the reply optional; after a request without a
 * reply the server must still answer GET /healthz.
 * Tokens name objects the harness keeps: {ds} (a CSV dataset), {mdl} (a
 * tabular softmax model), {img} (a 1x4x4 image model), {job} (a queued job),
 * {new} (the last id created by this input). Objects an input creates are
 * deleted (jobs cancelled) after it; the data dir is recreated when it grows.
 *
 * Server logs go to stderr: run with -close_fd_mask=2 to keep them out of
 * the way (harness failures and sanitizer reports still show).
 * FUZZ_HTTP_TRACE=1 prints each request's status and time;
 * FUZZ_HTTP_GDB=1 prints, on a hang, the last requests sent, every
 * thread's stack (gdb) and the sockets (ss). */
#include <arpa/inet.h>
#include <cblas.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/nn/model.h"
#include "server/app/app.h"
#include "server/api/routes.h"
#include "tests/fuzz/fuzz_http_input.h"

#define API_KEY "fuzz-key"
#define MAX_REQUESTS 4
#define REPLY_MS 4000            /* a framed request must be answered within this */
#define LENIENT_MS 1000          /* other requests: libmicrohttpd may keep a half-closed
                                  * connection with an incomplete request until its timeout */
#define MAX_REPLY (4u << 20)     /* bytes of a reply kept */
#define MAX_DATA_BYTES (48u << 20)

static ft_app app;
static char data_dir[256];
static FILE *report;             /* stderr as it was at start (-close_fd_mask=2 closes fd 2) */
static char fx_ds[64], fx_mdl[64], fx_img[64], fx_job[64];
static unsigned long runs;

static __attribute__((noreturn, format(printf, 2, 3))) void fail(const buf *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(report, "\nfuzz_http: ");
    vfprintf(report, fmt, ap);
    va_end(ap);
    if (req)
        fprintf(report, "\n---- request (%zu bytes) ----\n%.*s\n----\n", req->len, (int)(req->len < 4000 ? req->len : 4000),
                req->p);
    fflush(report);
    abort();
}

/* ---- one exchange over loopback ---- */

typedef struct {
    buf raw;
    int status;          /* 0 = no reply */
    bool from_app;       /* carries X-Request-Id: our handler answered, not libmicrohttpd */
    bool reset, timeout;
    const char *body;    /* into raw */
    size_t body_len;
    char ctype[128];
} reply;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Header value from a reply head (case-insensitive name), into out. */
static bool head_value(const char *head, size_t head_len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *l = head; l < head + head_len;) {
        const char *e = memchr(l, '\n', (size_t)(head + head_len - l));
        if (!e)
            e = head + head_len;
        if ((size_t)(e - l) > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (v < e && *v == ' ')
                v++;
            size_t vl = (size_t)(e - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, n, "%.*s", (int)vl, v);
            return true;
        }
        l = e + 1;
    }
    return false;
}

/* Parse what arrived: skip 1xx interim replies, take the final status line. */
static void parse_reply(reply *r)
{
    if (!r->raw.p)
        return;
    const char *p = r->raw.p, *end = r->raw.p + r->raw.len;
    while (end - p >= 12 && strncmp(p, "HTTP/1.", 7) == 0) {
        const char *h = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        int status = atoi(p + 9);
        if (!h)
            return; /* head not complete */
        if (status >= 100 && status < 200) {
            p = h + 4;
            continue;
        }
        r->status = status;
        char rid[96];
        r->from_app = head_value(p, (size_t)(h - p), "X-Request-Id", rid, sizeof rid);
        head_value(p, (size_t)(h - p), "Content-Type", r->ctype, sizeof r->ctype);
        r->body = h + 4;
        r->body_len = (size_t)(end - r->body);
        return;
    }
}

static bool is_stream(const reply *r) { return r->status && strstr(r->ctype, "text/event-stream"); }

/* FUZZ_HTTP_GDB=1: the last requests sent, printed on a hang. */
#define HISTORY 24
static struct {
    char *bytes;
    size_t len;
    long at;
} history[HISTORY];
static unsigned long nhistory;

static void remember(const char *p, size_t n)
{
    if (!getenv("FUZZ_HTTP_GDB"))
        return;
    unsigned long i = nhistory++ % HISTORY;
    free(history[i].bytes);
    history[i].bytes = malloc(n + 1);
    if (history[i].bytes)
        memcpy(history[i].bytes, p, n);
    history[i].len = history[i].bytes ? n : 0;
    history[i].at = now_ms();
}

/* FUZZ_HTTP_GDB=1: on a hang, where every thread is (while the connection is still open). */
static void dump_threads(int fd)
{
    long now = now_ms();
    for (unsigned long k = nhistory > HISTORY ? nhistory - HISTORY : 0; k < nhistory; k++) {
        unsigned long i = k % HISTORY;
        fprintf(report, "==== history -%ld ms (%zu bytes):\n", now - history[i].at, history[i].len);
        for (size_t j = 0; j < history[i].len && j < 600; j++) {
            unsigned char c = (unsigned char)history[i].bytes[j];
            if (c == '\n' || (c >= 0x20 && c < 0x7f))
                fputc(c, report);
            else
                fprintf(report, "\\x%02x", c);
        }
        fputc('\n', report);
    }
    char cmd[256];
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    memset(&ti, 0, sizeof ti);
    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
    fprintf(report, "fuzz_http: hang on fd %d, local port %d, tcp state %d, unacked %u\n", fd, ntohs(me.sin_port),
            ti.tcpi_state, ti.tcpi_unacked);
    fflush(report);
    snprintf(cmd, sizeof cmd,
             "gdb -p %d -batch -ex 'thread apply all bt' 1>&%d 2>&1; ss -tanpo 'sport = :%d or dport = :%d' 1>&%d",
             (int)getpid(), fileno(report), ft_http_port(app.http), ft_http_port(app.http), fileno(report));
    if (system(cmd) != 0)
        fprintf(report, "fuzz_http: gdb failed\n");
}

/* Send bytes, read the reply until the server closes (every framed request
 * says Connection: close) or an event stream has started. */
static void exchange(const buf *req, bool half_close, int wait_ms, reply *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ft_http_port(app.http))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (rc != 0 && errno == EINTR) { /* libFuzzer's -timeout alarm: the connect goes on */
        struct pollfd pf = {fd, POLLOUT, 0};
        int e = 0;
        socklen_t el = sizeof e;
        while ((rc = poll(&pf, 1, 5000)) < 0 && errno == EINTR)
            ;
        if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
            rc = 0;
        else
            errno = rc == 1 ? e : ETIMEDOUT, rc = -1;
    }
    if (rc != 0)
        fail(req, "cannot connect to the server: %s", strerror(errno));
    remember(req->p, req->len);
    /* No TIME_WAIT left behind by a million connections: close with a reset. */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    long deadline = now_ms() + wait_ms;
    size_t sent = 0;
    while (sent < req->len) {
        struct pollfd pf = {fd, POLLOUT, 0};
        int ready = poll(&pf, 1, (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0));
        if (ready < 0 && errno == EINTR) /* libFuzzer's -timeout alarm */
            continue;
        if (ready <= 0)
            break; /* the server stopped reading (it may have replied early) */
        ssize_t n = send(fd, req->p + sent, req->len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    char chunk[65536];
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pf = {fd, POLLIN, 0};
        int ready = left > 0 ? poll(&pf, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR) /* libFuzzer's -timeout alarm */
            continue;
        if (ready <= 0) {
            out->timeout = true;
            if (!half_close && !out->status && getenv("FUZZ_HTTP_GDB"))
                dump_threads(fd);
            break;
        }
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            out->reset = true;
            break;
        }
        if (n == 0)
            break;
        if (out->raw.len < MAX_REPLY)
            put(&out->raw, chunk, (size_t)n);
        if (!out->status) {
            parse_reply(out);
            if (is_stream(out))
                break; /* it follows a job that never ends here: the head is enough */
        }
    }
    close(fd);
    if (!out->status)
        parse_reply(out);
    if (out->status)
        out->timeout = out->reset = false;
}


/* Replace {ds} {mdl} {img} {job} {new} with the current ids. */
static void expand(const char *s, size_t n, const char *last_new, buf *out)
{
    const struct {
        const char *token;
        const char *value;
    } subst[] = {{"{ds}", fx_ds}, {"{mdl}", fx_mdl}, {"{img}", fx_img}, {"{job}", fx_job}, {"{new}", last_new}};
    out->len = 0;
    put(out, "", 0);
    for (size_t i = 0; i < n;) {
        bool done = false;
        for (size_t t = 0; !done && s[i] == '{' && t < sizeof subst / sizeof *subst; t++) {
            size_t tl = strlen(subst[t].token);
            if (n - i >= tl && memcmp(s + i, subst[t].token, tl) == 0) {
                puts_(out, subst[t].value[0] ? subst[t].value : "none");
                i += tl;
                done = true;
            }
        }
        if (!done)
            put(out, s + i++, 1);
    }
}

/* ---- requests the harness makes itself ---- */

static reply call(const char *method, const char *path, const char *ctype, const void *body, size_t len)
{
    buf req = {0};
    putf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer " API_KEY "\r\n",
         method, path);
    if (ctype)
        putf(&req, "Content-Type: %s\r\n", ctype);
    putf(&req, "Content-Length: %zu\r\n\r\n", len);
    put(&req, body, len);
    reply r;
    exchange(&req, false, 20000, &r);
    if (!r.status || r.status >= 500)
        fail(&req, "harness request failed: status %d%s%s", r.status, r.timeout ? " (timeout)" : "",
             r.reset ? " (reset)" : "");
    free(req.p);
    return r;
}

/* The "id" of a JSON reply body, into out. */
static bool reply_id(const reply *r, char *out, size_t n)
{
    if (!r->body || !strstr(r->ctype, "json"))
        return false;
    json_t *j = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    bool ok = id && strlen(id) < n;
    if (ok)
        snprintf(out, n, "%s", id);
    json_decref(j);
    return ok;
}

static void create(const char *what, const char *method, const char *path, const char *ctype, const void *body,
                   size_t len, char *id, size_t n)
{
    reply r = call(method, path, ctype, body, len);
    if (r.status != 201 || !reply_id(&r, id, n))
        fail(NULL, "cannot create the %s fixture: %d %.*s", what, r.status, (int)r.body_len, r.body ? r.body : "");
    free(r.raw.p);
}

static void create_model(const char *arch_text, const char *classes_text, const char *pp_text, char *id, size_t n)
{
    ft_error err = {0};
    json_t *arch = json_loads(arch_text, 0, NULL), *classes = json_loads(classes_text, 0, NULL);
    json_t *pp = pp_text ? json_loads(pp_text, 0, NULL) : NULL;
    ft_model *m = ft_model_from_json(arch, "architecture", &err);
    unsigned char *bytes = NULL;
    size_t len = 0;
    if (!m || ft_model_set_classes(m, classes, &err) != 0 || (pp && ft_model_set_preprocessing(m, pp, &err) != 0))
        fail(NULL, "cannot build a fixture model: %s", err.msg);
    /* Small non-zero weights, so predictions differ per class. */
    float *w = ft_model_params(m);
    for (size_t i = 0; i < ft_model_num_params(m); i++)
        w[i] = (float)((int)(i % 7) - 3) * 0.1f;
    if (ft_model_save_mem(m, &bytes, &len, &err) != 0)
        fail(NULL, "cannot save a fixture model: %s", err.msg);
    create("model", "POST", "/v1/models?name=fixture", "application/octet-stream", bytes, len, id, n);
    free(bytes);
    ft_model_free(m);
    json_decref(arch);
    json_decref(classes);
    json_decref(pp);
}

static const char fixture_csv[] = "a,b,c,d,label\n"
                                  "1,2,3,4,x\n0.5,1,-1,2,y\n3,3,3,3,z\n1,0,0,1,x\n2,1,0,-1,y\n0,0,1,1,z\n"
                                  "1.5,2,2,4,x\n0.25,1,-2,2,y\n3,2,3,3,z\n";

static void create_ds(void)
{
    create("dataset", "POST", "/v1/datasets?name=fixture&label=label", "text/csv", fixture_csv,
           sizeof fixture_csv - 1, fx_ds, sizeof fx_ds);
}

/* {mdl}: 4 features -> 5 relu -> 3 softmax classes, standardised inputs. */
static void create_mdl(void)
{
    create_model("{\"input\": [4], \"layers\": [{\"name\": \"hidden\", \"type\": \"dense\", \"units\": 5, "
                 "\"activation\": \"relu\"}, {\"name\": \"out\", \"type\": \"dense\", \"units\": 3, "
                 "\"activation\": \"softmax\"}]}",
                 "[\"x\", \"y\", \"z\"]", "{\"scale\": 1, \"mean\": [0, 1, 0, 1], \"std\": [1, 2, 1, 2]}", fx_mdl,
                 sizeof fx_mdl);
}

/* {img}: a 1x4x4 image -> conv -> pool -> one sigmoid unit, two classes. */
static void create_img(void)
{
    create_model("{\"input\": [1, 4, 4], \"layers\": [{\"name\": \"conv\", \"type\": \"conv2d\", \"filters\": 2, "
                 "\"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"}, {\"type\": \"maxpool2d\", \"size\": 2}, "
                 "{\"type\": \"flatten\"}, {\"name\": \"out\", \"type\": \"dense\", \"units\": 1, "
                 "\"activation\": \"sigmoid\"}]}",
                 "[\"no\", \"yes\"]", "{\"scale\": 0.00392156862745098}", fx_img, sizeof fx_img);
}

static void create_job(void)
{
    char spec[512];
    snprintf(spec, sizeof spec,
             "{\"dataset\": \"%s\", \"epochs\": 1, \"architecture\": {\"input\": [4], \"layers\": "
             "[{\"type\": \"dense\", \"units\": 3, \"activation\": \"softmax\"}]}}",
             fx_ds);
    create("job", "POST", "/v1/jobs", "application/json", spec, strlen(spec), fx_job, sizeof fx_job);
}

/* Status of GET path, or the job status string into st. */
static int probe(const char *fmt, const char *id, char *st, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, fmt, id);
    reply r = call("GET", path, NULL, "", 0);
    if (st) {
        json_t *j = r.body ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
        snprintf(st, n, "%s", json_string_value(json_object_get(j, "status")) ? json_string_value(json_object_get(j, "status")) : "");
        json_decref(j);
    }
    free(r.raw.p);
    return r.status;
}

/* After a delete or cancel: put back any fixture that went away. */
static void check_fixtures(void)
{
    char st[32];
    bool new_ds = probe("/v1/datasets/%s", fx_ds, NULL, 0) == 404;
    if (new_ds)
        create_ds();
    if (probe("/v1/models/%s", fx_mdl, NULL, 0) == 404)
        create_mdl();
    if (probe("/v1/models/%s", fx_img, NULL, 0) == 404)
        create_img();
    if (new_ds || probe("/v1/jobs/%s", fx_job, st, sizeof st) != 200 || strcmp(st, "queued") != 0)
        create_job();
}

/* ---- the service ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void stop_service(void)
{
    if (!app.http)
        return;
    atomic_store(&app.shutting_down, true);
    ft_http_quiesce(app.http);
    ft_app_notify(&app); /* end event streams */
    ft_http_stop(app.http);
    ft_app_close(&app);
    pthread_mutex_destroy(&app.lock);
    pthread_cond_destroy(&app.changed);
    app.http = NULL;
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_service(void)
{
    char *argv[] = {"serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir, "--http-threads", "2",
                    "--max-upload-bytes", "16K", "--max-json-bytes", "8K", "--min-free-disk", "0",
                    "--connection-timeout", "10", "--max-event-streams", "2", "--api-key", API_KEY,
                    "--cors-origin", "https://a.example, https://b.example", NULL};
    memset(&app, 0, sizeof app);
    if (ft_config_load(&app.cfg, (int)(sizeof argv / sizeof *argv) - 1, argv, report, report) != 0)
        fail(NULL, "bad harness configuration");
    app.cfg.workers = 0; /* jobs stay queued: no training in the fuzz loop */
    ft_error err = {0};
    if (ft_app_open(&app, &err) != 0 || !(app.http = ft_app_http_start(&app, ft_routes, ft_nroutes, &err)))
        fail(NULL, "cannot start the service: %s", err.msg);
    create_ds();
    create_mdl();
    create_img();
    create_job();
}

static unsigned long long dir_bytes;

static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    dir_bytes += (unsigned long long)st->st_size;
    return 0;
}

static unsigned long long data_bytes(void)
{
    dir_bytes = 0;
    nftw(data_dir, add_size, 16, FTW_PHYS);
    return dir_bytes;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    int fd = dup(2);
    report = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!report)
        report = stderr;
    signal(SIGPIPE, SIG_IGN);
    openblas_set_num_threads(1);
    const char *tmp = getenv("TMPDIR");
    snprintf(data_dir, sizeof data_dir, "%s/ft-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(data_dir))
        fail(NULL, "cannot create a temp dir: %s", strerror(errno));
    start_service();
    atexit(stop_service);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (++runs % 500 == 0 && data_bytes() > MAX_DATA_BYTES) {
        stop_service();
        start_service();
    }
    char last_new[64] = "", created[MAX_REQUESTS][64];
    int ncreated = 0;
    bool recheck = false;
    const char *s = (const char *)data, *end = s + size;
    buf text = {0};
    for (int i = 0; i < MAX_REQUESTS && s; i++) {
        const char *sep = memmem(s, (size_t)(end - s), "\n%%\n", 4);
        expand(s, sep ? (size_t)(sep - s) : (size_t)(end - s), last_new, &text);
        s = sep ? sep + 4 : NULL;
        request rq;
        frame(text.p, text.len, API_KEY, &rq);
        reply r;
        long t0 = now_ms();
        exchange(&rq.bytes, rq.half_close, rq.strict ? REPLY_MS : LENIENT_MS, &r);
        if (getenv("FUZZ_HTTP_TRACE"))
            fprintf(report, "fuzz_http: %s %.60s -> %d%s%s in %ld ms\n", rq.method, rq.target, r.status,
                    r.timeout ? " (timeout)" : "", r.reset ? " (reset)" : "", now_ms() - t0);
        if (r.status >= 500 && r.status != 507 && (rq.strict || r.from_app))
            fail(&rq.bytes, "status %d:\n%.*s", r.status, (int)(r.raw.len < 2000 ? r.raw.len : 2000), r.raw.p);
        if (!r.status && rq.strict && !r.reset)
            fail(&rq.bytes, "no reply to a well-formed request (%s)", r.timeout ? "timed out" : "closed");
        if (!r.status) {
            reply h = call("GET", "/healthz", NULL, "", 0); /* fails unless the server answers */
            free(h.raw.p);
        }
        char id[64];
        if (r.status == 201 && reply_id(&r, id, sizeof id)) {
            snprintf(last_new, sizeof last_new, "%s", id);
            if (ncreated < MAX_REQUESTS)
                snprintf(created[ncreated++], sizeof created[0], "%s", id);
        }
        recheck |= r.status == 200 && (strcmp(rq.method, "DELETE") == 0 || strstr(rq.target, "cancel"));
        free(rq.bytes.p);
        free(r.raw.p);
    }
    free(text.p);
    /* Keep the data dir small: what this input made goes away (jobs are
     * cancelled first, so their datasets and models can be deleted). */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < ncreated; i++) {
            char path[128];
            const char *id = created[i];
            bool job = strncmp(id, "job_", 4) == 0;
            if (job != (pass == 0))
                continue;
            if (job)
                snprintf(path, sizeof path, "/v1/jobs/%s/cancel", id);
            else
                snprintf(path, sizeof path, "/v1/%s/%s", strncmp(id, "ds_", 3) == 0 ? "datasets" : "models", id);
            reply r = call(job ? "POST" : "DELETE", path, NULL, "", 0);
            free(r.raw.p);
        }
    if (recheck)
        check_fixtures();
    return 0;
}
