#include "server/app/app.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/data/parse_helpers.h"
#include "core/nn/model.h"
#include "core/util/entropy.h"

void ft_app_dataset_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.safetensors", app->dir_datasets, id);
}

void ft_app_model_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.safetensors", app->dir_models, id);
}

void ft_app_checkpoint_path(const ft_app *app, const char *id, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.ckpt", app->dir_checkpoints, id);
}

void ft_app_new_id(const char *prefix, char *out, size_t n)
{
    char hex[25];
    ft_error err = {0};
    /* getrandom only fails if the kernel has no entropy source at all:
     * keep asking, as an id cannot be made up. */
    while (ft_random_hex(hex, 12, &err) != 0)
        ;
    snprintf(out, n, "%s_%s", prefix, hex);
}

bool ft_app_valid_id(const char *prefix, const char *s)
{
    size_t p = strlen(prefix);
    if (!s || strncmp(s, prefix, p) != 0 || s[p] != '_' || strlen(s + p + 1) != 24)
        return false;
    for (const char *c = s + p + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

void ft_app_notify(ft_app *app)
{
    pthread_mutex_lock(&app->lock);
    app->generation++;
    pthread_cond_broadcast(&app->changed);
    pthread_mutex_unlock(&app->lock);
}

unsigned long ft_app_wait(ft_app *app, unsigned long seen, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&app->lock);
    while (app->generation == seen && !app->shutting_down)
        if (pthread_cond_timedwait(&app->changed, &app->lock, &until) != 0)
            break;
    unsigned long g = app->generation;
    pthread_mutex_unlock(&app->lock);
    return g;
}

atomic_bool *ft_app_job_started(ft_app *app, const char *id)
{
    atomic_bool *flag = NULL;
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS && !flag; i++)
        if (!app->running[i].id[0]) {
            snprintf(app->running[i].id, sizeof app->running[i].id, "%s", id);
            atomic_store(&app->running[i].cancel, false);
            flag = &app->running[i].cancel;
        }
    pthread_mutex_unlock(&app->lock);
    return flag;
}

void ft_app_job_ended(ft_app *app, const char *id)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS; i++)
        if (strcmp(app->running[i].id, id) == 0)
            app->running[i].id[0] = '\0';
    pthread_mutex_unlock(&app->lock);
}

void ft_app_cancel(ft_app *app, const char *id)
{
    pthread_mutex_lock(&app->lock);
    for (int i = 0; i < FT_MAX_WORKERS; i++)
        if (strcmp(app->running[i].id, id) == 0)
            atomic_store(&app->running[i].cancel, true);
    pthread_mutex_unlock(&app->lock);
}

/* Length of the printable UTF-8 character at s (at most n bytes), or 0 if
 * it must be escaped: control characters, DEL, C1 controls, the Unicode
 * line and paragraph separators, and bytes that are not UTF-8. */
static size_t printable_char(const unsigned char *s, size_t n)
{
    if (s[0] >= 0x20 && s[0] < 0x7f)
        return 1;
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n || !ft_utf8_valid((const char *)s, len))
        return 0;
    if ((s[0] == 0xc2 && s[1] < 0xa0) || (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)))
        return 0;
    return len;
}

/* One value of a text log line. Values carry clients' bytes (a request
 * path, a file name in an error), so they are escaped (\n, \r, \t, \xHH)
 * and, when they hold a space, a quote, '=' or an escape, quoted (with \"
 * and \\): a value can neither start a forged line, nor add a field, nor
 * drive a terminal, and its bytes can be recovered. */
static void log_text_value(FILE *out, const char *v)
{
    const unsigned char *s = (const unsigned char *)v;
    size_t n = strlen(v), len;
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i += len ? len : 1)
        quote = !(len = printable_char(s + i, n - i)) || strchr(" \"=\\", s[i]);
    if (quote)
        fputc('"', out);
    for (size_t i = 0; i < n;) {
        len = printable_char(s + i, n - i);
        if (len && s[i] != '"' && s[i] != '\\') {
            fwrite(s + i, 1, len, out);
            i += len;
            continue;
        }
        unsigned char c = s[i++];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n' || c == '\r' || c == '\t')
            fprintf(out, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        else
            fprintf(out, "\\x%02x", c);
    }
    if (quote)
        fputc('"', out);
}

/* A JSON log value: a string that is not UTF-8 keeps its other characters,
 * each offending byte written as the text \xHH (JSON strings must be UTF-8,
 * and json_string refuses the rest, which would drop the field). */
static json_t *log_json_value(const char *v)
{
    json_t *j = json_string(v);
    size_t n = strlen(v), o = 0;
    char *buf = j ? NULL : malloc(4 * n + 1);
    for (size_t i = 0; buf && i < n;) {
        unsigned char c = (unsigned char)v[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (len <= n - i && ft_utf8_valid(v + i, len)) {
            memcpy(buf + o, v + i, len);
            o += len;
            i += len;
        } else {
            o += (size_t)sprintf(buf + o, "\\x%02x", c);
            i++;
        }
    }
    if (buf) {
        buf[o] = '\0';
        j = json_string(buf);
        free(buf);
    }
    return j ? j : json_string("?");
}

void ft_app_logv(const ft_app *app, const char *event, va_list ap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *line = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&line, &len);
    if (!out)
        return;
    if (app->cfg.log_json) {
        /* Not cut to a length: a cut line would not be JSON. ASCII only, so
         * no character in it can act on a terminal. */
        json_t *o = json_pack("{s:s, s:s}", "ts", ts, "event", event);
        for (const char *k; (k = va_arg(ap, const char *));) {
            const char *v = va_arg(ap, const char *);
            json_object_set_new(o, k, log_json_value(v ? v : ""));
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        for (const char *c = s ? s : "{}"; *c; c++) /* DEL, which jansson leaves raw, only occurs in strings */
            if (*c == 0x7f)
                fputs("\\u007f", out);
            else
                fputc(*c, out);
        free(s);
        json_decref(o);
    } else {
        fprintf(out, "%s %s", ts, event);
        for (const char *k; (k = va_arg(ap, const char *));) {
            const char *v = va_arg(ap, const char *);
            fprintf(out, " %s=", k);
            log_text_value(out, v ? v : "");
        }
    }
    fputc('\n', out);
    if (fclose(out) == 0)
        fwrite(line, 1, len, stderr); /* one write per line */
    free(line);
}

void ft_app_log(const ft_app *app, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    ft_app_logv(app, event, ap);
    va_end(ap);
}
