/* libFuzzer: the loader of stored datasets (the safetensors files in the
 * data directory, which must survive tampering). It shares the safetensors
 * corpus, whose first byte picks the upload's options: skipped here. */
#include "core/data/dataset_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ft_dataset *ds = NULL;
    json_t *s = NULL;
    ft_error err;
    if (ft_dataset_load_mem(data + 1, size - 1, &ds, &s, &err) == 0) {
        ft_dataset_free(ds);
        json_decref(s);
    }
    return 0;
}
