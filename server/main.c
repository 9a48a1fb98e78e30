/* finetuned: one binary, several subcommands (see docs/design.md, Layout). */
#include <stdio.h>
#include <string.h>

#include "server/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} commands[] = {
    {"serve", ft_cmd_serve, "serve [--listen ADDR:PORT] [--data-dir DIR] ...  run the HTTP service"},
    {"train", ft_cmd_train, "train SPEC.json [--out MODEL.safetensors] [--threads N]  run one job locally"},
    {"inspect", ft_cmd_inspect, "inspect MODEL.safetensors  print the layer table of a model"},
    {"dataset", ft_cmd_dataset, "dataset inspect FILE...  validate dataset files and print their summary"},
    {"import-onnx", ft_cmd_import_onnx,
     "import-onnx MODEL.onnx OUT.safetensors [--preprocess imagenet]  convert an ONNX file to a model file"},
    {"forward", ft_cmd_forward,
     "forward MODEL.safetensors INPUT.f32 OUTPUT.f32 [--batch N]  run a model on raw float32 samples"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: finetuned COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "finetuned: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
