/* Route handlers and the route table. */
#ifndef FT_ROUTES_H
#define FT_ROUTES_H

#include "server/app/app.h"
#include "server/objects/objects.h"

extern const ft_route ft_routes[];
extern const size_t ft_nroutes;

/* system */
void ft_route_healthz(ft_app *app, ft_req *r);
void ft_route_readyz(ft_app *app, ft_req *r);
void ft_route_metrics(ft_app *app, ft_req *r);
void ft_route_version(ft_app *app, ft_req *r);
/* the dashboard (routes_ui.c): index.html, and one embedded file by name */
void ft_route_ui_index(ft_app *app, ft_req *r);
void ft_route_ui_file(ft_app *app, ft_req *r);
/* any resource: the route's data is its ft_resource row */
void ft_route_list(ft_app *app, ft_req *r);
void ft_route_get(ft_app *app, ft_req *r);
void ft_route_delete(ft_app *app, ft_req *r);
/* datasets */
void ft_route_dataset_upload(ft_app *app, ft_req *r);
void ft_route_dataset_sample(ft_app *app, ft_req *r);
/* models */
void ft_route_model_upload(ft_app *app, ft_req *r);
void ft_route_model_content(ft_app *app, ft_req *r);
void ft_route_model_predict(ft_app *app, ft_req *r);
void ft_route_model_evaluate(ft_app *app, ft_req *r);
/* jobs */
void ft_route_job_create(ft_app *app, ft_req *r);
void ft_route_job_cancel(ft_app *app, ft_req *r);
void ft_route_job_events(ft_app *app, ft_req *r);
void ft_route_job_metrics(ft_app *app, ft_req *r);
void ft_route_job_metrics_png(ft_app *app, ft_req *r);
void ft_route_job_confusion_png(ft_app *app, ft_req *r);
void ft_route_job_confusion_csv(ft_app *app, ft_req *r);
/* webhooks */
void ft_route_webhook_create(ft_app *app, ft_req *r);
void ft_route_webhook_deliveries(ft_app *app, ft_req *r);
/* A new endpoint's row from request fields (url, events, description),
 * with a generated id and secret, for job_id's events alone if it is not
 * NULL; param prefixes field names in errors ("webhook."). NULL after
 * replying 422. */
json_t *ft_route_webhook_row(ft_app *app, ft_req *r, const json_t *fields, const char *param, const char *job_id);

void ft_route_sweep_create(ft_app *app, ft_req *r);
void ft_route_sweep_get(ft_app *app, ft_req *r);
void ft_route_sweep_cancel(ft_app *app, ft_req *r);
void ft_route_sweep_csv(ft_app *app, ft_req *r);
void ft_route_sweep_chart(ft_app *app, ft_req *r);

/* Shared by handlers (routes_resources.c): the {id} path parameter if it is a valid id with this
 * prefix, else reply 404 and return NULL. `what` names the resource. */
const char *ft_route_id(ft_req *r, const char *prefix, const char *what);
/* The object of `res` the path's {id} names, or NULL after replying 404. */
json_t *ft_route_object(ft_app *app, ft_req *r, const ft_resource *res);
/* The same for a job. */
json_t *ft_route_job(ft_app *app, ft_req *r);
/* Insert obj (taken) as a new row of res and reply 201 with the stored
 * object. Its file is already at `path` (a crash before the row commits
 * leaves an orphan that the start-up sweep removes); a refused row removes
 * it. False after replying an error. */
bool ft_route_create(ft_app *app, ft_req *r, const ft_resource *res, json_t *obj, const char *path);
/* An upload option: the query argument, or else the plain multipart field. */
const char *ft_route_option(ft_req *r, const char *key);
/* Room for a request's hash (16 hex digits). */
#define FT_REQUEST_HASH 17
/* A create's Idempotency-Key (*key, NULL without one) and the hash of its
 * JSON body that a replay must match. False after a 400 for a key that is
 * empty or longer than 255 bytes. */
bool ft_route_idempotency(ft_req *r, const char **key, char hash[FT_REQUEST_HASH]);
/* Reply to a refused job spec (ft_job_check_stored's err and code): 422. */
void ft_reply_check_error(ft_req *r, const ft_error *err, const char *code);
/* Cancel job id as POST /v1/jobs/{id}/cancel does (a queued job at once, a
 * running one through its worker); *job receives the updated job. */
int ft_route_cancel_job(ft_app *app, const char *id, json_t **job, ft_error *err);
/* Reply with a list envelope {"object": "list", "data": [...], "has_more"}. */
void ft_reply_list(ft_req *r, json_t *data, bool has_more);

#endif
