/* Stored datasets: the service's own compact file per dataset. */
#ifndef FT_SERVER_DATASETS_H
#define FT_SERVER_DATASETS_H

#include "core/data/dataset.h"
#include "server/app.h"

/* Load the stored dataset `id` (its row must exist). */
ft_dataset *ft_stored_dataset_load(ft_app *app, const char *id, ft_error *err);

#endif
