/* Internal: the pieces of conv2d (core/nn/layer_conv2d.c) that live in
 * their own files: patch unrolling (conv_im2col.c) and the direct
 * depthwise kernel (conv_depthwise.c). */
#ifndef FT_CONV_H
#define FT_CONV_H

#include "core/nn/layer.h"

/* col[(c, ki, kj)][(b, oy, ox)] = x[b, c, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]
 * (0 outside) for `batch` samples of x. */
void ft_conv_im2col(const ft_layer *l, const float *x, int batch, float *col);
/* The adjoint: dx = the sum of dcol's entries over the pixels they read.
 * col is scratch (its padding entries are zeroed). */
void ft_conv_col2im(const ft_layer *l, float *col, int batch, float *dx);
/* Depthwise forward (groups == C, one input channel per group) of one
 * sample straight from x, out = w * x + bias. */
void ft_conv_depthwise(const ft_layer *l, const float *x, const float *w, const float *bias, float *out);

#endif
