/* The dashboard's static files, embedded at build time: tools/embed_ui.c
 * writes the table from ui/ into <build>/gen/ui_assets.c. */
#ifndef FT_UI_ASSETS_H
#define FT_UI_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *name;          /* the file name under /ui/ ("app.js") */
    const char *content_type;  /* from the extension */
    const unsigned char *data; /* the file's bytes */
    size_t len;                /* their count */
    const char *etag;          /* a quoted hash of the bytes */
} ft_ui_asset;

/* Every file of ui/, in the order the Makefile lists them. */
extern const ft_ui_asset ft_ui_assets[];
/* Their count. */
extern const size_t ft_ui_nassets;

#endif
