/* iap.* events as clients see them (daemon/iap-events.c): an iap.changed
 * goes out only when a member of the IAP object changed, and names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>

#include "alr/iap.h"
#include "daemon/iap-events.h"

#define UP_RUNNING (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

static const struct nlmon_addr v4 = { AF_INET, 24, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT, "10.1.0.2" };

static struct iap *make_iap(void)
{
	struct iap *iap = iap_new(7, "if:wlan0", "wlan0", IAP_KIND_WIFI);
	struct nlmon_link l = {
		.ifindex = 3, .name = "wlan0", .flags = UP_RUNNING, .operstate = 6,
		.mtu = 1500, .type = "veth", .mac = "02:00:00:00:00:07",
		.n_addrs = 1, .addrs = &v4, .default_route4 = true,
	};

	assert_non_null(iap);
	assert_true(iap_update(iap, &l) >= 0);
	return iap;
}

/* The "changed" list of @params as "a,b", "" when there is none. */
static const char *changed_of(struct json_object *params, char *buf, size_t size)
{
	struct json_object *c = NULL;
	size_t len = 0;

	buf[0] = '\0';
	if (!json_object_object_get_ex(params, "changed", &c))
		return buf;
	for (size_t i = 0; i < json_object_array_length(c); i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? "," : "",
					json_object_get_string(json_object_array_get_idx(c, i)));
	return buf;
}

struct change_case {
	const char *what;
	void (*apply)(struct iap *iap);
	const char *want;               /* NULL: no event */
};

static void promisc(struct iap *iap) { iap->flags |= IFF_PROMISC | IFF_ALLMULTI; }
static void arptype(struct iap *iap) { iap->arptype = 776; }
static void nothing(struct iap *iap) { (void)iap; }
static void mtu(struct iap *iap) { iap->mtu = 1400; }
static void carrier(struct iap *iap)
{
	iap->flags &= ~(unsigned int)(IFF_RUNNING | IFF_LOWER_UP);
	iap->reason = IAP_REASON_NO_CARRIER;
}
static void no_route(struct iap *iap) { iap->default_route4 = false; iap->reason = IAP_REASON_NO_DEFAULT_ROUTE; }
static void no_addr(struct iap *iap) { iap->n_addrs = 0; }
static void nm_state(struct iap *iap)
{
	static struct iap_nm nm = { .uuid = "u-1", .id = "HomeNet", .strength = -1 };

	iap->nm = &nm;                  /* not the IAP's to free: taken back below */
}

static void test_changed_only_when_visible(void **state)
{
	const struct change_case cases[] = {
		{ "nothing", nothing, NULL },
		{ "IFF_PROMISC and IFF_ALLMULTI: not in the object", promisc, NULL },
		{ "arptype: not in the object", arptype, NULL },
		{ "mtu", mtu, "link.mtu" },
		{ "carrier", carrier, "available,reason,link.running,link.lower_up" },
		{ "default route", no_route, "available,reason,default_route.ipv4" },
		{ "addresses", no_addr, "addresses" },
		{ "a NetworkManager connection", nm_state, "nm" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct iap_events *e = iap_events_new();
		struct iap *iap = make_iap();
		struct json_object *p;
		char buf[256];

		assert_non_null(e);
		p = iap_events_render(e, IAP_EVENT_ADDED, iap, 1.0);
		assert_non_null(p);
		assert_false(json_object_object_get_ex(p, "changed", NULL));
		json_object_put(p);

		cases[i].apply(iap);
		p = iap_events_render(e, IAP_EVENT_CHANGED, iap, 2.0);
		if (!cases[i].want) {
			if (p)
				fail_msg("%s: an iap.changed without a visible change: %s",
					 cases[i].what, json_object_to_json_string(p));
		} else {
			assert_non_null(p);
			assert_string_equal(changed_of(p, buf, sizeof(buf)), cases[i].want);
			json_object_put(p);
			/* the same state again shows nothing new */
			assert_null(iap_events_render(e, IAP_EVENT_CHANGED, iap, 3.0));
		}
		if (iap->nm && cases[i].apply == nm_state)
			iap->nm = NULL;
		iap_free(iap);
		iap_events_free(e);
	}
}

/* The switch's replaces/replaced_by are not the IAP's: the next
 * iap.changed does not list them; a removed IAP is forgotten, so one that
 * comes back with the id starts afresh. */
static void test_switch_members_and_removal(void **state)
{
	struct iap_events *e = iap_events_new();
	struct iap *iap = make_iap();
	struct json_object *p;

	iap->replaces = 3;
	p = iap_events_render(e, IAP_EVENT_ADDED, iap, 1.0);
	assert_non_null(p);
	json_object_put(p);
	iap->replaces = 0;
	assert_null(iap_events_render(e, IAP_EVENT_CHANGED, iap, 2.0));

	p = iap_events_render(e, IAP_EVENT_REMOVED, iap, 3.0);
	assert_non_null(p);
	json_object_put(p);
	/* no baseline any more: an iap.changed goes out, without a list */
	p = iap_events_render(e, IAP_EVENT_CHANGED, iap, 4.0);
	assert_non_null(p);
	assert_false(json_object_object_get_ex(p, "changed", NULL));
	json_object_put(p);
	iap_free(iap);
	iap_events_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changed_only_when_visible),
		cmocka_unit_test(test_switch_members_and_removal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
