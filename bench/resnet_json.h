/* A resnet18-shaped architecture (torchvision's, batch norms folded into
 * the convolutions as the ONNX export does), for the graph benchmark and the
 * forward-only workspace's memory test. */
#ifndef FT_BENCH_RESNET_JSON_H
#define FT_BENCH_RESNET_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

/* Append a conv2d reading `from` (NULL: the previous layer). */
static inline void resnet_conv(json_t *layers, const char *name, const char *from, int filters, int k, int stride,
                               int pad, bool relu)
{
    json_t *l = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:s}", "name", name, "type", "conv2d", "filters", filters,
                          "kernel", k, "stride", stride, "padding", pad, "activation", relu ? "relu" : "linear");
    if (from)
        json_object_set_new(l, "inputs", json_pack("[s]", from));
    json_array_append_new(layers, l);
}

/* resnet18 on [3, size, size] with `classes` outputs; caller owns it. */
static inline json_t *resnet18_json(int size, int classes)
{
    json_t *layers = json_array();
    resnet_conv(layers, "conv1", NULL, 64, 7, 2, 3, true);
    json_array_append_new(layers, json_pack("{s:s, s:s, s:i, s:i, s:i}", "name", "maxpool", "type", "maxpool2d",
                                            "size", 3, "stride", 2, "padding", 1));
    char prev[32] = "maxpool";
    int widths[4] = {64, 128, 256, 512}, channels = 64;
    for (int stage = 0; stage < 4; stage++)
        for (int block = 0; block < 2; block++) {
            char c1[32], c2[32], ds[32], add[32];
            int stride = stage > 0 && block == 0 ? 2 : 1, w = widths[stage];
            snprintf(c1, sizeof c1, "l%d.%d.conv1", stage + 1, block);
            snprintf(c2, sizeof c2, "l%d.%d.conv2", stage + 1, block);
            snprintf(ds, sizeof ds, "l%d.%d.down", stage + 1, block);
            snprintf(add, sizeof add, "l%d.%d.add", stage + 1, block);
            resnet_conv(layers, c1, prev, w, 3, stride, 1, true);
            resnet_conv(layers, c2, NULL, w, 3, 1, 1, false);
            const char *skip = prev;
            if (stride != 1 || channels != w) {
                resnet_conv(layers, ds, prev, w, 1, stride, 0, false);
                skip = ds;
            }
            json_array_append_new(layers, json_pack("{s:s, s:s, s:[s,s], s:s}", "name", add, "type", "add", "inputs",
                                                    c2, skip, "activation", "relu"));
            snprintf(prev, sizeof prev, "%s", add);
            channels = w;
        }
    json_array_append_new(layers, json_pack("{s:s, s:s}", "name", "gap", "type", "global_avgpool2d"));
    json_array_append_new(layers, json_pack("{s:s, s:s, s:i}", "name", "fc", "type", "dense", "units", classes));
    return json_pack("{s:[i,i,i], s:o}", "input", 3, size, size, "layers", layers);
}

#endif
