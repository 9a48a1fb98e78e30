/* A model's input preprocessing for images (core/data): parse, emit and
 * apply. Predict uses it; jobs will.
 *
 * JSON (the model's "preprocessing" metadata), every key optional:
 *   {"per": "channel", "resize": 256, "crop": [224, 224], "color": "rgb",
 *    "scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406],
 *    "std": [0.229, 0.224, 0.225]}
 * resize: the shorter side, in pixels (torchvision Resize(int), bilinear,
 * antialias=False); crop: the center crop, [h, w] or one side, which is the
 * model's input H, W; color: "rgb" or "gray"; scale multiplies the 0..255
 * values (default 1/255); mean and std have one value per channel and then
 * need "per": "channel", which tells them from the older per-feature form
 * {"scale", "mean": [one per input value], "std": [...]} (preproc.c), whose
 * loading and meaning stay the same. The string "imagenet" (or the JSON
 * string "imagenet") is the preset resize 256, crop 224x224, rgb, 1/255 and
 * ImageNet's mean and std. */
#ifndef FT_IMAGE_PREPROC_H
#define FT_IMAGE_PREPROC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/data/image.h"
#include "core/util/shape.h"

typedef struct {
    int resize;         /* shorter side before the crop; 0: none */
    int crop_h, crop_w; /* center crop; 0: none */
    int channels;       /* 3 (rgb) or 1 (gray); 0: the model input's */
    float scale;        /* multiplies 0..255 values */
    int nmean;          /* 0, or how many per-channel mean / std values */
    float mean[3];      /* per channel, subtracted after scaling */
    float std[3];       /* per channel, divided by after that */
} ft_image_preproc;

/* Parse a preset name ("imagenet") or JSON text. Errors are FT_EINVAL with
 * param naming the key ("preprocess.crop"). */
int ft_image_preproc_parse(const char *text, ft_image_preproc *pp, ft_error *err);

/* The same from parsed JSON (an object, or a preset name string). */
int ft_image_preproc_from_json(const json_t *j, ft_image_preproc *pp, ft_error *err);

/* The canonical JSON (with "per": "channel" when it has mean / std). */
json_t *ft_image_preproc_to_json(const ft_image_preproc *pp);

/* Whether stored preprocessing JSON is the image form (it has "per",
 * "resize", "crop" or "color"), rather than the per-feature one. */
bool ft_image_preproc_is_image(const json_t *j);

/* Whether pp resizes or crops (else an image is resized to the input). */
bool ft_image_preproc_has_geometry(const ft_image_preproc *pp);

/* Whether pp fits a model input `in` ([C, H, W]): channels, mean / std
 * count, and a crop of exactly H x W. */
int ft_image_preproc_check(const ft_image_preproc *pp, ft_shape in, ft_error *err);

/* Parse text (preset or JSON), check it against the model input `in` and
 * return its canonical JSON, the form a model's metadata keeps. A preset
 * takes the input's size: "imagenet" on a 112x112 input resizes to 128 and
 * crops 112x112. */
json_t *ft_image_preproc_for_input(const char *text, ft_shape in, ft_error *err);

/* A decoded image (any size, 1 or 3 channels) to the model's input `in`
 * ([C, H, W]), as C x H x W floats: resize, crop (or, with neither, a plain
 * resize to H x W), colour, scale, mean / std. The crop must be H x W. */
int ft_image_preproc_apply(const ft_image_preproc *pp, const ft_image *im, ft_shape in, float *out, ft_error *err);

/* The same from a stored dataset row of c x h x w bytes (CHW), e.g. a
 * dataset stored at 256x256 for a model that takes 224x224. */
int ft_image_preproc_apply_row(const ft_image_preproc *pp, const uint8_t *chw, int c, int h, int w, ft_shape in,
                               float *out, ft_error *err);

/* An image dataset ([1 or 3, H, W] bytes, any H x W) brought to the model
 * input `in` the way ft_image_preproc_apply_row does it (resize and crop,
 * colour), rounded back to bytes: what a job on a base model with image
 * preprocessing trains on. Scale, mean and std are left to the job's
 * ft_preproc. Labels, targets and class names carry over. */
ft_dataset *ft_image_preproc_dataset(const ft_image_preproc *pp, const ft_dataset *ds, ft_shape in, ft_error *err);

#endif
