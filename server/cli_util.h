/* Helpers shared by the CLI subcommands. */
#ifndef FT_CLI_UTIL_H
#define FT_CLI_UTIL_H

#include "core/data/dataset.h"
#include "core/util/error.h"

/* Print "prog: [param: ]message" to stderr. */
void ft_cli_print_error(const char *prog, const ft_error *err);

/* Load a local dataset: one file (any upload format) or an IDX pair. */
ft_dataset *ft_cli_load_dataset(const char *path, const char *images, const char *labels, ft_error *err);

#endif
