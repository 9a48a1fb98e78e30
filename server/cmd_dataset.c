#include <stdio.h>

#include "server/cli.h"

int ft_cmd_dataset(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "finetuned: 'dataset' is not built yet\n");
    return 2;
}
