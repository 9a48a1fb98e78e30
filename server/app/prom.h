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
/* A worker's current training throughput (0 when idle). */
void ft_prom_worker_rate(ft_prom *p, int worker, double samples_per_second);

/* Render everything, including figures read from the store, into a malloc'd
 * text buffer. */
char *ft_prom_render(ft_prom *p, ft_app *app, size_t *len);

#endif
