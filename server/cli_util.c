#include "server/cli_util.h"

#include <stdio.h>

void ft_cli_print_error(const char *prog, const ft_error *err)
{
    if (err->param[0])
        fprintf(stderr, "%s: %s: %s\n", prog, err->param, err->msg);
    else
        fprintf(stderr, "%s: %s\n", prog, err->msg);
}

ft_dataset *ft_cli_load_dataset(const char *path, const char *images, const char *labels, ft_error *err)
{
    if (images && labels)
        return ft_idx_load(images, labels, err);
    ft_fail(err, FT_EINVAL, NULL, "cannot load %s: single-file datasets are not supported yet", path ? path : "?");
    return NULL;
}
