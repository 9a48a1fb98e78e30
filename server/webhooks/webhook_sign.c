/* Standard Webhooks signing: whsec_ secrets and v1 HMAC-SHA256 signatures,
 * with OpenSSL's libcrypto for the randomness, the MAC and base64. */
#include "server/webhooks/webhooks.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SECRET_BYTES 32
#define SECRET_PREFIX "whsec_"

int ft_webhook_secret_new(char out[FT_WEBHOOK_SECRET_MAX], ft_error *err)
{
    unsigned char key[SECRET_BYTES];
    if (RAND_bytes(key, sizeof key) != 1)
        return ft_fail(err, FT_EIO, NULL, "cannot draw random bytes for a webhook secret");
    memcpy(out, SECRET_PREFIX, strlen(SECRET_PREFIX));
    /* 32 bytes are 44 base64 characters: 6 + 44 + NUL fits 64. */
    EVP_EncodeBlock((unsigned char *)out + strlen(SECRET_PREFIX), key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}

/* Decode base64 text into out (at least 3/4 of its length): the number of
 * bytes, or -1 if it is not base64. */
static int base64_decode(const char *text, unsigned char *out)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || len > INT32_MAX)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    /* EVP_DecodeBlock counts the padding's zero bytes. */
    for (size_t i = len; n > 0 && i > 0 && text[i - 1] == '='; i--)
        n--;
    return n;
}

int ft_webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
                    char out[FT_WEBHOOK_SIGNATURE_MAX], ft_error *err)
{
    const char *b64 = strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0 ? secret + strlen(SECRET_PREFIX)
                                                                                  : secret;
    unsigned char key[FT_WEBHOOK_SECRET_MAX];
    int key_len = strlen(b64) < sizeof key ? base64_decode(b64, key) : -1;
    if (key_len <= 0)
        return ft_fail(err, FT_EINVAL, "secret", "a webhook secret must be whsec_ and base64 of at most 48 bytes");
    /* HMAC over "{id}.{timestamp}.{body}", fed in pieces: the body is
     * never copied. */
    char head[160];
    int head_len = snprintf(head, sizeof head, "%s.%lld.", msg_id, (long long)timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    bool ok = head_len > 0 && (size_t)head_len < sizeof head;
    EVP_MAC *m = ok ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    ok = ctx && EVP_MAC_init(ctx, key, (size_t)key_len, params) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)head_len) == 1 &&
         EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
         EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    OPENSSL_cleanse(key, sizeof key);
    if (!ok)
        return ft_fail(err, FT_EIO, NULL, "cannot compute a webhook signature (HMAC-SHA256)");
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
    return 0;
}
