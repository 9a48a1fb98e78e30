/* Internal: layer representation and the per-type descriptor (darknet's
 * vtable grown into KANN's operator table), with each type's parsing, shapes,
 * forward and backward side by side in its own file. */
#ifndef FT_LAYER_H
#define FT_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/nn/model.h"

typedef struct ft_layer ft_layer;

typedef struct {
    const float *in;   /* [batch, in size] */
    float *out;        /* [batch, out size] */
    int batch;
    bool training;     /* dropout active */
    bool logits;       /* skip the activation (fused loss on the last layer) */
    ft_rng *rng;       /* dropout masks */
    float *scratch;    /* this layer's scratch, sized by kind->scratch_floats */
    const float *w;    /* weights, or NULL */
    const float *b;    /* biases, or NULL */
} ft_fwd_args;

typedef struct {
    const float *in;   /* forward input */
    const float *out;  /* forward output (post-activation unless logits) */
    float *dout;       /* d loss / d out; clobbered (becomes d loss / d pre-activation) */
    float *din;        /* d loss / d in, or NULL when not needed */
    int batch;
    bool training, logits;
    float *scratch;    /* the same scratch the forward pass filled */
    const float *w;
    float *dw, *db;    /* parameter gradients (overwritten), or NULL when frozen */
} ft_bwd_args;

/* Reads a layer's JSON object with field-path errors (core/nn/layer_fields.h). */
typedef struct ft_layer_fields ft_layer_fields;

/* A layer type: everything the model needs to know of it, in its own file
 * (core/nn/layer_<name>.c), registered by one row in core/nn/registry.h.
 * Optional members are NULL. */
typedef struct {
    /* JSON keys the type takes besides name, type and (with `activation`)
     * activation and negative_slope; NULL-terminated, or NULL for none. */
    const char *const *keys;
    /* Dense-style layers: an activation (and its negative_slope) applies. */
    bool activation;
    /* Optional: read the type's hyperparameters from JSON into l (defaults included). */
    int (*parse)(ft_layer *l, const ft_layer_fields *f);
    /* Optional: add the hyperparameters to the canonical JSON object o. */
    void (*emit)(const ft_layer *l, json_t *o);
    /* Validate hyperparameters against l->in and infer l->out. */
    int (*setup)(ft_layer *l, const char *param, ft_error *err);
    /* Optional: the weight tensor's PyTorch shape (after setup); returns the
     * rank. A layer with weights has a bias of shape[0] values; fans for
     * init follow from the shape as in torch. */
    int (*weight_shape)(const ft_layer *l, uint64_t shape[4]);
    /* Optional: what to tell a user whose file has the weight in another layout. */
    const char *weight_hint;
    /* Optional: scratch floats needed for a batch of `batch` rows (none if NULL). */
    size_t (*scratch_floats)(const ft_layer *l, int batch);
    /* Optional: true if training draws random numbers (dropout with rate > 0). */
    bool (*random)(const ft_layer *l);
    /* One batch forward, and backward (see ft_fwd_args, ft_bwd_args). */
    void (*forward)(const ft_layer *l, const ft_fwd_args *a);
    void (*backward)(const ft_layer *l, const ft_bwd_args *a);
} ft_layer_kind;

struct ft_layer {
    char name[64];            /* unique within the model */
    ft_layer_type type;
    const ft_layer_kind *kind;/* ft_layer_kinds[type], set when the model is assembled */
    ft_activation act;        /* layers whose kind has an activation */
    float negative_slope;     /* leaky_relu slope */
    ft_shape in, out;         /* per-sample shapes */
    int units;                /* dense: outputs */
    int filters;              /* conv2d: output channels */
    int kh, kw, sh, sw, ph, pw; /* conv2d and pools: kernel, stride, padding */
    float rate;               /* dropout probability */
    size_t nweights, nbias;   /* parameter counts */
    size_t param_offset;      /* weights start here in the flat array; bias follows */
};

/* The layer registry, indexed by type. */
extern const ft_layer_kind *const ft_layer_kinds[FT_LAYER_COUNT];

/* Activations, in place on rows x cols (softmax runs along each row). An
 * activation that needs its input for backward first copies y to keep
 * (rows x cols floats of the layer's scratch); the others ignore keep, which
 * may then be NULL. */
void ft_act_forward(ft_activation act, float slope, float *y, float *keep, size_t rows, size_t cols);
/* dy := dy * act'(.) given the activation output y and the kept input x
 * (read only when the activation needs it; softmax uses its Jacobian). */
void ft_act_backward(ft_activation act, float slope, const float *x, const float *y, float *dy,
                     size_t rows, size_t cols);
/* True if the activation's backward needs its input: a layer applying it
 * keeps rows x cols floats of pre-activation in its scratch. */
bool ft_act_needs_input(ft_activation act);

/* y[i] += x[i] for i < n. */
void ft_vec_add(float *y, const float *x, size_t n);
/* The sum of x[0..n) (16 partial sums, so the loop vectorises and the
 * result does not depend on the vector width). */
float ft_vec_sum(const float *x, size_t n);

/* Hot elementwise loops are compiled for several vector widths; the dynamic
 * loader picks the best the CPU has (results are identical: no FMA contraction
 * in ISO C mode). Clang (the fuzz build) would give the dispatcher internal
 * linkage, so it gets plain functions. */
#ifdef __clang__
#define FT_HOT
#else
#define FT_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

/* Output size of a sliding window: floor((n + 2p - k) / s) + 1, or 0 if none fit. */
static inline int ft_window_out(int n, int k, int s, int p)
{
    return n + 2 * p < k ? 0 : (n + 2 * p - k) / s + 1;
}

#endif
