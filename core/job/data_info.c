/* ft_data_info read back from a dataset summary (ft_dataset_summary, as the
 * ingest stores it), so a job is planned without loading its data. */
#include <stdlib.h>
#include <string.h>

#include "core/job/spec.h"

int ft_data_info_from_summary(const json_t *summary, ft_data_info *info, ft_error *err)
{
    memset(info, 0, sizeof *info);
    if (ft_shape_from_json(json_object_get(summary, "input_shape"), &info->shape) != 0)
        return ft_fail(err, FT_EFORMAT, NULL, "the stored dataset has no valid input_shape");
    info->rows = (size_t)json_integer_value(json_object_get(summary, "rows"));
    const char *dtype = json_string_value(json_object_get(summary, "dtype"));
    info->xtype = dtype && strcmp(dtype, "uint8") == 0 ? FT_X_U8 : FT_X_F32;
    json_t *classes = json_object_get(summary, "classes");
    if (!json_is_array(classes)) {
        info->kind = FT_TARGET_VALUES;
        info->target_dim = (int)json_integer_value(json_object_get(json_object_get(summary, "targets"), "dim"));
        return info->target_dim > 0 ? 0 : ft_fail(err, FT_EFORMAT, NULL, "the stored dataset has no targets");
    }
    size_t k = json_array_size(classes);
    const char **names = malloc(sizeof *names * (k ? k : 1));
    uint64_t *counts = malloc(sizeof *counts * (k ? k : 1));
    if (!names || !counts) {
        free(names), free(counts);
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        json_t *c = json_array_get(classes, i);
        names[i] = json_string_value(json_object_get(c, "name"));
        counts[i] = (uint64_t)json_integer_value(json_object_get(c, "count"));
        if (!names[i]) {
            free(names), free(counts);
            return ft_fail(err, FT_EFORMAT, NULL, "the stored dataset's class %zu has no name", i);
        }
    }
    info->kind = FT_TARGET_CLASSES;
    info->target_dim = (int)k;
    info->class_names = names;
    info->class_counts = counts;
    return 0;
}
