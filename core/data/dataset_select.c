/* Selectors and splits: parts of a dataset without a new upload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data/dataset.h"
#include "core/util/rng.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Resolve the selector's classes to dataset class indices, in the given order. */
static int resolve_classes(const ft_dataset *ds, const ft_selector *sel, int *ids, ft_error *err)
{
    int k = ft_dataset_target_dim(ds);
    for (size_t i = 0; i < sel->nclasses; i++) {
        char param[32];
        snprintf(param, sizeof param, "classes[%zu]", i);
        if (sel->class_ids) {
            ids[i] = sel->class_ids[i];
            if (ids[i] < 0 || ids[i] >= k)
                return ft_fail(err, FT_EINVAL, param,
                               "class %d does not exist (the dataset has classes 0..%d)", ids[i], k - 1);
        } else {
            ids[i] = -1;
            for (int c = 0; c < k && ids[i] < 0; c++)
                if (strcmp(ft_dataset_class_name(ds, c), sel->class_names[i]) == 0)
                    ids[i] = c;
            if (ids[i] < 0)
                return ft_fail(err, FT_EINVAL, param, "class '%s' does not exist in the dataset",
                               sel->class_names[i]);
        }
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return ft_fail(err, FT_EINVAL, param, "class %d is selected twice", ids[i]);
    }
    return 0;
}

ft_dataset *ft_dataset_select(const ft_dataset *ds, const ft_selector *sel, ft_error *err)
{
    size_t rows = ft_dataset_rows(ds);
    if (ft_dataset_target_kind(ds) != FT_TARGET_CLASSES) {
        if (sel->nclasses || sel->per_class >= 0) {
            ft_fail(err, FT_EINVAL, "classes", "classes and per_class need a classification dataset");
            return NULL;
        }
        uint32_t *all = malloc(sizeof *all * (rows ? rows : 1));
        if (!all) {
            ft_fail(err, FT_ENOMEM, NULL, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < rows; i++)
            all[i] = (uint32_t)i;
        ft_dataset *out = ft_dataset_take(ds, all, rows, err);
        free(all);
        return out;
    }
    int k = ft_dataset_target_dim(ds);
    size_t nsel = sel->nclasses ? sel->nclasses : (size_t)k;
    int *ids = malloc(sizeof *ids * nsel);
    int *class_map = malloc(sizeof *class_map * (size_t)k);
    uint32_t *pick = malloc(sizeof *pick * (rows ? rows : 1));
    uint32_t *members = malloc(sizeof *members * (rows ? rows : 1));
    ft_dataset *out = NULL;
    size_t npick = 0;
    if (!ids || !class_map || !pick || !members) {
        ft_fail(err, FT_ENOMEM, NULL, "out of memory");
        goto done;
    }
    if (sel->nclasses) {
        if (resolve_classes(ds, sel, ids, err) != 0)
            goto done;
    } else {
        for (int c = 0; c < k; c++)
            ids[c] = c;
    }
    for (int c = 0; c < k; c++)
        class_map[c] = -1;
    for (size_t i = 0; i < nsel; i++)
        class_map[ids[i]] = (int)i;

    const int32_t *labels = ft_dataset_clabels(ds);
    ft_rng rng;
    ft_rng_seed(&rng, sel->seed);
    for (size_t s = 0; s < nsel; s++) {
        size_t n = 0;
        for (size_t i = 0; i < rows; i++)
            if (labels[i] == ids[s])
                members[n++] = (uint32_t)i;
        size_t want = n;
        if (sel->per_class >= 0) {
            if ((size_t)sel->per_class > n) {
                ft_fail(err, FT_EINVAL, "per_class",
                        "class '%s' has %zu rows, fewer than per_class %ld",
                        ft_dataset_class_name(ds, ids[s]), n, sel->per_class);
                goto done;
            }
            want = (size_t)sel->per_class;
            ft_rng_shuffle(&rng, members, n);
        }
        memcpy(pick + npick, members, want * sizeof *pick);
        npick += want;
    }
    qsort(pick, npick, sizeof *pick, cmp_u32);
    out = ft_dataset_take_relabel(ds, pick, npick, class_map, (int)nsel, err);
done:
    free(ids);
    free(class_map);
    free(pick);
    free(members);
    return out;
}

int ft_dataset_split(const ft_dataset *ds, double fraction, uint64_t seed, ft_dataset **first,
                     ft_dataset **second, ft_error *err)
{
    size_t rows = ft_dataset_rows(ds);
    if (!(fraction > 0 && fraction < 1))
        return ft_fail(err, FT_EINVAL, "validation.split", "split must be between 0 and 1, got %g",
                       fraction);
    size_t nsecond = (size_t)((double)rows * fraction + 0.5);
    if (nsecond < 1)
        nsecond = 1;
    if (nsecond >= rows)
        return ft_fail(err, FT_EINVAL, "validation.split",
                       "a split of %g leaves no training rows out of %zu", fraction, rows);
    uint32_t *idx = malloc(sizeof *idx * rows);
    if (!idx)
        return ft_fail(err, FT_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < rows; i++)
        idx[i] = (uint32_t)i;
    ft_rng rng;
    ft_rng_seed(&rng, seed);
    ft_rng_shuffle(&rng, idx, rows);
    size_t nfirst = rows - nsecond;
    /* Keep each part in the original row order. */
    qsort(idx, nfirst, sizeof *idx, cmp_u32);
    qsort(idx + nfirst, nsecond, sizeof *idx, cmp_u32);
    *first = ft_dataset_take(ds, idx, nfirst, err);
    *second = *first ? ft_dataset_take(ds, idx + nfirst, nsecond, err) : NULL;
    free(idx);
    if (!*second) {
        ft_dataset_free(*first);
        *first = NULL;
        return -1;
    }
    return 0;
}
