/* The registries built from core/nn/registry.h's rows: the name tables and
 * the descriptor tables, indexed by enum value. */
#include "core/nn/activation.h"
#include "core/nn/optim_kind.h"
#include "core/util/names.h"

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

const char *const ft_layer_type_names[FT_LAYER_COUNT] = {FT_LAYER_KINDS(FT_ROW_NAME)};
const char *const ft_activation_names[FT_ACT_COUNT] = {FT_ACTIVATIONS(FT_ROW_NAME)};
const char *const ft_optim_names[FT_OPT_COUNT] = {FT_OPTIMIZERS(FT_ROW_NAME)};

const char *ft_layer_type_name(ft_layer_type t) { return ft_layer_type_names[t]; }
const char *ft_activation_name(ft_activation a) { return ft_activation_names[a]; }
const char *ft_optim_name(ft_optim_type t) { return ft_optim_names[t]; }

FT_NAMES_PARSER(ft_layer_type_parse, ft_layer_type, ft_layer_type_names, FT_LAYER_COUNT)
FT_NAMES_PARSER(ft_activation_parse, ft_activation, ft_activation_names, FT_ACT_COUNT)
FT_NAMES_PARSER(ft_optim_parse, ft_optim_type, ft_optim_names, FT_OPT_COUNT)
