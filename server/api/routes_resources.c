/* List, get and delete for every resource (objects.h, ft_resources), and
 * the helpers the other handlers share. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "server/api/routes.h"

const char *ft_route_id(ft_req *r, const char *prefix, const char *what)
{
    const char *id = ft_req_param(r, "id");
    if (!ft_app_valid_id(prefix, id)) {
        ft_reply_error(r, 404, "not_found", "id", "no %s with id '%s'", what, id ? id : "");
        return NULL;
    }
    return id;
}

bool ft_route_create(ft_app *app, ft_req *r, const ft_resource *res, json_t *obj, const char *path)
{
    ft_error err = {0};
    if (res->insert(app->store, obj, &err) != 0) {
        unlink(path); /* no row points at it */
        json_decref(obj);
        ft_reply_ft_error(r, &err, 422);
        return false;
    }
    json_t *stored = res->get(app->store, json_string_value(json_object_get(obj, "id")), &err);
    json_decref(obj);
    if (!stored) {
        ft_reply_ft_error(r, &err, 422);
        return false;
    }
    ft_reply_json(r, 201, stored);
    return true;
}

const char *ft_route_option(ft_req *r, const char *key)
{
    const char *v = ft_req_query(r, key);
    return v ? v : ft_req_form(r, key);
}

void ft_reply_list(ft_req *r, json_t *data, bool has_more)
{
    ft_reply_json(r, 200, json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", has_more));
}

json_t *ft_route_object(ft_app *app, ft_req *r, const ft_resource *res)
{
    const char *id = ft_route_id(r, res->id_prefix, res->object);
    ft_error err = {0};
    json_t *obj = id ? res->get(app->store, id, &err) : NULL;
    if (id && !obj)
        ft_reply_ft_error(r, &err, 422);
    return obj;
}

json_t *ft_route_job(ft_app *app, ft_req *r)
{
    return ft_route_object(app, r, &ft_resources[FT_RESOURCE_JOB]);
}

void ft_route_list(ft_app *app, ft_req *r)
{
    const ft_resource *res = ft_req_route_data(r);
    ft_list_query q = {.after = ft_req_query(r, "after"),
                       .status = res->list_by_status ? ft_req_query(r, "status") : NULL,
                       .sweep = res->list_by_status ? ft_req_query(r, "sweep") : NULL};
    if (!ft_req_limit(r, &q.limit))
        return;
    ft_error err = {0};
    bool more = false;
    json_t *data = res->list(app->store, &q, &more, &err);
    if (!data) {
        ft_reply_ft_error(r, &err, 400);
        return;
    }
    ft_reply_list(r, data, more);
}

void ft_route_get(ft_app *app, ft_req *r)
{
    json_t *obj = ft_route_object(app, r, ft_req_route_data(r));
    if (obj)
        ft_reply_json(r, 200, obj);
}

/* The row goes first: a crash before the unlink leaves an orphan file that
 * the start-up sweep removes, never a row without its file. */
void ft_route_delete(ft_app *app, ft_req *r)
{
    const ft_resource *res = ft_req_route_data(r);
    const char *id = ft_route_id(r, res->id_prefix, res->object);
    if (!id)
        return;
    ft_error err = {0};
    if (res->remove(app->store, id, &err) != 0) {
        ft_reply_ft_error(r, &err, 409);
        return;
    }
    if (res->file_path) {
        char path[PATH_MAX];
        res->file_path(app, id, path, sizeof path);
        unlink(path);
    }
    ft_reply_json(r, 200, json_pack("{s:s, s:s, s:b}", "id", id, "object", res->object, "deleted", 1));
}
