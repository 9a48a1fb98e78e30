#include "core/plot/font.h"

#include <limits.h>
#include <string.h>

/* The glyphs of ASCII 32..127 as a sheet of 8 glyphs per band, 9 rows per band:
 * '#' is ink, '.' is paper, glyphs are 5 columns wide and separated by a space.
 * Rows 0-6 sit above the baseline, rows 7-8 hold descenders. Slot 127 (DEL)
 * holds a long dash, drawn for en and em dashes.
 * Kept as a picture rather than bit masks so the font can be read and edited. */
enum { SHEET_PER_BAND = 8, GLYPH_W = 5, SLOT_W = GLYPH_W + 1 };

static const char sheet[][SHEET_PER_BAND * SLOT_W] = {
    /* ' ' '!' '"' '#' '$' '%' '&' "'" */
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#..",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#..",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#...",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... .....",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# .....",
    "..... ..... ..... .#.#. ####. #..## #..#. .....",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* '(' ')' '*' '+' ',' '-' '.' '/' */
    "...#. .#... ..... ..... ..... ..... ..... ....#",
    "..#.. ..#.. ..#.. ..#.. ..... ..... ..... ...#.",
    ".#... ...#. #.#.# ..#.. ..... ..... ..... ...#.",
    ".#... ...#. .###. ##### ..... .###. ..... ..#..",
    ".#... ...#. #.#.# ..#.. ..... ..... ..... .#...",
    "..#.. ..#.. ..#.. ..#.. .##.. ..... .##.. .#...",
    "...#. .#... ..... ..... .##.. ..... .##.. #....",
    "..... ..... ..... ..... ..#.. ..... ..... .....",
    "..... ..... ..... ..... .#... ..... ..... .....",
    /* '0' '1' '2' '3' '4' '5' '6' '7' */
    ".###. ..#.. .###. .###. ...#. ##### ..##. #####",
    "#...# .##.. #...# #...# ..##. #.... .#... ....#",
    "#...# ..#.. ....# ....# .#.#. ####. #.... ...#.",
    "#...# ..#.. ...#. ..##. #..#. ....# ####. ..#..",
    "#...# ..#.. ..#.. ....# ##### ....# #...# .#...",
    "#...# ..#.. .#... #...# ...#. #...# #...# .#...",
    ".###. .###. ##### .###. ...#. .###. .###. .#...",
    "..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* '8' '9' ':' ';' '<' '=' '>' '?' */
    ".###. .###. ..... ..... ...#. ..... .#... .###.",
    "#...# #...# .##.. .##.. ..#.. ..... ..#.. #...#",
    "#...# #...# .##.. .##.. .#... ##### ...#. ....#",
    ".###. .#### ..... ..... #.... ..... ....# ...#.",
    "#...# ....# ..... ..... .#... ##### ...#. ..#..",
    "#...# ...#. .##.. .##.. ..#.. ..... ..#.. .....",
    ".###. .##.. .##.. .##.. ...#. ..... .#... ..#..",
    "..... ..... ..... ..#.. ..... ..... ..... .....",
    "..... ..... ..... .#... ..... ..... ..... .....",
    /* '@' 'A' 'B' 'C' 'D' 'E' 'F' 'G' */
    ".###. .###. ####. .###. ####. ##### ##### .###.",
    "#...# #...# #...# #...# #...# #.... #.... #...#",
    "#.### #...# #...# #.... #...# #.... #.... #....",
    "#.#.# ##### ####. #.... #...# ####. ####. #.###",
    "#.### #...# #...# #.... #...# #.... #.... #...#",
    "#.... #...# #...# #...# #...# #.... #.... #...#",
    ".###. #...# ####. .###. ####. ##### #.... .####",
    "..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* 'H' 'I' 'J' 'K' 'L' 'M' 'N' 'O' */
    "#...# .###. ..### #...# #.... #...# #...# .###.",
    "#...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    "#...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* 'P' 'Q' 'R' 'S' 'T' 'U' 'V' 'W' */
    "####. .###. ####. .#### ##### #...# #...# #...#",
    "#...# #...# #...# #.... ..#.. #...# #...# #...#",
    "#...# #...# #...# #.... ..#.. #...# #...# #...#",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.#",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.#",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.#",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#.",
    "..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* 'X' 'Y' 'Z' '[' '\\' ']' '^' '_' */
    "#...# #...# ##### .###. #.... .###. ..#.. .....",
    "#...# #...# ....# .#... .#... ...#. .#.#. .....",
    ".#.#. .#.#. ...#. .#... .#... ...#. #...# .....",
    "..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....",
    ".#.#. ..#.. .#... .#... ...#. ...#. ..... .....",
    "#...# ..#.. #.... .#... ...#. ...#. ..... .....",
    "#...# ..#.. ##### .###. ....# .###. ..... .....",
    "..... ..... ..... ..... ..... ..... ..... #####",
    "..... ..... ..... ..... ..... ..... ..... .....",
    /* '`' 'a' 'b' 'c' 'd' 'e' 'f' 'g' */
    ".#... ..... #.... ..... ....# ..... ..##. .....",
    "..#.. ..... #.... ..... ....# ..... .#... .....",
    "...#. .###. ####. .###. .#### .###. ####. .####",
    "..... ....# #...# #...# #...# #...# .#... #...#",
    "..... .#### #...# #.... #...# ##### .#... #...#",
    "..... #...# #...# #...# #...# #.... .#... #...#",
    "..... .#### ####. .###. .#### .###. .#... .####",
    "..... ..... ..... ..... ..... ..... ..... ....#",
    "..... ..... ..... ..... ..... ..... ..... .###.",
    /* 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' */
    "#.... ..#.. ...#. #.... .##.. ..... ..... .....",
    "#.... ..... ..... #.... ..#.. ..... ..... .....",
    "#.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.",
    "##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#",
    "#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#",
    "#...# ..#.. ...#. #.#.. ..#.. #...# #...# #...#",
    "#...# .###. ...#. #..#. .###. #...# #...# .###.",
    "..... ..... #..#. ..... ..... ..... ..... .....",
    "..... ..... .##.. ..... ..... ..... ..... .....",
    /* 'p' 'q' 'r' 's' 't' 'u' 'v' 'w' */
    "..... ..... ..... ..... .#... ..... ..... .....",
    "..... ..... ..... ..... .#... ..... ..... .....",
    "####. .#### #.##. .#### ####. #...# #...# #...#",
    "#...# #...# ##..# #.... .#... #...# #...# #...#",
    "#...# #...# #.... .###. .#... #...# #...# #.#.#",
    "#...# #...# #.... ....# .#..# #..## .#.#. #.#.#",
    "####. .#### #.... ####. ..##. .##.# ..#.. .#.#.",
    "#.... ....# ..... ..... ..... ..... ..... .....",
    "#.... ....# ..... ..... ..... ..... ..... .....",
    /* 'x' 'y' 'z' '{' '|' '}' '~' long dash */
    "..... ..... ..... ...## ..#.. ##... ..... .....",
    "..... ..... ..... ..#.. ..#.. ..#.. ..... .....",
    "#...# #...# ##### ..#.. ..#.. ..#.. ..... .....",
    ".#.#. #...# ...#. .#... ..#.. ...#. .#... #####",
    "..#.. #...# ..#.. ..#.. ..#.. ..#.. #.#.# .....",
    ".#.#. #...# .#... ..#.. ..#.. ..#.. ...#. .....",
    "#...# .#### ##### ...## ..#.. ##... ..... .....",
    "..... ....# ..... ..... ..#.. ..... ..... .....",
    "..... .###. ..... ..... ..... ..... ..... .....",
};
_Static_assert(sizeof sheet / sizeof sheet[0] == 12 * FT_FONT_HEIGHT, "96 glyphs, 9 rows each");

/* Typographic characters that a title or class name plausibly contains, mapped
 * to the closest ASCII glyph so "a — b" still reads as "a - b". */
static int ascii_lookalike(unsigned long cp)
{
    switch (cp) {
    case 0x00A0: return ' ';                      /* no-break space */
    case 0x00D7: return 'x';                      /* multiplication sign */
    case 0x2013: case 0x2014: case 0x2015:
        return FT_FONT_LONG_DASH;                 /* en and em dashes, bar */
    case 0x2010: case 0x2011: case 0x2012:
    case 0x2212: return '-';                      /* hyphens, figure dash, minus */
    case 0x2018: case 0x2019: case 0x201A:
    case 0x2032: return '\'';
    case 0x201C: case 0x201D: case 0x201E:
    case 0x2033: return '"';
    case 0x2022: case 0x00B7: return '*';         /* bullets */
    default: return '?';
    }
}

int ft_font_next(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    unsigned char b = p[0];
    if (b == 0)
        return 0;
    if (b < 0x80) {
        *s += 1;
        return b < 32 ? ' ' : b; /* tabs, newlines: one line only; 127 is the long dash */
    }
    int extra = b >= 0xC2 && b <= 0xDF ? 1 : b >= 0xE0 && b <= 0xEF ? 2
              : b >= 0xF0 && b <= 0xF4 ? 3 : 0;
    unsigned long cp = extra == 1 ? b & 0x1Fu : extra == 2 ? b & 0x0Fu : b & 0x07u;
    for (int i = 1; i <= extra; i++) {
        if ((p[i] & 0xC0) != 0x80) { /* truncated sequence: skip the lead byte only */
            *s += 1;
            return '?';
        }
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    *s += 1 + extra; /* a stray continuation or invalid lead byte is one '?' */
    return extra ? ascii_lookalike(cp) : '?';
}

static int glyph_ink(int c, int row, int col)
{
    int i = c - 32;
    const char *line = sheet[(i / SHEET_PER_BAND) * FT_FONT_HEIGHT + row];
    return line[(i % SHEET_PER_BAND) * SLOT_W + col] == '#';
}

/* First and last inked column of a glyph; digits and blanks keep fixed widths. */
static void glyph_span(int c, int *first, int *last)
{
    *first = 0;
    *last = GLYPH_W - 1;
    if (c == ' ') {
        *last = 2;
        return;
    }
    if (c >= '0' && c <= '9')
        return;
    int lo = GLYPH_W, hi = -1;
    for (int r = 0; r < FT_FONT_HEIGHT; r++)
        for (int col = 0; col < GLYPH_W; col++)
            if (glyph_ink(c, r, col)) {
                lo = col < lo ? col : lo;
                hi = col > hi ? col : hi;
            }
    if (hi >= lo) {
        *first = lo;
        *last = hi;
    }
}

/* Font pixels from this glyph's pen position to the next one's (1-px gap). */
static int glyph_advance(int c)
{
    int first, last;
    glyph_span(c, &first, &last);
    return last - first + 2;
}

int ft_font_text_width(const char *s, int scale)
{
    long long units = 0;
    for (int c; s && (c = ft_font_next(&s)) != 0;)
        units += glyph_advance(c);
    if (units == 0)
        return 0;
    long long px = (units - 1) * (scale < 1 ? 1 : scale); /* no gap after the last */
    return px > INT_MAX ? INT_MAX : (int)px;
}

void ft_font_fit(const char *s, int scale, int max_width, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    out[0] = '\0';
    if (!s)
        return;
    if (scale < 1)
        scale = 1;
    long long budget = max_width / scale + 1; /* +1: the last glyph has no gap */
    long long used = 0;
    size_t n = 0;
    int c;
    const char *p = s;
    while ((c = ft_font_next(&p)) != 0 && n + 1 < outsz && used + glyph_advance(c) <= budget) {
        used += glyph_advance(c);
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (c == 0)
        return; /* everything fitted */
    /* Too long: back off until ".." fits after the kept prefix. */
    long long dots = 2LL * glyph_advance('.');
    while (n > 0 && (used + dots > budget || n + 3 > outsz || out[n - 1] == ' '))
        used -= glyph_advance((unsigned char)out[--n]);
    if (used + dots > budget || n + 3 > outsz) {
        out[0] = '\0';
        return;
    }
    out[n++] = '.';
    out[n++] = '.';
    out[n] = '\0';
}

static void fill_block(uint8_t *rgb, int w, int h, int x, int y, int scale, uint32_t color)
{
    for (int yy = y < 0 ? 0 : y; yy < y + scale && yy < h; yy++)
        for (int xx = x < 0 ? 0 : x; xx < x + scale && xx < w; xx++) {
            uint8_t *px = rgb + ((size_t)yy * (size_t)w + (size_t)xx) * 3;
            px[0] = (uint8_t)(color >> 16);
            px[1] = (uint8_t)(color >> 8);
            px[2] = (uint8_t)color;
        }
}

/* Shared by both directions: font pixel (u along the text, r down the line)
 * lands at (x + u*scale, y + r*scale) upright, or (x + r*scale, y - u*scale)
 * rotated. */
static void draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale,
                      uint32_t color, int up)
{
    if (!rgb || !s || w <= 0 || h <= 0)
        return;
    if (scale < 1)
        scale = 1;
    long long pen = 0;
    for (int c; (c = ft_font_next(&s)) != 0;) {
        int first, last;
        glyph_span(c, &first, &last);
        long long reach = up ? y - pen * scale : x + pen * scale;
        if (up ? reach < 0 : reach >= w)
            break; /* the rest is off the canvas */
        for (int r = 0; r < FT_FONT_HEIGHT; r++)
            for (int col = first; col <= last; col++) {
                if (!glyph_ink(c, r, col))
                    continue;
                long long u = pen + col - first;
                if (up)
                    fill_block(rgb, w, h, x + r * scale, (int)(y - (u + 1) * scale + 1), scale,
                               color);
                else
                    fill_block(rgb, w, h, (int)(x + u * scale), y + r * scale, scale, color);
            }
        pen += last - first + 2;
    }
}

void ft_font_draw(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale,
                  uint32_t color)
{
    draw_text(rgb, w, h, x, y, s, scale, color, 0);
}

void ft_font_draw_up(uint8_t *rgb, int w, int h, int x, int y, const char *s, int scale,
                     uint32_t color)
{
    draw_text(rgb, w, h, x, y, s, scale, color, 1);
}
