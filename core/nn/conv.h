/* Internal: the pieces of conv2d (core/nn/layer_conv2d.c) that live in
 * their own files: patch unrolling (conv_im2col.c), the direct depthwise
 * kernel (conv_depthwise.c) and Winograd's 3x3 forward (conv_winograd.c). */
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
/* Scratch floats ft_conv_winograd needs for a batch of `batch`. */
size_t ft_conv_winograd_floats(const ft_layer *l, int batch);
/* Floats of Winograd's transformed kernel U. */
size_t ft_conv_winograd_kernel_floats(const ft_layer *l);
/* U from the weights w (-1 when out of memory for a temporary). */
int ft_conv_winograd_prepare(const ft_layer *l, const float *w, float *u);
/* Forward of a 3x3, stride-1, undilated, ungrouped convolution by Winograd
 * F(4x4, 3x3): out = act(w * x + bias) for `batch` samples (bias may be
 * NULL), the pre-activation copied to keep (same layout as out) when the
 * activation needs it. u: w's transformed kernel if prepared, else NULL
 * (made in scratch). scratch holds ft_conv_winograd_floats floats. */
void ft_conv_winograd(const ft_layer *l, ft_activation act, const float *x, const float *w, const float *u,
                      const float *bias, int batch, float *scratch, float *out, float *keep);

#endif
