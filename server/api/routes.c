/* The route table (docs/design.md, "REST API"). */
#include "server/api/routes.h"

const ft_route ft_routes[] = {
    {"GET", "/healthz", FT_BODY_NONE, ft_route_healthz, FT_ROUTE_OPEN},
    {"GET", "/readyz", FT_BODY_NONE, ft_route_readyz, FT_ROUTE_OPEN},
    {"GET", "/metrics", FT_BODY_NONE, ft_route_metrics, FT_ROUTE_OPEN},
    {"GET", "/v1/version", FT_BODY_NONE, ft_route_version, 0},

    {"POST", "/v1/datasets", FT_BODY_UPLOAD, ft_route_dataset_upload, FT_ROUTE_HEAVY},
    {"GET", "/v1/datasets", FT_BODY_NONE, ft_route_dataset_list, 0},
    {"GET", "/v1/datasets/{id}", FT_BODY_NONE, ft_route_dataset_get, 0},
    {"DELETE", "/v1/datasets/{id}", FT_BODY_NONE, ft_route_dataset_delete, 0},

    {"POST", "/v1/models", FT_BODY_UPLOAD, ft_route_model_upload, FT_ROUTE_HEAVY},
    {"GET", "/v1/models", FT_BODY_NONE, ft_route_model_list, 0},
    {"GET", "/v1/models/{id}", FT_BODY_NONE, ft_route_model_get, 0},
    {"GET", "/v1/models/{id}/content", FT_BODY_NONE, ft_route_model_content, 0},
    {"DELETE", "/v1/models/{id}", FT_BODY_NONE, ft_route_model_delete, 0},
    {"POST", "/v1/models/{id}/predict", FT_BODY_RAW, ft_route_model_predict, FT_ROUTE_HEAVY},
    {"POST", "/v1/models/{id}/evaluate", FT_BODY_JSON, ft_route_model_evaluate, FT_ROUTE_HEAVY},

    {"POST", "/v1/jobs", FT_BODY_JSON, ft_route_job_create, FT_ROUTE_HEAVY},
    {"GET", "/v1/jobs", FT_BODY_NONE, ft_route_job_list, 0},
    {"GET", "/v1/jobs/{id}", FT_BODY_NONE, ft_route_job_get, 0},
    {"POST", "/v1/jobs/{id}/cancel", FT_BODY_NONE, ft_route_job_cancel, 0},
    {"GET", "/v1/jobs/{id}/events", FT_BODY_NONE, ft_route_job_events, 0},
    {"GET", "/v1/jobs/{id}/metrics", FT_BODY_NONE, ft_route_job_metrics, 0},
    {"GET", "/v1/jobs/{id}/metrics.png", FT_BODY_NONE, ft_route_job_metrics_png, 0},
    {"GET", "/v1/jobs/{id}/confusion.png", FT_BODY_NONE, ft_route_job_confusion_png, 0},
    {"GET", "/v1/jobs/{id}/confusion.csv", FT_BODY_NONE, ft_route_job_confusion_csv, FT_ROUTE_HEAVY},
};

const size_t ft_nroutes = sizeof ft_routes / sizeof ft_routes[0];

const char *ft_route_id(ft_req *r, const char *prefix, const char *what)
{
    const char *id = ft_req_param(r, "id");
    if (!ft_app_valid_id(prefix, id)) {
        ft_reply_error(r, 404, "not_found", "id", "no %s with id '%s'", what, id ? id : "");
        return NULL;
    }
    return id;
}

void ft_reply_list(ft_req *r, json_t *data, bool has_more)
{
    ft_reply_json(r, 200, json_pack("{s:s, s:o, s:b}", "object", "list", "data", data, "has_more", has_more));
}

json_t *ft_route_job(ft_app *app, ft_req *r)
{
    const char *id = ft_route_id(r, "job", "job");
    ft_error err = {0};
    json_t *job = id ? ft_store_job_get(app->store, id, &err) : NULL;
    if (id && !job)
        ft_reply_ft_error(r, &err, 422);
    return job;
}
