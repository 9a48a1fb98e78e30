/* Standard Webhooks signing: whsec_ secrets and v1 HMAC-SHA256 signatures,
 * with nettle's HMAC and base64 (nettle already hashes uploads) and the
 * kernel's randomness. */
#include "server/webhooks/webhooks.h"

#include <stdio.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>

#include "core/util/entropy.h"

#define SECRET_BYTES 32
#define SECRET_PREFIX "whsec_"

/* Forget a key: a plain memset before it goes out of scope may be elided. */
static void forget(unsigned char *key, size_t n)
{
    volatile unsigned char *p = key;
    while (n--)
        *p++ = 0;
}

int ft_webhook_secret_new(char out[FT_WEBHOOK_SECRET_MAX], ft_error *err)
{
    unsigned char key[SECRET_BYTES];
    if (ft_random_bytes(key, sizeof key, err) != 0)
        return -1;
    memcpy(out, SECRET_PREFIX, strlen(SECRET_PREFIX));
    /* 32 bytes are 44 base64 characters: 6 + 44 + NUL fits 64. */
    base64_encode_raw(out + strlen(SECRET_PREFIX), sizeof key, key);
    out[strlen(SECRET_PREFIX) + BASE64_ENCODE_RAW_LENGTH(sizeof key)] = '\0';
    forget(key, sizeof key);
    return 0;
}

/* Decode base64 text (with its padding) into out, which holds max bytes:
 * the number of bytes, or -1 if it is not base64 or too long. */
static int base64_decode(const char *text, unsigned char *out, size_t max)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || BASE64_DECODE_LENGTH(len) > max)
        return -1;
    struct base64_decode_ctx ctx;
    size_t n = max;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &n, out, len, text) || !base64_decode_final(&ctx))
        return -1;
    return (int)n;
}

int ft_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
                    char out[FT_WEBHOOK_SIGNATURE_MAX], ft_error *err)
{
    const char *b64 = strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0 ? secret + strlen(SECRET_PREFIX)
                                                                                  : secret;
    unsigned char key[FT_WEBHOOK_SECRET_MAX];
    int key_len = base64_decode(b64, key, 48);
    if (key_len <= 0)
        return ft_fail(err, FT_EINVAL, "secret", "a webhook secret must be whsec_ and base64 of at most 48 bytes");
    /* HMAC over "{id}.{timestamp}.{body}", fed in pieces: the body is
     * never copied. */
    char head[160];
    int head_len = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp);
    if (head_len <= 0 || (size_t)head_len >= sizeof head) {
        forget(key, sizeof key);
        return ft_fail(err, FT_EINVAL, "webhook-id", "a webhook-id must be under 128 characters");
    }
    struct hmac_sha256_ctx ctx;
    unsigned char mac[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, (size_t)key_len, key);
    hmac_sha256_update(&ctx, (size_t)head_len, (const uint8_t *)head);
    hmac_sha256_update(&ctx, body_len, (const uint8_t *)body);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    forget(key, sizeof key);
    forget((unsigned char *)&ctx, sizeof ctx);
    memcpy(out, "v1,", 3);
    base64_encode_raw(out + 3, sizeof mac, mac);
    out[3 + BASE64_ENCODE_RAW_LENGTH(sizeof mac)] = '\0';
    return 0;
}
