/* A second plugin for type other/test (good.so's): refused when it comes
 * after good.so in name order. */
#include "alr/plugin.h"

ALR_PLUGIN_EXPORT = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.name = "test-duplicate",
	.profile_class = ALR_PROFILE_CLASS_OTHER,
	.type_name = "test",
};
