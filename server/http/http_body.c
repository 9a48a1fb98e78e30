/* Request bodies: JSON and raw bodies in memory up to a cap, uploads
 * streamed to temp files (multipart via libmicrohttpd's post processor, or
 * the raw body as one part), with 413 before reading when Content-Length
 * already says the body is too large or the route takes no body. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/util/fsutil.h"
#include "server/http/http_internal.h"

/* Media type without parameters, lower-cased into out. */
static void media_type(const char *ct, char *out, size_t n)
{
    size_t i = 0;
    for (; ct && ct[i] && ct[i] != ';' && i + 1 < n; i++)
        out[i] = (char)((ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] + 32 : ct[i]);
    while (i > 0 && out[i - 1] == ' ')
        i--;
    out[i] = '\0';
}

static bool is_json_type(const char *mt)
{
    size_t n = strlen(mt);
    return strcmp(mt, "application/json") == 0 || (n > 5 && strcmp(mt + n - 5, "+json") == 0);
}

/* Raw upload bodies we accept (curl --data-binary sends form-urlencoded). */
static bool is_upload_type(const char *mt)
{
    static const char *const ok[] = {"text/csv", "text/plain", "application/csv", "application/octet-stream",
                                     "application/x-tar", "application/zip", "application/x-zip-compressed",
                                     "application/gzip", "application/x-gzip",
                                     "application/x-compressed-tar", "application/safetensors",
                                     "application/x-safetensors", "application/vnd.safetensors", "application/onnx",
                                     "application/x-www-form-urlencoded", NULL};
    for (const char *const *t = ok; *t; t++)
        if (strcmp(mt, *t) == 0)
            return true;
    return false;
}

/* Open a new temp file for a part. */
static bool open_part(ft_req *r, const char *field, const char *filename, const char *ctype)
{
    if (r->nparts == FT_MAX_PARTS) {
        ft_reply_error(r, 400, "too_many_parts", NULL, "at most %d files per upload", FT_MAX_PARTS);
        return false;
    }
    ft_upload_part *p = &r->parts[r->nparts];
    memset(p, 0, sizeof *p);
    snprintf(p->field, sizeof p->field, "%s", field ? field : "");
    snprintf(p->filename, sizeof p->filename, "%s", filename ? filename : "");
    snprintf(p->content_type, sizeof p->content_type, "%s", ctype ? ctype : "");
    snprintf(p->path, sizeof p->path, "%s/upload.tmp.XXXXXX", r->http->cfg.tmp_dir);
    r->part_fd = mkostemp(p->path, O_CLOEXEC);
    if (r->part_fd < 0) {
        ft_error e = {0};
        ft_fail_errno(&e, errno, "cannot create", "an upload file");
        p->path[0] = '\0';
        ft_reply_ft_error(r, &e, 422);
        return false;
    }
    r->nparts++;
    return true;
}

static bool write_part(ft_req *r, const char *data, size_t len)
{
    ft_upload_part *p = &r->parts[r->nparts - 1];
    while (len > 0) {
        ssize_t n = write(r->part_fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ft_error e = {0};
            ft_fail_errno(&e, errno, "cannot write", "an upload file");
            ft_reply_ft_error(r, &e, 422);
            return false;
        }
        data += n;
        len -= (size_t)n;
        p->bytes += (uint64_t)n;
    }
    return true;
}

static void close_part(ft_req *r)
{
    if (r->part_fd >= 0)
        close(r->part_fd);
    r->part_fd = -1;
}

static enum MHD_Result on_post_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                     const char *content_type, const char *transfer_encoding, const char *data,
                                     uint64_t off, size_t size)
{
    (void)kind, (void)transfer_encoding;
    ft_req *r = cls;
    if (!key) /* a part without name= in its Content-Disposition */
        key = "";
    if (!filename) {
        /* A plain field (e.g. name=...) is held in memory: bounded in count
         * and size, past which the upload is refused rather than trimmed. */
        if (off == 0 && ++r->nfields > FT_MAX_FIELDS) {
            ft_reply_error(r, 413, "too_many_fields", key, "at most %d plain (non-file) form fields per upload",
                           FT_MAX_FIELDS);
            return MHD_NO;
        }
        if (off + size > FT_MAX_FIELD_BYTES) {
            ft_reply_error(r, 413, "field_too_large", key, "a plain (non-file) form field is longer than %d bytes",
                           FT_MAX_FIELD_BYTES);
            return MHD_NO;
        }
        if (!r->form)
            r->form = json_object();
        const char *old = json_string_value(json_object_get(r->form, key));
        size_t oldlen = old ? strlen(old) : 0;
        if (off != oldlen) /* a repeated name: the first value stays */
            return MHD_YES;
        char *v = malloc(oldlen + size + 1);
        if (!v)
            return MHD_NO;
        memcpy(v, old ? old : "", oldlen);
        memcpy(v + oldlen, data, size);
        v[oldlen + size] = '\0';
        json_t *val = json_stringn(v, oldlen + size); /* NULL if not UTF-8: dropped */
        if (val)
            json_object_set_new(r->form, key, val);
        free(v);
        return MHD_YES;
    }
    ft_upload_part *cur = r->nparts ? &r->parts[r->nparts - 1] : NULL;
    bool new_part = off == 0 && (r->part_fd < 0 || !cur || strcmp(cur->field, key) != 0 ||
                                 strcmp(cur->filename, filename) != 0 || cur->bytes > 0);
    if (new_part) {
        close_part(r);
        if (!open_part(r, key, filename, content_type))
            return MHD_NO;
    }
    if (size && !write_part(r, data, size))
        return MHD_NO;
    return MHD_YES;
}

bool ft_body_begin(ft_req *r)
{
    const ft_http_config *c = &r->http->cfg;
    ft_body_kind kind = r->route->body;
    const char *ct = ft_req_header(r, "Content-Type");
    const char *cl = ft_req_header(r, "Content-Length");
    char mt[128];
    media_type(ct, mt, sizeof mt);
    r->limit = kind == FT_BODY_UPLOAD ? c->max_upload_bytes : c->max_json_bytes;
    if (kind == FT_BODY_NONE && r->has_body) {
        ft_reply_error(r, 413, "body_not_allowed", NULL, "%s %s takes no request body", r->method,
                       r->route->pattern);
        return false;
    }
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && *end == '\0' && n > r->limit) {
            ft_reply_error(r, 413, "request_too_large", NULL, "the body is %llu bytes; the limit is %zu", n,
                           r->limit);
            return false;
        }
    }
    switch (kind) {
    case FT_BODY_NONE:
    case FT_BODY_RAW:
        return true;
    case FT_BODY_JSON:
        if (ct && !is_json_type(mt)) {
            ft_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                           "send JSON with Content-Type: application/json (got %s)", mt);
            return false;
        }
        return true;
    case FT_BODY_UPLOAD:
        if (strcmp(mt, "multipart/form-data") == 0) {
            r->post = MHD_create_post_processor(r->conn, 64 * 1024, on_post_field, r);
            if (!r->post) {
                ft_reply_error(r, 400, "invalid_multipart", "Content-Type",
                               "multipart/form-data needs a boundary parameter");
                return false;
            }
            return true;
        }
        if (ct && !is_upload_type(mt)) {
            ft_reply_error(r, 415, "unsupported_media_type", "Content-Type",
                           "upload the file as multipart/form-data (curl -F file=@data.csv) or as a raw body "
                           "(text/csv, application/octet-stream, application/gzip, application/x-tar); got %s",
                           mt);
            return false;
        }
        return open_part(r, "", "", mt[0] ? mt : "application/octet-stream");
    }
    return true;
}

bool ft_body_feed(ft_req *r, const char *data, size_t len)
{
    r->received += len;
    if (r->received > r->limit) {
        ft_reply_error(r, 413, "request_too_large", NULL, "the body is larger than the %zu-byte limit", r->limit);
        return false;
    }
    switch (r->route->body) {
    case FT_BODY_NONE:
        return true;
    case FT_BODY_JSON:
    case FT_BODY_RAW:
        if (r->body_len + len + 1 > r->body_cap) {
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + len + 1)
                cap *= 2;
            char *b = realloc(r->body, cap);
            if (!b) {
                ft_reply_error(r, 503, "out_of_memory", NULL, "the server is out of memory");
                return false;
            }
            r->body = b;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
        r->body[r->body_len] = '\0';
        return true;
    case FT_BODY_UPLOAD:
        if (r->post) {
            if (MHD_post_process(r->post, data, len) != MHD_YES) {
                if (!r->resp)
                    ft_reply_error(r, 400, "invalid_multipart", NULL, "the multipart body is malformed");
                return false;
            }
            return true;
        }
        return write_part(r, data, len);
    }
    return true;
}

bool ft_body_end(ft_req *r)
{
    if (r->route->body == FT_BODY_UPLOAD) {
        if (r->post && MHD_destroy_post_processor(r->post) != MHD_YES) {
            r->post = NULL;
            ft_reply_error(r, 400, "invalid_multipart", NULL,
                           "the multipart body is malformed or truncated (check the boundary)");
            return false;
        }
        r->post = NULL;
        close_part(r);
        if (r->nparts == 0) {
            ft_reply_error(r, 400, "missing_file", "file",
                           "no file in the upload: send it as multipart (curl -F file=@data.csv) or as a raw body");
            return false;
        }
        /* Two files under one name: taking either would silently drop the other. */
        for (size_t i = 0; i < r->nparts; i++)
            for (size_t j = i + 1; j < r->nparts; j++)
                if (strcmp(r->parts[i].field, r->parts[j].field) == 0) {
                    ft_reply_error(r, 400, "invalid_multipart", r->parts[i].field,
                                   "the upload has two file parts named '%s': send each file once",
                                   r->parts[i].field);
                    return false;
                }
        return true;
    }
    if (r->route->body != FT_BODY_JSON)
        return true;
    if (r->body_len == 0) {
        ft_reply_error(r, 400, "missing_body", NULL, "the request needs a JSON body");
        return false;
    }
    json_error_t jerr;
    /* Any JSON value parses (RFC 8259); a handler rejects a non-object with 422. */
    r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!r->json) {
        ft_reply_error(r, 400, "invalid_json", NULL, "the body is not valid JSON: %s (line %d, column %d)", jerr.text,
                       jerr.line, jerr.column);
        return false;
    }
    return true;
}

void ft_body_free(ft_req *r)
{
    if (r->post)
        MHD_destroy_post_processor(r->post);
    r->post = NULL;
    close_part(r);
    for (size_t i = 0; i < r->nparts; i++)
        if (!r->keep[i] && r->parts[i].path[0])
            unlink(r->parts[i].path);
    json_decref(r->json);
    json_decref(r->form);
    free(r->body);
}
