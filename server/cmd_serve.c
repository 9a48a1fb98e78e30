#include <stdio.h>

#include "server/cli.h"

int ft_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "finetuned: 'serve' is not built yet\n");
    return 2;
}
