/* The name tables built from core/nn/registry.h's rows, and the name <->
 * value functions for layer types, activations and optimisers. */
#include "core/nn/model.h"
#include "core/nn/optim.h"
#include "core/util/names.h"

const char *const ft_layer_type_names[FT_LAYER_COUNT] = {FT_LAYER_KINDS(FT_ROW_NAME)};
const char *const ft_activation_names[FT_ACT_COUNT] = {FT_ACTIVATIONS(FT_ROW_NAME)};
const char *const ft_optim_names[FT_OPT_COUNT] = {FT_OPTIMIZERS(FT_ROW_NAME)};

const char *ft_layer_type_name(ft_layer_type t) { return ft_layer_type_names[t]; }
const char *ft_activation_name(ft_activation a) { return ft_activation_names[a]; }
const char *ft_optim_name(ft_optim_type t) { return ft_optim_names[t]; }

FT_NAMES_PARSER(ft_layer_type_parse, ft_layer_type, ft_layer_type_names, FT_LAYER_COUNT)
FT_NAMES_PARSER(ft_activation_parse, ft_activation, ft_activation_names, FT_ACT_COUNT)
FT_NAMES_PARSER(ft_optim_parse, ft_optim_type, ft_optim_names, FT_OPT_COUNT)
