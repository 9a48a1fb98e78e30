/* Webhook signing and targets (server/webhooks): the Standard Webhooks
 * signature against the specification's own example (recomputed with
 * Python's hmac: see the comment on it), secrets, the SSRF address table
 * and the request fields. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <nettle/base64.h>

#include "server/webhooks/webhooks.h"
#include "tests/unit/test.h"

/* The example of the Standard Webhooks specification (and its reference
 * libraries' tests); the expected value is also what
 *   python3 -c 'import hmac, hashlib, base64; print(base64.b64encode(hmac.new(
 *     base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
 *     b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}", hashlib.sha256).digest()))'
 * prints. */
static void test_signature_matches_the_spec_example(void)
{
    const char *body = "{\"test\": 2432232314}";
    char sig[FT_WEBHOOK_SIGNATURE_MAX];
    ft_error err = {0};
    CHECK(ft_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                          strlen(body), sig, &err) == 0);
    CHECKF(strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == 0, "%s", sig);
    /* Without the prefix the same key; any change to id, time or body
     * changes the signature. */
    char other[FT_WEBHOOK_SIGNATURE_MAX];
    CHECK(ft_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                          strlen(body), other, &err) == 0 && strcmp(sig, other) == 0);
    CHECK(ft_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                          strlen(body), other, &err) == 0 && strcmp(sig, other) != 0);
    CHECK(ft_webhook_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                          strlen(body) - 1, other, &err) == 0 && strcmp(sig, other) != 0);
}

static void test_bad_secrets_are_refused(void)
{
    char sig[FT_WEBHOOK_SIGNATURE_MAX];
    /* Empty, not base64, and a key longer than any secret we make. */
    const char *bad[] = {"whsec_", "whsec_abc", "whsec_!!!!",
                         "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ft_error err = {0};
        CHECKF(ft_webhook_sign(bad[i], "msg_1", 1, "{}", 2, sig, &err) == -1 && err.code == FT_EINVAL, "%s", bad[i]);
    }
}

static void test_secrets_are_random_32_bytes(void)
{
    char a[FT_WEBHOOK_SECRET_MAX], b[FT_WEBHOOK_SECRET_MAX];
    ft_error err = {0};
    CHECK(ft_webhook_secret_new(a, &err) == 0 && ft_webhook_secret_new(b, &err) == 0);
    CHECK(strncmp(a, "whsec_", 6) == 0 && strlen(a) == 6 + 44 && strcmp(a, b) != 0);
    uint8_t key[48];
    size_t n = sizeof key;
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    CHECK(base64_decode_update(&ctx, &n, key, 44, a + 6) && base64_decode_final(&ctx) && n == 32);
}

/* Whether text (an IPv4 or IPv6 address) is refused, and as what. */
static const char *refused_as(const char *text)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    const char *kind = NULL;
    return ft_webhook_addr_refused((struct sockaddr *)&ss, &kind) ? kind : "allowed";
}

static void test_address_table(void)
{
    static const struct {
        const char *addr, *kind;
    } cases[] = {
        {"127.0.0.1", "loopback"},       {"127.255.0.9", "loopback"},   {"0.0.0.0", "unspecified"},
        {"10.0.0.1", "private"},         {"172.16.0.1", "private"},     {"172.31.255.255", "private"},
        {"172.32.0.1", "allowed"},       {"192.168.1.1", "private"},    {"100.64.0.1", "private"},
        {"100.63.255.255", "allowed"},   {"169.254.169.254", "link-local"}, {"224.0.0.1", "multicast"},
        {"255.255.255.255", "reserved"}, {"8.8.8.8", "allowed"},        {"93.184.216.34", "allowed"},
        {"::1", "loopback"},             {"::", "unspecified"},         {"fe80::1", "link-local"},
        {"febf::1", "link-local"},       {"fc00::1", "unique-local"},   {"fd12:3456::1", "unique-local"},
        {"ff02::1", "multicast"},        {"2606:4700::1111", "allowed"}, {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:169.254.169.254", "link-local"}, {"::ffff:10.1.2.3", "private"}, {"::ffff:8.8.8.8", "allowed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = refused_as(cases[i].addr);
        CHECKF(strcmp(got, cases[i].kind) == 0, "%s: %s, expected %s", cases[i].addr, got, cases[i].kind);
    }
}

static void test_urls(void)
{
    ft_webhook_url u;
    ft_error err = {0};
    CHECK(ft_webhook_url_parse("https://hooks.example.com/x?y=1", "url", &u, &err) == 0 &&
          strcmp(u.host, "hooks.example.com") == 0 && u.port == 443);
    CHECK(ft_webhook_url_parse("http://[2606:4700::1111]:8081/", "url", &u, &err) == 0 &&
          strcmp(u.host, "2606:4700::1111") == 0 && u.port == 8081);
    const char *bad[] = {"ftp://example.com/", "file:///etc/passwd", "gopher://x", "example.com/hook", "http://", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (ft_error){0};
        CHECKF(ft_webhook_url_parse(bad[i], "webhook.url", &u, &err) == -1 && err.code == FT_EINVAL &&
               strcmp(err.param, "webhook.url") == 0, "%s", bad[i]);
    }
    /* Literal addresses are judged at once, names at delivery. */
    CHECK(ft_webhook_url_check("http://169.254.169.254/latest", "url", false, &err) == -1 &&
          strstr(err.msg, "link-local") && strstr(err.msg, "--webhook-allow-private"));
    CHECK(ft_webhook_url_check("http://[::1]:9/", "url", false, &err) == -1 && strstr(err.msg, "loopback"));
    CHECK(ft_webhook_url_check("http://[::1]:9/", "url", true, &err) == 0);
    /* Other spellings of loopback are the same address. */
    const char *loopbacks[] = {"http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://[::ffff:7f00:1]/",
                               "http://[0:0:0:0:0:0:0:1]/"};
    for (size_t i = 0; i < sizeof loopbacks / sizeof loopbacks[0]; i++)
        CHECKF(ft_webhook_url_check(loopbacks[i], "url", false, &err) == -1 && strstr(err.msg, "loopback"), "%s: %s",
               loopbacks[i], err.msg);
    CHECK(ft_webhook_url_check("http://8.8.8.8/", "url", false, &err) == 0);
    CHECK(ft_webhook_url_check("https://hooks.example.com/", "url", false, &err) == 0);
    /* localhost resolves to loopback: refused then, and pinned otherwise. */
    u = (ft_webhook_url){.host = "localhost", .port = 80};
    char addr[64];
    CHECK(ft_webhook_resolve(&u, false, addr, sizeof addr, &err) == -1 && strstr(err.msg, "localhost resolves to"));
    CHECK(ft_webhook_resolve(&u, true, addr, sizeof addr, &err) == 0 &&
          (strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "[::1]") == 0));
}

static void test_request_fields(void)
{
    json_t *events = NULL;
    ft_error err = {0};
    json_t *body = json_pack("{ss}", "url", "https://example.com/h");
    CHECK(ft_webhook_fields(body, "", false, &events, &err) == 0 && json_array_size(events) == 4);
    json_decref(events);
    json_object_set_new(body, "events", json_pack("[ss]", "job.failed", "job.cancelled"));
    CHECK(ft_webhook_fields(body, "webhook.", false, &events, &err) == 0 && json_array_size(events) == 2 &&
          strcmp(json_string_value(json_array_get(events, 1)), "job.cancelled") == 0);
    json_decref(events);
    static const char *const bad[][2] = {{"{\"url\": \"https://e.com\", \"events\": []}", "webhook.events"},
                                         {"{\"url\": \"https://e.com\", \"events\": [\"job.x\"]}", "webhook.events"},
                                         {"{\"url\": \"https://e.com\", \"events\": [1]}", "webhook.events"},
                                         {"{\"url\": \"https://e.com\", \"events\": [\"job.failed\", \"job.failed\"]}",
                                          "webhook.events"},
                                         {"{\"url\": \"https://e.com\", \"secret\": \"x\"}", "webhook.secret"},
                                         {"{\"url\": \"https://e.com\", \"description\": 1}", "webhook.description"},
                                         {"{\"events\": [\"job.failed\"]}", "webhook.url"},
                                         {"{\"url\": \"http://10.0.0.1/\"}", "webhook.url"},
                                         {"[]", "webhook"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i][0], 0, NULL);
        err = (ft_error){0};
        CHECKF(ft_webhook_fields(b, "webhook.", false, &events, &err) == -1 && events == NULL &&
               err.code == FT_EINVAL && strcmp(err.param, bad[i][1]) == 0, "%s: %s (%s)", bad[i][0], err.param,
               err.msg);
        json_decref(b);
    }
    json_decref(body);
}

int main(void)
{
    RUN(test_signature_matches_the_spec_example);
    RUN(test_bad_secrets_are_refused);
    RUN(test_secrets_are_random_32_bytes);
    RUN(test_address_table);
    RUN(test_urls);
    RUN(test_request_fields);
    return TEST_SUMMARY();
}
