/* The route table (docs/design.md, "REST API"). List, get and delete are
 * one handler each, run on the resource row the route names. */
#include "server/api/routes.h"

#define DATASETS (&ft_resources[FT_RESOURCE_DATASET])
#define MODELS (&ft_resources[FT_RESOURCE_MODEL])
#define JOBS (&ft_resources[FT_RESOURCE_JOB])
#define WEBHOOKS (&ft_resources[FT_RESOURCE_WEBHOOK])
#define SWEEPS (&ft_resources[FT_RESOURCE_SWEEP])

const ft_route ft_routes[] = {
    {"GET", "/healthz", FT_BODY_NONE, ft_route_healthz, FT_ROUTE_OPEN, NULL},
    {"GET", "/readyz", FT_BODY_NONE, ft_route_readyz, FT_ROUTE_OPEN, NULL},
    {"GET", "/metrics", FT_BODY_NONE, ft_route_metrics, FT_ROUTE_OPEN, NULL},
    {"GET", "/v1/version", FT_BODY_NONE, ft_route_version, 0, NULL},
    {"GET", "/", FT_BODY_NONE, ft_route_ui_index, FT_ROUTE_PUBLIC, NULL},
    {"GET", "/ui/{file}", FT_BODY_NONE, ft_route_ui_file, FT_ROUTE_PUBLIC, NULL},

    {"POST", "/v1/datasets", FT_BODY_UPLOAD, ft_route_dataset_upload, FT_ROUTE_HEAVY, NULL},
    {"GET", "/v1/datasets", FT_BODY_NONE, ft_route_list, 0, DATASETS},
    {"GET", "/v1/datasets/{id}", FT_BODY_NONE, ft_route_get, 0, DATASETS},
    {"DELETE", "/v1/datasets/{id}", FT_BODY_NONE, ft_route_delete, 0, DATASETS},
    {"GET", "/v1/datasets/{id}/samples/{file}", FT_BODY_NONE, ft_route_dataset_sample, FT_ROUTE_HEAVY, NULL},

    {"POST", "/v1/models", FT_BODY_UPLOAD, ft_route_model_upload, FT_ROUTE_HEAVY, NULL},
    {"GET", "/v1/models", FT_BODY_NONE, ft_route_list, 0, MODELS},
    {"GET", "/v1/models/{id}", FT_BODY_NONE, ft_route_get, 0, MODELS},
    {"GET", "/v1/models/{id}/content", FT_BODY_NONE, ft_route_model_content, FT_ROUTE_HEAVY, MODELS},
    {"DELETE", "/v1/models/{id}", FT_BODY_NONE, ft_route_delete, 0, MODELS},
    {"POST", "/v1/models/{id}/predict", FT_BODY_RAW, ft_route_model_predict, FT_ROUTE_HEAVY, NULL},
    {"POST", "/v1/models/{id}/evaluate", FT_BODY_JSON, ft_route_model_evaluate, FT_ROUTE_HEAVY, NULL},

    {"POST", "/v1/jobs", FT_BODY_JSON, ft_route_job_create, FT_ROUTE_HEAVY, NULL},
    {"GET", "/v1/jobs", FT_BODY_NONE, ft_route_list, 0, JOBS},
    {"GET", "/v1/jobs/{id}", FT_BODY_NONE, ft_route_get, 0, JOBS},
    {"POST", "/v1/jobs/{id}/cancel", FT_BODY_NONE, ft_route_job_cancel, 0, NULL},
    {"GET", "/v1/jobs/{id}/events", FT_BODY_NONE, ft_route_job_events, 0, NULL},
    {"GET", "/v1/jobs/{id}/metrics", FT_BODY_NONE, ft_route_job_metrics, 0, NULL},
    {"GET", "/v1/jobs/{id}/metrics.png", FT_BODY_NONE, ft_route_job_metrics_png, 0, NULL},
    {"GET", "/v1/jobs/{id}/confusion.png", FT_BODY_NONE, ft_route_job_confusion_png, 0, NULL},
    {"GET", "/v1/jobs/{id}/confusion.csv", FT_BODY_NONE, ft_route_job_confusion_csv, FT_ROUTE_HEAVY, NULL},

    {"POST", "/v1/webhooks", FT_BODY_JSON, ft_route_webhook_create, 0, NULL},
    {"GET", "/v1/webhooks", FT_BODY_NONE, ft_route_list, 0, WEBHOOKS},
    {"GET", "/v1/webhooks/{id}", FT_BODY_NONE, ft_route_get, 0, WEBHOOKS},
    {"DELETE", "/v1/webhooks/{id}", FT_BODY_NONE, ft_route_delete, 0, WEBHOOKS},
    {"GET", "/v1/webhooks/{id}/deliveries", FT_BODY_NONE, ft_route_webhook_deliveries, 0, NULL},
    {"POST", "/v1/sweeps", FT_BODY_JSON, ft_route_sweep_create, FT_ROUTE_HEAVY, NULL},
    {"GET", "/v1/sweeps", FT_BODY_NONE, ft_route_list, 0, SWEEPS},
    {"GET", "/v1/sweeps/{id}", FT_BODY_NONE, ft_route_sweep_get, 0, NULL},
    {"POST", "/v1/sweeps/{id}/cancel", FT_BODY_NONE, ft_route_sweep_cancel, 0, NULL},
    {"GET", "/v1/sweeps/{id}/results.csv", FT_BODY_NONE, ft_route_sweep_csv, 0, NULL},
    {"GET", "/v1/sweeps/{id}/chart.png", FT_BODY_NONE, ft_route_sweep_chart, FT_ROUTE_HEAVY, NULL},
};

const size_t ft_nroutes = sizeof ft_routes / sizeof ft_routes[0];
