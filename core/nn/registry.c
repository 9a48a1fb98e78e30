/* The descriptor tables built from core/nn/registry.h's rows, indexed by
 * enum value (the name tables are in registry_names.c: layer files use the
 * names, and this file refers to the layers). */
#include "core/nn/activation.h"
#include "core/nn/optim_kind.h"

#define DECLARE_LAYER(e, name) extern const ft_layer_kind ft_layer_##name;
#define DECLARE_ACT(e, name) extern const ft_act_kind ft_act_##name;
#define DECLARE_OPT(e, name) extern const ft_optim_kind ft_optim_##name;
FT_LAYER_KINDS(DECLARE_LAYER)
FT_ACTIVATIONS(DECLARE_ACT)
FT_OPTIMIZERS(DECLARE_OPT)

#define LAYER_ROW(e, name) [FT_LAYER_##e] = &ft_layer_##name,
#define ACT_ROW(e, name) [FT_ACT_##e] = &ft_act_##name,
#define OPT_ROW(e, name) [FT_OPT_##e] = &ft_optim_##name,
const ft_layer_kind *const ft_layer_kinds[FT_LAYER_COUNT] = {FT_LAYER_KINDS(LAYER_ROW)};
const ft_act_kind *const ft_act_kinds[FT_ACT_COUNT] = {FT_ACTIVATIONS(ACT_ROW)};
const ft_optim_kind *const ft_optim_kinds[FT_OPT_COUNT] = {FT_OPTIMIZERS(OPT_ROW)};
