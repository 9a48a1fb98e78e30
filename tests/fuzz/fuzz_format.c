/* libFuzzer: one dataset format, through its descriptor. The fuzz build
 * compiles this once per core/data/format_<name>.c, with FUZZ_FORMAT set to
 * "<name>" (build-fuzz/fuzz_<name>). The format's fuzz entry picks the
 * options it reads from the input's leading bytes; the rest is its file, or
 * for a two-file format (IDX) two bytes giving the first file's length,
 * then the first file, then the second. Either file may be gzipped. */
#include <stdio.h>
#include <stdlib.h>

#include "core/data/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ft_format_desc *fmt = ft_format_by_name(FUZZ_FORMAT);
    if (!fmt) {
        fprintf(stderr, "fuzz_format: no format '%s' in core/data/format_list.h\n", FUZZ_FORMAT);
        abort();
    }
    if (size < 1)
        return 0;
    /* Limits small enough that a run stays fast and within memory,
     * whatever the input claims. */
    ft_ingest_options o = {.format = fmt->id,
                           .max_columns = 4096,
                           .max_line_bytes = 1u << 20,
                           .max_decompressed_bytes = 16u << 20,
                           .max_image_pixels = 1u << 18,
                           .max_entry_bytes = 4u << 20,
                           .max_dataset_bytes = 64u << 20,
                           .max_classes = 1000};
    size_t used = fmt->fuzz_options ? fmt->fuzz_options(data, size, &o) : 0;
    data += used;
    size -= used;
    ft_format_file files[FT_FORMAT_MAX_FILES] = {{.data = data, .len = size, .name = "fuzz"}};
    if (fmt->files == 2) {
        if (size < 2)
            return 0;
        size_t n = (size_t)data[0] << 8 | data[1];
        if (n > size - 2)
            n = size - 2;
        files[0] = (ft_format_file){.data = data + 2, .len = n, .name = "images"};
        files[1] = (ft_format_file){.data = data + 2 + n, .len = size - 2 - n, .name = "labels"};
    }
    ft_dataset *ds = NULL;
    json_t *summary = NULL;
    ft_error err;
    if (ft_ingest_files(files, fmt->files, &o, &ds, &summary, &err) == 0) {
        ft_dataset_validate(ds, &err);
        ft_dataset_free(ds);
        json_decref(summary);
    }
    return 0;
}
