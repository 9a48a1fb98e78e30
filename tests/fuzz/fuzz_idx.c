/* libFuzzer: IDX pairs. The first two bytes give the length of the images
 * file; the rest of the input is the labels file. Either may be gzipped. */
#include "core/data/ingest_internal.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t)data[0] << 8 | data[1];
    data += 2;
    size -= 2;
    if (n > size)
        n = size;
    ft_ingest_options o = fuzz_options(FT_FORMAT_IDX);
    ft_error err;
    ft_stream *im = ft_stream_open_mem(data, n, &err), *lb = ft_stream_open_mem(data + n, size - n, &err);
    ft_dataset *ds = NULL;
    if (im && lb && ft_stream_auto_gunzip(im, &o, &err) == 0 && ft_stream_auto_gunzip(lb, &o, &err) == 0 &&
        ft_idx_parse(im, "images", lb, "labels", &o, &ds, &err) == 0) {
        json_t *s = ft_dataset_summary(ds);
        json_decref(s);
        ft_dataset_free(ds);
    }
    ft_stream_close(im);
    ft_stream_close(lb);
    return 0;
}
