/* Health, readiness, metrics and version. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "server/app/prom.h"
#include "server/api/routes.h"
#include "server/app/version.h"

void ft_route_healthz(ft_app *app, ft_req *r)
{
    (void)app;
    ft_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready = the database takes writes, the disk has headroom, and we are not
 * shutting down. Otherwise 503 with the reason, so an orchestrator stops
 * sending traffic. */
/* Whether a file can be created in the data dir: with PostgreSQL the
 * database lives elsewhere, and a data dir gone read-only (an ext4 abort
 * turns writes into EROFS before the mount says so) would go unseen. The
 * probe file is created and removed at once, never synced. */
static bool data_dir_writable(const ft_app *app)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/readyz.tmp.XXXXXX", app->dir_tmp);
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    close(fd);
    unlink(path);
    return true;
}

void ft_route_readyz(ft_app *app, ft_req *r)
{
    ft_error err = {0};
    struct statvfs vfs;
    bool db = ft_store_writable(app->store, 1000, &err); /* probes must not cost a sync each */
    bool files = data_dir_writable(app);
    unsigned long long free_bytes = 0;
    if (statvfs(app->cfg.data_dir, &vfs) == 0)
        free_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    bool disk = free_bytes >= app->cfg.min_free_bytes;
    bool up = !atomic_load(&app->shutting_down);
    json_t *checks = json_pack("{s:b, s:b, s:I, s:I, s:b}", "database_writable", db, "data_dir_writable", files,
                               "disk_free_bytes",
                               (json_int_t)free_bytes, "disk_min_free_bytes", (json_int_t)app->cfg.min_free_bytes,
                               "shutting_down", !up);
    if (db && files && disk && up) {
        ft_reply_json(r, 200, json_pack("{s:s, s:o}", "status", "ready", "checks", checks));
        return;
    }
    const char *reason = !up                ? "shutting down"
                         : !db              ? "the database does not accept writes"
                         : !files           ? "the data dir does not accept writes"
                                            : "the disk is nearly full";
    ft_reply_json(r, 503, json_pack("{s:s, s:s, s:o}", "status", "unavailable", "reason", reason, "checks", checks));
}

void ft_route_metrics(ft_app *app, ft_req *r)
{
    size_t len;
    char *text = ft_prom_render(app->prom, app, &len);
    if (!text) {
        ft_reply_error(r, 500, "internal_error", NULL, "could not render metrics");
        return;
    }
    ft_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, true);
}

void ft_route_version(ft_app *app, ft_req *r)
{
    ft_reply_json(r, 200, json_pack("{s:s, s:s, s:i}", "version", FT_VERSION, "api", FT_API_VERSION,
                                    "schema_version", ft_store_schema_version(app->store)));
}
