/* A plugin whose validation refuses every profile (type other/picky). */
#include <errno.h>
#include <stdio.h>

#include "alr/plugin.h"

static int picky_validate(const struct alr_profile_info *p, struct alr_plugin_error *err)
{
	snprintf(err->field, sizeof(err->field), "params.picky");
	snprintf(err->reason, sizeof(err->reason), "is missing; the picky plugin wants it");
	return -EINVAL;
}

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.name = "test-picky",
	.profile_class = ALR_PROFILE_CLASS_OTHER,
	.type_name = "picky",
	.validate = picky_validate,
};
