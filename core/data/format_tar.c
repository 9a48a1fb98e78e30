/* The tar format: a tar (or tar.gz) of <class>/<name>.png|.jpg, read by
 * the image-folder parser (image_folder.c). */
#include "core/data/archive.h"
#include "core/data/image_folder.h"

static int tar_parse(const ft_format_file *files, const ft_ingest_options *opt, ft_dataset **out, json_t *info,
                     ft_error *err)
{
    return ft_image_folder_parse(files, false, opt, out, info, err);
}

/* A tar header in the first block ("ustar" at 257, or a valid checksum). */
static ft_sniff tar_sniff(const unsigned char *head, size_t n, bool gz)
{
    (void)gz;
    return n >= 512 && ft_tar_block_is_header(head) ? FT_SNIFF_SURE : FT_SNIFF_NO;
}

static const char *const tar_suffixes[] = {".tar", ".tar.gz", ".tgz", NULL};

const ft_format_desc ft_format_tar = {
    .id = FT_FORMAT_TAR, .name = "tar", .what = "a tar archive", .suffixes = tar_suffixes, .files = 1,
    .options = FT_OPT_IMAGE_SIZE | FT_OPT_COLOR | FT_OPT_FIT, .sniff = tar_sniff, .parse = tar_parse,
    .fuzz_options = ft_image_folder_fuzz_options,
};
