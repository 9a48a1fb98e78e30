#include <stdio.h>

#include "server/worker/worker.h"

static json_t *shape_json(ft_shape s) { return ft_shape_to_json(s); }

json_t *ft_model_object(const ft_model *m, const char *id, const json_t *extra)
{
    json_t *layers = json_array();
    size_t total = 0, trainable = 0;
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        total += li.params;
        trainable += li.trainable ? li.params : 0;
        json_array_append_new(layers, json_pack("{s:i, s:s, s:s, s:s, s:o, s:I, s:b}", "index", i, "name", li.name,
                                                "type", ft_layer_type_name(li.type), "activation",
                                                li.has_params ? ft_activation_name(li.activation) : "none",
                                                "output_shape", shape_json(li.output), "params",
                                                (json_int_t)li.params, "trainable", li.trainable));
    }
    ft_activation out = ft_model_output_activation(m);
    const json_t *classes = ft_model_classes(m);
    json_t *obj = json_pack("{s:s, s:o, s:o, s:s, s:s, s:I, s:I, s:o, s:o}", "id", id, "input_shape",
                            shape_json(ft_model_input_shape(m)), "output_shape", shape_json(ft_model_output_shape(m)),
                            "output_activation", ft_activation_name(out), "task",
                            out == FT_ACT_SOFTMAX || (out == FT_ACT_SIGMOID && classes) ? "classification"
                                                                                       : "regression",
                            "params", (json_int_t)total, "trainable_params", (json_int_t)trainable, "classes",
                            classes ? json_deep_copy(classes) : json_null(), "layers", layers);
    if (extra)
        json_object_update(obj, (json_t *)extra);
    return obj;
}
