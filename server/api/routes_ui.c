/* GET / and GET /ui/{file}: the dashboard's static files, embedded in the
 * binary (ui_assets.h). They are public (the page asks for the API key
 * itself and sends it on every API call), revalidated by ETag, and sent with
 * a Content-Security-Policy that lets the page load and fetch nothing but
 * this server's own files: no inline script, no other origin. */
#include <string.h>

#include "server/api/routes.h"
#include "server/api/ui_assets.h"

/* blob: images are the charts fetched with the key (an <img src> cannot
 * send it); inline styles are off like inline scripts. */
#define UI_CSP                                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "         \
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const ft_ui_asset *asset_named(const char *name)
{
    for (size_t i = 0; i < ft_ui_nassets; i++)
        if (strcmp(ft_ui_assets[i].name, name) == 0)
            return &ft_ui_assets[i];
    return NULL;
}

/* If-None-Match may list several tags, or "*". */
static bool not_modified(ft_req *r, const char *etag)
{
    const char *given = ft_req_header(r, "If-None-Match");
    return given && (strstr(given, etag) != NULL || strcmp(given, "*") == 0);
}

static void reply_asset(ft_req *r, const ft_ui_asset *a)
{
    if (not_modified(r, a->etag))
        ft_reply_bytes(r, 304, a->content_type, "", 0, false);
    else
        ft_reply_bytes(r, 200, a->content_type, (void *)a->data, a->len, false);
    /* no-cache: keep it, but ask each time (the file names carry no version). */
    ft_reply_header(r, "Cache-Control", "no-cache");
    ft_reply_header(r, "ETag", a->etag);
    ft_reply_header(r, "Content-Security-Policy", UI_CSP);
    ft_reply_header(r, "X-Content-Type-Options", "nosniff");
    ft_reply_header(r, "Referrer-Policy", "no-referrer");
}

void ft_route_ui_index(ft_app *app, ft_req *r)
{
    (void)app;
    const ft_ui_asset *a = asset_named("index.html");
    if (!a) {
        ft_reply_error(r, 404, "not_found", NULL, "this build has no dashboard");
        return;
    }
    reply_asset(r, a);
}

void ft_route_ui_file(ft_app *app, ft_req *r)
{
    (void)app;
    const char *name = ft_req_param(r, "file");
    const ft_ui_asset *a = name ? asset_named(name) : NULL;
    if (!a) {
        ft_reply_error(r, 404, "not_found", "file", "no dashboard file %s", ft_req_path(r));
        return;
    }
    reply_asset(r, a);
}
