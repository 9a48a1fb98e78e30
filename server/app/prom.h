/* Prometheus metrics in the text exposition format (GET /metrics). */
#ifndef FT_PROM_H
#define FT_PROM_H

#include <stddef.h>

typedef struct ft_prom ft_prom;
typedef struct ft_app ft_app;

ft_prom *ft_prom_new(void);
void ft_prom_free(ft_prom *p);

/* One finished HTTP request: counted by route/method/status, timed by route. */
void ft_prom_request(ft_prom *p, const char *route, const char *method, unsigned status, double seconds);
/* One finished job (terminal status) and its wall time. */
void ft_prom_job_finished(ft_prom *p, const char *status, double seconds);
/* How a webhook delivery attempt ended. */
typedef enum { FT_WEBHOOK_DELIVERED, FT_WEBHOOK_RETRY, FT_WEBHOOK_FAILED, FT_WEBHOOK_OUTCOMES } ft_webhook_outcome;
/* Their label values: "delivered", "retry" (failed, to be tried again), "failed" (given up). */
extern const char *const ft_webhook_outcomes[FT_WEBHOOK_OUTCOMES];
/* One webhook delivery attempt and its duration. */
void ft_prom_webhook_attempt(ft_prom *p, ft_webhook_outcome outcome, double seconds);
/* A worker's current training throughput (0 when idle). */
void ft_prom_worker_rate(ft_prom *p, int worker, double samples_per_second);

/* Render everything, including figures read from the store, into a malloc'd
 * text buffer. */
char *ft_prom_render(ft_prom *p, ft_app *app, size_t *len);

#endif
