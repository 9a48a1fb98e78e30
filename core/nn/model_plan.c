/* Buffer plans by liveness for the workspaces (core/nn/model_exec.c): each
 * buffer is busy from the step that writes it first to the step that reads
 * it last, and buffers whose busy steps do not overlap share memory. The
 * forward plan places layer outputs; the backward plan places the gradients
 * of layer outputs, which a graph may have to accumulate from several
 * consumers and keep until the layer itself runs backward. */
#include <stdint.h>
#include <stdlib.h>

#include "core/nn/model_internal.h"

size_t ft_aligned16(size_t floats) { return (floats + 15) & ~(size_t)15; }

size_t ft_layer_scratch_floats(const ft_layer *l, int max_batch)
{
    return l->kind->scratch_floats ? l->kind->scratch_floats(l, max_batch) : 0;
}

/* Items 0..n-1, each busy over steps [born, dies] and needing need[] floats
 * (multiples of 16): taken in order of birth, each takes a free slot (one
 * whose last item died before it is born) that fits best, else grows the
 * largest free slot, else opens a new one; the slots are laid end to end.
 * offset[i] receives where item i starts (offset may be NULL). Returns the
 * floats of all slots, or SIZE_MAX if out of memory. */
static size_t plan_slots(int n, const int *born, const int *dies, const size_t *need, size_t *offset)
{
    size_t total = SIZE_MAX;
    int *order = malloc(sizeof *order * (size_t)n + 1), *slot = malloc(sizeof *slot * (size_t)n + 1);
    int *busy_until = malloc(sizeof *busy_until * (size_t)n + 1);
    size_t *size = malloc(sizeof *size * (size_t)n + 1), *start = malloc(sizeof *start * (size_t)n + 1);
    if (!order || !slot || !busy_until || !size || !start)
        goto done;
    /* order: items by birth, ties by index (a stable insertion sort: births are nearly sorted) */
    for (int i = 0; i < n; i++) {
        int j = i;
        for (; j > 0 && born[order[j - 1]] > born[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    int nslots = 0;
    for (int o = 0; o < n; o++) {
        int i = order[o], best = -1, largest = -1;
        for (int s = 0; s < nslots; s++) {
            if (busy_until[s] >= born[i])
                continue;
            if (size[s] >= need[i] && (best < 0 || size[s] < size[best]))
                best = s;
            if (largest < 0 || size[s] > size[largest])
                largest = s;
        }
        if (best < 0 && largest >= 0)
            size[best = largest] = need[i];
        if (best < 0) {
            best = nslots++;
            size[best] = need[i];
        }
        slot[i] = best;
        busy_until[best] = dies[i];
    }
    total = 0;
    for (int s = 0; s < nslots; s++) {
        start[s] = total;
        total += size[s];
    }
    for (int i = 0; offset && i < n; i++)
        offset[i] = start[slot[i]];
done:
    free(order), free(slot), free(busy_until), free(size), free(start);
    return total;
}

/* The arrays of a plan of n items. */
typedef struct {
    int *born, *dies;
    size_t *need;
} plan_items;

static int items_alloc(plan_items *p, int n)
{
    p->born = malloc(sizeof *p->born * (size_t)n + 1);
    p->dies = malloc(sizeof *p->dies * (size_t)n + 1);
    p->need = malloc(sizeof *p->need * (size_t)n + 1);
    return p->born && p->dies && p->need ? 0 : -1;
}

static void items_free(plan_items *p) { free(p->born), free(p->dies), free(p->need); }

size_t ft_plan_forward(const ft_model *m, int from, int to, int max_batch, size_t *offset)
{
    int n = to - from;
    size_t b = (size_t)max_batch, scratch = 0, total = SIZE_MAX;
    plan_items p;
    if (items_alloc(&p, n) == 0) {
        /* step i writes layer from + i; it lives until its last reader (the final output to the end) */
        for (int i = 0; i < n; i++) {
            const ft_layer *l = &m->layers[from + i];
            p.born[i] = i;
            p.dies[i] = i == n - 1 ? n : i;
            p.need[i] = ft_aligned16(b * ft_shape_size(l->out));
            size_t s = ft_aligned16(ft_layer_scratch_floats(l, max_batch));
            scratch = s > scratch ? s : scratch;
            for (int j = 0; j < l->ninputs; j++) {
                int k = l->inputs[j] - from;
                if (k >= 0 && p.dies[k] < i)
                    p.dies[k] = i;
            }
        }
        total = plan_slots(n, p.born, p.dies, p.need, offset);
    }
    items_free(&p);
    return total == SIZE_MAX ? total : total + scratch + 16; /* + 16: never 0 */
}

size_t ft_plan_backward(const ft_model *m, int from, int max_batch, size_t *offset, size_t *temp)
{
    /* Step t runs layer n - 1 - t backward. The gradient of layer k's output
     * is first written by its last consumer and read by k itself; the last
     * layer's is the caller's. A layer nothing reads gets zeros at its own step. */
    int n = m->nlayers, items = n - 1 - from;
    size_t b = (size_t)max_batch, total = SIZE_MAX;
    *temp = 0;
    plan_items p;
    if (items_alloc(&p, items) == 0) {
        for (int k = 0; k < items; k++) {
            p.born[k] = p.dies[k] = n - 1 - (from + k);
            p.need[k] = ft_aligned16(b * ft_shape_size(m->layers[from + k].out));
        }
        for (int i = from; i < n; i++) {
            const ft_layer *l = &m->layers[i];
            size_t ins = 0;
            for (int j = 0; j < l->ninputs; j++) {
                int k = l->inputs[j];
                const ft_shape s = k < 0 ? m->input : m->layers[k].out;
                ins += ft_aligned16(b * ft_shape_size(s));
                if (k >= from && p.born[k - from] > n - 1 - i)
                    p.born[k - from] = n - 1 - i;
            }
            /* gradients that add to an earlier consumer's go through temp first */
            *temp = ins > *temp ? ins : *temp;
        }
        total = plan_slots(items, p.born, p.dies, p.need, offset);
    }
    items_free(&p);
    return total;
}
