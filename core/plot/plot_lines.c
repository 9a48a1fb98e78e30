/* The line chart: panels of series over shared epochs, with ticks, grid,
 * legend and title (ft_plot_lines_png). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/plot/canvas.h"
#include "core/plot/font.h"
#include "core/plot/plot.h"

enum {
    MIN_SIDE = 200,     /* smaller charts cannot fit ticks, labels and a legend */
    MAX_SIDE = 4000,    /* a bound on memory: 4000^2 RGB is 48 MB */
    MIN_PANEL_W = 150,  /* narrower panels squeeze the plot area to nothing */
    MAX_PANELS = 8,
    MAX_SERIES = 16,    /* per panel; more would not fit in a legend anyway */
    MAX_TICKS = 32,
};

typedef struct {
    int x0, y0, x1, y1; /* inclusive */
} rect;

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
static void layer_flush(ft_canvas *c, ink_layer *l, uint32_t rgb)
{
    size_t i = 0;
    for (int y = l->r.y0; y <= l->r.y1; y++)
        for (int x = l->r.x0; x <= l->r.x1; x++, i++)
            if (l->cov[i] > 0) {
                ft_canvas_blend(c, x, y, rgb, l->cov[i]);
                l->cov[i] = 0;
            }
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

/* Whether point i has an error bar. */
static int bar_ok(const ft_plot_series *s, size_t i)
{
    return s->lo && s->hi && isfinite(s->lo[i]) && isfinite(s->hi[i]);
}

static void draw_series(ft_canvas *c, ink_layer *l, const ft_plot_area *a, const ft_plot_series *s,
                        int scale)
{
    double hw = line_half_width(scale), cap = 4.0 * scale;
    for (size_t i = 0; i < s->n; i++) {
        if (!point_ok(s, i))
            continue;
        double px = map_x(a, s->x[i]), py = map_y(a, s->y[i]);
        if (s->lo && s->hi) { /* categories: a dot and its bar, never a line */
            draw_segment(l, px, py, px, py, 2.5 * scale);
            if (!bar_ok(s, i))
                continue;
            double lo = map_y(a, s->lo[i]), hi = map_y(a, s->hi[i]);
            draw_segment(l, px, lo, px, hi, hw);
            draw_segment(l, px - cap, lo, px + cap, lo, hw);
            draw_segment(l, px - cap, hi, px + cap, hi, hw);
            continue;
        }
        int prev = i > 0 && point_ok(s, i - 1), next = i + 1 < s->n && point_ok(s, i + 1);
        if (prev)
            draw_segment(l, map_x(a, s->x[i - 1]), map_y(a, s->y[i - 1]), px, py, hw);
        else if (!next) /* a lone point (n == 1, or between gaps): a dot */
            draw_segment(l, px, py, px, py, 2.0 * scale);
    }
    layer_flush(c, l, s->rgb);
}

/* Pixels other than paper and grid inside r: how much a legend there would hide. */
static long ink_in(const ft_canvas *c, int x0, int y0, int x1, int y1)
{
    long n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            const uint8_t *p = ft_canvas_pixel(c, x, y);
            uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            n += v != FT_PLOT_PAPER && v != FT_PLOT_GRID;
        }
    return n;
}

/* Legend inside the plot area, in whichever corner (or edge middle) hides
 * the fewest drawn pixels, like matplotlib's loc="best". */
static void draw_legend(ft_canvas *c, ink_layer *l, const ft_plot_area *a, const ft_plot_panel *p,
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
    ft_canvas_fill(c, bx, by, bx + bw - 1, by + bh - 1, FT_PLOT_PAPER);
    ft_canvas_frame(c, bx, by, bx + bw - 1, by + bh - 1, FT_PLOT_LEGEND_EDGE);
    for (int r = 0; r < rows; r++) {
        int ty = by + pad + r * row_h;
        double ly = ty + (FT_FONT_ASCENT * scale) / 2.0;
        draw_segment(l, bx + pad, ly, bx + pad + sample - 1, ly, line_half_width(scale));
        layer_flush(c, l, p->series[which[r]].rgb);
        ft_canvas_text(c, bx + pad + sample + gap, ty, label[r], scale, FT_PLOT_TEXT);
    }
}


static int draw_panel(ft_canvas *c, const ft_plot_panel *p, int px0, int px1, int top, int scale,
                      ft_plot_area *area, ft_error *err)
{
    int margin = 5 * scale, tick_len = 3 * scale, line = FT_FONT_HEIGHT * scale;
    int cap = FT_FONT_ASCENT * scale;

    /* Data ranges; x ticks are whole numbers when every x is (epochs). */
    range xr = {0}, yr = {0};
    int x_integral = 1;
    for (size_t i = 0; i < p->nseries; i++)
        for (size_t j = 0; j < p->series[i].n; j++) {
            /* categories: half a slot either side, a value or not */
            if (p->series[i].lo && p->series[i].hi && isfinite(p->series[i].x[j])) {
                range_add(&xr, p->series[i].x[j] - 0.5);
                range_add(&xr, p->series[i].x[j] + 0.5);
            }
            if (point_ok(&p->series[i], j)) {
                range_add(&xr, p->series[i].x[j]);
                range_add(&yr, p->series[i].y[j]);
                if (bar_ok(&p->series[i], j)) {
                    range_add(&yr, p->series[i].lo[j]);
                    range_add(&yr, p->series[i].hi[j]);
                }
                x_integral &= p->series[i].x[j] == floor(p->series[i].x[j]);
            }
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
    /* Only absurd tick labels get here; keep the area non-empty and on the ft_canvas. */
    x1 = x1 < x0 + 8 ? x0 + 8 : x1;
    x1 = x1 > c->w - 2 ? c->w - 2 : x1;
    x0 = x0 > x1 ? x1 : x0;
    fit_ticks(xr.lo, xr.hi, x1 - x0, 1, x_integral, scale, &xt);
    *area = (ft_plot_area){x0, y0, x1, y1, xr.lo, xr.hi, yr.lo, yr.hi};

    for (int i = 0; i < yt.n; i++) {
        int y = (int)lround(map_y(area, yt.v[i]));
        ft_canvas_fill(c, x0, y, x1, y, FT_PLOT_GRID);
        ft_canvas_fill(c, x0 - 1 - tick_len, y, x0 - 2, y, FT_PLOT_AXES);
        int w = ft_font_text_width(yt.label[i], scale);
        ft_canvas_text_vcentred(c, x0 - 2 - tick_len - 2 * scale - w, y, yt.label[i], scale, FT_PLOT_TEXT);
    }
    for (int i = 0; i < xt.n; i++) {
        int x = (int)lround(map_x(area, xt.v[i]));
        ft_canvas_fill(c, x, y0, x, y1, FT_PLOT_GRID);
        ft_canvas_fill(c, x, y1 + 2, x, y1 + 1 + tick_len, FT_PLOT_AXES);
        int w = ft_font_text_width(xt.label[i], scale);
        ft_canvas_text(c, x - w / 2, y1 + 2 + tick_len + 2 * scale, xt.label[i], scale, FT_PLOT_TEXT);
    }
    /* dashed, under the series: a boundary between phases of training */
    for (size_t i = 0; i < p->nmarks; i++) {
        int x = (int)lround(map_x(area, p->marks[i]));
        for (int y = y0; x >= x0 && x <= x1 && y <= y1; y += 6 * scale)
            ft_canvas_fill(c, x, y, x, y + 3 * scale < y1 ? y + 3 * scale : y1, FT_PLOT_MARK);
    }
    ink_layer layer = {calloc((size_t)(x1 - x0 + 1) * (size_t)(y1 - y0 + 1), sizeof(float)),
                       {x0, y0, x1, y1}};
    if (!layer.cov)
        return ft_fail(err, FT_ENOMEM, NULL, "plot: out of memory");
    for (size_t i = 0; i < p->nseries; i++)
        draw_series(c, &layer, area, &p->series[i], scale);
    ft_canvas_frame(c, x0 - 1, y0 - 1, x1 + 1, y1 + 1, FT_PLOT_AXES);

    char fitted[128];
    if (p->xlabel) {
        ft_font_fit(p->xlabel, scale, x1 - x0 + 1, fitted, sizeof fitted);
        int w = ft_font_text_width(fitted, scale);
        ft_canvas_text(c, (x0 + x1 - w) / 2, y1 + 2 + tick_len + 2 * scale + cap + 3 * scale, fitted,
             scale, FT_PLOT_TEXT);
    }
    if (p->ylabel) {
        ft_font_fit(p->ylabel, scale, y1 - y0 + 1, fitted, sizeof fitted);
        int w = ft_font_text_width(fitted, scale);
        ft_font_draw_up(c->px, c->w, c->h, px0 + margin, (y0 + y1 + w) / 2, fitted, scale,
                        FT_PLOT_TEXT);
    }
    draw_legend(c, &layer, area, p, scale);
    free(layer.cov);
    return 0;
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
        if (p->nmarks > 0 && !p->marks)
            return ft_fail(err, FT_EINVAL, "marks", "plot: panel %zu: %zu marks and no array", i, p->nmarks);
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
    ft_canvas c;
    if (ft_canvas_init(&c, width, height, err) != 0)
        return -1;

    /* Text grows with the image: 2x at the service's 900x500. */
    double panel_w = (double)width / (double)npanels;
    int scale = (int)lround(fmin(fmin(width / 450.0, panel_w / 150.0), height / 250.0));
    scale = scale < 1 ? 1 : scale > 4 ? 4 : scale;
    int margin = 5 * scale, top = margin;
    if (title && *title) {
        ft_canvas_title(&c, title, margin, scale, margin);
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
    return ft_canvas_finish(&c, png, png_len, err);
}
