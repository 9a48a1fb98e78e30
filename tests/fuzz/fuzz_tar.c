/* libFuzzer: image-folder archives (tar or tar.gz of PNGs). The first byte
 * picks the colour and the output size. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ft_ingest_options o = fuzz_options(FT_FORMAT_TAR);
    o.color = (ft_color)(data[0] % 3);
    if (data[0] & 4)
        o.image_height = o.image_width = 1 + (data[0] >> 4);
    fuzz_ingest(data + 1, size - 1, &o);
    return 0;
}
