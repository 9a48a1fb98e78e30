/* The zip format: a .zip of <class>/<name>.png|.jpg, read by the
 * image-folder parser (image_folder.c) through libarchive. */
#include <string.h>

#include "core/data/image_folder.h"

static int zip_parse(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                     ft_error *err)
{
    return ft_image_folder_parse(files, true, opt, out, info, err);
}

/* A local file header, or the end of the central directory of an empty zip. */
static ft_sniff zip_sniff(const unsigned char *head, size_t n, bool gz)
{
    (void)gz;
    return n >= 4 && (memcmp(head, "PK\x03\x04", 4) == 0 || memcmp(head, "PK\x05\x06", 4) == 0) ? FT_SNIFF_SURE
                                                                                                  : FT_SNIFF_NO;
}

static const char *const zip_suffixes[] = {".zip", NULL};

const ft_format_desc ft_format_zip = {
    .id = FT_FORMAT_ZIP, .name = "zip", .what = "a zip archive", .suffixes = zip_suffixes, .files = 1,
    .options = FT_OPT_IMAGE_SIZE | FT_OPT_COLOR | FT_OPT_FIT, .sniff = zip_sniff, .parse = zip_parse,
    .fuzz_options = ft_image_folder_fuzz_options,
};
