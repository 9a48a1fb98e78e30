/* Internal: the model struct shared by model*.c files. */
#ifndef FT_MODEL_INTERNAL_H
#define FT_MODEL_INTERNAL_H

#include "core/nn/layer.h"

#define FT_MAX_LAYERS 4096

struct ft_model {
    ft_shape input;          /* per-sample input shape */
    int nlayers;
    ft_layer *layers;        /* nlayers entries */
    size_t nparams;          /* total parameters */
    float *params;           /* nparams values, layer by layer (weights then bias) */
    float *grads;            /* nparams gradients, same layout */
    int first_trainable;     /* layers [first_trainable, nlayers) train */
    json_t *classes;         /* array of class names, or NULL */
    json_t *preprocessing;   /* preprocessing object, or NULL */
    json_t *meta;            /* string -> string extra metadata (lineage) */
    json_t *aliases;         /* layer name -> array of its aliases (only layers that have some) */
};

/* A model's layout for `nlayers` layers whose type, name and hyperparameters
 * are already set in layers[]: runs every setup and counts parameters, but
 * allocates no parameter arrays (params and grads stay NULL). Takes
 * ownership of layers (freed on failure too). */
ft_model *ft_model_assemble(ft_shape input, ft_layer *layers, int nlayers, const char *param,
                            ft_error *err);

/* Set *lo and *hi to the number of inputs layer kind k takes. */
void ft_layer_arity(const ft_layer_kind *k, int *lo, int *hi);

/* Attach aliases (layer name -> array of alias strings; ownership taken,
 * NULL for none) after checking every alias is unique among the names and
 * aliases. `param` prefixes the field path of errors. */
int ft_model_set_aliases(ft_model *m, json_t *aliases, const char *param, ft_error *err);

/* Allocate a layout's zeroed params and grads. */
int ft_model_alloc_params(ft_model *m, ft_error *err);

#endif
