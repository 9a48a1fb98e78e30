/* finetuned inspect MODEL.safetensors: the layer table of a model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/model.h"
#include "server/cli.h"
#include "server/cli_util.h"

static void shape_str(ft_shape s, char *buf, size_t n)
{
    if (s.rank == 1)
        snprintf(buf, n, "[%d]", s.dim[0]);
    else
        snprintf(buf, n, "[%d, %d, %d]", s.dim[0], s.dim[1], s.dim[2]);
}

int ft_cmd_inspect(int argc, char **argv)
{
    bool as_json = argc == 3 && strcmp(argv[1], "--json") == 0;
    if (argc != 2 && !as_json) {
        fprintf(stderr, "usage: finetuned inspect [--json] MODEL.safetensors\n");
        return 2;
    }
    ft_error err = {0};
    ft_model *m = ft_model_load(argv[argc - 1], &err);
    if (!m) {
        ft_cli_print_error("finetuned inspect", &err);
        return 1;
    }
    char in[64];
    shape_str(ft_model_input_shape(m), in, sizeof in);
    if (!as_json) {
        printf("input %s\n", in);
        printf("%-5s %-20s %-17s %-11s %-16s %10s  %s\n", "index", "name", "type", "activation", "output",
               "params", "trainable");
    }
    json_t *layers = json_array();
    size_t total = 0, trainable = 0;
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        char out[64];
        shape_str(li.output, out, sizeof out);
        const char *act = li.has_params ? ft_activation_name(li.activation) : "-";
        total += li.params;
        trainable += li.trainable ? li.params : 0;
        if (as_json)
            json_array_append_new(layers, json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:b}", "index", i, "name",
                                                    li.name, "type", ft_layer_type_name(li.type), "activation",
                                                    act, "output", out, "params", (json_int_t)li.params,
                                                    "trainable", li.trainable));
        else
            printf("%-5d %-20s %-17s %-11s %-16s %10zu  %s\n", i, li.name, ft_layer_type_name(li.type), act,
                   out, li.params, li.trainable ? "yes" : "no");
    }
    if (as_json) {
        json_t *j = json_pack("{s:s, s:o, s:I, s:I}", "input", in, "layers", layers, "params", (json_int_t)total,
                              "trainable_params", (json_int_t)trainable);
        if (ft_model_classes(m))
            json_object_set(j, "classes", (json_t *)ft_model_classes(m));
        char *s = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        json_decref(layers);
        printf("params %zu (trainable %zu)\n", total, trainable);
        const json_t *classes = ft_model_classes(m);
        if (classes) {
            char *s = json_dumps(classes, JSON_COMPACT);
            printf("classes %s\n", s);
            free(s);
        }
    }
    ft_model_free(m);
    return 0;
}
