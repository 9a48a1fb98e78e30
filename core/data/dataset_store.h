/* The stored form of a dataset: one safetensors file per dataset.
 *
 *   x  U8 or F32  [n, ...input_shape]   (uint8 images stay uint8)
 *   y  I32 [n] class indices, or F32 [n, T] targets
 *   __metadata__:
 *     "format":        "finetuned.dataset"
 *     "format_version": "1"
 *     "input_shape":   JSON array, e.g. "[1, 28, 28]"
 *     "classes":       JSON array of class names (classification only)
 *     "summary":       the ingest summary (JSON object)
 *
 * The file is also a valid safetensors *upload* (x, y, "classes"), so a
 * stored dataset can be downloaded and uploaded again. Writes are atomic
 * (temp file, fsync, rename, directory fsync). Loading treats the file as
 * untrusted -- the data directory may have been tampered with -- and checks
 * the header, every dtype and shape, every label and every float. */
#ifndef FT_DATASET_STORE_H
#define FT_DATASET_STORE_H

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/util/error.h"

/* Write ds and its summary (may be NULL) to path, atomically. */
int ft_dataset_save(const ft_dataset *ds, const json_t *summary, const char *path, ft_error *err);

/* Load and validate a stored dataset. *summary (if non-NULL) gets the stored
 * summary with its data-derived fields (rows, shape, classes, targets)
 * recomputed from the loaded data, so they cannot disagree with it. */
int ft_dataset_load(const char *path, ft_dataset **out, json_t **summary, ft_error *err);

/* The same for a file image in memory. */
int ft_dataset_load_mem(const void *data, size_t len, ft_dataset **out, json_t **summary, ft_error *err);

#endif
