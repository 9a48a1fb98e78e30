/* The activation descriptor table, built from core/nn/registry.h's rows and
 * indexed by enum value (see registry_layers.c for why each table has its
 * own file). */
#include "core/nn/activation.h"

#define DECLARE_ACT(e, name) extern const ft_act_kind ft_act_##name;
FT_ACTIVATIONS(DECLARE_ACT)

#define ACT_ROW(e, name) [FT_ACT_##e] = &ft_act_##name,
const ft_act_kind *const ft_act_kinds[FT_ACT_COUNT] = {FT_ACTIVATIONS(ACT_ROW)};
