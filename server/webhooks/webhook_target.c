/* Where webhooks may go: the URL rules, the event names, and the guard
 * against server-side request forgery. A webhook URL is chosen by an API
 * client, so without the guard the service would POST, from inside its
 * network, to its own loopback services, the cloud metadata address
 * (169.254.169.254) or private hosts. The address is checked after
 * resolution, and the dispatcher connects to exactly that address
 * (CURLOPT_RESOLVE), so a name that resolves differently the second time
 * (DNS rebinding) cannot slip past. */
#include "server/webhooks/webhooks.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define URL_MAX 2048

const char *const ft_webhook_events[] = {"job.succeeded", "job.failed", "job.cancelled", "sweep.completed", NULL};

int ft_webhook_url_parse(const char *url, const char *param, ft_webhook_url *u, ft_error *err)
{
    memset(u, 0, sizeof *u);
    if (!url || strlen(url) > URL_MAX)
        return ft_fail(err, FT_EINVAL, param, "url must be an http or https URL of at most %d bytes", URL_MAX);
    CURLU *h = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = h ? 0 : ft_fail(err, FT_ENOMEM, NULL, "out of memory parsing a URL");
    if (rc == 0 && (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK ||
                    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
                    curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
                    curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK))
        rc = ft_fail(err, FT_EINVAL, param, "url '%s' is not a valid absolute URL", url);
    if (rc == 0 && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        rc = ft_fail(err, FT_EINVAL, param, "url must use http or https, not %s", scheme);
    size_t len = host ? strlen(host) : 0;
    if (rc == 0 && (len == 0 || len >= sizeof u->host + 2))
        rc = ft_fail(err, FT_EINVAL, param, "url '%s' has no usable host", url);
    if (rc == 0) {
        bool bracketed = host[0] == '[' && host[len - 1] == ']';
        snprintf(u->host, sizeof u->host, "%.*s", (int)(bracketed ? len - 2 : len), host + bracketed);
        u->port = atoi(port);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(h);
    return rc;
}

/* The refused IPv4 ranges, host byte order. */
static const char *v4_refused(uint32_t a)
{
    static const struct {
        uint32_t net, mask;
        const char *kind;
    } ranges[] = {
        {0x00000000, 0xff000000, "unspecified"},  /* 0/8 */
        {0x7f000000, 0xff000000, "loopback"},     /* 127/8 */
        {0x0a000000, 0xff000000, "private"},      /* 10/8 */
        {0xac100000, 0xfff00000, "private"},      /* 172.16/12 */
        {0xc0a80000, 0xffff0000, "private"},      /* 192.168/16 */
        {0x64400000, 0xffc00000, "private"},      /* 100.64/10, carrier-grade NAT */
        {0xa9fe0000, 0xffff0000, "link-local"},   /* 169.254/16, cloud metadata */
        {0xe0000000, 0xf0000000, "multicast"},    /* 224/4 */
        {0xf0000000, 0xf0000000, "reserved"},     /* 240/4 and broadcast */
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((a & ranges[i].mask) == ranges[i].net)
            return ranges[i].kind;
    return NULL;
}

bool ft_webhook_addr_refused(const struct sockaddr *sa, const char **kind)
{
    const char *k = NULL;
    if (sa->sa_family == AF_INET)
        k = v4_refused(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        const uint8_t *b = a->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a))
            k = v4_refused((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
        if (IN6_IS_ADDR_UNSPECIFIED(a))
            k = "unspecified";
        else if (IN6_IS_ADDR_LOOPBACK(a))
            k = "loopback";
        else if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
            k = "link-local";
        else if ((b[0] & 0xfe) == 0xfc)
            k = "unique-local";
        else if (b[0] == 0xff)
            k = "multicast";
    } else
        k = "not an IP address";
    if (kind)
        *kind = k;
    return k != NULL;
}

/* Text form of an address for CURLOPT_RESOLVE (IPv6 in brackets). */
static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "";
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
        snprintf(out, n, "[%s]", ip);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s", ip);
    }
}

/* Resolve host (numeric only if `numeric`): 1 with the first allowed
 * address in addr, 0 if host is not numeric and numeric was asked,
 * -1 with the reason. */
static int resolve(const char *host, bool numeric, bool allow_private, const char *param, char *addr, size_t n,
                   ft_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = numeric ? AI_NUMERICHOST : AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        if (numeric && gai == EAI_NONAME)
            return 0;
        return ft_fail(err, FT_EINVAL, param, "cannot resolve %s: %s", host, gai_strerror(gai));
    }
    const char *kind = NULL;
    char first[INET6_ADDRSTRLEN + 2] = "";
    int rc = -1;
    for (struct addrinfo *ai = res; ai && rc < 0; ai = ai->ai_next) {
        const char *k;
        bool refused = ft_webhook_addr_refused(ai->ai_addr, &k) && !allow_private;
        if (!first[0])
            addr_text(ai->ai_addr, first, sizeof first), kind = k;
        if (!refused) {
            addr_text(ai->ai_addr, addr, n);
            rc = 1;
        }
    }
    freeaddrinfo(res);
    if (rc < 0)
        ft_fail(err, FT_EINVAL, param,
                "refused: %s%s%s is a %s address (webhooks may not reach private, loopback or link-local networks "
                "unless the server runs with --webhook-allow-private)",
                numeric ? "" : host, numeric ? "" : " resolves to ", numeric ? host : first, kind ? kind : "refused");
    return rc;
}

int ft_webhook_url_check(const char *url, const char *param, bool allow_private, ft_error *err)
{
    ft_webhook_url u;
    char addr[INET6_ADDRSTRLEN + 2];
    if (ft_webhook_url_parse(url, param, &u, err) != 0)
        return -1;
    return resolve(u.host, true, allow_private, param, addr, sizeof addr, err) < 0 ? -1 : 0;
}

int ft_webhook_resolve(const ft_webhook_url *u, bool allow_private, char *addr, size_t n, ft_error *err)
{
    return resolve(u->host, false, allow_private, "url", addr, n, err) == 1 ? 0 : -1;
}

/* The events array of a request: every known type, at least one, none
 * twice; all of them when absent. */
static json_t *event_list(const json_t *v, const char *param, ft_error *err)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    if (!v) {
        for (size_t k = 0; out && ft_webhook_events[k]; k++)
            json_array_append_new(out, json_string(ft_webhook_events[k]));
        return out;
    }
    if (!json_is_array(v) || json_array_size(v) == 0) {
        json_decref(out);
        ft_fail(err, FT_EINVAL, param, "events must be a non-empty array of event types");
        return NULL;
    }
    json_array_foreach(v, i, e) {
        bool known = false;
        for (size_t k = 0; ft_webhook_events[k] && json_is_string(e); k++)
            known |= strcmp(json_string_value(e), ft_webhook_events[k]) == 0;
        bool twice = false;
        for (size_t j = 0; j < i && known; j++)
            twice |= json_equal(json_array_get(v, j), e);
        if (!known || twice) {
            json_decref(out);
            ft_fail(err, FT_EINVAL, param, "events[%zu] %s (expected job.succeeded, job.failed, job.cancelled or "
                    "sweep.completed, each once)", i, known ? "is repeated" : "is not an event type");
            return NULL;
        }
        json_array_append(out, e);
    }
    return out;
}

int ft_webhook_fields(const json_t *body, const char *param, bool allow_private, json_t **events, ft_error *err)
{
    char name[64];
    *events = NULL;
    if (!json_is_object(body))
        return ft_fail(err, FT_EINVAL, param[0] ? "webhook" : "", "a webhook must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
        if (strcmp(key, "url") != 0 && strcmp(key, "events") != 0 && strcmp(key, "description") != 0) {
            snprintf(name, sizeof name, "%s%s", param, key);
            return ft_fail(err, FT_EINVAL, name, "unknown field %s (expected url, events, description)", name);
        }
    snprintf(name, sizeof name, "%sdescription", param);
    v = json_object_get(body, "description");
    if (v && !json_is_null(v) && (!json_is_string(v) || strlen(json_string_value(v)) > 512))
        return ft_fail(err, FT_EINVAL, name, "description must be a string of at most 512 bytes");
    snprintf(name, sizeof name, "%surl", param);
    v = json_object_get(body, "url");
    if (!json_is_string(v))
        return ft_fail(err, FT_EINVAL, name, "url is required: the http or https address to POST events to");
    if (ft_webhook_url_check(json_string_value(v), name, allow_private, err) != 0)
        return -1;
    snprintf(name, sizeof name, "%sevents", param);
    *events = event_list(json_object_get(body, "events"), name, err);
    return *events ? 0 : -1;
}
