/* Image augmentation of training rows (the job spec's "augment"): random
 * crop after zero padding, horizontal flip, brightness and contrast, as
 * torchvision's RandomCrop(size, padding), RandomHorizontalFlip and
 * ColorJitter(brightness, contrast) do it. Applied to a training row after
 * the scaling to 0..1 (and after the model's resize and crop, which job.c
 * applies to the stored rows) and before the mean / std normalisation;
 * never to validation, test or predict rows.
 *
 * Every row's random draws come from a generator keyed by (seed, stream,
 * row index) (ft_rng_seed_key): stream is the epoch when augmenting every
 * epoch, the view when precomputing views, so a run is the same however it
 * is batched, threaded or resumed. */
#ifndef FT_AUGMENT_H
#define FT_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/data/dataset.h"
#include "core/util/error.h"

/* Most precomputed views per row, and the spec's default (bench/RESULTS.md,
 * "Augmentation": the accuracy of fresh draws every epoch at a third of the
 * cost on the transfer benchmark). */
#define FT_AUGMENT_MAX_VIEWS 64
#define FT_AUGMENT_DEFAULT_VIEWS 4

typedef struct {
    bool hflip;        /* flip left-right with probability 1/2 */
    int crop_padding;  /* pad every side with this many zeros, crop back at a random offset; 0: off */
    double brightness; /* multiply by a factor uniform in [max(0, 1 - b), 1 + b]; 0: off */
    double contrast;   /* blend with the mean grey by a factor uniform in [max(0, 1 - c), 1 + c]; 0: off */
    int views;         /* 0: new augmentations every epoch (a frozen prefix runs every batch);
                          K: K augmented views per row, run through the frozen prefix once */
} ft_augment;

/* Whether a changes anything. */
bool ft_augment_active(const ft_augment *a);

/* How many copies of the training rows the feature cache holds: 1 without
 * augmentation, K with K views, 0 when augmentation bypasses the cache. */
int ft_augment_cache_copies(const ft_augment *a);

/* Check a against the rows it applies to ([C, H, W] images; contrast
 * needs 1 or 3 channels, the crop's padding less than H and W); errors
 * name "<path>.<key>" (path: "augment"). */
int ft_augment_check(const ft_augment *a, ft_shape shape, const char *path, ft_error *err);

/* a as JSON ({"hflip", "crop": {"padding"}, "brightness", "contrast"},
 * only what is on, and "views"): the echoed spec, checkpoint identity and
 * feature store keys. */
json_t *ft_augment_json(const ft_augment *a);

/* Gather rows idx[0..n) of ds into out as ft_dataset_gather does, each
 * augmented by a between the scaling and the normalisation, with row
 * idx[i]'s draws keyed by (seed, stream, idx[i]). ds's rows are [C, H, W]
 * (ft_augment_check); byte images are clamped to their range, as
 * torchvision clamps float images to [0, 1]. */
void ft_augment_gather(const ft_augment *a, uint64_t seed, uint64_t stream, const ft_dataset *ds,
                       const ft_preproc *pp, const uint32_t *idx, size_t n, float *out);

/* The transforms on one CHW image, for tests against torchvision:
 * TF.hflip; */
void ft_aug_hflip(float *img, int c, int h, int w);
/* F.pad(img, [pad] * 4) then TF.crop(top, left, h, w), in place; */
void ft_aug_crop(float *img, int c, int h, int w, int pad, int top, int left);
/* TF.adjust_brightness(img, factor), values clamped to [0, bound] (bound
 * <= 0: not clamped); */
void ft_aug_brightness(float *img, size_t n, float factor, float bound);
/* TF.adjust_contrast(img, factor) (c 1 or 3), clamped likewise. */
void ft_aug_contrast(float *img, int c, int h, int w, float factor, float bound);

#endif
