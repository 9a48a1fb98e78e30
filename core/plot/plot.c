#include "core/plot/plot.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/font.h"
#include "core/plot/png_encode.h"

enum {
    MIN_SIDE = 200,     /* smaller charts cannot fit ticks, labels and a legend */
    MAX_SIDE = 4000,    /* a bound on memory: 4000^2 RGB is 48 MB */
    MIN_PANEL_W = 150,  /* narrower panels squeeze the plot area to nothing */
    MAX_PANELS = 8,
    MAX_SERIES = 16,    /* per panel; more would not fit in a legend anyway */
    MAX_TICKS = 32,
    CM_MAX_K = 100,     /* keeps the confusion image under MAX_SIDE */
};

#define C_PAPER 0xFFFFFFu
#define C_GRID 0xEBEBEBu
#define C_AXES 0x505050u
#define C_TEXT 0x262626u
#define C_TITLE 0x111111u
#define C_LEGEND_EDGE 0xC8C8C8u

typedef struct {
    uint8_t *px; /* w * h * 3 bytes, row-major RGB */
    int w, h;
} canvas;

typedef struct {
    int x0, y0, x1, y1; /* inclusive */
} rect;

/* ---- raster primitives: fill_rect clips; blend is only used inside a layer --- */

static uint8_t *pixel_at(const canvas *c, int x, int y)
{
    return c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
}

static void fill_rect(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 >= c->w ? c->w - 1 : x1;
    y1 = y1 >= c->h ? c->h - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            uint8_t *p = pixel_at(c, x, y);
            p[0] = (uint8_t)(rgb >> 16);
            p[1] = (uint8_t)(rgb >> 8);
            p[2] = (uint8_t)rgb;
        }
}

static void frame_rect(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    fill_rect(c, x0, y0, x1, y0, rgb);
    fill_rect(c, x0, y1, x1, y1, rgb);
    fill_rect(c, x0, y0, x0, y1, rgb);
    fill_rect(c, x1, y0, x1, y1, rgb);
}

static void blend(canvas *c, int x, int y, uint32_t rgb, double a)
{
    uint8_t *p = pixel_at(c, x, y);
    for (int i = 0; i < 3; i++) {
        double src = (double)((rgb >> (16 - 8 * i)) & 0xFF);
        p[i] = (uint8_t)lround(p[i] + (src - p[i]) * a);
    }
}

/* Coverage of one colour over a rectangle (a panel's plot area). Segments
 * keep the maximum coverage per pixel and the colour is blended once, so the
 * joints of a polyline do not come out darker than its segments. */
typedef struct {
    float *cov; /* (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1), row-major, zeroed */
    rect r;
} ink_layer;

/* A segment of half-width hw with round caps (a dot when a == b), anti-aliased
 * by coverage: pixels within hw - 0.5 of the centre line get full coverage,
 * so the exact series colour is there to be found by tests. */
static void draw_segment(ink_layer *l, double ax, double ay, double bx, double by, double hw)
{
    int x0 = (int)floor(fmin(ax, bx) - hw - 1), x1 = (int)ceil(fmax(ax, bx) + hw + 1);
    int y0 = (int)floor(fmin(ay, by) - hw - 1), y1 = (int)ceil(fmax(ay, by) + hw + 1);
    x0 = x0 < l->r.x0 ? l->r.x0 : x0;
    y0 = y0 < l->r.y0 ? l->r.y0 : y0;
    x1 = x1 > l->r.x1 ? l->r.x1 : x1;
    y1 = y1 > l->r.y1 ? l->r.y1 : y1;
    size_t stride = (size_t)(l->r.x1 - l->r.x0 + 1);
    double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            double t = len2 > 0 ? ((x - ax) * dx + (y - ay) * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double cov = hw + 0.5 - hypot(x - ax - t * dx, y - ay - t * dy);
            float *dst = &l->cov[(size_t)(y - l->r.y0) * stride + (size_t)(x - l->r.x0)];
            if (cov > *dst)
                *dst = cov > 1 ? 1.0f : (float)cov;
        }
}

/* Paint the layer's coverage in rgb and clear it for the next colour. */
static void layer_flush(canvas *c, ink_layer *l, uint32_t rgb)
{
    size_t i = 0;
    for (int y = l->r.y0; y <= l->r.y1; y++)
        for (int x = l->r.x0; x <= l->r.x1; x++, i++)
            if (l->cov[i] > 0) {
                blend(c, x, y, rgb, l->cov[i]);
                l->cov[i] = 0;
            }
}

static void text(canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
    ft_font_draw(c->px, c->w, c->h, x, y, s, scale, rgb);
}

/* Text whose cap height is centred on y (labels beside ticks and cells). */
static void text_vcentred(canvas *c, int x, int y, const char *s, int scale, uint32_t rgb)
{
    text(c, x, y - FT_FONT_ASCENT * scale / 2, s, scale, rgb);
}

/* ---- ranges, ticks and tick labels ------------------------------------ */

typedef struct {
    double lo, hi;
    int any; /* saw at least one finite value */
} range;

static void range_add(range *r, double v)
{
    if (!r->any || v < r->lo)
        r->lo = v;
    if (!r->any || v > r->hi)
        r->hi = v;
    r->any = 1;
}

/* Widen a data range a little so lines do not run along the box, and make a
 * flat (or empty) range non-degenerate so mapping never divides by zero. */
static void range_pad(range *r)
{
    if (!r->any) {
        r->lo = 0;
        r->hi = 1;
        return;
    }
    if (r->hi > r->lo) {
        double pad = 0.05 * r->hi - 0.05 * r->lo; /* finite even for +-DBL_MAX */
        if (isfinite(r->lo - pad))
            r->lo -= pad;
        if (isfinite(r->hi + pad))
            r->hi += pad;
        return;
    }
    double d = 0.1 * fabs(r->lo);
    if (!(d > 0) || !(r->lo - d < r->lo))
        d = 1; /* zero or subnormal */
    r->lo = isfinite(r->lo - d) ? r->lo - d : r->lo;
    r->hi = isfinite(r->hi + d) ? r->hi + d : r->hi;
}

/* Position of v in [lo, hi] as a fraction; halved operands cannot overflow. */
static double frac(double v, double lo, double hi)
{
    return (0.5 * v - 0.5 * lo) / (0.5 * hi - 0.5 * lo);
}

static double map_x(const ft_plot_area *a, double v)
{
    return a->x0 + frac(v, a->xmin, a->xmax) * (a->x1 - a->x0);
}

static double map_y(const ft_plot_area *a, double v)
{
    return a->y1 - frac(v, a->ymin, a->ymax) * (a->y1 - a->y0);
}

typedef struct {
    double step;
    int n;
    double v[MAX_TICKS];
    char label[MAX_TICKS][64];
    int max_label_w; /* pixels */
} ticks;

/* Tick labels share one precision, set by the step: 0.25, 30, 1.5e-4, 2e6. */
static void format_tick(double v, double step, char *buf, size_t size)
{
    int k = (int)floor(log10(step) + 1e-9); /* step = 1, 2 or 5 x 10^k */
    double av = fabs(v);
    if (av < 1e6 && k >= -3) {
        snprintf(buf, size, "%.*f", k < 0 ? -k : 0, v);
    } else if (v == 0) {
        snprintf(buf, size, "0");
    } else {
        int p = (int)floor(log10(av) + 1e-9) - k;
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%.*e", p < 0 ? 0 : p > 12 ? 12 : p, v);
        char *e = strchr(tmp, 'e');
        if (!e) { /* cannot happen with %e; keep the raw text */
            snprintf(buf, size, "%s", tmp);
            return;
        }
        *e = '\0';
        if (strchr(tmp, '.')) { /* "1.50" -> "1.5", "2." -> "2" */
            char *end = e - 1;
            while (*end == '0')
                *end-- = '\0';
            if (*end == '.')
                *end = '\0';
        }
        snprintf(buf, size, "%se%d", tmp, atoi(e + 1));
    }
}

/* Round steps of 1, 2 or 5 x 10^k with at most about max_ticks ticks in
 * [lo, hi]; integer_only keeps epochs from getting ticks like 2.5. */
static void make_ticks(double lo, double hi, int max_ticks, int integer_only, int scale,
                       ticks *t)
{
    t->n = 0;
    t->step = 0;
    t->max_label_w = 0;
    double span = hi - lo;
    if (!(span > 0) || !isfinite(span))
        return;
    double raw = span / (max_ticks < 1 ? 1 : max_ticks);
    double mag = pow(10, floor(log10(raw)));
    static const double mult[] = {1, 2, 5, 10};
    double step = 10 * mag;
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++)
        if (mult[i] * mag >= raw * (1 - 1e-9)) {
            step = mult[i] * mag;
            break;
        }
    if (integer_only && step < 1)
        step = 1;
    if (!(step > 0) || !isfinite(step))
        return;
    double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
    if (!(k1 - k0 < MAX_TICKS)) /* also rejects NaN */
        return;
    t->step = step;
    for (double k = k0; k <= k1; k++) {
        double v = k == 0 ? 0.0 : k * step; /* never "-0" */
        t->v[t->n] = v;
        format_tick(v, step, t->label[t->n], sizeof t->label[0]);
        int w = ft_font_text_width(t->label[t->n], scale);
        t->max_label_w = w > t->max_label_w ? w : t->max_label_w;
        t->n++;
    }
}

/* The densest ticks whose labels keep `gap` pixels apart along an axis of
 * `length` pixels (width of labels on x, line height on y). */
static void fit_ticks(double lo, double hi, int length, int along_x, int integer_only,
                      int scale, ticks *t)
{
    int gap = 6 * scale, line = FT_FONT_HEIGHT * scale;
    int max = length / (along_x ? 20 * scale : 22 * scale) + 1;
    for (max = max > 10 ? 10 : max; max >= 1; max--) { /* more than ~10 is clutter */
        make_ticks(lo, hi, max, integer_only, scale, t);
        if (t->n < 2)
            return;
        double step_px = t->step / (hi - lo) * length;
        if (step_px >= (along_x ? t->max_label_w : line) + gap)
            return;
    }
}

/* ---- the line chart --------------------------------------------------- */

/* 2 px at scale 1, a little more at larger scales; at least 1 so that every
 * column (or row) of a line holds a pixel of the exact series colour. */
static double line_half_width(int scale)
{
    return fmax(1.0, 0.55 * scale);
}

static int point_ok(const ft_plot_series *s, size_t i)
{
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

static void draw_series(canvas *c, ink_layer *l, const ft_plot_area *a, const ft_plot_series *s,
                        int scale)
{
    double hw = line_half_width(scale);
    for (size_t i = 0; i < s->n; i++) {
        if (!point_ok(s, i))
            continue;
        double px = map_x(a, s->x[i]), py = map_y(a, s->y[i]);
        int prev = i > 0 && point_ok(s, i - 1), next = i + 1 < s->n && point_ok(s, i + 1);
        if (prev)
            draw_segment(l, map_x(a, s->x[i - 1]), map_y(a, s->y[i - 1]), px, py, hw);
        else if (!next) /* a lone point (n == 1, or between gaps): a dot */
            draw_segment(l, px, py, px, py, 2.0 * scale);
    }
    layer_flush(c, l, s->rgb);
}

/* Pixels other than paper and grid inside r: how much a legend there would hide. */
static long ink_in(const canvas *c, int x0, int y0, int x1, int y1)
{
    long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const uint8_t *p = pixel_at(c, x, y);
            uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            n += v != C_PAPER && v != C_GRID;
        }
    return n;
}

/* Legend inside the plot area, in whichever corner (or edge middle) hides
 * the fewest drawn pixels, like matplotlib's loc="best". */
static void draw_legend(canvas *c, ink_layer *l, const ft_plot_area *a, const ft_plot_panel *p,
                        int scale)
{
    int pad = 3 * scale, sample = 10 * scale, gap = 3 * scale, inset = 3 * scale;
    int row_h = FT_FONT_HEIGHT * scale + 2 * scale;
    int max_text = (a->x1 - a->x0 + 1) - 2 * inset - 2 * pad - sample - gap;
    int max_rows = (a->y1 - a->y0 + 1 - 2 * inset - 2 * pad) / row_h;
    if (max_text < 6 * scale || max_rows < 1)
        return;
    char label[MAX_SERIES][96];
    int rows = 0, text_w = 0;
    size_t which[MAX_SERIES];
    for (size_t i = 0; i < p->nseries && rows < max_rows; i++) {
        if (!p->series[i].label)
            continue;
        ft_font_fit(p->series[i].label, scale, max_text, label[rows], sizeof label[0]);
        int w = ft_font_text_width(label[rows], scale);
        text_w = w > text_w ? w : text_w;
        which[rows++] = i;
    }
    if (rows == 0)
        return;
    int bw = 2 * pad + sample + gap + text_w, bh = 2 * pad + rows * row_h - 2 * scale;
    int left = a->x0 + inset, right = a->x1 - inset - bw + 1;
    int top = a->y0 + inset, bottom = a->y1 - inset - bh + 1;
    int mid_x = (a->x0 + a->x1 - bw) / 2, mid_y = (a->y0 + a->y1 - bh) / 2;
    const int spot[][2] = {{right, top}, {left, top}, {right, bottom}, {left, bottom},
                           {right, mid_y}, {left, mid_y}, {mid_x, top}, {mid_x, bottom}};
    int bx = right, by = top;
    long best = -1;
    for (size_t i = 0; i < sizeof spot / sizeof spot[0]; i++) {
        long ink = ink_in(c, spot[i][0], spot[i][1], spot[i][0] + bw - 1, spot[i][1] + bh - 1);
        if (best < 0 || ink < best) {
            best = ink;
            bx = spot[i][0];
            by = spot[i][1];
        }
    }
    fill_rect(c, bx, by, bx + bw - 1, by + bh - 1, C_PAPER);
    frame_rect(c, bx, by, bx + bw - 1, by + bh - 1, C_LEGEND_EDGE);
    for (int r = 0; r < rows; r++) {
        int ty = by + pad + r * row_h;
        double ly = ty + (FT_FONT_ASCENT * scale) / 2.0;
        draw_segment(l, bx + pad, ly, bx + pad + sample - 1, ly, line_half_width(scale));
        layer_flush(c, l, p->series[which[r]].rgb);
        text(c, bx + pad + sample + gap, ty, label[r], scale, C_TEXT);
    }
}

/* Bold by overstriking one pixel to the right; centred, shortened to fit. */
static void draw_title(canvas *c, const char *title, int y, int scale, int margin)
{
    char fitted[256];
    ft_font_fit(title, scale, c->w - 2 * margin - 1, fitted, sizeof fitted);
    int x = (c->w - ft_font_text_width(fitted, scale)) / 2;
    text(c, x, y, fitted, scale, C_TITLE);
    text(c, x + 1, y, fitted, scale, C_TITLE);
}

static int draw_panel(canvas *c, const ft_plot_panel *p, int px0, int px1, int top, int scale,
                      ft_plot_area *area, ft_error *err)
{
    int margin = 5 * scale, tick_len = 3 * scale, line = FT_FONT_HEIGHT * scale;
    int cap = FT_FONT_ASCENT * scale;

    /* Data ranges; x ticks are whole numbers when every x is (epochs). */
    range xr = {0}, yr = {0};
    int x_integral = 1;
    for (size_t i = 0; i < p->nseries; i++)
        for (size_t j = 0; j < p->series[i].n; j++)
            if (point_ok(&p->series[i], j)) {
                range_add(&xr, p->series[i].x[j]);
                range_add(&yr, p->series[i].y[j]);
                x_integral &= p->series[i].x[j] == floor(p->series[i].x[j]);
            }
    x_integral &= xr.any;
    range_pad(&xr);
    range_pad(&yr);

    /* Vertical layout first: the y tick labels' width sets the left margin. */
    int y0 = top;
    int y1 = c->h - 1 - margin - (p->xlabel ? line + 3 * scale : 0) - cap - 2 * scale -
             tick_len - 1;
    ticks yt, xt;
    fit_ticks(yr.lo, yr.hi, y1 - y0, 0, 0, scale, &yt);
    int x0 = px0 + margin + (p->ylabel ? line + 3 * scale : 0) + yt.max_label_w + 2 * scale +
             tick_len + 1;
    int x1 = px1 - 3 * margin; /* room for half of the last x tick label */
    /* Only absurd tick labels get here; keep the area non-empty and on the canvas. */
    x1 = x1 < x0 + 8 ? x0 + 8 : x1;
    x1 = x1 > c->w - 2 ? c->w - 2 : x1;
    x0 = x0 > x1 ? x1 : x0;
    fit_ticks(xr.lo, xr.hi, x1 - x0, 1, x_integral, scale, &xt);
    *area = (ft_plot_area){x0, y0, x1, y1, xr.lo, xr.hi, yr.lo, yr.hi};

    for (int i = 0; i < yt.n; i++) {
        int y = (int)lround(map_y(area, yt.v[i]));
        fill_rect(c, x0, y, x1, y, C_GRID);
        fill_rect(c, x0 - 1 - tick_len, y, x0 - 2, y, C_AXES);
        int w = ft_font_text_width(yt.label[i], scale);
        text_vcentred(c, x0 - 2 - tick_len - 2 * scale - w, y, yt.label[i], scale, C_TEXT);
    }
    for (int i = 0; i < xt.n; i++) {
        int x = (int)lround(map_x(area, xt.v[i]));
        fill_rect(c, x, y0, x, y1, C_GRID);
        fill_rect(c, x, y1 + 2, x, y1 + 1 + tick_len, C_AXES);
        int w = ft_font_text_width(xt.label[i], scale);
        text(c, x - w / 2, y1 + 2 + tick_len + 2 * scale, xt.label[i], scale, C_TEXT);
    }
    ink_layer layer = {calloc((size_t)(x1 - x0 + 1) * (size_t)(y1 - y0 + 1), sizeof(float)),
                       {x0, y0, x1, y1}};
    if (!layer.cov)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: out of memory");
    for (size_t i = 0; i < p->nseries; i++)
        draw_series(c, &layer, area, &p->series[i], scale);
    frame_rect(c, x0 - 1, y0 - 1, x1 + 1, y1 + 1, C_AXES);

    char fitted[128];
    if (p->xlabel) {
        ft_font_fit(p->xlabel, scale, x1 - x0 + 1, fitted, sizeof fitted);
        int w = ft_font_text_width(fitted, scale);
        text(c, (x0 + x1 - w) / 2, y1 + 2 + tick_len + 2 * scale + cap + 3 * scale, fitted,
             scale, C_TEXT);
    }
    if (p->ylabel) {
        ft_font_fit(p->ylabel, scale, y1 - y0 + 1, fitted, sizeof fitted);
        int w = ft_font_text_width(fitted, scale);
        ft_font_draw_up(c->px, c->w, c->h, px0 + margin, (y0 + y1 + w) / 2, fitted, scale,
                        C_TEXT);
    }
    draw_legend(c, &layer, area, p, scale);
    free(layer.cov);
    return 0;
}

static int canvas_init(canvas *c, int w, int h, ft_error *err)
{
    size_t n;
    if (ft_mul_size((size_t)w, (size_t)h, &n) != 0 || ft_mul_size(n, 3, &n) != 0)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: image %dx%d is too large", w, h);
    c->px = malloc(n);
    if (!c->px)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: out of memory for a %dx%d image", w, h);
    memset(c->px, 0xFF, n); /* white paper */
    c->w = w;
    c->h = h;
    return 0;
}

static int finish(canvas *c, unsigned char **png, size_t *png_len, ft_error *err)
{
    int rc = ft_png_encode(c->px, c->w, c->h, 3, png, png_len, err);
    free(c->px);
    return rc;
}

static int check_lines_args(const ft_plot_panel *panels, size_t npanels, int width, int height,
                            unsigned char **png, size_t *png_len, ft_error *err)
{
    if (!png || !png_len)
        return ft_fail(err, FT_EINVAL, NULL, "plot: png and png_len must not be NULL");
    if (!panels || npanels == 0 || npanels > MAX_PANELS)
        return ft_fail(err, FT_EINVAL, "panels", "plot: need 1..%d panels, got %zu",
                       MAX_PANELS, panels ? npanels : 0);
    if (width < MIN_SIDE || width > MAX_SIDE || height < MIN_SIDE || height > MAX_SIDE)
        return ft_fail(err, FT_EINVAL, "size", "plot: size %dx%d outside %d..%d", width, height,
                       MIN_SIDE, MAX_SIDE);
    if ((size_t)width / npanels < MIN_PANEL_W)
        return ft_fail(err, FT_EINVAL, "panels", "plot: %zu panels need a width of at least %zu",
                       npanels, npanels * MIN_PANEL_W);
    for (size_t i = 0; i < npanels; i++) {
        const ft_plot_panel *p = &panels[i];
        if (p->nseries > MAX_SERIES || (p->nseries > 0 && !p->series))
            return ft_fail(err, FT_EINVAL, "series", "plot: panel %zu: need 0..%d series and a "
                           "series array", i, MAX_SERIES);
        for (size_t j = 0; j < p->nseries; j++)
            if (p->series[j].n > 0 && (!p->series[j].x || !p->series[j].y))
                return ft_fail(err, FT_EINVAL, "series", "plot: panel %zu series %zu: x and y "
                               "must not be NULL", i, j);
    }
    return 0;
}

int ft_plot_lines_png(const char *title, const ft_plot_panel *panels, size_t npanels,
                      int width, int height, unsigned char **png, size_t *png_len,
                      ft_plot_area *areas, ft_error *err)
{
    if (png)
        *png = NULL;
    if (png_len)
        *png_len = 0;
    if (check_lines_args(panels, npanels, width, height, png, png_len, err) != 0)
        return -1;
    canvas c;
    if (canvas_init(&c, width, height, err) != 0)
        return -1;

    /* Text grows with the image: 2x at the service's 900x500. */
    double panel_w = (double)width / (double)npanels;
    int scale = (int)lround(fmin(fmin(width / 450.0, panel_w / 150.0), height / 250.0));
    scale = scale < 1 ? 1 : scale > 4 ? 4 : scale;
    int margin = 5 * scale, top = margin;
    if (title && *title) {
        draw_title(&c, title, margin, scale, margin);
        top += FT_FONT_HEIGHT * scale + margin;
    }
    top += 4 * scale; /* room for the half of the top y tick label above the box */
    for (size_t i = 0; i < npanels; i++) {
        ft_plot_area area;
        int px0 = (int)((size_t)width * i / npanels);
        int px1 = (int)((size_t)width * (i + 1) / npanels) - 1;
        if (draw_panel(&c, &panels[i], px0, px1, top, scale, &area, err) != 0) {
            free(c.px);
            return -1;
        }
        if (areas)
            areas[i] = area;
    }
    return finish(&c, png, png_len, err);
}

/* ---- the confusion matrix --------------------------------------------- */

enum { CM_SCALE = 2, CM_MARGIN = 12, CM_NAME_MAX_W = 130, CM_BAR_W = 16 };

/* The cell grid follows k; the margins follow the class names, so numeric or
 * short names do not leave a wide empty band. */
typedef struct {
    int cell;
    int row_name_w;   /* widest row name, after shortening */
    int col_name_h;   /* height of the column-name band */
    int cols_rotated; /* column names read upwards when one is wider than a cell */
    int width, height;
    int gx0, gy0, gx1, gy1; /* the k x k grid, inclusive */
} cm_geometry;

/* Class i's label: its name (or index) shortened to CM_NAME_MAX_W pixels. */
static void cm_name(const char *const *names, int i, char *out, size_t size)
{
    char num[16];
    snprintf(num, sizeof num, "%d", i);
    const char *raw = names && names[i] ? names[i] : num;
    ft_font_fit(raw, CM_SCALE, CM_NAME_MAX_W, out, size);
}

static cm_geometry cm_layout(int k, const char *const *names)
{
    cm_geometry g = {0};
    int line = FT_FONT_HEIGHT * CM_SCALE;
    g.cell = 800 / k < 36 ? 36 : 800 / k > 96 ? 96 : 800 / k;
    int widest = 1;
    for (int i = 0; i < k; i++) {
        char name[64];
        cm_name(names, i, name, sizeof name);
        int w = ft_font_text_width(name, CM_SCALE);
        widest = w > widest ? w : widest;
    }
    g.row_name_w = widest;
    g.cols_rotated = widest > g.cell - 8;
    g.col_name_h = g.cols_rotated ? widest : line;
    g.gx0 = CM_MARGIN + line + 10 + g.row_name_w + 8;
    g.gy0 = CM_MARGIN + line + CM_MARGIN + 8;
    g.gx1 = g.gx0 + k * g.cell - 1;
    g.gy1 = g.gy0 + k * g.cell - 1;
    g.width = g.gx1 + 1 + 16 + CM_BAR_W + 3 + 6 + ft_font_text_width("0.75", CM_SCALE) + CM_MARGIN;
    g.height = g.gy1 + 1 + 8 + g.col_name_h + 10 + line + CM_MARGIN;
    return g;
}

int ft_plot_confusion_layout(int k, const char *const *class_names, int *width, int *height,
                             ft_plot_area *grid)
{
    if (k < 1 || k > CM_MAX_K)
        return -1;
    cm_geometry g = cm_layout(k, class_names);
    if (width)
        *width = g.width;
    if (height)
        *height = g.height;
    if (grid)
        *grid = (ft_plot_area){g.gx0, g.gy0, g.gx1, g.gy1, 0, k, k, 0};
    return 0;
}

/* White through mid blue to navy by the fraction of the row in the cell. */
static uint32_t cm_colour(double f)
{
    static const double stop[3][3] = {{246, 250, 253}, {92, 152, 206}, {10, 40, 104}};
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    int i = f < 0.5 ? 0 : 1;
    double t = f < 0.5 ? f / 0.5 : (f - 0.5) / 0.5;
    uint32_t rgb = 0;
    for (int ch = 0; ch < 3; ch++)
        rgb = rgb << 8 | (uint32_t)lround(stop[i][ch] + (stop[i + 1][ch] - stop[i][ch]) * t);
    return rgb;
}

static int is_dark(uint32_t rgb)
{
    double y = 0.299 * (rgb >> 16) + 0.587 * ((rgb >> 8) & 0xFF) + 0.114 * (rgb & 0xFF);
    return y < 150;
}

/* The count in the largest text that fits the cell: in full, then shortened
 * to 1.2M, then 1M, at scale 2 before scale 1. */
static void cm_count_text(canvas *c, uint64_t n, int cx, int cy, int cell, uint32_t rgb)
{
    char form[3][32];
    snprintf(form[0], sizeof form[0], "%" PRIu64, n);
    static const char unit[] = "kMGTPE";
    double v = (double)n;
    int u = 0;
    while (v >= 999.5 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0) { /* under 1000: nothing to shorten */
        memcpy(form[1], form[0], sizeof form[0]);
        memcpy(form[2], form[0], sizeof form[0]);
    } else {
        snprintf(form[1], sizeof form[1], "%.1f%c", v, unit[u - 1]);
        snprintf(form[2], sizeof form[2], "%.0f%c", v, unit[u - 1]);
    }
    for (int scale = CM_SCALE; scale >= 1; scale--)
        for (int f = 0; f < 3; f++) {
            int w = ft_font_text_width(form[f], scale);
            if (w <= cell - 6) {
                text_vcentred(c, cx - w / 2, cy, form[f], scale, rgb);
                return;
            }
        }
}

static void cm_draw(canvas *c, const cm_geometry *g, const char *title, const uint64_t *counts,
                    int k, const char *const *class_names)
{
    int s = CM_SCALE;
    if (title && *title)
        draw_title(c, title, CM_MARGIN, s, CM_MARGIN);
    for (int t = 0; t < k; t++) {
        double total = 0; /* in double: a sum of uint64 counts could overflow */
        for (int p = 0; p < k; p++)
            total += (double)counts[(size_t)t * (size_t)k + (size_t)p];
        for (int p = 0; p < k; p++) {
            uint64_t n = counts[(size_t)t * (size_t)k + (size_t)p];
            uint32_t rgb = cm_colour(total > 0 ? (double)n / total : 0);
            int x = g->gx0 + p * g->cell, y = g->gy0 + t * g->cell;
            fill_rect(c, x, y, x + g->cell - 1, y + g->cell - 1, rgb);
            cm_count_text(c, n, x + g->cell / 2, y + g->cell / 2, g->cell,
                          is_dark(rgb) ? 0xFFFFFFu : C_TEXT);
        }
    }
    frame_rect(c, g->gx0 - 1, g->gy0 - 1, g->gx1 + 1, g->gy1 + 1, C_AXES);

    /* Rows: right-aligned names. Columns: centred under the cell, or rotated
     * and ending at the grid when some name is wider than a cell. */
    for (int i = 0; i < k; i++) {
        char name[64];
        cm_name(class_names, i, name, sizeof name);
        int w = ft_font_text_width(name, s);
        int mid = g->cell * i + g->cell / 2;
        text_vcentred(c, g->gx0 - 8 - w, g->gy0 + mid, name, s, C_TEXT);
        if (g->cols_rotated)
            ft_font_draw_up(c->px, c->w, c->h, g->gx0 + mid - FT_FONT_ASCENT * s / 2,
                            g->gy1 + 8 + w, name, s, C_TEXT);
        else
            text(c, g->gx0 + mid - w / 2, g->gy1 + 1 + 8, name, s, C_TEXT);
    }
    int w = ft_font_text_width("predicted", s);
    text(c, (g->gx0 + g->gx1 - w) / 2, g->gy1 + 1 + 8 + g->col_name_h + 10, "predicted", s,
         C_TEXT);
    w = ft_font_text_width("true", s);
    ft_font_draw_up(c->px, c->w, c->h, CM_MARGIN, (g->gy0 + g->gy1 + w) / 2, "true", s, C_TEXT);

    /* Colour bar: what a shade means, as a fraction of the true class's row. */
    int bx0 = g->gx1 + 1 + 16, bx1 = bx0 + CM_BAR_W - 1, h = g->gy1 - g->gy0;
    for (int y = g->gy0; y <= g->gy1; y++)
        fill_rect(c, bx0, y, bx1, y, cm_colour(h > 0 ? (double)(g->gy1 - y) / h : 1));
    frame_rect(c, bx0 - 1, g->gy0 - 1, bx1 + 1, g->gy1 + 1, C_AXES);
    static const char *const bar_label[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int i = 0; i < 5; i++) {
        int y = g->gy1 - (int)lround(h * i / 4.0);
        fill_rect(c, bx1 + 2, y, bx1 + 1 + 3, y, C_AXES);
        text_vcentred(c, bx1 + 1 + 3 + 6, y, bar_label[i], s, C_TEXT);
    }
}

int ft_plot_confusion_png(const char *title, const uint64_t *counts, int k,
                          const char *const *class_names, unsigned char **png,
                          size_t *png_len, ft_error *err)
{
    if (png)
        *png = NULL;
    if (png_len)
        *png_len = 0;
    if (!png || !png_len || !counts)
        return ft_fail(err, FT_EINVAL, NULL, "confusion plot: counts, png and png_len must "
                       "not be NULL");
    if (k < 1 || k > CM_MAX_K)
        return ft_fail(err, FT_EINVAL, "k", "confusion plot: k = %d classes, want 1..%d", k,
                       CM_MAX_K);
    cm_geometry g = cm_layout(k, class_names);
    canvas c;
    if (canvas_init(&c, g.width, g.height, err) != 0)
        return -1;
    cm_draw(&c, &g, title, counts, k, class_names);
    return finish(&c, png, png_len, err);
}
