/* The shared enums' names (enums.h). */
#include "base/enums.h"

#include <errno.h>
#include <string.h>

static const char *const kind_names[_IAP_KIND_MAX] = {
	[IAP_KIND_ETHERNET] = "ethernet",
	[IAP_KIND_WIFI] = "wifi",
	[IAP_KIND_CELLULAR] = "cellular",
	[IAP_KIND_VPN] = "vpn",
	[IAP_KIND_OTHER] = "other",
};

const char *iap_kind_to_str(enum iap_kind k)
{
	if ((unsigned)k >= _IAP_KIND_MAX)
		return "other";
	return kind_names[k];
}

int iap_kind_from_str(const char *s)
{
	for (int k = 0; k < _IAP_KIND_MAX; k++)
		if (strcmp(s, kind_names[k]) == 0)
			return k;
	return -EINVAL;
}
