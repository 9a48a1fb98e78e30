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
    const float *in;   /* [batch, in size]: the first input (NULL for a layer without inputs) */
    const float *const *ins;  /* every input, l->ninputs of them (multi-input kinds) */
    const ft_shape *in_shapes;/* their per-sample shapes */
    float *out;        /* [batch, out size] */
    int batch;
    bool training;     /* dropout active */
    bool logits;       /* skip the activation (fused loss on the last layer) */
    bool forward_only; /* no backward follows (a forward-only workspace): keep nothing for it */
    const float *prepared; /* the weights as kind->prepare made them (a runner's), or NULL */
    ft_rng *rng;       /* dropout masks */
    float *scratch;    /* this layer's scratch, sized by kind->scratch_floats */
    const float *w;    /* weights, or NULL */
    const float *b;    /* biases, or NULL */
} ft_fwd_args;

typedef struct {
    const float *in;   /* forward input (the first) */
    const float *const *ins;  /* every input, l->ninputs of them (multi-input kinds) */
    const ft_shape *in_shapes;/* their per-sample shapes */
    const float *out;  /* forward output (post-activation unless logits) */
    float *dout;       /* d loss / d out; clobbered (becomes d loss / d pre-activation) */
    float *din;        /* d loss / d in (overwritten), or NULL when not needed; dins[0] */
    float *const *dins;/* d loss / d each input (overwritten), an entry NULL when not needed */
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
    /* JSON keys the type takes besides name, type, inputs, aliases and (with
     * `activation`) activation and its parameters; NULL-terminated, or NULL. */
    const char *const *keys;
    /* Dense-style layers: an activation (and its parameters) applies. */
    bool activation;
    /* Inputs the type takes: [min_inputs, max_inputs]. Both 0 in the
     * descriptor mean exactly one (the common case); `source` means none. */
    int min_inputs, max_inputs;
    bool source;
    /* The weight has no bias beside it (constant). */
    bool no_bias;
    /* Optional: read the type's hyperparameters from JSON into l (defaults included). */
    int (*parse)(ft_layer *l, const ft_layer_fields *f);
    /* Optional: add the hyperparameters to the canonical JSON object o. */
    void (*emit)(const ft_layer *l, json_t *o);
    /* Validate hyperparameters against the input shapes (ins[0] == l->in;
     * l->ninputs of them) and infer l->out. */
    int (*setup)(ft_layer *l, const ft_shape *ins, const char *param, ft_error *err);
    /* Optional: the weight tensor's PyTorch shape (after setup); returns the
     * rank. A layer with weights has a bias of shape[0] values; fans for
     * init follow from the shape as in torch. */
    int (*weight_shape)(const ft_layer *l, uint64_t shape[4]);
    /* Optional: what to tell a user whose file has the weight in another layout. */
    const char *weight_hint;
    /* Optional: scratch floats needed for a batch of `batch` rows (none if NULL). */
    size_t (*scratch_floats)(const ft_layer *l, int batch);
    /* Optional, for runners whose weights stay fixed (core/nn/infer.c): the
     * floats of the weights in the form forward wants them (Winograd's
     * transformed kernels; 0: none), and making them from w (-1 when out
     * of memory), so that forward need not on every run and thread. */
    size_t (*prepared_floats)(const ft_layer *l);
    int (*prepare)(const ft_layer *l, const float *w, float *prepared);
    /* Optional: true if training draws random numbers (dropout with rate > 0). */
    bool (*random)(const ft_layer *l);
    /* One batch forward, and backward (see ft_fwd_args, ft_bwd_args);
     * backward NULL: the type cannot train yet (only frozen). */
    void (*forward)(const ft_layer *l, const ft_fwd_args *a);
    void (*backward)(const ft_layer *l, const ft_bwd_args *a);
} ft_layer_kind;

/* Parameters of one activation (clip: min and max). */
#define FT_ACT_MAX_PARAMS 2

struct ft_layer {
    char name[FT_NAME_MAX + 1]; /* unique within the model */
    ft_layer_type type;
    const ft_layer_kind *kind;/* ft_layer_kinds[type], set when the model is assembled */
    int ninputs;              /* inputs read; 0 before assembly means the default */
    int inputs[FT_MAX_INPUTS];/* earlier layer indices, -1 for the model input */
    ft_activation act;        /* layers whose kind has an activation */
    float act_param[FT_ACT_MAX_PARAMS]; /* its parameters (leaky_relu slope, clip bounds...) */
    ft_shape in, out;         /* per-sample shapes (in: of the first input) */
    int units;                /* dense: outputs */
    int filters;              /* conv2d: output channels */
    int kh, kw, sh, sw;       /* conv2d and pools: kernel, stride */
    int ph, pw, pb, pr;       /* padding top, left, bottom, right */
    int dh, dw;               /* dilation (conv2d, maxpool2d); 0 read as 1 */
    int groups;               /* conv2d: channel groups; 0 read as 1 */
    bool ceil_mode;           /* pools: a last partial window counts */
    bool count_include_pad;   /* avgpool2d: padding counts in the divisor */
    bool keepdims;            /* global_avgpool2d: [C, 1, 1] instead of [C] */
    bool flatten;             /* softmax: over all dims from axis on (opset < 13) */
    int axis;                 /* softmax, concat: per-sample axis (normalised) */
    float value;              /* pad: the fill value */
    int npads;                /* pad: entries of pads (2 per input dim) */
    int pads[2 * FT_SHAPE_MAX_RANK]; /* pad: per-sample begins, then ends */
    ft_shape shape;           /* reshape, constant: the output shape */
    float rate;               /* dropout probability */
    size_t nweights, nbias;   /* parameter counts */
    size_t param_offset;      /* weights start here in the flat array; bias follows */
};

/* The layer registry, indexed by type. */
extern const ft_layer_kind *const ft_layer_kinds[FT_LAYER_COUNT];

/* Activations, in place on rows x cols (softmax runs along each row); p
 * holds the activation's parameters (ft_layer.act_param). An activation that
 * needs its input for backward first copies y to keep (rows x cols floats
 * of the layer's scratch); the others ignore keep, which may then be NULL. */
void ft_act_forward(ft_activation act, const float *p, float *y, float *keep, size_t rows, size_t cols);
/* dy := dy * act'(.) given the activation output y and the kept input x
 * (read only when the activation needs it; softmax uses its Jacobian). */
void ft_act_backward(ft_activation act, const float *p, const float *x, const float *y, float *dy,
                     size_t rows, size_t cols);
/* The activation's default parameters into p[FT_ACT_MAX_PARAMS]. */
void ft_act_default_params(ft_activation act, float *p);
/* True if the activation's backward needs its input: a layer applying it
 * keeps rows x cols floats of pre-activation in its scratch. */
bool ft_act_needs_input(ft_activation act);

/* Forward and backward of a layer that only relabels the shape (flatten,
 * reshape): copies (core/nn/layer_flatten.c). */
void ft_layer_copy_forward(const ft_layer *l, const ft_fwd_args *a);
void ft_layer_copy_backward(const ft_layer *l, const ft_bwd_args *a);

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

/* Output size of a sliding window of k taps d apart, stride s, over n
 * values padded by p0 before and p1 after: floor((n + p0 + p1 - span) / s)
 * + 1 with span = d (k - 1) + 1, or 0 if none fit. With ceil_mode the last
 * partial window counts too, if it starts inside the input or the leading
 * padding (PyTorch's and ONNX's rule). */
static inline int ft_window_out(int n, int k, int s, int p0, int p1, int d, bool ceil_mode)
{
    int span = d * (k - 1) + 1, room = n + p0 + p1 - span;
    if (room < 0)
        return 0;
    int out = (ceil_mode ? room + s - 1 : room) / s + 1;
    if (ceil_mode && (out - 1) * s >= n + p0)
        out--;
    return out;
}

#endif
