/* The store on a backend: choosing the driver, connections, binding
 * parameters, transactions, column readers, the write probe, closing.
 * Everything here is backend-neutral; the drivers do the rest. */
#include "server/store/store_db.h"

#include "core/util/entropy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ft_db_token(char out[33], ft_error *err)
{
    return ft_random_hex(out, 16, err);
}

int64_t ft_db_now(void)
{
    return (int64_t)time(NULL);
}

int64_t ft_db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool ft_store_target_is_postgres(const char *target)
{
    /* A keyword string always has "key=value"; SQLite paths of this
     * service are DATA_DIR/finetuned.db, which has none. */
    return strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0 ||
           strchr(target, '=') != NULL;
}

/* Replace the n bytes at p (inside a string with room for 3 more) by "***". */
static void mask(char *p, size_t n)
{
    memmove(p + 3, p + n, strlen(p + n) + 1);
    memcpy(p, "***", 3);
}

/* The target for messages, its password masked: a URI's user:secret@ and
 * a keyword string's password=secret. */
static char *display_target(const char *target)
{
    char *out = malloc(strlen(target) + 7); /* room for two "***" longer than what they hide */
    if (!out)
        return NULL;
    strcpy(out, target);
    char *scheme = strstr(out, "://");
    char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon)
        mask(colon + 1, (size_t)(at - colon - 1));
    char *pw = strstr(out, "password=");
    if (pw)
        mask(pw + 9, strcspn(pw + 9, " &"));
    return out;
}

ft_store *ft_db_store_open(const char *target, ft_error *err)
{
    ft_store *s = calloc(1, sizeof *s);
    if (!s || !(s->target = display_target(target))) {
        free(s);
        ft_fail(err, FT_ENOMEM, NULL, "out of memory opening the store");
        return NULL;
    }
    s->drv = ft_store_target_is_postgres(target) ? &ft_pg_driver : &ft_sqlite_driver;
    if (!(s->db = s->drv->open(target, err))) {
        free(s->target);
        free(s);
        return NULL;
    }
    ft_db_combiner_init(&s->claims);
    ft_db_combiner_init(&s->successes);
    return s;
}

void ft_store_close(ft_store *s)
{
    if (!s)
        return;
    s->drv->close(s->db);
    ft_db_combiner_destroy(&s->claims);
    ft_db_combiner_destroy(&s->successes);
    free(s->target);
    free(s);
}

bool ft_store_shared(const ft_store *s)
{
    return s->drv->listen != NULL;
}

int ft_store_listen(ft_store *s, ft_store_notify_fn cb, void *ctx, ft_error *err)
{
    return s->drv->listen ? s->drv->listen(s->db, cb, ctx, err) : 0;
}

void ft_store_stop_retrying(ft_store *s)
{
    if (s->drv->stop_retrying)
        s->drv->stop_retrying(s->db);
}

/* ---- connections and statements ---- */

ft_db_conn *ft_db_acquire(ft_store *s, ft_error *err)
{
    return s->drv->acquire(s->db, err);
}

void ft_db_release(ft_db_conn *c)
{
    if (c)
        c->drv->release(c);
}

void ft_db_done(ft_db_rows *r)
{
    if (r)
        r->drv->done(r);
}

/* The parameters of types/ap; JSON values are dumped into texts[] (the
 * caller frees them). */
static int params_va(const char *types, va_list ap, ft_db_param *p, char **texts, int *n, ft_error *err)
{
    *n = 0;
    for (int i = 0; types[i]; i++) {
        if (i == FT_DB_MAX_PARAMS)
            return ft_fail(err, FT_EINVAL, NULL, "too many statement parameters");
        ft_db_param *q = &p[i];
        texts[i] = NULL;
        *n = i + 1;
        switch (types[i]) {
        case 't':
            q->text = va_arg(ap, const char *);
            q->type = q->text ? 't' : 'n';
            break;
        case 'i': q->type = 'I', q->i = va_arg(ap, int); break;
        case 'I': q->type = 'I', q->i = va_arg(ap, int64_t); break;
        case 'j': {
            const json_t *v = va_arg(ap, const json_t *);
            q->type = 'n';
            if (v && !json_is_null(v)) {
                if (!(texts[i] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
                    return ft_fail(err, FT_ENOMEM, NULL, "out of memory binding a JSON value");
                q->type = 't', q->text = texts[i];
            }
            break;
        }
        default: return ft_fail(err, FT_EINVAL, NULL, "unknown parameter type '%c'", types[i]);
        }
    }
    return 0;
}

static ft_db_rows *vquery(ft_db_conn *c, const char *sql, ft_error *err, const char *types, va_list ap)
{
    ft_db_param p[FT_DB_MAX_PARAMS] = {{0}};
    char *texts[FT_DB_MAX_PARAMS];
    int n;
    int rc = params_va(types, ap, p, texts, &n, err);
    ft_db_rows *r = rc == 0 ? c->drv->query(c, sql, n, p, err) : NULL;
    for (int i = 0; i < n; i++)
        free(texts[i]);
    return r;
}

ft_db_rows *ft_db_query(ft_db_conn *c, const char *sql, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    ft_db_rows *r = vquery(c, sql, err, types, ap);
    va_end(ap);
    return r;
}

int ft_db_params(ft_db_param *p, char **texts, int *n, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int rc = params_va(types, ap, p, texts, n, err);
    va_end(ap);
    return rc;
}

int ft_db_query_each(ft_db_conn *c, int k, const ft_db_stmt *stmts, ft_db_rows_fn each, void *ctx, ft_error *err)
{
    if (k > FT_DB_BATCH_MAX)
        return ft_fail(err, FT_EINVAL, NULL, "more than %d statements at once", FT_DB_BATCH_MAX);
    ft_db_rows *rows[FT_DB_BATCH_MAX];
    bool many = c->drv->query_many != NULL;
    if (many && c->drv->query_many(c, k, stmts, rows, err) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < k; i++) {
        ft_db_rows *r = many ? rows[i] : rc == 0 ? c->drv->query(c, stmts[i].sql, stmts[i].n, stmts[i].p, err) : NULL;
        if (rc == 0 && (!r || each(ctx, i, r, err) != 0))
            rc = -1;
        ft_db_done(r);
    }
    return rc;
}

/* Step r to its end (RETURNING rows are discarded) and finish it: the
 * number of changed rows, or -1. */
static int run_rows(ft_db_rows *r, ft_error *err)
{
    if (!r)
        return -1;
    int rc;
    while ((rc = ft_db_next(r, err)) == 1)
        ;
    int changes = rc == 0 ? (int)r->drv->changes(r) : -1;
    ft_db_done(r);
    return changes;
}

int ft_db_vwrite(ft_db_conn *c, const char *sql, ft_error *err, const char *types, va_list ap)
{
    return run_rows(vquery(c, sql, err, types, ap), err);
}

int ft_db_write(ft_db_conn *c, const char *sql, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int n = ft_db_vwrite(c, sql, err, types, ap);
    va_end(ap);
    return n;
}

/* How often ft_db_transact runs a transaction that keeps losing its
 * connection before the commit. */
#define FT_DB_TX_ATTEMPTS 3

int ft_db_transact_checked(ft_store *s, ft_db_tx_body body, ft_db_tx_check committed, void *ctx, ft_error *err)
{
    for (int attempt = 1;; attempt++) {
        ft_db_conn *c = ft_db_acquire(s, err);
        if (!c)
            return -1;
        int rc = ft_db_begin(c, err);
        int body_rc = rc == 0 ? body(c, ctx, err) : -1;
        if (rc == 0)
            rc = ft_db_end(c, body_rc, err);
        ft_db_loss loss = rc < 0 && c->drv->tx_loss ? c->drv->tx_loss(c) : FT_DB_NOT_LOST;
        ft_db_release(c);
        if (loss == FT_DB_LOST_IN_COMMIT && committed) {
            /* The check only reads: a cut of it can be retried whole. */
            int there = ft_db_transact(s, committed, ctx, err);
            if (there != 0)
                return there == 1 ? body_rc : -1;
        } else if (loss != FT_DB_LOST_BEFORE_COMMIT) {
            return rc;
        }
        if (attempt == FT_DB_TX_ATTEMPTS)
            return rc;
    }
}

int ft_db_transact(ft_store *s, ft_db_tx_body body, void *ctx, ft_error *err)
{
    return ft_db_transact_checked(s, body, NULL, ctx, err);
}

int ft_db_rerun(ft_db_conn *c, void *ctx, ft_error *err)
{
    (void)c, (void)ctx, (void)err;
    return 0;
}

/* One statement, its arguments, what to announce and what follows it, for
 * write_body. */
typedef struct {
    const char *topic, *payload, *sql, *types;
    int (*then)(ft_db_conn *c, const char *payload, ft_error *err);
    va_list ap;
} one_write;

static int write_body(ft_db_conn *c, void *ctx, ft_error *err)
{
    one_write *w = ctx;
    va_list ap;
    va_copy(ap, w->ap); /* a fresh copy per attempt */
    int n = ft_db_vwrite(c, w->sql, err, w->types, ap);
    va_end(ap);
    if (n == 1 && w->topic && ft_db_notify(c, w->topic, w->payload, err) != 0)
        n = -1;
    if (n == 1 && w->then && w->then(c, w->payload, err) != 0)
        n = -1;
    return n;
}

int ft_db_vwrite_tx(ft_store *s, const char *topic, const char *payload,
                    int (*then)(ft_db_conn *c, const char *payload, ft_error *err), ft_db_tx_check committed,
                    const char *sql, ft_error *err, const char *types, va_list ap)
{
    one_write w = {.topic = topic, .payload = payload, .then = then, .sql = sql, .types = types};
    va_copy(w.ap, ap);
    int n = ft_db_transact_checked(s, write_body, committed, &w, err);
    va_end(w.ap);
    return n;
}

int ft_db_write_tx(ft_store *s, const char *sql, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int n = ft_db_vwrite_tx(s, NULL, NULL, NULL, NULL, sql, err, types, ap);
    va_end(ap);
    return n;
}

int ft_db_scalar(ft_db_conn *c, const char *sql, int64_t *out, ft_error *err, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    ft_db_rows *r = vquery(c, sql, err, types, ap);
    va_end(ap);
    int rc = r ? ft_db_next(r, err) : -1;
    if (rc == 1)
        *out = ft_db_int(r, 0);
    ft_db_done(r);
    return rc;
}

int ft_db_run_opt(ft_db_conn *c, const char *sql, const char *arg, ft_error *err)
{
    return !sql || ft_db_write(c, sql, err, "t", arg) >= 0 ? 0 : -1;
}

int ft_db_begin(ft_db_conn *c, ft_error *err)
{
    return c->drv->begin(c, err);
}

int ft_db_end(ft_db_conn *c, int rc, ft_error *err)
{
    if (rc >= 0 && c->drv->commit(c, err) == 0)
        return rc;
    c->drv->rollback(c);
    return -1;
}

int ft_db_notify(ft_db_conn *c, const char *topic, const char *payload, ft_error *err)
{
    return c->drv->notify ? c->drv->notify(c, topic, payload, err) : 0;
}

/* ---- column readers ---- */

json_t *ft_db_col_json(ft_db_rows *r, int i, ft_error *err)
{
    const char *text = ft_db_text(r, i);
    if (!text)
        return json_null();
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        ft_fail(err, FT_EIO, NULL, "corrupt JSON in column %d: %s", i, jerr.text);
    return v;
}

json_t *ft_db_col_int_or_null(ft_db_rows *r, int i)
{
    return r->drv->is_null(r, i) ? json_null() : json_integer((json_int_t)ft_db_int(r, i));
}

json_t *ft_db_col_text_or_null(ft_db_rows *r, int i)
{
    const char *t = ft_db_text(r, i);
    return t ? json_string(t) : json_null();
}

/* ---- the write probe ---- */

bool ft_store_writable(ft_store *s, int max_age_ms, ft_error *err)
{
    int64_t now = ft_db_now_ms();
    if (now - s->writable_ms < max_age_ms)
        return true;
    /* A real commit, not a rollback: only a commit proves that the log can
     * be written and synced (a full disk fails here, not at BEGIN). */
    if (ft_db_write_tx(s, "UPDATE store_probe SET probed_at = ?1 WHERE id = 1", err, "I", ft_db_now()) < 0)
        return false;
    s->writable_ms = now;
    return true;
}
