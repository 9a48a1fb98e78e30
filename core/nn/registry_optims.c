/* The optimiser descriptor table, built from core/nn/registry.h's rows and
 * indexed by enum value (see registry_layers.c for why each table has its
 * own file). */
#include "core/nn/optim_kind.h"

#define DECLARE_OPT(e, name) extern const ft_optim_kind ft_optim_##name;
FT_OPTIMIZERS(DECLARE_OPT)

#define OPT_ROW(e, name) [FT_OPT_##e] = &ft_optim_##name,
const ft_optim_kind *const ft_optim_kinds[FT_OPT_COUNT] = {FT_OPTIMIZERS(OPT_ROW)};
