/* Who may make a request: the API key, CORS origins, and the browser
 * guards (the Host a request names, the Origin a state change comes from). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "server/http/http_internal.h"

void ft_http_key_digest(const char *s, uint8_t out[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, strlen(s), (const uint8_t *)s);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* The given key is hashed and its digest compared in constant time with the
 * key's (hashed once at start): the time depends on neither the key, nor its
 * length, nor where a guess differs. */
bool ft_http_authorized(ft_req *r)
{
    if (!r->http->cfg.api_key[0] || (r->route && (r->route->flags & (FT_ROUTE_OPEN | FT_ROUTE_PUBLIC))))
        return true;
    const char *auth = ft_req_header(r, "Authorization");
    /* The scheme name is case-insensitive (RFC 7235); the key is not. */
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    uint8_t given[SHA256_DIGEST_SIZE];
    ft_http_key_digest(auth + 7, given);
    return memeql_sec(given, r->http->key_digest, sizeof given);
}

/* Whether the comma-separated list has the item (spaces around items ignored). */
static bool list_has(const char *list, const char *item, size_t len, bool nocase)
{
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if (n == len && (nocase ? strncasecmp(p, item, n) : strncmp(p, item, n)) == 0)
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* The request's Origin if the configuration allows it, else NULL. */
const char *ft_http_cors_origin(ft_req *r)
{
    const char *cfg = r->http->cfg.cors_origins, *origin = ft_req_header(r, "Origin");
    if (!cfg[0] || !origin)
        return NULL;
    if (strcmp(cfg, "*") == 0)
        return "*";
    return list_has(cfg, origin, strlen(origin), false) ? origin : NULL;
}

bool ft_http_loopback(const char *host)
{
    struct in_addr v4;
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           (inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127);
}

static bool is_ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* DNS rebinding: without an API key, a web page on a name that its DNS
 * points at us could call the API as a local program would. Allowed Host
 * names: the listen address; the loopback names when listening on loopback
 * or on every address; any IP literal when listening on every address (a
 * page can reach an IP only under that IP's own origin); --allowed-hosts.
 * A port, if given, must be ours, except with --allowed-hosts names (a
 * proxy's). No Host at all is HTTP/1.0, not a browser. */
bool ft_http_host_allowed(ft_req *r)
{
    const ft_http_config *c = &r->http->cfg;
    const char *host = ft_req_header(r, "Host");
    if (c->api_key[0] || !host)
        return true;
    char name[256];
    const char *port;
    if (host[0] == '[') { /* [v6]:port */
        const char *end = strchr(host, ']');
        if (!end || (size_t)(end - host) > sizeof name)
            return false;
        snprintf(name, sizeof name, "%.*s", (int)(end - host - 1), host + 1);
        port = end[1] == ':' ? end + 2 : end[1] ? "" : NULL;
    } else {
        size_t n = strcspn(host, ":");
        if (n >= sizeof name)
            return false;
        snprintf(name, sizeof name, "%.*s", (int)n, host);
        port = host[n] ? host + n + 1 : NULL;
    }
    if (list_has(c->allowed_hosts, name, strlen(name), true))
        return true;
    char ours[16];
    snprintf(ours, sizeof ours, "%d", r->http->port);
    if (port && strcmp(port, ours) != 0)
        return false;
    bool any = strcmp(c->listen_host, "0.0.0.0") == 0 || strcmp(c->listen_host, "::") == 0;
    return strcasecmp(name, c->listen_host) == 0 ||
           ((any || ft_http_loopback(c->listen_host)) && ft_http_loopback(name)) ||
           (any && is_ip_literal(name));
}

/* A browser sends a form or text/plain POST cross-site without a preflight,
 * so a state-changing request from another origin than ours or an allowed
 * CORS origin is refused before it does anything. */
bool ft_http_origin_allowed(ft_req *r)
{
    const char *origin = ft_req_header(r, "Origin"), *host = ft_req_header(r, "Host");
    if (!origin || strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 ||
        strcmp(r->method, "OPTIONS") == 0 || ft_http_cors_origin(r))
        return true;
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                              : NULL;
    return rest && host && strcasecmp(rest, host) == 0;
}
