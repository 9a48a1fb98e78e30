/* A built-in 5x7 bitmap font (with 2 descender rows) for chart text.
 *
 * Internal to core: charts need a few labels, and a font library would be a
 * heavy dependency for that. Glyphs cover printable ASCII 32..126 plus a long
 * dash in slot 127, and are drawn at an integer scale into a packed RGB buffer,
 * clipped to its bounds. Spacing is proportional (digits keep one width so
 * tick labels line up). Text is UTF-8: en and em dashes draw as the long dash,
 * a few other typographic characters as ASCII look-alikes (curly quotes,
 * no-break space), and any other non-ASCII character or invalid byte as '?'.
 */
#ifndef FT_FONT_H
#define FT_FONT_H

#include <stddef.h>
#include <stdint.h>

#define FT_FONT_ASCENT 7   /* font pixels from the top of a line to the baseline */
#define FT_FONT_HEIGHT 9   /* font pixels per line, descenders included */
#define FT_FONT_LONG_DASH 127 /* glyph code of the long dash (en and em dashes) */

/* Decode the next character of *s (UTF-8 aware), advance *s past it, and return
 * the glyph code (32..127) that draws it; returns 0 at the end of the string. */
int ft_font_next(const char **s);

/* Width in pixels of s drawn at scale (>= 1); 0 for an empty string. */
int ft_font_text_width(const char *s, int scale);

/* Copy s into out (size outsz), shortened with a ".." suffix if needed so that
 * it is at most max_width pixels wide at scale; non-ASCII becomes its glyph. */
void ft_font_fit(const char *s, int scale, int max_width, char *out, size_t outsz);

/* Draw s with its top-left corner at (x, y), reading left to right, into the
 * w x h RGB buffer rgb (3 bytes per pixel); pixels outside are skipped. */
void ft_font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale,
                  uint32_t color);

/* Draw s rotated 90 degrees counter-clockwise (reading bottom to top), starting
 * at the bottom-left corner (x, y): the text occupies columns x .. x+9*scale-1
 * and rows y-width+1 .. y. */
void ft_font_draw_up(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale,
                     uint32_t color);

#endif
