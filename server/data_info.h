/* ft_data_info (what a job plan needs to know of a dataset) built from a
 * stored dataset object, so job submission never loads the data itself. */
#ifndef FT_DATA_INFO_H
#define FT_DATA_INFO_H

#include <jansson.h>

#include "core/spec.h"

/* Fill info from a dataset API object; class names point into obj, which
 * must outlive info. Free with ft_data_info_free. */
int ft_data_info_from_object(const json_t *obj, ft_data_info *info, ft_error *err);

#endif
