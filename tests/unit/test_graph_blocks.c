/* Backward through torchvision blocks against PyTorch
 * (tests/fixtures/graph_blocks.json from tools/fixtures/graph_blocks.py):
 * a ResNet BasicBlock with and without downsampling, a MobileNetV2
 * InvertedResidual and a SqueezeNet Fire module, BatchNorm folded. For
 * L = sum(y * r): y, dL/dx and dL/d every parameter within 1e-4. */
#include <stdlib.h>
#include <string.h>

#include "tests/unit/fixture_compare.h"
#include "tests/unit/test.h"

/* The gradients of one layer's weight and bias against the case's. */
static void compare_layer(const json_t *grads, const char *name, const ft_model *m, const float *g, int l)
{
    ft_layer_info li;
    ft_model_layer_info(m, l, &li);
    const float *at = g + li.param_offset;
    const char *suffix[] = {"weight", "bias"};
    for (int k = 0; k < 2 && li.has_params; k++) {
        char key[160];
        snprintf(key, sizeof key, "d%s.%s", li.name, suffix[k]);
        const json_t *want = json_object_get(grads, key + 1);
        CHECKF(want != NULL, "%s: no %s", name, key);
        fixture_compare(key, name, at, want, 1e-4, 1e-3);
        at += json_array_size(want);
    }
}

static void test_blocks(void)
{
    json_error_t jerr;
    json_t *doc = json_load_file("tests/fixtures/graph_blocks.json", 0, &jerr);
    CHECKF(doc != NULL, "graph_blocks.json: %s", jerr.text);
    size_t i;
    json_t *c;
    int ran = 0;
    json_array_foreach(json_object_get(doc, "cases"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        ft_model *m = fixture_model(c, name);
        if (!m)
            continue;
        int batch = (int)json_integer_value(json_object_get(c, "batch"));
        size_t nx, nr;
        float *x = fixture_floats(json_object_get(c, "x"), &nx);
        float *r = fixture_floats(json_object_get(c, "r"), &nr);
        float *dx = malloc(nx * sizeof *dx);
        ft_error err = {0};
        ft_workspace *ws = ft_workspace_new(m, 0, batch, &err);
        CHECKF(ws != NULL, "%s: %s", name, err.msg);
        if (ws) {
            fixture_compare("y", name, ft_model_forward(m, ws, x, batch, 0, NULL), json_object_get(c, "y"), 1e-4, 1e-3);
            ft_model_backward(m, ws, r, dx);
            fixture_compare("dx", name, dx, json_object_get(c, "dx"), 1e-4, 1e-3);
            for (int l = 0; l < ft_model_num_layers(m); l++)
                compare_layer(json_object_get(c, "grads"), name, m, ft_model_grads(m), l);
            ran++;
        }
        ft_workspace_free(ws);
        free(x), free(r), free(dx);
        ft_model_free(m);
    }
    CHECKF(ran == 4, "%d of 4 blocks ran", ran);
    json_decref(doc);
}

int main(void)
{
    RUN(test_blocks);
    return TEST_SUMMARY();
}
