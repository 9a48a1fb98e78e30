/* The layer-type descriptor table, built from core/nn/registry.h's rows and
 * indexed by enum value. Each table has a file of its own, so that no file
 * both is called by a layer (activations, names) and points at the layers:
 * no call circle. */
#include "core/nn/layer.h"

#define DECLARE_LAYER(e, name) extern const ft_layer_kind ft_layer_##name;
FT_LAYER_KINDS(DECLARE_LAYER)

#define LAYER_ROW(e, name) [FT_LAYER_##e] = &ft_layer_##name,
const ft_layer_kind *const ft_layer_kinds[FT_LAYER_COUNT] = {FT_LAYER_KINDS(LAYER_ROW)};
