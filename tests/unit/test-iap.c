/* IAP: availability rule, kind detection, change detection, JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <linux/if_addr.h>
#include <net/if_arp.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "alr/iap.h"
#include "daemon/iap-json.h"

#define UP_RUNNING (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

static const struct nlmon_addr v4_global = { AF_INET, 24, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT, "10.1.0.2" };
static const struct nlmon_addr v4_link = { AF_INET, 16, RT_SCOPE_LINK, 0, "169.254.3.4" };
static const struct nlmon_addr v6_global = { AF_INET6, 64, RT_SCOPE_UNIVERSE, 0, "2001:db8::2" };
static const struct nlmon_addr v6_tentative = { AF_INET6, 64, RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE, "2001:db8::3" };
static const struct nlmon_addr v6_deprecated = { AF_INET6, 64, RT_SCOPE_UNIVERSE, IFA_F_DEPRECATED, "2001:db8::4" };
static const struct nlmon_addr v6_dadfailed = { AF_INET6, 64, RT_SCOPE_UNIVERSE, IFA_F_DADFAILED, "2001:db8::5" };
static const struct nlmon_addr v6_link = { AF_INET6, 64, RT_SCOPE_LINK, IFA_F_PERMANENT, "fe80::1" };

struct avail_case {
	const char *what;
	unsigned int flags;
	struct nlmon_addr addrs[3];
	size_t n;
	bool r4, r6;
	enum iap_reason want;
};

static void test_availability_rule(void **state)
{
	const struct avail_case cases[] = {
		{ "all there", UP_RUNNING, { v4_global }, 1, true, false, IAP_REASON_NONE },
		{ "admin down", IFF_RUNNING | IFF_LOWER_UP, { v4_global }, 1, true, false, IAP_REASON_LINK_DOWN },
		{ "no carrier", IFF_UP, { v4_global }, 1, true, false, IAP_REASON_NO_CARRIER },
		{ "running but lower down", IFF_UP | IFF_RUNNING, { v4_global }, 1, true, false, IAP_REASON_NO_CARRIER },
		{ "no address", UP_RUNNING, { { 0 } }, 0, true, true, IAP_REASON_NO_ADDRESS },
		{ "link-local only", UP_RUNNING, { v4_link, v6_link }, 2, true, true, IAP_REASON_NO_ADDRESS },
		{ "tentative only", UP_RUNNING, { v6_tentative }, 1, false, true, IAP_REASON_NO_ADDRESS },
		{ "deprecated only", UP_RUNNING, { v6_deprecated }, 1, false, true, IAP_REASON_NO_ADDRESS },
		{ "dad failed only", UP_RUNNING, { v6_dadfailed }, 1, false, true, IAP_REASON_NO_ADDRESS },
		{ "no default route", UP_RUNNING, { v4_global }, 1, false, false, IAP_REASON_NO_DEFAULT_ROUTE },
		{ "v4 address, v6 route only", UP_RUNNING, { v4_global }, 1, false, true, IAP_REASON_NO_DEFAULT_ROUTE },
		{ "v6 address and route", UP_RUNNING, { v6_tentative, v6_global }, 2, false, true, IAP_REASON_NONE },
		{ "dual stack, v4 route", UP_RUNNING, { v4_global, v6_global }, 2, true, false, IAP_REASON_NONE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlmon_link l = {
			.ifindex = 3, .name = "wlan0", .flags = cases[i].flags,
			.n_addrs = cases[i].n, .addrs = cases[i].addrs,
			.default_route4 = cases[i].r4, .default_route6 = cases[i].r6,
		};
		enum iap_reason got = iap_link_evaluate(&l);

		if (got != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].what,
				 iap_reason_to_str(got) ? iap_reason_to_str(got) : "available",
				 iap_reason_to_str(cases[i].want) ? iap_reason_to_str(cases[i].want) : "available");
	}
}

static void test_kind_detect(void **state)
{
	const struct {
		struct iap_kind_hints h;
		enum iap_kind want;
	} cases[] = {
		{ { "wlp2s0", "wlan", false, "iwlwifi", NULL, ARPHRD_ETHER }, IAP_KIND_WIFI },
		{ { "wlan0", NULL, true, "brcmfmac", NULL, ARPHRD_ETHER }, IAP_KIND_WIFI },
		{ { "wwan0", "wwan", false, NULL, NULL, ARPHRD_NONE }, IAP_KIND_CELLULAR },
		{ { "wwp0s20u4", NULL, false, "qmi_wwan", NULL, ARPHRD_ETHER }, IAP_KIND_CELLULAR },
		{ { "mbim0", NULL, false, "cdc_mbim", NULL, ARPHRD_NONE }, IAP_KIND_CELLULAR },
		{ { "tun0", NULL, false, NULL, "tun", ARPHRD_NONE }, IAP_KIND_VPN },
		{ { "wg0", NULL, false, NULL, "wireguard", ARPHRD_NONE }, IAP_KIND_VPN },
		{ { "eth0", NULL, false, "e1000e", NULL, ARPHRD_ETHER }, IAP_KIND_ETHERNET },
		{ { "enx00e0", NULL, false, "cdc_ether", NULL, ARPHRD_ETHER }, IAP_KIND_ETHERNET },
		{ { "veth1", NULL, false, NULL, "veth", ARPHRD_ETHER }, IAP_KIND_ETHERNET },
		{ { "br0", NULL, false, NULL, "bridge", ARPHRD_ETHER }, IAP_KIND_ETHERNET },
		{ { "ppp0", NULL, false, NULL, NULL, ARPHRD_PPP }, IAP_KIND_OTHER },
		{ { "ib0", NULL, false, NULL, NULL, ARPHRD_INFINIBAND }, IAP_KIND_OTHER },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum iap_kind got = iap_kind_detect(&cases[i].h);

		if (got != cases[i].want)
			fail_msg("%s: got %s, want %s", cases[i].h.name, iap_kind_to_str(got),
				 iap_kind_to_str(cases[i].want));
	}
}

static void test_kind_names(void **state)
{
	for (int k = 0; k < _IAP_KIND_MAX; k++)
		assert_int_equal(iap_kind_from_str(iap_kind_to_str(k)), k);
	assert_true(iap_kind_from_str("radio") < 0);
	assert_null(iap_reason_to_str(IAP_REASON_NONE));
	assert_string_equal(iap_reason_to_str(IAP_REASON_NO_CARRIER), "no-carrier");
}

static void test_update_and_json(void **state)
{
	struct nlmon_addr addrs[] = { v4_global, v6_link };
	struct nlmon_link l = {
		.ifindex = 7, .name = "wlan0", .flags = UP_RUNNING, .operstate = 6,
		.mtu = 1500, .type = "veth", .mac = "02:00:00:00:00:01",
		.n_addrs = 2, .addrs = addrs, .default_route4 = true,
	};
	struct iap *iap = iap_new(4, "if:wlan0", "wlan0", IAP_KIND_WIFI);
	struct json_object *o, *v, *a;

	assert_non_null(iap);
	assert_int_equal(iap_update(iap, &l), 1);
	assert_true(iap_available(iap));
	/* The same snapshot again changes nothing. */
	assert_int_equal(iap_update(iap, &l), 0);
	/* An address flag change is a change. */
	addrs[0].flags |= IFA_F_DEPRECATED;
	assert_int_equal(iap_update(iap, &l), 1);
	assert_int_equal(iap->reason, IAP_REASON_NO_ADDRESS);
	addrs[0].flags &= ~IFA_F_DEPRECATED;
	assert_int_equal(iap_update(iap, &l), 1);
	/* Carrier loss. */
	l.flags = IFF_UP;
	assert_int_equal(iap_update(iap, &l), 1);
	assert_false(iap_available(iap));

	o = iap_to_json(iap);
	assert_true(json_object_object_get_ex(o, "id", &v));
	assert_int_equal(json_object_get_int(v), 4);
	assert_true(json_object_object_get_ex(o, "kind", &v));
	assert_string_equal(json_object_get_string(v), "wifi");
	assert_true(json_object_object_get_ex(o, "available", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(o, "reason", &v));
	assert_string_equal(json_object_get_string(v), "no-carrier");
	assert_true(json_object_object_get_ex(o, "addresses", &a));
	assert_int_equal(json_object_array_length(a), 2);
	v = json_object_array_get_idx(a, 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "address")), "10.1.0.2");
	assert_int_equal(json_object_get_int(json_object_object_get(v, "prefix")), 24);
	assert_true(json_object_get_boolean(json_object_object_get(v, "usable")));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
				    json_object_object_get(v, "flags"), 0)), "permanent");
	v = json_object_array_get_idx(a, 1);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "scope")), "link");
	assert_false(json_object_get_boolean(json_object_object_get(v, "usable")));
	json_object_put(o);
	iap_free(iap);
	assert_null(iap_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_availability_rule),
		cmocka_unit_test(test_kind_detect),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_update_and_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
