/* Image-folder datasets from an archive (internal to core/data): the
 * parser that the tar and zip formats share (see image_folder.c). */
#ifndef FT_IMAGE_FOLDER_H
#define FT_IMAGE_FOLDER_H

#include "core/data/format.h"

/* Parse files[0], a tar (gunzipped by its stream) or, if zip, a zip archive
 * of <class>/<name>.png|.jpg; as ft_format_desc.parse otherwise. */
int ft_image_folder_parse(const ft_format_file *files, bool zip, const ft_ingest_options *opt, ft_dataset **out,
                          json_t *info, ft_error *err);

/* The formats' fuzz_options: colour, image size and fit from one byte. */
size_t ft_image_folder_fuzz_options(const uint8_t *data, size_t size, ft_ingest_options *opt);

#endif
