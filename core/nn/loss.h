/* Losses, all mean-reduced like their PyTorch namesakes. cross_entropy and
 * binary_cross_entropy are fused with softmax / sigmoid: they take logits,
 * which is both faster and numerically stable (log-sum-exp, softplus). */
#ifndef FT_LOSS_H
#define FT_LOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/nn/model.h"

typedef enum {
    FT_LOSS_CROSS_ENTROPY,        /* nn.CrossEntropyLoss: logits + class labels */
    FT_LOSS_BINARY_CROSS_ENTROPY, /* nn.BCEWithLogitsLoss: logits + 0/1 targets */
    FT_LOSS_MSE,                  /* nn.MSELoss */
    FT_LOSS_MAE,                  /* nn.L1Loss */
    FT_LOSS_HUBER                 /* nn.HuberLoss(delta) */
} ft_loss_type;
#define FT_LOSS_COUNT (FT_LOSS_HUBER + 1)

/* Names as they appear in the job spec ("cross_entropy", "mse"...). */
extern const char *const ft_loss_names[FT_LOSS_COUNT];
const char *ft_loss_name(ft_loss_type t);
/* 0 and *out set if s names a loss, else -1. */
int ft_loss_parse(const char *s, ft_loss_type *out);

/* True if the loss takes logits (the model's last activation is fused in). */
bool ft_loss_fused(ft_loss_type t);

/* The output activation a loss pairs with: cross_entropy needs softmax,
 * binary_cross_entropy sigmoid; the regression losses take linear, relu,
 * sigmoid or tanh outputs. */
bool ft_loss_accepts(ft_loss_type t, ft_activation output);

/* A loss and its options. */
typedef struct {
    ft_loss_type type;
    double huber_delta;        /* huber only */
    const float *class_weight; /* one weight per class (cross_entropy: labels index it;
                                  binary_cross_entropy: each row's label weighs its
                                  elements), or NULL for none; borrowed */
    double label_smoothing;    /* cross_entropy only, in [0, 1) */
} ft_loss_config;

/* The denominator of a batch's mean loss, in rows: the sum of the rows'
 * class weights for weighted cross_entropy (as nn.CrossEntropyLoss(weight)
 * averages), else the rows. Elementwise losses also divide by units. The
 * rows' labels are labels[idx[i]] (labels[i] if idx is NULL), i < batch. */
double ft_loss_norm(const ft_loss_config *c, const int32_t *labels, const uint32_t *idx, int batch);

/* The loss of `batch` rows with `units` outputs each, summed and divided by
 * norm (ft_loss_norm of the whole batch: rows split across threads pass the
 * whole batch's, so their parts add up). `input` is logits for fused
 * losses, else outputs. `labels` (batch ints) serve cross_entropy and class
 * weights; `targets` (batch * units floats) the others. If grad is non-NULL
 * it receives d loss / d input. With label_smoothing e and weights w over k
 * classes, row i adds (1 - e) w[y] (-log p_y) + e / k sum_j w[j] (-log p_j),
 * as torch's cross_entropy does. */
double ft_loss_eval(const ft_loss_config *c, const float *input, const int32_t *labels, const float *targets,
                    int batch, int units, double norm, float *grad);

/* Mean loss of a batch without class weights or smoothing (ft_loss_eval
 * over the batch's own rows). */
double ft_loss_compute(ft_loss_type t, double huber_delta, const float *input, const int32_t *labels,
                       const float *targets, int batch, int units, float *grad);

#endif
