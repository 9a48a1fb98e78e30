/* /v1/webhooks: register an endpoint (its secret shown once), its
 * deliveries; list, get and delete are the shared resource handlers. */
#include <string.h>

#include "server/api/routes.h"
#include "server/webhooks/webhooks.h"

json_t *ft_route_webhook_row(ft_app *app, ft_req *r, const json_t *fields, const char *param, const char *job_id)
{
    ft_error err = {0};
    json_t *events = NULL;
    char id[64], secret[FT_WEBHOOK_SECRET_MAX];
    if (ft_webhook_fields(fields, param, app->cfg.webhook_allow_private, &events, &err) != 0 ||
        ft_webhook_secret_new(secret, &err) != 0) {
        json_decref(events);
        ft_reply_ft_error(r, &err, 422);
        return NULL;
    }
    ft_app_new_id("wh", id, sizeof id);
    json_t *description = json_object_get(fields, "description");
    json_t *row = json_pack("{ss ss so sO ss ss*}", "id", id, "url", json_string_value(json_object_get(fields, "url")),
                            "events", events, "description", description ? description : json_null(), "secret",
                            secret, "job", job_id);
    if (!row)
        ft_reply_error(r, 503, "out_of_memory", NULL, "out of memory");
    return row;
}

void ft_route_webhook_create(ft_app *app, ft_req *r)
{
    json_t *row = ft_route_webhook_row(app, r, ft_req_json(r), "", NULL);
    if (!row)
        return;
    ft_error err = {0};
    const char *id = json_string_value(json_object_get(row, "id"));
    json_t *stored = ft_store_webhook_insert(app->store, row, &err) == 0 ? ft_store_webhook_get(app->store, id, &err)
                                                                          : NULL;
    if (!stored)
        ft_reply_ft_error(r, &err, 422);
    else {
        /* The only time the secret leaves the server. */
        json_object_set(stored, "secret", json_object_get(row, "secret"));
        ft_reply_json(r, 201, stored);
    }
    json_decref(row);
}

void ft_route_webhook_deliveries(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "wh", "webhook");
    int limit;
    if (!id || !ft_req_limit(r, &limit))
        return;
    ft_error err = {0};
    bool more = false;
    json_t *list = ft_store_webhook_deliveries(app->store, id, limit, &more, &err);
    if (!list) {
        ft_reply_ft_error(r, &err, 400);
        return;
    }
    ft_reply_list(r, list, more);
}
