/* libFuzzer: CSV ingestion. The first byte picks the dialect and task. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char delims[] = {',', ';', '\t', ' '};
    ft_ingest_options o = fuzz_options(FT_FORMAT_CSV);
    o.delimiter = delims[data[0] & 3];
    o.task = (ft_task)((data[0] >> 2) % 3);
    o.no_header = (data[0] >> 4) & 1;
    o.label = (data[0] >> 5) & 1 ? "label" : NULL;
    fuzz_ingest(data + 1, size - 1, &o);
    return 0;
}
