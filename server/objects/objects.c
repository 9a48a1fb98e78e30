/* Stored datasets and models by id, and the API objects (objects.h). */
#include "server/objects/objects.h"

#include <limits.h>
#include <stdio.h>

#include "core/data/dataset_store.h"

const ft_resource ft_resources[] = {
    [FT_RESOURCE_DATASET] = {"dataset", "ds", ft_store_dataset_get, ft_store_dataset_list, ft_store_dataset_insert,
                             ft_store_dataset_delete, ft_app_dataset_path, false},
    [FT_RESOURCE_MODEL] = {"model", "mdl", ft_store_model_get, ft_store_model_list, ft_store_model_insert,
                           ft_store_model_delete, ft_app_model_path, false},
    [FT_RESOURCE_JOB] = {"job", "job", ft_store_job_get, ft_store_job_list, NULL, NULL, NULL, true},
    [FT_RESOURCE_WEBHOOK] = {"webhook", "wh", ft_store_webhook_get, ft_store_webhook_list, ft_store_webhook_insert,
                             ft_store_webhook_delete, NULL, false},
    [FT_RESOURCE_SWEEP] = {"sweep", "swp", ft_store_sweep_get, ft_store_sweep_list, NULL, NULL, NULL, false},
};

ft_dataset *ft_stored_dataset_load(ft_app *app, const char *id, const char *param, ft_error *err)
{
    char path[PATH_MAX];
    if (!ft_app_valid_id("ds", id)) {
        ft_fail(err, FT_ENOTFOUND, param, "no dataset with id '%s'", id ? id : "");
        return NULL;
    }
    ft_app_dataset_path(app, id, path, sizeof path);
    ft_dataset *ds = NULL;
    if (ft_dataset_load(path, &ds, NULL, err) != 0) {
        if (err->code == FT_ENOTFOUND)
            ft_fail(err, FT_ENOTFOUND, param, "dataset %s no longer exists", id);
        return NULL;
    }
    return ds;
}

ft_model *ft_stored_model_load(ft_app *app, const char *id, ft_stored_part part, const char *param, ft_error *err)
{
    if (!ft_app_valid_id("mdl", id)) {
        ft_fail(err, FT_ENOTFOUND, param, "no model with id '%s'", id ? id : "");
        return NULL;
    }
    json_t *obj = ft_store_model_get(app->store, id, err);
    if (!obj)
        return NULL;
    json_decref(obj);
    char path[PATH_MAX];
    ft_app_model_path(app, id, path, sizeof path);
    ft_model *m = part == FT_STORED_WEIGHTS ? ft_model_load(path, err) : ft_model_load_layout(path, err);
    if (!m)
        err->code = FT_EIO;
    return m;
}

json_t *ft_model_object(const ft_model *m, const char *id, const json_t *extra)
{
    json_t *layers = json_array();
    size_t total = 0, trainable = 0;
    for (int i = 0; i < ft_model_num_layers(m); i++) {
        ft_layer_info li;
        ft_model_layer_info(m, i, &li);
        total += li.params;
        trainable += li.trainable ? li.params : 0;
        /* A graph's node: what it reads and the other names (ONNX
         * tensor names) that cut_after accepts for its output. */
        json_t *inputs = json_array();
        for (int k = 0; k < li.ninputs; k++)
            json_array_append_new(inputs, json_string(li.inputs[k]));
        const json_t *aliases = ft_model_layer_aliases(m, i);
        json_array_append_new(layers, json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:I, s:b}", "index", i, "name",
                                                li.name, "type", ft_layer_type_name(li.type), "activation",
                                                li.has_params ? ft_activation_name(li.activation) : "none", "inputs",
                                                inputs, "aliases", aliases ? json_deep_copy(aliases) : json_array(), "output_shape",
                                                ft_shape_to_json(li.output), "params", (json_int_t)li.params,
                                                "trainable", li.trainable));
    }
    ft_activation out = ft_model_output_activation(m);
    const json_t *classes = ft_model_classes(m);
    json_t *obj = json_pack("{s:s, s:o, s:o, s:s, s:s, s:I, s:I, s:o, s:o}", "id", id, "input_shape",
                            ft_shape_to_json(ft_model_input_shape(m)), "output_shape",
                            ft_shape_to_json(ft_model_output_shape(m)), "output_activation", ft_activation_name(out),
                            "task",
                            out == FT_ACT_SOFTMAX || (out == FT_ACT_SIGMOID && classes) ? "classification"
                                                                                       : "regression",
                            "params", (json_int_t)total, "trainable_params", (json_int_t)trainable, "classes",
                            classes ? json_deep_copy(classes) : json_null(), "layers", layers);
    const json_t *pp = ft_model_preprocessing(m);
    json_object_set_new(obj, "preprocessing", pp ? json_deep_copy(pp) : json_null());
    if (extra)
        json_object_update(obj, (json_t *)extra);
    return obj;
}

json_t *ft_dataset_object(const json_t *summary, const char *id, const char *name, uint64_t bytes)
{
    json_t *obj = json_deep_copy(summary);
    json_t *jname = json_string(name); /* NULL if not UTF-8 */
    json_object_set_new(obj, "id", json_string(id));
    json_object_set_new(obj, "name", jname ? jname : json_null());
    json_object_set_new(obj, "bytes", json_integer((json_int_t)bytes));
    return obj;
}

json_t *ft_job_object(const ft_job_spec *spec, const char *id, const json_t *warnings, int max_attempts)
{
    json_t *metadata = json_object_get(spec->json, "metadata"), *name = json_object_get(spec->json, "name");
    return json_pack("{s:s, s:O, s:O, s:i, s:o, s:O}", "id", id, "spec", spec->json, "warnings", warnings,
                     "max_attempts", max_attempts, "metadata", metadata ? json_incref(metadata) : json_object(),
                     "name", name ? name : json_null());
}
