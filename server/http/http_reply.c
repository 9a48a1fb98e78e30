/* Requests and replies: the accessors a handler reads a request with, the
 * replies it sends (JSON, the error envelope, bytes, files), and running it. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/data/parse_helpers.h"
#include "server/http/http_internal.h"

double ft_http_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ft_http_log(const ft_http *h, const char *event, ...)
{
    va_list ap;
    va_start(ap, event);
    h->hooks.log(h->hooks.ctx, event, ap);
    va_end(ap);
}

/* ---- request accessors ---- */

const char *ft_req_method(const ft_req *r) { return r->method; }
const char *ft_req_path(const ft_req *r) { return r->path; }
const char *ft_req_route(const ft_req *r) { return r->route ? r->route->pattern : "unmatched"; }
json_t *ft_req_json(const ft_req *r) { return r->json; }
const char *ft_req_id(const ft_req *r) { return r->id; }
const void *ft_req_route_data(const ft_req *r) { return r->route ? r->route->data : NULL; }

const char *ft_req_param(const ft_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

const char *ft_req_query(const ft_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *ft_req_header(const ft_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const unsigned char *ft_req_raw(const ft_req *r, size_t *len)
{
    *len = r->body_len;
    return (const unsigned char *)r->body;
}

size_t ft_req_parts(const ft_req *r, const ft_upload_part **parts)
{
    *parts = r->parts;
    return r->nparts;
}

const char *ft_req_form(const ft_req *r, const char *key)
{
    return r->form ? json_string_value(json_object_get(r->form, key)) : NULL;
}

void ft_req_take_part(ft_req *r, size_t i)
{
    if (i < r->nparts)
        r->keep[i] = true;
}

bool ft_req_limit(ft_req *r, int *limit)
{
    const char *s = ft_req_query(r, "limit");
    *limit = 20;
    if (!s)
        return true;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < 1 || v > 100) {
        ft_reply_error(r, 400, "invalid_limit", "limit", "limit must be an integer between 1 and 100");
        return false;
    }
    *limit = (int)v;
    return true;
}

/* ---- replies ---- */

void ft_set_response(ft_req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp) /* a handler must reply once; keep the first */
    {
        MHD_destroy_response(resp);
        return;
    }
    r->status = status;
    r->resp = resp;
}

void ft_reply_header(ft_req *r, const char *name, const char *value)
{
    if (r->nheaders < FT_MAX_HEADERS) {
        snprintf(r->headers[r->nheaders].name, sizeof r->headers[0].name, "%s", name);
        snprintf(r->headers[r->nheaders].value, sizeof r->headers[0].value, "%s", value);
        r->nheaders++;
    }
}

void ft_reply_bytes(ft_req *r, unsigned status, const char *content_type, void *data, size_t len, bool take)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (take)
            free(data);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    ft_set_response(r, status, resp);
}

void ft_reply_json(ft_req *r, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!s) {
        ft_reply_error(r, 500, "internal_error", NULL, "could not encode the response");
        return;
    }
    size_t n = strlen(s);
    s[n] = '\0';
    char *line = realloc(s, n + 2); /* trailing newline: friendlier with curl */
    if (line) {
        line[n] = '\n';
        line[n + 1] = '\0';
        s = line;
        n++;
    }
    bool first = !r->resp;
    ft_reply_bytes(r, status, "application/json", s, n, true);
    if (first && r->resp) { /* the response now owns s */
        r->json_out = s;
        r->json_out_len = n;
    }
}

static const char *error_type(unsigned status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    case 507: return "insufficient_storage";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

/* Replace each byte that is not part of a well-formed UTF-8 character with
 * '?', in place. Messages quote the client's bytes (paths, headers, file
 * names) and get cut to a buffer's size, maybe inside a character; JSON
 * strings must be UTF-8, so without this the reply could not be encoded. */
static void make_utf8(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (len <= n - i && ft_utf8_valid(s + i, len))
            i += len;
        else
            s[i++] = '?';
    }
}

void ft_reply_error(ft_req *r, unsigned status, const char *code, const char *param, const char *fmt, ...)
{
    char msg[1024], par[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(par, sizeof par, "%s", param ? param : "");
    make_utf8(msg);
    make_utf8(par);
    snprintf(r->error_code, sizeof r->error_code, "%s", code);
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:s}}", "error", "message", msg, "type", error_type(status), "param",
                          par[0] ? json_string(par) : json_null(), "code", code);
    ft_reply_json(r, status, e);
}

void ft_reply_ft_error(ft_req *r, const ft_error *e, unsigned invalid_status)
{
    switch (e->code) {
    case FT_EINVAL:
        ft_reply_error(r, invalid_status, invalid_status == 409 ? "conflict" : "invalid_value", e->param, "%s", e->msg);
        return;
    case FT_EFORMAT:
        ft_reply_error(r, 400, "invalid_format", e->param, "%s", e->msg);
        return;
    case FT_ENOTFOUND:
        ft_reply_error(r, 404, "not_found", e->param, "%s", e->msg);
        return;
    case FT_ETOOBIG:
        ft_reply_error(r, 413, "too_large", e->param, "%s", e->msg);
        return;
    case FT_ENOSPC:
        ft_reply_error(r, 507, "insufficient_storage", NULL,
                       "the server's disk is full; nothing was stored. Retry once space is freed");
        break;
    default:
        /* Internal details (paths, SQLite messages) stay in the log. */
        ft_reply_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->id);
        break;
    }
    ft_http_log(r->http, "error", "request_id", r->id, "code", ft_errcode_name(e->code), "detail", e->msg, NULL);
}

void ft_reply_file(ft_req *r, const char *path, const char *content_type, const char *download_name)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        ft_reply_error(r, 404, "not_found", NULL, "the file is no longer available");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        ft_reply_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->id);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    if (download_name) {
        char disp[320];
        snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", download_name);
        MHD_add_response_header(resp, "Content-Disposition", disp);
    }
    ft_set_response(r, 200, resp);
}

void ft_run_handler(ft_req *r)
{
    r->route->handler(r->http->app, r);
    if (!r->resp)
        ft_reply_error(r, 500, "internal_error", NULL, "internal error (request %s): no response", r->id);
}
