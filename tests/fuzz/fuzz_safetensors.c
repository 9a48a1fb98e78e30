/* libFuzzer: safetensors datasets as uploads, and as stored datasets (the
 * loader that must survive a tampered data directory). */
#include "core/data/dataset_store.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ft_ingest_options o = fuzz_options(FT_FORMAT_SAFETENSORS);
    o.task = (ft_task)(data[0] % 3);
    fuzz_ingest(data + 1, size - 1, &o);
    ft_dataset *ds = NULL;
    json_t *s = NULL;
    ft_error err;
    if (ft_dataset_load_mem(data + 1, size - 1, &ds, &s, &err) == 0) {
        ft_dataset_free(ds);
        json_decref(s);
    }
    return 0;
}
