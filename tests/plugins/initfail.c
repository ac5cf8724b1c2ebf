/* A plugin whose init() fails: refused. */
#include <errno.h>

#include "alr/plugin.h"

static int initfail_init(const struct alr_plugin_host *host)
{
	return -ENODEV;
}

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.name = "test-initfail",
	.profile_class = ALR_PROFILE_CLASS_OTHER,
	.type_name = "initfail",
	.init = initfail_init,
};
