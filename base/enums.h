/* Enums that more than one layer speaks (DESIGN §5, base/): each with its
 * _to_str() table.  Nothing here depends on anything of ours. */
#pragma once

/* What kind of network an IAP is (docs/configuration.md, "Interface
 * kinds"); the SNAP rules, NetworkManager's device types and the
 * configuration's iap-kinds all name these. */
enum iap_kind {
	IAP_KIND_ETHERNET,
	IAP_KIND_WIFI,
	IAP_KIND_CELLULAR,
	IAP_KIND_VPN,
	IAP_KIND_OTHER,
	_IAP_KIND_MAX,
};

const char *iap_kind_to_str(enum iap_kind k);   /* "other" if out of range */
int iap_kind_from_str(const char *s);           /* -EINVAL if unknown */
