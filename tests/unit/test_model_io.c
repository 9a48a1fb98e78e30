/* Model files: round trip, and a corpus of malformed files that must be
 * rejected with an error (never a crash). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/nn/model.h"
#include "core/util/safetensors.h"
#include "tests/unit/test.h"

static const char *ARCH =
    "{\"input\": [1, 6, 6], \"layers\": ["
    "{\"name\": \"conv1\", \"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"padding\": 1, \"activation\": \"relu\"},"
    "{\"type\": \"maxpool2d\", \"size\": 2}, {\"type\": \"flatten\"},"
    "{\"name\": \"fc\", \"type\": \"dense\", \"units\": 3, \"activation\": \"leaky_relu\", \"negative_slope\": 0.2},"
    "{\"type\": \"dropout\", \"rate\": 0.25},"
    "{\"name\": \"out\", \"type\": \"dense\", \"units\": 2, \"activation\": \"softmax\"}]}";

static ft_model *sample_model(void)
{
    json_t *j = json_loads(ARCH, 0, NULL);
    ft_error err = {0};
    ft_model *m = ft_model_from_json(j, "architecture", &err);
    json_decref(j);
    ft_rng rng;
    ft_rng_seed(&rng, 1);
    ft_model_init(m, 0, FT_INIT_HE_NORMAL, 0, &rng);
    json_t *classes = json_pack("[s,s]", "cat", "dog");
    json_t *pp = json_pack("{s:f}", "scale", 1.0 / 255);
    ft_model_set_classes(m, classes, &err);
    ft_model_set_preprocessing(m, pp, &err);
    ft_model_set_meta(m, "job", "job_123", &err);
    ft_model_set_first_trainable(m, 3);
    json_decref(classes);
    json_decref(pp);
    return m;
}

static void test_round_trip(void)
{
    ft_model *m = sample_model();
    ft_error err = {0};
    unsigned char *buf;
    size_t len;
    CHECK(ft_model_save_mem(m, &buf, &len, &err) == 0);
    uint64_t hlen = 0;
    memcpy(&hlen, buf, 8);
    CHECK(hlen % 8 == 0); /* header padded to a multiple of 8 */
    ft_model *back = ft_model_load_mem(buf, len, &err);
    CHECKF(back != NULL, "%s", err.msg);
    if (back) {
        CHECK(ft_model_num_params(back) == ft_model_num_params(m));
        CHECK(memcmp(ft_model_params(back), ft_model_params(m), ft_model_num_params(m) * sizeof(float)) == 0);
        CHECK(ft_model_first_trainable(back) == 3);
        CHECK(json_equal((json_t *)ft_model_classes(back), (json_t *)ft_model_classes(m)));
        CHECK(strcmp(ft_model_meta(back, "job"), "job_123") == 0);
        json_t *a = ft_model_arch_json(m), *b = ft_model_arch_json(back);
        CHECK(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        /* saving again gives the same bytes */
        unsigned char *buf2;
        size_t len2;
        CHECK(ft_model_save_mem(back, &buf2, &len2, &err) == 0);
        CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
        free(buf2);
        ft_model_free(back);
    }
    /* tensor layout follows PyTorch */
    ft_st_file *f = ft_st_open_mem(buf, len, &err);
    const ft_st_tensor *w = ft_st_find(f, "conv1.weight");
    CHECK(w && w->rank == 4 && w->shape[0] == 2 && w->shape[1] == 1 && w->shape[2] == 3 && w->shape[3] == 3);
    const ft_st_tensor *fc = ft_st_find(f, "fc.weight");
    CHECK(fc && fc->rank == 2 && fc->shape[0] == 3 && fc->shape[1] == 18);
    ft_st_close(f);
    /* through a file too */
    char path[] = "/tmp/ft_test_model_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK(ft_model_save(m, path, &err) == 0);
    ft_model *fromfile = ft_model_load(path, &err);
    CHECK(fromfile != NULL);
    ft_model_free(fromfile);
    unlink(path);
    free(buf);
    ft_model_free(m);
}

/* Write a safetensors image by hand: header text + data bytes. */
static unsigned char *image(const char *header, size_t data_len, size_t *len)
{
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    unsigned char *b = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

static void expect_reject(const char *what, const unsigned char *buf, size_t len, const char *needle)
{
    ft_error err = {0};
    ft_model *m = ft_model_load_mem(buf, len, &err);
    CHECKF(m == NULL, "%s was accepted", what);
    CHECKF(err.msg[0] != '\0', "%s: no message", what);
    CHECKF(!needle || strstr(err.msg, needle), "%s: message '%s' lacks '%s'", what, err.msg, needle);
    ft_model_free(m);
}

static void test_malformed_corpus(void)
{
    size_t len;
    unsigned char *b;
    unsigned char tiny[4] = {1, 2, 3, 4};
    expect_reject("4-byte file", tiny, sizeof tiny, "too short");
    unsigned char huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    expect_reject("header length 2^63", huge, sizeof huge, "exceeds");
    unsigned char past[16] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    expect_reject("header past the end", past, sizeof past, "past the end");
#define REJECT(what, hdr, data, needle)       \
    b = image(hdr, data, &len);                 \
    expect_reject(what, b, len, needle);        \
    free(b)
    REJECT("not JSON", "{\"a\": ", 0, "not valid JSON");
    REJECT("array header", "[1,2]   ", 0, "does not start");
    REJECT("duplicate keys", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not valid JSON");
    REJECT("unknown dtype", "{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    REJECT("extra field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "exactly");
    REJECT("shape/offset mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8 bytes");
    REJECT("negative dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "not a size");
    REJECT("overflowing shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "overflows");
    REJECT("offsets reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "bad data_offsets");
    REJECT("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "gap");
    REJECT("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap");
    REJECT("trailing bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "data buffer holds 12");
    REJECT("short data", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "data buffer holds 8");
    REJECT("metadata not strings", "{\"__metadata__\":{\"format\":1}}", 0, "not a string");
    REJECT("no format", "{\"__metadata__\":{\"x\":\"y\"}}", 0, "not a finetuned model");
    REJECT("bad architecture", "{\"__metadata__\":{\"format\":\"finetuned.model.v1\",\"architecture\":\"{\\\"input\\\":[3]}\"}}", 0, "invalid architecture");
    REJECT("missing weights", "{\"__metadata__\":{\"format\":\"finetuned.model.v1\",\"architecture\":\"{\\\"input\\\":[3],\\\"layers\\\":[{\\\"type\\\":\\\"dense\\\",\\\"units\\\":2}]}\"}}", 0, "missing tensor");
    REJECT("wrong weight shape",
           "{\"__metadata__\":{\"format\":\"finetuned.model.v1\",\"architecture\":\"{\\\"input\\\":[3],\\\"layers\\\":[{\\\"name\\\":\\\"d\\\",\\\"type\\\":\\\"dense\\\",\\\"units\\\":2}]}\"},"
           "\"d.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},\"d.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}",
           32, "expected F32 [2,3]");
    REJECT("extra tensor",
           "{\"__metadata__\":{\"format\":\"finetuned.model.v1\",\"architecture\":\"{\\\"input\\\":[3],\\\"layers\\\":[{\\\"name\\\":\\\"d\\\",\\\"type\\\":\\\"dense\\\",\\\"units\\\":1}]}\"},"
           "\"d.weight\":{\"dtype\":\"F32\",\"shape\":[1,3],\"data_offsets\":[0,12]},\"d.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
           "\"z\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[16,24]}}",
           24, "holds 3 tensors");
    /* NaN weights */
    b = image("{\"__metadata__\":{\"format\":\"finetuned.model.v1\",\"architecture\":\"{\\\"input\\\":[1],\\\"layers\\\":[{\\\"name\\\":\\\"d\\\",\\\"type\\\":\\\"dense\\\",\\\"units\\\":1}]}\"},"
              "\"d.weight\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},\"d.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}} ",
              8, &len);
    float nan = NAN;
    memcpy(b + len - 8, &nan, 4);
    expect_reject("NaN weight", b, len, "not a finite number");
    free(b);
#undef REJECT
}

/* Truncating a valid file at every length must never crash or succeed. */
static void test_truncations(void)
{
    ft_model *m = sample_model();
    ft_error err = {0};
    unsigned char *buf;
    size_t len;
    ft_model_save_mem(m, &buf, &len, &err);
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        ft_model *bad = ft_model_load_mem(copy, cut, &err);
        accepted += bad != NULL;
        ft_model_free(bad);
        free(copy);
    }
    CHECK(accepted == 0);
    /* and flipping header bytes must never crash */
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    for (size_t i = 8; i < 8 + hlen; i += 3) {
        unsigned char saved = buf[i];
        buf[i] ^= 0x5a;
        ft_model_free(ft_model_load_mem(buf, len, &err));
        buf[i] = saved;
    }
    free(buf);
    ft_model_free(m);
}

static void test_arch_errors(void)
{
    struct {
        const char *json, *param, *needle;
    } cases[] = {
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\"}]}", "architecture.layers[0].units", "required"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 0}]}", "architecture.layers[0].units", "between 1"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2, \"kernal\": 3}]}", "architecture.layers[0].kernal", "unknown field"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"lstm\"}]}", "architecture.layers[0].type", "must be dense"},
        {"{\"input\": [1, 4, 4], \"layers\": [{\"type\": \"dense\", \"units\": 2}]}", "architecture.layers[0]", "flat input"},
        {"{\"input\": [1, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 5}]}", "architecture.layers[0]", "does not fit"},
        {"{\"input\": [1, 4, 4], \"layers\": [{\"type\": \"conv2d\", \"filters\": 2, \"kernel\": 3, \"activation\": \"softmax\"}]}", "architecture.layers[0]", "softmax"},
        {"{\"input\": [4], \"layers\": [{\"name\": \"a\", \"type\": \"dense\", \"units\": 2}, {\"name\": \"a\", \"type\": \"dense\", \"units\": 2}]}", "architecture.layers[1]", "used twice"},
        {"{\"input\": [4], \"layers\": [{\"name\": \"a b\", \"type\": \"dense\", \"units\": 2}]}", "architecture.layers[0].name", "letters"},
        {"{\"input\": [4, 4], \"layers\": [{\"type\": \"flatten\"}]}", "architecture.input", "input must be"},
        {"{\"input\": [4], \"layers\": []}", "architecture.layers", "1 to"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dropout\", \"rate\": 1}]}", "architecture.layers[0].rate", "[0, 1)"},
        {"{\"input\": [4], \"layers\": [{\"type\": \"dense\", \"units\": 2, \"negative_slope\": 0.1}]}", "architecture.layers[0].negative_slope", "leaky_relu"},
        {"{\"input\": [4], \"extra\": 1, \"layers\": [{\"type\": \"flatten\"}]}", "architecture.extra", "unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        ft_error err = {0};
        ft_model *m = ft_model_from_json(j, "architecture", &err);
        CHECKF(m == NULL, "case %zu accepted", i);
        CHECKF(strcmp(err.param, cases[i].param) == 0, "case %zu: param '%s', want '%s'", i, err.param, cases[i].param);
        CHECKF(strstr(err.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].needle);
        ft_model_free(m);
        json_decref(j);
    }
}

static void test_default_names_and_shapes(void)
{
    json_t *j = json_loads(ARCH, 0, NULL);
    ft_error err = {0};
    ft_model *m = ft_model_from_json(j, "", &err);
    ft_layer_info li;
    ft_model_layer_info(m, 1, &li);
    CHECK(strcmp(li.name, "maxpool2d_1") == 0);
    CHECK(li.output.rank == 3 && li.output.dim[0] == 2 && li.output.dim[1] == 3 && li.output.dim[2] == 3);
    ft_model_layer_info(m, 2, &li);
    CHECK(strcmp(li.name, "flatten_2") == 0 && li.output.rank == 1 && li.output.dim[0] == 18);
    ft_model_layer_info(m, 0, &li);
    CHECK(li.params == 2 * 9 + 2);
    CHECK(ft_model_num_params(m) == 20 + 18 * 3 + 3 + 3 * 2 + 2);
    ft_model_free(m);
    json_decref(j);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_malformed_corpus);
    RUN(test_truncations);
    RUN(test_arch_errors);
    RUN(test_default_names_and_shapes);
    return TEST_SUMMARY();
}
