/* The input format of tests/fuzz/fuzz_http.c and the framing of its
 * requests: up to four requests separated by a line "%%", each written as
 * you would type it (LF or CRLF line ends):
 *     POST /v1/jobs?x=1
 *     Content-Type: application/json
 *
 *     {"dataset": "{ds}", ...}
 * frame() turns one into bytes for the wire: bytes in the target outside
 * 0x21-0x7e are percent-encoded, header lines that are not "name: value"
 * are dropped, Host, Connection: close and Content-Length (or, given
 * "Transfer-Encoding: chunked", chunks) are added, and Authorization:
 * Bearer with the configured key unless the input sends its own. An
 * input's own Content-Length is sent as is (the reply is then optional, as
 * it is for a request starting with "!", whose bytes are sent raw).
 * Included by fuzz_http.c only (fuzz.mk makes every fuzz_*.c a target). */
#ifndef FUZZ_HTTP_INPUT_H
#define FUZZ_HTTP_INPUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- growable byte buffer ---- */

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (!(b->p = realloc(b->p, cap)))
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- building requests ---- */

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

typedef struct {
    buf bytes;
    bool strict;         /* framed by us: a reply is owed */
    bool half_close;
    char method[40];
    char target[512];    /* for fixture bookkeeping (truncated) */
} request;

/* Frame one request written as text (see the top of this file); api_key
 * goes into the Authorization header unless the input sends its own. */
static void frame(const char *s, size_t n, const char *api_key, request *out)
{
    memset(out, 0, sizeof *out);
    if (n && s[0] == '!') { /* raw bytes */
        put(&out->bytes, s + 1, n - 1);
        out->half_close = true;
        snprintf(out->method, sizeof out->method, "RAW");
        return;
    }
    const char *end = s + n, *line = s;
    /* request line */
    const char *eol = memchr(line, '\n', n);
    if (!eol)
        eol = end;
    const char *p = line;
    size_t ml = 0;
    for (; p < eol && *p != ' ' && *p != '\r'; p++)
        if (tchar((unsigned char)*p) && ml + 1 < sizeof out->method)
            out->method[ml++] = *p;
    if (!ml)
        snprintf(out->method, sizeof out->method, "GET");
    while (p < eol && *p == ' ')
        p++;
    buf target = {0};
    for (; p < eol && *p != ' ' && !(*p == '\r' && p + 1 == eol); p++) {
        unsigned char c = (unsigned char)*p;
        if (c > 0x20 && c < 0x7f)
            put(&target, p, 1);
        else
            putf(&target, "%%%02X", c);
    }
    if (!target.len)
        puts_(&target, "/");
    snprintf(out->target, sizeof out->target, "%s", target.p);
    putf(&out->bytes, "%s ", out->method);
    put(&out->bytes, target.p, target.len);
    puts_(&out->bytes, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    free(target.p);
    /* headers */
    bool chunked = false, auth = false;
    const char *cl = NULL;
    size_t cl_len = 0;
    line = eol < end ? eol + 1 : end;
    int nheaders = 0;
    while (line < end) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        size_t len = (size_t)(eol - line);
        if (len && line[len - 1] == '\r')
            len--;
        const char *next = eol < end ? eol + 1 : end;
        if (len == 0) {
            line = next;
            break;
        }
        const char *colon = memchr(line, ':', len);
        size_t nl = colon ? (size_t)(colon - line) : 0;
        bool ok = nl > 0 && nheaders < 64;
        for (size_t i = 0; ok && i < nl; i++)
            ok = tchar((unsigned char)line[i]);
        if (ok) {
            const char *v = colon + 1, *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            if (nl == 14 && strncasecmp(line, "Content-Length", nl) == 0) {
                cl = v, cl_len = (size_t)(ve - v);
            } else if (nl == 17 && strncasecmp(line, "Transfer-Encoding", nl) == 0) {
                chunked = memmem(v, (size_t)(ve - v), "chunked", 7) != NULL;
            } else if (!(nl == 10 && strncasecmp(line, "Connection", nl) == 0) &&
                       !(nl == 4 && strncasecmp(line, "Host", nl) == 0)) {
                auth |= nl == 13 && strncasecmp(line, "Authorization", nl) == 0;
                put(&out->bytes, line, nl);
                puts_(&out->bytes, ": ");
                for (; v < ve; v++)
                    if ((unsigned char)*v >= 0x20 ? *v != 0x7f : *v == '\t')
                        put(&out->bytes, v, 1);
                puts_(&out->bytes, "\r\n");
                nheaders++;
            }
        }
        line = next;
    }
    if (!auth)
        putf(&out->bytes, "Authorization: Bearer %s\r\n", api_key);
    const char *body = line < end ? line : end;
    size_t body_len = (size_t)(end - body);
    out->strict = true;
    if (chunked) {
        /* Chunks of varied sizes, so bodies arrive in several upload calls. */
        static const size_t sizes[] = {1, 61, 4093, 17, 1000};
        puts_(&out->bytes, "Transfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0, i = 0; off < body_len; i++) {
            size_t k = sizes[i % 5] < body_len - off ? sizes[i % 5] : body_len - off;
            putf(&out->bytes, "%zx\r\n", k);
            put(&out->bytes, body + off, k);
            puts_(&out->bytes, "\r\n");
            off += k;
        }
        puts_(&out->bytes, "0\r\n\r\n");
        return;
    }
    if (cl) {
        /* The input's own length, true or not: the server may wait for more
         * body, so the write side is closed and a reply is optional. */
        puts_(&out->bytes, "Content-Length: ");
        for (size_t i = 0; i < cl_len; i++)
            if ((unsigned char)cl[i] >= 0x20 && cl[i] != 0x7f)
                put(&out->bytes, cl + i, 1);
        puts_(&out->bytes, "\r\n\r\n");
        put(&out->bytes, body, body_len);
        out->strict = false;
        out->half_close = true;
        return;
    }
    putf(&out->bytes, "Content-Length: %zu\r\n\r\n", body_len);
    put(&out->bytes, body, body_len);
}

#endif
