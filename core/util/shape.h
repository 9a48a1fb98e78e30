/* Per-sample tensor shapes: [F] for tabular rows, [C, H, W] for images. */
#ifndef FT_SHAPE_H
#define FT_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#define FT_SHAPE_MAX_RANK 3

typedef struct {
    int rank;                   /* 1 (features) or 3 (channels, height, width); 2 means [H, W] */
    int dim[FT_SHAPE_MAX_RANK]; /* sizes, outermost first; unused entries are 0 */
} ft_shape;

/* Number of elements of one sample. */
static inline size_t ft_shape_size(ft_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.rank; i++)
        n *= (size_t)s.dim[i];
    return n;
}

/* The same, checked: -1 if a dimension is not positive or the product
 * overflows size_t (shapes read from files are not trusted). */
static inline int ft_shape_elements(ft_shape s, size_t *out)
{
    size_t n = 1;
    if (s.rank < 1 || s.rank > FT_SHAPE_MAX_RANK)
        return -1;
    for (int i = 0; i < s.rank; i++) {
        if (s.dim[i] < 1 || n > SIZE_MAX / (size_t)s.dim[i])
            return -1;
        n *= (size_t)s.dim[i];
    }
    *out = n;
    return 0;
}

static inline ft_shape ft_shape1(int f) { return (ft_shape){1, {f, 0, 0}}; }
static inline ft_shape ft_shape3(int c, int h, int w) { return (ft_shape){3, {c, h, w}}; }

static inline int ft_shape_equal(ft_shape a, ft_shape b)
{
    if (a.rank != b.rank)
        return 0;
    for (int i = 0; i < a.rank; i++)
        if (a.dim[i] != b.dim[i])
            return 0;
    return 1;
}

/* JSON arrays <-> shapes ([F] or [C, H, W], sizes 1..65536); see model_json.c. */
typedef struct json_t json_t;
int ft_shape_from_json(const json_t *a, ft_shape *out);
json_t *ft_shape_to_json(ft_shape s);

#endif
