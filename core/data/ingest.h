/* Dataset ingestion: every upload format parsed, validated and summarised.
 *
 * One entry point serves the HTTP upload route and `finetuned dataset
 * inspect`: ft_ingest() takes a file (CSV, .tar / .tar.gz / .zip of PNG or
 * JPEG images, safetensors; gzipped CSV too) or an IDX pair, and returns an in-memory
 * ft_dataset plus a JSON summary, or an error whose message names the line
 * and column, the archive entry or the tensor at fault.
 *
 * Formats, when not given, are recognised from the content -- gzip magic,
 * "ustar" at offset 257 (or a valid tar header checksum), IDX magic, the
 * safetensors length prefix followed by '{' -- and only then from the file
 * extension; anything else that is text is CSV.
 *
 * Decisions a user can rely on (docs/datasets.md has the long form):
 * - Classes are sorted: text labels and image folders by byte order
 *   (Keras / scikit-learn LabelEncoder order), integer labels numerically.
 *   Row order never changes a class index.
 * - CSV task "auto": a label column with any non-numeric value is
 *   classification. A numeric one is classification only if its labels look
 *   like class indices: all plain integers ("0", "7": no decimal point or
 *   exponent), at most FT_AUTO_MAX_INT_CLASSES distinct values, the smallest
 *   0 or 1 (or exactly {-1, 1}); any other numeric column is regression.
 *   task=classification / task=regression override this; the summary's
 *   task_reason says which rule applied.
 * - CSV files in scikit-learn's bundled format (first line "n_samples,
 *   n_features[,class names...]", e.g. iris.csv) are recognised: the class
 *   names come from that line, the row count is checked against it.
 * - Images are converted to the requested colour (grayscale uses ITU-R 601
 *   luma like PIL, alpha is dropped) and resized bilinearly (half-pixel
 *   centres, as tf.image.resize) to the requested size, then rounded to uint8;
 *   images of another aspect ratio are covered and center-cropped (fit). 
 *
 * Memory stays bounded: input is streamed through fixed buffers, so a 1 GB
 * CSV needs the parsed floats plus a few MiB, never the file's size.
 */
#ifndef FT_INGEST_H
#define FT_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/data/format_list.h"
#include "core/util/error.h"

/* File formats (gzip compression is orthogonal and detected by magic): one
 * value per row of core/data/format_list.h, FT_FORMAT_CSV, FT_FORMAT_TAR
 * (.tar or .tar.gz of <class>/<name>.png|.jpg), FT_FORMAT_ZIP (the same as a
 * .zip), FT_FORMAT_IDX (MNIST-style images
 * + labels pair), FT_FORMAT_SAFETENSORS (tensors x and y). */
#define FT_FORMAT_ENUM(ID, name) FT_FORMAT_##ID,
typedef enum {
    FT_FORMAT_AUTO = 0, /* sniff the content, then the extension */
    FT_FORMAT_LIST(FT_FORMAT_ENUM)
} ft_format;
#undef FT_FORMAT_ENUM

/* What the labels mean. */
typedef enum {
    FT_TASK_AUTO = 0,       /* decide from the labels (see above) */
    FT_TASK_CLASSIFICATION, /* every distinct label is a class */
    FT_TASK_REGRESSION      /* labels are float targets */
} ft_task;

/* Colour of decoded images. */
typedef enum {
    FT_COLOR_AUTO = 0,  /* the first image's: gray stays gray, anything else rgb */
    FT_COLOR_GRAYSCALE, /* one channel */
    FT_COLOR_RGB        /* three channels */
} ft_color;

/* How images of another aspect ratio than the dataset's become rows. */
typedef enum {
    FT_FIT_CROP = 0, /* resize to cover, keeping the aspect ratio, then center-crop */
    FT_FIT_SQUASH    /* resize to the size whatever the aspect ratio */
} ft_fit;

#define FT_AUTO_MAX_INT_CLASSES 100 /* integer labels above this many values: regression */

/* Defaults used where an option is left 0. */
#define FT_DEFAULT_MAX_COLUMNS 65536u
#define FT_DEFAULT_MAX_CLASSES 10000u
#define FT_DEFAULT_MAX_LINE_BYTES (16u << 20)
#define FT_DEFAULT_MAX_DECOMPRESSED (8ull << 30)
#define FT_DEFAULT_MAX_IMAGE_PIXELS (1ull << 26) /* 8192 x 8192 */
#define FT_DEFAULT_MAX_ENTRY_BYTES (256ull << 20)
/* A dataset is held whole in memory by every job that trains on it (and by
 * its selectors and splits), so its stored size bounds a job's data share:
 * 4 GiB is 70 Fashion-MNISTs or CIFAR-10 25 times over, and still leaves a
 * 16 GB machine room for a worker's model and batches. */
#define FT_DEFAULT_MAX_DATASET_BYTES (4ull << 30)
/* Largest image_size side: 4096 x 4096 RGB is already 48 MiB per image. */
#define FT_MAX_IMAGE_SIDE 4096

/* How to read a dataset. Zero-initialise, then set what you need: every 0 /
 * NULL field means "the default". String fields are borrowed for the call. */
typedef struct {
    ft_format format;      /* FT_FORMAT_AUTO: recognise it */
    const char *label;     /* CSV label column by name; NULL: the last column */
    ft_task task;          /* CSV and safetensors: what the labels are */
    char delimiter;        /* CSV field separator; 0: ','; ' ': runs of spaces and tabs */
    bool no_header;        /* CSV without a header row: columns are named "0", "1", ... */
    int image_height;      /* resize images to this; 0: theirs if they all have one, else 256 */
    int image_width;       /* (both or neither) */
    ft_color color;        /* image colour; FT_COLOR_AUTO: the first image's */
    ft_fit fit;            /* images of another aspect ratio: crop (default) or squash */
    uint64_t max_columns;  /* CSV columns */
    uint64_t max_classes;  /* distinct labels of a classification dataset */
    uint64_t max_line_bytes;         /* one CSV record */
    uint64_t max_decompressed_bytes; /* output of gunzip (bomb guard) */
    uint64_t max_image_pixels;       /* width * height of one source image */
    uint64_t max_entry_bytes;        /* one file inside an archive */
    uint64_t max_dataset_bytes;      /* the dataset as stored: pixels or features, labels, targets */
} ft_ingest_options;

/* What to read: one file, or an IDX pair. `name` (and images_name /
 * labels_name) is what messages and the summary call the file -- the upload's
 * file name, say; NULL: the path. A memory buffer may stand in for a single
 * file (data non-NULL, path NULL). */
typedef struct {
    const char *path;        /* the single file */
    const char *name;        /* its display name */
    const void *data;        /* or: the file's bytes in memory */
    size_t len;              /* their count */
    const char *images_path; /* IDX: the images file */
    const char *images_name; /* its display name */
    const char *labels_path; /* IDX: the labels file */
    const char *labels_name; /* its display name */
} ft_ingest_source;

/* Parse, validate and summarise a dataset. On success *out owns the dataset
 * and *summary (if summary is non-NULL) a JSON object:
 *   rows, input_shape, dtype, task, classes [{name, count}] or targets
 *   {dim, mean, std, min, max}, format, compression, files [{role, name,
 *   bytes, sha256}], and per format: label_column, features, task_reason
 *   (CSV); image_size, color, skipped (images); warnings (all).
 * Errors are prefixed with the display name ("train.csv: line 3, ..."). */
int ft_ingest(const ft_ingest_source *src, const ft_ingest_options *opt, ft_dataset **out,
              json_t **summary, ft_error *err);

/* Set one option from its upload query-parameter / CLI spelling: "format",
 * "label", "task", "delimiter", "header" (true/false), "image_size" ("28x28"
 * or "28"), "color", "fit" (crop, squash). Errors are FT_EINVAL with param = key. */
int ft_ingest_option_set(ft_ingest_options *opt, const char *key, const char *value, ft_error *err);

/* The i-th option key an upload reads ("format", "label", ...: those some
 * format takes), or NULL past the last. */
const char *ft_ingest_option_key(size_t i);

/* Spelling of a format ("csv", "tar", "idx", "safetensors"; "auto"). */
const char *ft_format_name(ft_format f);

/* Every spelling, for messages and help: "auto, csv, tar, idx or safetensors". */
void ft_format_names(char *dst, size_t cap);

/* Recognise a file's format from its content (and, failing that, its name):
 * *format gets the format, *gzip whether the file is gzip-compressed. A file
 * that is clearly something unsupported (zip, PNG, ...) is an error. */
int ft_ingest_sniff(const char *path, ft_format *format, bool *gzip, ft_error *err);

/* IDX header facts, for pairing images and labels files. */
typedef struct {
    int rank;          /* 1 for labels, 3 for images */
    uint32_t dims[4];  /* dims[0] is the item count */
    int dtype;         /* IDX type code (0x08 = uint8) */
} ft_idx_header;

/* Read just the header of an IDX file (gzipped or not). */
int ft_idx_probe(const char *path, ft_idx_header *h, ft_error *err);

/* Load an IDX pair (MNIST format), gzipped or not: images u8 [n, rows, cols]
 * become [1, rows, cols]; labels u8 [n] become classes 0..max. */
ft_dataset *ft_idx_load(const char *images_path, const char *labels_path, ft_error *err);

#endif
