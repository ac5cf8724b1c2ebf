/* A plugin built for another API version: refused. */
#include "alr/plugin.h"

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION + 41,
	.name = "test-badversion",
	.profile_class = ALR_PROFILE_CLASS_OTHER,
	.type_name = "badversion",
};
