/* Webhooks: signing (Standard Webhooks), the SSRF guard on target
 * addresses, and the dispatcher that delivers the store's outbox.
 *
 * Files:
 *   webhook_sign.c      secrets, HMAC-SHA256 signatures (nettle)
 *   webhook_target.c    URL checks and the address guard (private, loopback,
 *                       link-local... refused unless --webhook-allow-private)
 *   webhook_dispatch.c  the dispatcher thread: claim, POST (libcurl), record,
 *                       retry with exponential backoff
 *
 * The outbox itself is in the store (server/store/store_webhooks.c): a job's
 * event is queued in the transaction that ends the job.
 */
#ifndef FT_WEBHOOKS_H
#define FT_WEBHOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "core/util/error.h"
#include "server/app/app.h"

/* ---- signing (webhook_sign.c) ---- */

/* Room for a secret: "whsec_" + base64 of 32 bytes + NUL. */
#define FT_WEBHOOK_SECRET_MAX 64
/* Room for a webhook-signature value: "v1," + base64 of 32 bytes + NUL. */
#define FT_WEBHOOK_SIGNATURE_MAX 64

/* A new secret: "whsec_" and the base64 of 32 random bytes (getrandom). */
int ft_webhook_secret_new(char out[FT_WEBHOOK_SECRET_MAX], ft_error *err);
/* The webhook-signature header value "v1,<base64 HMAC-SHA256(key,
 * "{msg_id}.{timestamp}.{body}")>", where key is the base64-decoded part of
 * secret after "whsec_" (a secret without the prefix is decoded whole). */
int ft_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
                    char out[FT_WEBHOOK_SIGNATURE_MAX], ft_error *err);

/* ---- targets (webhook_target.c) ---- */

/* The event types an endpoint may subscribe to, NULL-terminated. */
extern const char *const ft_webhook_events[];

/* A target URL taken apart. */
typedef struct {
    char host[256];  /* host name or literal address, without IPv6 brackets */
    int port;        /* explicit, or the scheme's default */
} ft_webhook_url;

/* Parse url: http or https only, a host, no more than 2048 bytes.
 * FT_EINVAL naming param otherwise. */
int ft_webhook_url_parse(const char *url, const char *param, ft_webhook_url *u, ft_error *err);
/* Whether webhooks refuse this address by default: unspecified, loopback,
 * private (10/8, 172.16/12, 192.168/16, 100.64/10 shared), link-local
 * (169.254/16, fe80::/10), unique-local (fc00::/7), multicast, reserved
 * 240/4 and broadcast, and the same inside v4-mapped IPv6. *kind names
 * which ("loopback"). */
bool ft_webhook_addr_refused(const struct sockaddr *sa, const char **kind);
/* The registration check: url parses and, when its host is a literal
 * address, that address is allowed (unless allow_private). Host names are
 * judged at each delivery, where they are resolved. */
int ft_webhook_url_check(const char *url, const char *param, bool allow_private, ft_error *err);
/* Resolve u's host and pick the first allowed address (text form, IPv6 in
 * brackets, ready for CURLOPT_RESOLVE); FT_EINVAL saying why if none is. */
int ft_webhook_resolve(const ft_webhook_url *u, bool allow_private, char *addr, size_t n, ft_error *err);
/* Read {"url", "events"?, "description"?} from a request (param prefixes
 * the field names in errors, e.g. "webhook."): *events receives the
 * events, all of them by default (new reference). FT_EINVAL on a bad
 * field. */
int ft_webhook_fields(const json_t *body, const char *param, bool allow_private, json_t **events, ft_error *err);

/* ---- the dispatcher (webhook_dispatch.c) ---- */

typedef struct ft_webhooks ft_webhooks;

/* Start the dispatcher for app (any role): --webhook-senders threads that
 * each deliver due rows of the outbox one at a time, wake on the app's
 * change signal (a job ended here, or in another process through the
 * store's announcements) and poll at least every few seconds for retries
 * that fall due. */
ft_webhooks *ft_webhooks_start(ft_app *app, ft_error *err);
/* Stop and join it (NULL is fine); an attempt in flight is cut short and
 * stays pending, to be sent again. */
void ft_webhooks_stop(ft_webhooks *w);

#endif
