/* Winograd F(4x4, 3x3) forward for 3x3, stride-1, undilated, ungrouped
 * convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2015): each 4x4 output tile is A^T [(G g G^T) .* (B^T d B)] A
 * for its 6x6 input patch d, 36 multiplies per tile and channel pair
 * instead of 144.
 *
 * Batched over channels, the 36 elementwise products become 36 sgemms: with
 * U[xi][K][C] the transformed kernel and V[xi][C][T] the transformed
 * patches of T tiles, M[xi] = U[xi] . V[xi] holds every output tile's
 * transformed values, and the inverse transform of M gives the output, with
 * the bias added on the way. Tiles are numbered over (sample, tile row,
 * tile column) and taken a run of whole tile rows at a time, so that V and
 * M stay a few MiB and each run's output rows are finished (activation
 * included) while in cache.
 *
 * Accuracy: the transforms use points 0, +-1, +-2, whose matrices have
 * entries up to 8 (A^T) and 1/24 (G); in float the result differs from a
 * direct convolution by about 1e-6 of the output's scale (tests/unit/
 * test_conv_winograd.c checks it against the direct sum). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/conv.h"

#define TILE 4   /* output tile side (m) */
#define ALPHA 6  /* input tile side (m + r - 1) */
#define NXI (ALPHA * ALPHA)
#define RUN_FLOATS ((size_t)1 << 20) /* V and M of one run of tile rows: 4 MiB, or U's size if larger */

/* Tiles along each side. */
static int tiles_h(const ft_layer *l) { return (l->out.dim[1] + TILE - 1) / TILE; }
static int tiles_w(const ft_layer *l) { return (l->out.dim[2] + TILE - 1) / TILE; }

/* The most tile rows a run of a batch of `batch` takes (at least one). Every
 * run streams the whole transformed kernel U through the sgemms, so a run
 * may hold as much V and M as U is large: resnet18's layer4 (U: 36 MiB) then
 * takes a batch of 32 in one run instead of five. */
static int max_run_rows(const ft_layer *l, int batch)
{
    size_t per_row = (size_t)NXI * (size_t)(l->in.dim[0] + l->filters) * (size_t)tiles_w(l);
    size_t u = (size_t)NXI * (size_t)l->filters * (size_t)l->in.dim[0];
    size_t rows = (u > RUN_FLOATS ? u : RUN_FLOATS) / per_row, all = (size_t)batch * (size_t)tiles_h(l);
    return rows < 1 ? 1 : rows > all ? (int)all : (int)rows;
}

/* Tile rows per run: the fewest runs of at most max_run_rows, of equal
 * size, so that no short last run streams U for a few tiles. */
static int run_rows(const ft_layer *l, int batch)
{
    int all = batch * tiles_h(l), most = max_run_rows(l, batch), runs = (all + most - 1) / most;
    return (all + runs - 1) / runs;
}

/* Floats of the buffer the transforms work in: for a run of nt tiles
 * (see transform_input and transform_output), or one filter's
 * (transform_kernel). */
static size_t line_floats(const ft_layer *l, size_t nt)
{
    size_t run = (size_t)TILE * (size_t)tiles_w(l) + 2 + (size_t)(ALPHA + NXI) * nt;
    size_t filter = (size_t)(9 + 18 + 36) * (size_t)l->in.dim[0];
    return run > filter ? run : filter;
}

size_t ft_conv_winograd_floats(const ft_layer *l, int batch)
{
    size_t run = (size_t)max_run_rows(l, batch) * (size_t)tiles_w(l); /* run_rows(l, b) <= this for b <= batch */
    return (size_t)NXI * (size_t)l->filters * (size_t)l->in.dim[0] +
           (size_t)NXI * (size_t)(l->in.dim[0] + l->filters) * run + line_floats(l, run);
}

/* The transforms below run along one axis of n tiles at once: value k of
 * tile q is at d[k * s + q] in and at r[k * t + q] out, so every loop is over
 * q, contiguous, and vectorises, once the compiler is told that the rows of
 * r (t >= n apart) do not overlap: it cannot prove it, and gives up. */
#ifdef __clang__
/* A hint, not a demand: builds without vectorisation (-O1 with sanitizers,
 * the fuzz build) must not fail because the loop stays scalar. */
#pragma clang diagnostic ignored "-Wpass-failed"
#define ROWS_APART _Pragma("clang loop vectorize(assume_safety)")
#else
#define ROWS_APART _Pragma("GCC ivdep")
#endif

/* r = B^T d for n lines of 6. */
FT_HOT static void input_lines(const float *restrict d, size_t s, float *restrict r, size_t t, int n)
{
    ROWS_APART for (int q = 0; q < n; q++) {
        float d0 = d[q], d1 = d[s + q], d2 = d[2 * s + q], d3 = d[3 * s + q], d4 = d[4 * s + q], d5 = d[5 * s + q];
        r[q] = 4 * d0 - 5 * d2 + d4;
        r[t + q] = -4 * (d1 + d2) + d3 + d4;
        r[2 * t + q] = 4 * (d1 - d2) - d3 + d4;
        r[3 * t + q] = 2 * (d3 - d1) - d2 + d4;
        r[4 * t + q] = 2 * (d1 - d3) - d2 + d4;
        r[5 * t + q] = 4 * d1 - 5 * d3 + d5;
    }
}

/* o = A^T m for n lines of 6. */
FT_HOT static void output_lines(const float *restrict m, size_t s, float *restrict o, size_t t, int n)
{
    ROWS_APART for (int q = 0; q < n; q++) {
        float m0 = m[q], m1 = m[s + q], m2 = m[2 * s + q], m3 = m[3 * s + q], m4 = m[4 * s + q], m5 = m[5 * s + q];
        float a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
        o[q] = m0 + a + c;
        o[t + q] = b + 2 * e;
        o[2 * t + q] = a + 4 * c;
        o[3 * t + q] = b + 8 * e + m5;
    }
}

/* u = G g for n lines of 3. */
FT_HOT static void kernel_lines(const float *restrict g, size_t s, float *restrict u, size_t t, int n)
{
    ROWS_APART for (int q = 0; q < n; q++) {
        float g0 = g[q], g1 = g[s + q], g2 = g[2 * s + q];
        u[q] = g0 * (1.0f / 4);
        u[t + q] = (g0 + g1 + g2) * (-1.0f / 6);
        u[2 * t + q] = (g0 - g1 + g2) * (-1.0f / 6);
        u[3 * t + q] = g0 * (1.0f / 24) + g1 * (1.0f / 12) + g2 * (1.0f / 6);
        u[4 * t + q] = g0 * (1.0f / 24) - g1 * (1.0f / 12) + g2 * (1.0f / 6);
        u[5 * t + q] = g2;
    }
}

/* U[xi][k][c] = (G w[k][c] G^T)[xi], all C channels of a filter at once
 * (buf: 9 + 18 + 36 floats per channel). */
static void transform_kernel(const ft_layer *l, const float *w, float *u, float *buf)
{
    size_t C = (size_t)l->in.dim[0], K = (size_t)l->filters, kc = K * C;
    float *g = buf, *t = g + 9 * C, *v = t + 18 * C;
    for (size_t k = 0; k < K; k++) {
        for (size_t c = 0; c < C; c++) /* g[tap][c]: taps to rows, channels contiguous */
            for (int tap = 0; tap < 9; tap++)
                g[(size_t)tap * C + c] = w[(k * C + c) * 9 + (size_t)tap];
        for (int j = 0; j < 3; j++) /* kernel columns: t[i][j] = (G g)[i][j] */
            kernel_lines(g + (size_t)j * C, 3 * C, t + (size_t)j * C, 3 * C, (int)C);
        for (int i = 0; i < ALPHA; i++) /* rows: (G g G^T)[i][j] */
            kernel_lines(t + (size_t)(3 * i) * C, C, v + (size_t)(ALPHA * i) * C, C, (int)C);
        for (int xi = 0; xi < NXI; xi++)
            memcpy(u + (size_t)xi * kc + k * C, v + (size_t)xi * C, sizeof(float) * C);
    }
}

/* One input row y (zeros outside the plane) as the 6 values of each of
 * its tw tiles: val[j * stride + q] = row[4q + j - pw], j < 6. */
static void row_values(const ft_layer *l, const float *plane, int y, size_t stride, float *row, float *val)
{
    int H = l->in.dim[1], W = l->in.dim[2], tw = tiles_w(l), len = TILE * tw + 2;
    memset(row, 0, sizeof(float) * (size_t)len);
    if (y >= 0 && y < H) {
        int x0 = l->pw, cols = W < len - x0 ? W : len - x0;
        memcpy(row + x0, plane + (size_t)y * (size_t)W, sizeof(float) * (size_t)cols);
    }
    for (int q = 0; q < tw; q++)
        for (int j = 0; j < ALPHA; j++)
            val[(size_t)j * stride + (size_t)q] = row[TILE * q + j];
}

/* V[xi][c][t] = (B^T d B)[xi] for the nt = (r1 - r0) * tw tiles of tile
 * rows [r0, r1) (row r is sample r / th, tile row r % th). Per channel, the
 * 6 input rows of every tile row are transformed along x, then the results
 * along y straight into V, each step one loop over all nt tiles. */
static void transform_input(const ft_layer *l, const float *x, int r0, int r1, float *v, float *buf)
{
    int C = l->in.dim[0], th = tiles_h(l), tw = tiles_w(l);
    size_t hw = (size_t)l->in.dim[1] * (size_t)l->in.dim[2];
    size_t nt = (size_t)(r1 - r0) * (size_t)tw, cnt = (size_t)C * nt, t6 = (size_t)ALPHA * nt;
    float *row = buf, *val = row + TILE * tw + 2, *h = val + t6; /* h[i][j][t]: input row i along x */
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < ALPHA; i++) {
            for (int r = r0; r < r1; r++)
                row_values(l, x + ((size_t)(r / th) * (size_t)C + (size_t)c) * hw, (r % th) * TILE - l->ph + i, nt, row,
                           val + (size_t)(r - r0) * (size_t)tw);
            input_lines(val, nt, h + (size_t)i * t6, nt, (int)nt);
        }
        for (int j = 0; j < ALPHA; j++) /* along y: V[6 i + j] */
            input_lines(h + (size_t)j * nt, t6, v + (size_t)c * nt + (size_t)j * cnt, (size_t)ALPHA * cnt, (int)nt);
    }
}

/* out = A^T M A + bias for the tiles of tile rows [r0, r1), cut at the
 * output's edges: per channel, M is transformed along y, then each of the 4
 * results along x into 4 phases, interleaved into the output rows. */
static void transform_output(const ft_layer *l, const float *m, const float *bias, int r0, int r1, float *out,
                             float *buf)
{
    int K = l->filters, OH = l->out.dim[1], OW = l->out.dim[2], th = tiles_h(l), tw = tiles_w(l);
    size_t nt = (size_t)(r1 - r0) * (size_t)tw, knt = (size_t)K * nt, t6 = (size_t)ALPHA * nt;
    float *row = buf, *g = row + TILE * tw + 2, *ph = g + TILE * t6; /* g[i][j][t]: M along y */
    for (int k = 0; k < K; k++) {
        for (int j = 0; j < ALPHA; j++)
            output_lines(m + (size_t)k * nt + (size_t)j * knt, (size_t)ALPHA * knt, g + (size_t)j * nt, t6, (int)nt);
        float bk = bias ? bias[k] : 0;
        for (int i = 0; i < TILE; i++) {
            output_lines(g + (size_t)i * t6, nt, ph, nt, (int)nt);
            for (int r = r0; r < r1; r++) {
                int y = (r % th) * TILE + i;
                if (y >= OH)
                    continue;
                const float *p = ph + (size_t)(r - r0) * (size_t)tw;
                for (int q = 0; q < tw; q++)
                    for (int j = 0; j < TILE; j++)
                        row[TILE * q + j] = p[(size_t)j * nt + (size_t)q] + bk;
                memcpy(out + (((size_t)(r / th) * (size_t)K + (size_t)k) * (size_t)OH + (size_t)y) * (size_t)OW, row,
                       sizeof(float) * (size_t)OW);
            }
        }
    }
}

/* The activation over the output rows of tile rows [r0, r1), per sample
 * and channel (each a contiguous run of whole rows). */
static void activate_rows(const ft_layer *l, ft_activation act, int r0, int r1, float *out, float *keep)
{
    int K = l->filters, OH = l->out.dim[1], OW = l->out.dim[2], th = tiles_h(l);
    for (int r = r0; r < r1;) {
        int b = r / th, end = (b + 1) * th < r1 ? (b + 1) * th : r1;
        int y0 = (r % th) * TILE, y1 = (end - b * th) * TILE < OH ? (end - b * th) * TILE : OH;
        for (int k = 0; k < K; k++) {
            size_t at = ((size_t)b * (size_t)K + (size_t)k) * (size_t)OH * (size_t)OW + (size_t)y0 * (size_t)OW;
            ft_act_forward(act, l->act_param, out + at, keep + at, 1, (size_t)(y1 - y0) * (size_t)OW);
        }
        r = end;
    }
}

size_t ft_conv_winograd_kernel_floats(const ft_layer *l)
{
    return (size_t)NXI * (size_t)l->filters * (size_t)l->in.dim[0];
}

int ft_conv_winograd_prepare(const ft_layer *l, const float *w, float *u)
{
    float *buf = malloc(sizeof(float) * line_floats(l, 1));
    if (!buf)
        return -1;
    transform_kernel(l, w, u, buf);
    free(buf);
    return 0;
}

void ft_conv_winograd(const ft_layer *l, ft_activation act, const float *x, const float *w, const float *u,
                      const float *bias, int batch, float *scratch, float *out, float *keep)
{
    int C = l->in.dim[0], K = l->filters, tw = tiles_w(l), all = batch * tiles_h(l), per = run_rows(l, batch);
    float *buf = scratch + ft_conv_winograd_kernel_floats(l); /* the scratch keeps room for U either way */
    float *v = buf + line_floats(l, (size_t)per * (size_t)tw);
    if (!u) {
        transform_kernel(l, w, scratch, buf);
        u = scratch;
    }
    for (int r0 = 0; r0 < all; r0 += per) {
        int r1 = all - r0 < per ? all : r0 + per, nt = (r1 - r0) * tw;
        float *m = v + (size_t)NXI * (size_t)C * (size_t)nt;
        transform_input(l, x, r0, r1, v, buf);
        /* M[xi][K, nt] = U[xi][K, C] . V[xi][C, nt] */
        for (int xi = 0; xi < NXI; xi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, nt, C, 1.0f,
                        u + (size_t)xi * (size_t)K * (size_t)C, C, v + (size_t)xi * (size_t)C * (size_t)nt, nt, 0.0f,
                        m + (size_t)xi * (size_t)K * (size_t)nt, nt);
        transform_output(l, m, bias, r0, r1, out, buf);
        activate_rows(l, act, r0, r1, out, keep);
    }
}
