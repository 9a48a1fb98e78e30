/* TensorProto -> ft_onnx_tensor: header checks and sizing first (so a
 * model's total can be checked against the budget before anything is
 * converted), then the data checked against the dims and converted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx_internal.h"
#include "core/util/fsutil.h"

static const char *const type_names[] = {
    "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
    "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};

const char *onnx_type_name(int type, char *buf, size_t size)
{
    if (type >= 0 && (size_t)type < sizeof type_names / sizeof *type_names)
        return type_names[type];
    snprintf(buf, size, "type %d", type);
    return buf;
}

/* Converted type and bytes per element in raw_data; 0 if unsupported. */
static size_t raw_size_of(int type, ft_onnx_dtype *dt)
{
    *dt = FT_ONNX_I64;
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *dt = FT_ONNX_F32; return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *dt = FT_ONNX_F32; return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: *dt = FT_ONNX_F32; return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    default: return 0;
    }
}

static const char *tname(const Onnx__TensorProto *t)
{
    return t->name ? t->name : "";
}

int onnx_tensor_plan_of(const Onnx__TensorProto *t, onnx_tensor_plan *p, ft_error *err)
{
    if (t->n_external_data ||
        (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return ft_fail(err, FT_EINVAL, NULL,
                       "the file uses external data (tensor '%s'); export with all weights inside", tname(t));
    if (t->segment)
        return ft_fail(err, FT_EINVAL, NULL, "tensor '%s' is segmented, which is not supported", tname(t));
    char buf[32];
    int type = t->has_data_type ? t->data_type : 0;
    p->raw_size = raw_size_of(type, &p->dtype);
    if (!p->raw_size)
        return ft_fail(err, FT_EINVAL, NULL, "tensor '%s' has data type %s, which is not supported", tname(t),
                       onnx_type_name(type, buf, sizeof buf));
    size_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' has a negative dimension (%lld)", tname(t),
                           (long long)t->dims[i]);
        if ((uint64_t)t->dims[i] > SIZE_MAX || ft_mul_size(count, (size_t)t->dims[i], &count) != 0)
            return ft_fail(err, FT_ETOOBIG, NULL, "tensor '%s': the product of its dims overflows", tname(t));
    }
    size_t out = p->dtype == FT_ONNX_F32 ? sizeof(float) : sizeof(int64_t);
    if (ft_mul_size(count, out, &p->data_bytes) != 0 || ft_mul_size(count, p->raw_size, &(size_t){0}) != 0)
        return ft_fail(err, FT_ETOOBIG, NULL, "tensor '%s': %zu elements overflow a size", tname(t), count);
    p->count = count;
    return 0;
}

/* IEEE half -> float, subnormals and infinities included. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man) { /* subnormal: normalise */
        exp = 113;
        while (!(man & 0x400)) {
            man <<= 1;
            exp--;
        }
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element i of little-endian raw data, as double or int64 (the host is
 * little-endian: x86-64 and aarch64, the only targets). */
static void raw_elem(int type, const uint8_t *raw, size_t i, double *d, int64_t *v)
{
    union { float f; double d; int64_t i64; uint64_t u64; int32_t i32; uint32_t u32; int16_t i16;
            uint16_t u16; int8_t i8; uint8_t u8; } u;
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: memcpy(&u.f, raw + 4 * i, 4); *d = u.f; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: memcpy(&u.d, raw + 8 * i, 8); *d = u.d; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: memcpy(&u.u16, raw + 2 * i, 2); *d = half_to_float(u.u16); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: memcpy(&u.u16, raw + 2 * i, 2); *d = bf16_to_float(u.u16); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: memcpy(&u.i64, raw + 8 * i, 8); *v = u.i64; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: memcpy(&u.u64, raw + 8 * i, 8); *v = (int64_t)u.u64; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: memcpy(&u.i32, raw + 4 * i, 4); *v = u.i32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: memcpy(&u.u32, raw + 4 * i, 4); *v = u.u32; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: memcpy(&u.i16, raw + 2 * i, 2); *v = u.i16; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: memcpy(&u.u16, raw + 2 * i, 2); *v = u.u16; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *v = (int8_t)raw[i]; break;
    default: *v = raw[i]; break; /* UINT8, BOOL */
    }
}

/* Element i of the typed field that holds this type (see onnx.proto). */
static void typed_elem(const Onnx__TensorProto *t, int type, size_t i, double *d, int64_t *v)
{
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *d = t->float_data[i]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *d = t->double_data[i]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: *d = half_to_float((uint16_t)t->int32_data[i]); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: *d = bf16_to_float((uint16_t)t->int32_data[i]); break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *v = t->int64_data[i]; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *v = (int64_t)t->uint64_data[i]; break;
    default: *v = t->int32_data[i]; break; /* INT32, INT16, INT8, UINT16, UINT8, BOOL */
    }
}

/* The typed field's length for this type, and its name for messages. */
static size_t typed_count(const Onnx__TensorProto *t, int type, const char **field)
{
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *field = "float_data"; return t->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *field = "double_data"; return t->n_double_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *field = "int64_data"; return t->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *field = "uint64_data"; return t->n_uint64_data;
    default: *field = "int32_data"; return t->n_int32_data;
    }
}

/* "[2, 3, 224]" into buf, cut short if long. */
static const char *dims_str(const Onnx__TensorProto *t, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < t->n_dims && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
    return buf;
}

int onnx_tensor_fill(const Onnx__TensorProto *t, const onnx_tensor_plan *p, int64_t *dims, void *data,
                     ft_onnx_tensor *out, ft_error *err)
{
    int type = t->data_type;
    const char *field;
    size_t typed = typed_count(t, type, &field);
    size_t others = t->n_float_data + t->n_double_data + t->n_int64_data + t->n_uint64_data +
                    t->n_int32_data + t->n_string_data - typed;
    int raw = t->has_raw_data && t->raw_data.len > 0;
    char buf[32], dbuf[96];
    if (others)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' of type %s has data in a field for another type",
                       tname(t), onnx_type_name(type, buf, sizeof buf));
    if (raw && typed)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s' has both raw_data and %s", tname(t), field);
    if (raw && t->raw_data.len != p->count * p->raw_size) /* the product was overflow-checked in plan */
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': dims %s need %zu bytes of raw_data, the file has %zu",
                       tname(t), dims_str(t, dbuf, sizeof dbuf), p->count * p->raw_size, t->raw_data.len);
    if (!raw && typed != p->count)
        return ft_fail(err, FT_EFORMAT, NULL, "tensor '%s': dims %s need %zu values, %s holds %zu", tname(t),
                       dims_str(t, dbuf, sizeof dbuf), p->count, field, typed);
    for (size_t i = 0; i < t->n_dims; i++)
        dims[i] = t->dims[i];
    float *f = p->dtype == FT_ONNX_F32 ? data : NULL;
    int64_t *v = p->dtype == FT_ONNX_I64 ? data : NULL;
    for (size_t i = 0; i < p->count; i++) {
        double d = 0;
        int64_t iv = 0;
        if (raw)
            raw_elem(type, t->raw_data.data, i, &d, &iv);
        else
            typed_elem(t, type, i, &d, &iv);
        if (f)
            f[i] = (float)d;
        else
            v[i] = iv;
    }
    *out = (ft_onnx_tensor){.name = out->name, .onnx_type = type, .dtype = p->dtype, .rank = t->n_dims,
                            .dims = dims, .count = p->count, .f32 = f, .i64 = v};
    return 0;
}

int ft_onnx_read_tensor(const void *bytes, size_t len, const ft_onnx_limits *limits, ft_onnx_tensor **out,
                        ft_error *err)
{
    *out = NULL;
    ft_onnx_limits lim = onnx_limits_resolve(limits, len);
    onnx_pb_alloc alloc;
    ProtobufCMessage *msg = onnx_unpack(&onnx__tensor_proto__descriptor, bytes, len, &lim, &alloc, err);
    if (!msg)
        return -1;
    const Onnx__TensorProto *t = (const Onnx__TensorProto *)msg;
    onnx_tensor_plan p;
    int rc = onnx_tensor_plan_of(t, &p, err);
    if (rc == 0 && p.data_bytes > lim.max_tensor_bytes)
        rc = ft_fail(err, FT_ETOOBIG, NULL, "tensor '%s' declares %zu bytes, above the budget of %zu bytes",
                     tname(t), p.data_bytes, lim.max_tensor_bytes);
    /* One block: struct, dims, data, name (data_bytes <= budget, so no overflow). */
    size_t name_len = strlen(tname(t)) + 1, dims_off = sizeof(ft_onnx_tensor);
    size_t data_off = dims_off + t->n_dims * sizeof(int64_t);
    data_off = (data_off + 15) & ~(size_t)15;
    ft_onnx_tensor *res = NULL;
    if (rc == 0 && !(res = malloc(data_off + p.data_bytes + name_len)))
        rc = ft_fail(err, FT_ENOMEM, NULL, "out of memory reading tensor '%s'", tname(t));
    if (rc == 0) {
        char *name = (char *)res + data_off + p.data_bytes;
        memcpy(name, tname(t), name_len);
        res->name = name;
        rc = onnx_tensor_fill(t, &p, (int64_t *)((char *)res + dims_off), (char *)res + data_off, res, err);
    }
    protobuf_c_message_free_unpacked(msg, &alloc.pc);
    if (rc != 0) {
        free(res);
        return -1;
    }
    *out = res;
    return 0;
}

int ft_onnx_read_tensor_file(const char *path, const ft_onnx_limits *limits, ft_onnx_tensor **out,
                             ft_error *err)
{
    *out = NULL;
    ft_onnx_limits lim = onnx_limits_resolve(limits, 0);
    /* raw DOUBLE data is twice its converted size; anything larger is refused unread. */
    size_t cap = lim.max_tensor_bytes <= (SIZE_MAX - (1u << 20)) / 2 ? 2 * lim.max_tensor_bytes + (1u << 20)
                                                                      : SIZE_MAX;
    unsigned char *buf;
    size_t len;
    if (ft_read_file(path, cap, &buf, &len, err) != 0)
        return -1;
    int rc = ft_onnx_read_tensor(buf, len, limits, out, err);
    free(buf);
    if (rc != 0)
        ft_error_prefix(err, "%s: ", path);
    return rc;
}
