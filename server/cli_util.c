#include "server/cli_util.h"

#include "core/data/ingest.h"

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
    /* The same parser and checks as an upload (core/data/ingest.h). */
    ft_ingest_source src = {.path = images || labels ? NULL : path, .images_path = images, .labels_path = labels};
    ft_dataset *ds = NULL;
    if (!src.path && !images && !labels) {
        ft_fail(err, FT_EINVAL, NULL, "no dataset path given");
        return NULL;
    }
    return ft_ingest(&src, NULL, &ds, NULL, err) == 0 ? ds : NULL;
}
