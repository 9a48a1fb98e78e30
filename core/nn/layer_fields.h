/* Internal: what a layer type's parse reads its JSON object with. Every
 * error names the field ("architecture.layers[2].units"). */
#ifndef FT_LAYER_FIELDS_H
#define FT_LAYER_FIELDS_H

#include "core/nn/layer.h"

/* Windows (kernels, pools, strides, padding) are at most this many pixels. */
#define FT_MAX_WINDOW 64

struct ft_layer_fields {
    const char *param; /* path of the layer, e.g. "architecture.layers[2]" */
    const json_t *obj; /* the layer's object */
    ft_error *err;     /* receives the first error */
};

/* Fail on field `key`: fmt gets the key, then `what` (so "%s must ...%s"). */
int ft_field_fail(const ft_layer_fields *f, const char *key, const char *fmt, const char *what);
/* Integer field in [lo, hi]; *out keeps its default when absent (unless required). */
int ft_field_int(const ft_layer_fields *f, const char *key, int lo, int hi, bool required, int *out);
/* An int or an [h, w] pair in [lo, hi]; *h and *w keep their defaults when absent. */
int ft_field_pair(const ft_layer_fields *f, const char *key, int lo, int hi, int *h, int *w);
/* Padding: an int, an [h, w] pair or [top, left, bottom, right], each in
 * [0, FT_MAX_WINDOW], into l->ph, pw, pb, pr (kept when absent). */
int ft_field_padding(const ft_layer_fields *f, const char *key, ft_layer *l);
/* A required per-sample shape: 1 to FT_SHAPE_MAX_RANK sizes in [1, 2^28];
 * with `infer`, one of them may be -1 (kept as -1 for setup to resolve). */
int ft_field_shape(const ft_layer_fields *f, const char *key, bool infer, ft_shape *out);
/* Boolean field; *out keeps its default when absent. */
int ft_field_bool(const ft_layer_fields *f, const char *key, bool *out);
/* Number field in [lo, hi_excl); *out keeps its default when absent. */
int ft_field_number(const ft_layer_fields *f, const char *key, double lo, double hi_excl, double *out);

/* [a, b] for the canonical JSON. */
json_t *ft_field_pair_json(int a, int b);
/* Canonical padding: [h, w] when symmetric, else [top, left, bottom, right]. */
json_t *ft_field_padding_json(const ft_layer *l);

#endif
