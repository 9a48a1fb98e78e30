/* Shared by the libFuzzer harnesses: options small enough that a run stays
 * fast and within memory, whatever the input claims. */
#ifndef FT_FUZZ_COMMON_H
#define FT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "core/data/dataset.h"
#include "core/data/ingest.h"

static inline ft_ingest_options fuzz_options(ft_format format)
{
    ft_ingest_options o = {.format = format};
    o.max_columns = 4096;
    o.max_line_bytes = 1u << 20;
    o.max_decompressed_bytes = 16u << 20;
    o.max_image_pixels = 1u << 18;
    o.max_entry_bytes = 4u << 20;
    o.max_dataset_bytes = 64u << 20;
    o.max_classes = 1000;
    return o;
}

/* Ingest from memory; the outcome does not matter, only that nothing breaks. */
static inline void fuzz_ingest(const uint8_t *data, size_t size, const ft_ingest_options *opt)
{
    ft_ingest_source src = {.data = data, .len = size, .name = "fuzz"};
    ft_dataset *ds = NULL;
    json_t *summary = NULL;
    ft_error err;
    if (ft_ingest(&src, opt, &ds, &summary, &err) == 0) {
        ft_dataset_validate(ds, &err);
        ft_dataset_free(ds);
        json_decref(summary);
    }
}

#endif
