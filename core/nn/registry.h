/* The registries: one row per layer type, activation and optimiser. A row
 * X(ENUM, name) declares the enum value (FT_LAYER_ENUM, FT_ACT_ENUM,
 * FT_OPT_ENUM), the name used in JSON and the descriptor it stands for
 * (ft_layer_<name>, ft_act_<name>, ft_optim_<name>), which is defined in:
 *   core/nn/layer_<name>.c: ft_layer_kind (core/nn/layer.h); maxpool2d and
 *     avgpool2d share core/nn/layer_pool.c, add and mul core/nn/layer_binary.c;
 *   core/nn/act_<name>.c: ft_act_kind (core/nn/activation.h);
 *   core/nn/optim_<name>.c: ft_optim_kind (core/nn/optim_kind.h); adamw
 *     shares core/nn/optim_adam.c.
 * Adding one is its file and one row here: the enum, the names, the
 * descriptor tables (registry_layers.c, registry_acts.c, registry_optims.c,
 * registry_names.c), JSON parsing and the
 * tests in test_registry.c and test_gradcheck.c follow from the row. Add
 * rows at the end, so the other values never change. */
#ifndef FT_REGISTRY_H
#define FT_REGISTRY_H

#define FT_LAYER_KINDS(X)                                                                          \
    X(DENSE, dense)                                                                                \
    X(CONV2D, conv2d)                                                                              \
    X(MAXPOOL2D, maxpool2d)                                                                        \
    X(AVGPOOL2D, avgpool2d)                                                                        \
    X(GLOBAL_AVGPOOL2D, global_avgpool2d)                                                          \
    X(FLATTEN, flatten)                                                                            \
    X(DROPOUT, dropout)                                                                            \
    X(ACTIVATION, activation)                                                                      \
    X(SOFTMAX, softmax)                                                                            \
    X(BATCHNORM, batchnorm)                                                                        \
    X(ADD, add)                                                                                    \
    X(MUL, mul)                                                                                    \
    X(CONCAT, concat)                                                                              \
    X(CONSTANT, constant)                                                                          \
    X(PAD, pad)                                                                                    \
    X(RESHAPE, reshape)

#define FT_ACTIVATIONS(X)                                                                          \
    X(LINEAR, linear)                                                                              \
    X(RELU, relu)                                                                                  \
    X(LEAKY_RELU, leaky_relu)                                                                      \
    X(SIGMOID, sigmoid)                                                                            \
    X(TANH, tanh)                                                                                  \
    X(SOFTMAX, softmax)                                                                            \
    X(GELU, gelu)                                                                                  \
    X(CLIP, clip)                                                                                  \
    X(HARD_SIGMOID, hard_sigmoid)                                                                  \
    X(HARD_SWISH, hard_swish)                                                                      \
    X(ERF, erf)

#define FT_OPTIMIZERS(X)                                                                           \
    X(SGD, sgd)                                                                                    \
    X(ADAM, adam)                                                                                  \
    X(ADAMW, adamw)

/* Row expanders: an enum value, and a name as a string. */
#define FT_ROW_LAYER_ENUM(e, name) FT_LAYER_##e,
#define FT_ROW_ACT_ENUM(e, name) FT_ACT_##e,
#define FT_ROW_OPT_ENUM(e, name) FT_OPT_##e,
#define FT_ROW_NAME(e, name) #name,

#endif
