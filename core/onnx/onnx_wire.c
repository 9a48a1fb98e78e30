/* The protobuf side of the ONNX reader: the IR's arena, protobuf-c's
 * counting allocator, and a pre-scan of the wire format.
 *
 * Why a pre-scan: protobuf-c unpacks nested messages recursively with no
 * depth limit, and ONNX's schema is recursive (a node's attribute holds a
 * graph of nodes; a TypeProto holds TypeProtos), so a few hundred KB of
 * nested length prefixes would overflow the stack. Walking the bytes first
 * against the generated descriptors bounds the nesting, and also lets a
 * truncated file or a wrong wire type be reported with its byte offset and
 * the field it hit instead of protobuf-c's bare failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/onnx/onnx_internal.h"

/* ---- arena ---- */

struct onnx_chunk {
    onnx_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK ((size_t)64 << 10)

void *onnx_arena_alloc(onnx_arena *a, size_t size)
{
    size_t need = (size + 15) & ~(size_t)15;
    if (need < size)
        return NULL;
    onnx_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        /* Big requests (tensor data) get a chunk of their own. */
        size_t cap = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        if (cap > SIZE_MAX - sizeof *c)
            return NULL;
        onnx_chunk *n = malloc(sizeof *n + cap);
        if (!n)
            return NULL;
        n->used = 0;
        n->size = cap;
        if (c && cap != ARENA_CHUNK) {
            /* Keep filling the current small chunk: put the big one behind it. */
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

void *onnx_arena_array(onnx_arena *a, size_t n, size_t size)
{
    size_t bytes;
    if (ft_mul_size(n, size, &bytes) != 0)
        return NULL;
    return onnx_arena_alloc(a, bytes ? bytes : 1);
}

char *onnx_arena_strdup(onnx_arena *a, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    char *d = onnx_arena_alloc(a, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void onnx_arena_free(onnx_arena *a)
{
    for (onnx_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ---- protobuf-c's allocator ---- */

static void *pb_alloc(void *data, size_t size)
{
    onnx_pb_alloc *a = data;
    if (size > a->budget - a->used) {
        a->over = 1;
        return NULL;
    }
    a->used += size;
    return malloc(size ? size : 1);
}

static void pb_free(void *data, void *p)
{
    (void)data;
    free(p);
}

ft_onnx_limits onnx_limits_resolve(const ft_onnx_limits *in, size_t len)
{
    ft_onnx_limits l = {0};
    if (in)
        l = *in;
    if (!l.max_tensor_bytes)
        l.max_tensor_bytes = FT_ONNX_DEF_TENSOR_BYTES;
    if (!l.max_nodes)
        l.max_nodes = FT_ONNX_DEF_NODES;
    if (!l.opset_min)
        l.opset_min = FT_ONNX_OPSET_MIN;
    if (!l.opset_max)
        l.opset_max = FT_ONNX_OPSET_MAX;
    if (!l.max_parse_bytes) {
        /* protobuf-c copies bytes fields and expands packed varints: twice
         * the input covers a real model, the base covers the structs. */
        l.max_parse_bytes = FT_ONNX_DEF_PARSE_BASE;
        if (len <= (SIZE_MAX - l.max_parse_bytes) / 2)
            l.max_parse_bytes += 2 * len;
        else
            l.max_parse_bytes = SIZE_MAX;
    }
    return l;
}

/* ---- the wire pre-scan ---- */

typedef struct {
    const uint8_t *base; /* the whole input, for offsets in messages */
    ft_error *err;
} scan_ctx;

/* Read a varint at *pos (< end); -1 if it runs off the end or past 10 bytes. */
static int read_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70 && *pos < end; shift += 7) {
        uint8_t b = p[(*pos)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* The wire types protobuf-c accepts for a field (2 also for packed repeats). */
static int wire_ok(const ProtobufCFieldDescriptor *f, unsigned wt)
{
    int repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return wt == 2;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return wt == 5 || (repeated && wt == 2);
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return wt == 1 || (repeated && wt == 2);
    default: /* the varint types */
        return wt == 0 || (repeated && wt == 2);
    }
}

static int scan_fail(scan_ctx *c, const uint8_t *at, const char *what, const ProtobufCMessageDescriptor *d)
{
    return ft_fail(c->err, FT_EFORMAT, NULL, "not a valid ONNX file: %s at byte %zu (in %s)", what,
                   (size_t)(at - c->base), d->name);
}

static int scan(scan_ctx *c, const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d, int depth)
{
    if (depth > FT_ONNX_MAX_DEPTH)
        return ft_fail(c->err, FT_EFORMAT, NULL,
                       "not a valid ONNX file: messages nested more than %d deep at byte %zu",
                       FT_ONNX_MAX_DEPTH, (size_t)(p - c->base));
    size_t pos = 0;
    while (pos < len) {
        size_t start = pos;
        uint64_t tag, v;
        if (read_varint(p, len, &pos, &tag) != 0)
            return scan_fail(c, p + start, "truncated field tag", d);
        unsigned wt = (unsigned)(tag & 7);
        uint64_t num = tag >> 3;
        if (num == 0 || num > 0x1fffffff)
            return scan_fail(c, p + start, "bad field number", d);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, (unsigned)num);
        if (f && !wire_ok(f, wt)) {
            char what[160];
            snprintf(what, sizeof what, "wrong wire type %u for field '%s'", wt, f->name);
            return scan_fail(c, p + start, what, d);
        }
        switch (wt) {
        case 0:
            if (read_varint(p, len, &pos, &v) != 0)
                return scan_fail(c, p + start, "truncated varint", d);
            break;
        case 1:
        case 5: {
            size_t n = wt == 1 ? 8 : 4;
            if (len - pos < n)
                return scan_fail(c, p + start, "truncated fixed-size value", d);
            pos += n;
            break;
        }
        case 2:
            if (read_varint(p, len, &pos, &v) != 0 || v > len - pos)
                return scan_fail(c, p + start, "truncated length-delimited field", d);
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                scan(c, p + pos, (size_t)v, f->descriptor, depth + 1) != 0)
                return -1;
            pos += (size_t)v;
            break;
        default: /* groups (3, 4) are not in ONNX's schema; 6 and 7 do not exist */
            return scan_fail(c, p + start, "unsupported wire type", d);
        }
    }
    return 0;
}

ProtobufCMessage *onnx_unpack(const ProtobufCMessageDescriptor *desc, const void *bytes, size_t len,
                              const ft_onnx_limits *lim, onnx_pb_alloc *alloc, ft_error *err)
{
    if (!bytes && len) {
        ft_fail(err, FT_EINVAL, NULL, "no ONNX data");
        return NULL;
    }
    scan_ctx c = {.base = bytes, .err = err};
    if (scan(&c, bytes, len, desc, 0) != 0)
        return NULL;
    *alloc = (onnx_pb_alloc){.budget = lim->max_parse_bytes};
    alloc->pc.alloc = pb_alloc;
    alloc->pc.free = pb_free;
    alloc->pc.allocator_data = alloc;
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &alloc->pc, len, bytes);
    if (!msg) {
        if (alloc->over)
            ft_fail(err, FT_ETOOBIG, NULL,
                    "the ONNX file needs more than %zu bytes of memory to unpack (limit)", alloc->budget);
        else
            ft_fail(err, FT_EFORMAT, NULL, "not a valid ONNX file: protobuf-c could not unpack the %s",
                    desc->name);
    }
    return msg;
}
