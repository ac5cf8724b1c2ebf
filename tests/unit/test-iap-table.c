/* IAP table: snapshots in, events out, stable ids, kinds from config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <linux/if_addr.h>
#include <net/if_arp.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alr/iap_table.h"
#include "nm/nmmon.h"
#include "daemon/config.h"
#include "store/store.h"

#define UP_RUNNING (IFF_UP | IFF_RUNNING | IFF_LOWER_UP)

struct recorder {
	char log[64][48];
	size_t n;
};

static const char *kind_rule(const char *ifname, void *user_data)
{
	return config_kind_for(user_data, ifname);
}

static void record(enum iap_event ev, const struct iap *iap, void *ud)
{
	struct recorder *r = ud;

	if (r->n >= 64)
		return;
	if (iap->replaces || iap->replaced_by)
		snprintf(r->log[r->n++], sizeof(r->log[0]), "%s %s %u %s %u",
			 iap_event_to_str(ev), iap->name, iap->id,
			 iap->replaces ? "replaces" : "replaced-by",
			 iap->replaces ? iap->replaces : iap->replaced_by);
	else
		snprintf(r->log[r->n++], sizeof(r->log[0]), "%s %s %u",
			 iap_event_to_str(ev), iap->name, iap->id);
}

static void expect(struct recorder *r, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n || i < r->n; i++) {
		const char *got = i < r->n ? r->log[i] : "(nothing)";
		const char *w = i < n ? want[i] : "(nothing)";

		if (strcmp(got, w) != 0)
			fail_msg("event %zu: got '%s', want '%s'", i, got, w);
	}
	r->n = 0;
}

struct world {
	char dir[64];
	char db[128];
	struct store *store;
	struct config *config;
	struct iap_table *t;
	struct recorder rec;
	struct nlmon_addr addr;
	struct nlmon_link wlan, wwan, lo;
};

static void world_open_table(struct world *w)
{
	char err[256];

	assert_int_equal(store_open(w->db, &w->store, err, sizeof(err)), 0);
	w->t = iap_table_new(w->store, kind_rule, w->config, "/nonexistent-sysfs");
	assert_non_null(w->t);
	iap_table_watch(w->t, record, &w->rec, NULL);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct config_error e;
	char conf[128];
	FILE *f;

	strcpy(w->dir, "/tmp/alrd-test-iaptable-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->db, sizeof(w->db), "%s/alrd.db", w->dir);
	snprintf(conf, sizeof(conf), "%s/alrd.conf", w->dir);
	f = fopen(conf, "w");
	fputs("[iap-kinds]\nwlan* = wifi\nwwan* = cellular\nignored* = ignore\n", f);
	fclose(f);
	assert_int_equal(config_load(conf, true, &w->config, &e), 0);
	world_open_table(w);

	w->addr = (struct nlmon_addr){ AF_INET, 24, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT, "10.1.0.2" };
	w->wlan = (struct nlmon_link){ .ifindex = 5, .name = "wlan0", .flags = UP_RUNNING,
				       .arptype = ARPHRD_ETHER, .type = "veth",
				       .n_addrs = 1, .addrs = &w->addr, .default_route4 = true };
	w->wwan = (struct nlmon_link){ .ifindex = 6, .name = "wwan0", .flags = IFF_UP,
				       .arptype = ARPHRD_ETHER, .type = "veth" };
	w->lo = (struct nlmon_link){ .ifindex = 1, .name = "lo", .flags = UP_RUNNING | IFF_LOOPBACK,
				     .arptype = ARPHRD_LOOPBACK };
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];

	iap_table_free(w->t);
	store_close(w->store);
	config_free(w->config);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

static void test_add_change_remove(void **state)
{
	struct world *w = *state;
	const struct iap *iap;

	iap_table_link_changed(w->t, &w->lo);          /* loopback: not an IAP */
	iap_table_link_changed(w->t, &w->wlan);
	iap_table_link_changed(w->t, &w->wwan);
	expect(&w->rec, (const char *const[]){ "iap.added wlan0 1", "iap.up wlan0 1",
					       "iap.added wwan0 2" }, 3);
	assert_int_equal(iap_table_count(w->t), 2);
	iap = iap_table_find_by_ifindex(w->t, 5);
	assert_non_null(iap);
	assert_int_equal(iap->kind, IAP_KIND_WIFI);
	assert_int_equal(iap_table_find_by_name(w->t, "wwan0")->kind, IAP_KIND_CELLULAR);
	assert_ptr_equal(iap_table_find_by_id(w->t, 1), iap);
	assert_null(iap_table_find_by_id(w->t, 3));

	/* Nothing changed: no event. */
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, NULL, 0);

	/* Carrier lost: changed, then down. */
	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.changed wlan0 1", "iap.down wlan0 1" }, 2);
	assert_int_equal(iap_table_find_by_id(w->t, 1)->reason, IAP_REASON_NO_CARRIER);

	/* Back, then removed while available: down before removed. */
	w->wlan.flags = UP_RUNNING;
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.changed wlan0 1", "iap.up wlan0 1" }, 2);
	iap_table_link_removed(w->t, 5, "wlan0");
	expect(&w->rec, (const char *const[]){ "iap.down wlan0 1", "iap.removed wlan0 1" }, 2);
	assert_int_equal(iap_table_count(w->t), 1);
	/* Removing an unknown link is harmless. */
	iap_table_link_removed(w->t, 99, "nope");
	expect(&w->rec, NULL, 0);
}

static void test_ids_stable(void **state)
{
	struct world *w = *state;

	iap_table_link_changed(w->t, &w->wwan);
	iap_table_link_changed(w->t, &w->wlan);
	assert_int_equal(iap_table_find_by_name(w->t, "wwan0")->id, 1);
	assert_int_equal(iap_table_find_by_name(w->t, "wlan0")->id, 2);

	/* Gone and back with another ifindex: same id. */
	iap_table_link_removed(w->t, 5, "wlan0");
	w->wlan.ifindex = 12;
	iap_table_link_changed(w->t, &w->wlan);
	assert_int_equal(iap_table_find_by_ifindex(w->t, 12)->id, 2);

	/* A restart (new table, reopened store): same ids in another order. */
	iap_table_free(w->t);
	store_close(w->store);
	world_open_table(w);
	iap_table_link_changed(w->t, &w->wlan);
	iap_table_link_changed(w->t, &w->wwan);
	assert_int_equal(iap_table_find_by_name(w->t, "wwan0")->id, 1);
	assert_int_equal(iap_table_find_by_name(w->t, "wlan0")->id, 2);
	/* Listed by id. */
	assert_int_equal(iap_table_at(w->t, 0)->id, 1);
	assert_int_equal(iap_table_at(w->t, 1)->id, 2);
}

static void test_rename_and_ignore(void **state)
{
	struct world *w = *state;

	iap_table_link_changed(w->t, &w->wlan);
	w->rec.n = 0;
	/* Renamed: another identity. */
	strcpy(w->wlan.name, "wlan1");
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.down wlan0 1", "iap.removed wlan0 1",
					       "iap.added wlan1 2", "iap.up wlan1 2" }, 4);
	/* Renamed to an ignored name: just goes. */
	strcpy(w->wlan.name, "ignored0");
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.down wlan1 2", "iap.removed wlan1 2" }, 2);
	assert_int_equal(iap_table_count(w->t), 0);
}

static void test_unwatch_inside_notify(void **state)
{
	struct world *w = *state;
	unsigned int id;

	/* A watcher that removes itself while being notified must not
	 * break delivery to the others (ell's watchlist rule). */
	id = iap_table_watch(w->t, record, &w->rec, NULL);
	assert_true(iap_table_unwatch(w->t, id));
	assert_false(iap_table_unwatch(w->t, id));
	iap_table_link_changed(w->t, &w->wwan);
	expect(&w->rec, (const char *const[]){ "iap.added wwan0 1" }, 1);
}

static void test_reload_kinds(void **state)
{
	struct world *w = *state;
	struct config *c = config_new_defaults();

	iap_table_link_changed(w->t, &w->wlan);
	iap_table_link_changed(w->t, &w->wwan);
	w->rec.n = 0;
	/* New rules: wlan0 ignored, wwan0 falls back to detection (veth:
	 * ethernet). */
	c->kind_rules[0].pattern = strdup("wlan0");
	c->kind_rules[0].kind = strdup("ignore");
	c->n_kind_rules = 1;
	iap_table_set_kind_rule(w->t, kind_rule, c);
	expect(&w->rec, (const char *const[]){ "iap.down wlan0 1", "iap.removed wlan0 1",
					       "iap.changed wwan0 2" }, 3);
	assert_int_equal(iap_table_find_by_name(w->t, "wwan0")->kind, IAP_KIND_ETHERNET);
	iap_table_set_kind_rule(w->t, kind_rule, w->config);
	config_free(c);
}

static void test_nm_identity_switch(void **state)
{
	struct world *w = *state;
	struct nmmon_conn c = {
		.uuid = "0f3c2b6e-1111-4a4a-9d9d-000000000001", .id = "HomeNet",
		.conn_type = "802-11-wireless", .device_type = "wifi", .iface = "wlan0",
		.ifindex = 5, .state = NMMON_CONN_ACTIVATED, .ssid = "HomeNet",
		.bssid = "02:00:00:00:00:aa", .strength = 70, .modem_caps = "",
	};
	struct nmmon_conn modem = {
		.uuid = "0f3c2b6e-2222-4a4a-9d9d-000000000002", .id = "Mobile data",
		.conn_type = "gsm", .device_type = "modem", .iface = "rmnet0",
		.ifindex = 9, .state = NMMON_CONN_ACTIVATED, .strength = -1,
		.modem_caps = "gsm-umts,lte", .metered = true,
	};
	struct nlmon_link rmnet = { .ifindex = 9, .name = "rmnet0", .flags = IFF_UP,
				    .arptype = ARPHRD_NONE };
	const struct iap *iap;

	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.added wlan0 1", "iap.up wlan0 1" }, 2);

	/* NetworkManager activates a connection on wlan0: same link, new
	 * identity; no iap.down in between. */
	iap_table_nm_conn_changed(w->t, &c);
	expect(&w->rec, (const char *const[]){ "iap.added HomeNet 2 replaces 1",
					       "iap.up HomeNet 2 replaces 1",
					       "iap.removed wlan0 1 replaced-by 2" }, 3);
	iap = iap_table_find_by_id(w->t, 2);
	assert_non_null(iap);
	assert_string_equal(iap->identity, "nm:0f3c2b6e-1111-4a4a-9d9d-000000000001");
	assert_int_equal(iap->kind, IAP_KIND_WIFI);
	assert_string_equal(iap->nm->ssid, "HomeNet");
	assert_int_equal(iap->nm->strength, 70);
	assert_true(iap_available(iap));
	assert_int_equal(iap->replaces, 0);

	/* Signal changes are changes. */
	c.strength = 35;
	iap_table_nm_conn_changed(w->t, &c);
	expect(&w->rec, (const char *const[]){ "iap.changed HomeNet 2" }, 1);
	assert_int_equal(iap_table_find_by_id(w->t, 2)->nm->strength, 35);
	iap_table_nm_conn_changed(w->t, &c);
	expect(&w->rec, NULL, 0);

	/* Netlink changes still go to the same IAP. */
	w->wlan.flags = IFF_UP;
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.changed HomeNet 2", "iap.down HomeNet 2" }, 2);
	w->wlan.flags = UP_RUNNING;
	iap_table_link_changed(w->t, &w->wlan);
	expect(&w->rec, (const char *const[]){ "iap.changed HomeNet 2", "iap.up HomeNet 2" }, 2);

	/* A modem connection: cellular from NetworkManager's device type. */
	iap_table_link_changed(w->t, &rmnet);
	iap_table_nm_conn_changed(w->t, &modem);
	w->rec.n = 0;
	iap = iap_table_find_by_name(w->t, "Mobile data");
	assert_non_null(iap);
	assert_int_equal(iap->kind, IAP_KIND_CELLULAR);
	assert_true(iap->nm->metered);
	assert_string_equal(iap->nm->modem_caps, "gsm-umts,lte");

	/* NetworkManager goes away: the interfaces are themselves again,
	 * with their old stable ids. */
	iap_table_nm_conn_removed(w->t, c.uuid);
	expect(&w->rec, (const char *const[]){ "iap.added wlan0 1 replaces 2",
					       "iap.up wlan0 1 replaces 2",
					       "iap.removed HomeNet 2 replaced-by 1" }, 3);
	iap_table_nm_running(w->t, false);
	assert_non_null(iap_table_find_by_name(w->t, "rmnet0"));
	assert_null(iap_table_find_by_name(w->t, "Mobile data"));
	w->rec.n = 0;

	/* And back: the connection's IAP keeps its id too. */
	iap_table_nm_conn_changed(w->t, &c);
	assert_int_equal(iap_table_find_by_name(w->t, "HomeNet")->id, 2);
	/* A connection on an interface alrd ignores changes nothing. */
	iap_table_link_removed(w->t, 5, "wlan0");
	w->rec.n = 0;
	iap_table_nm_conn_removed(w->t, c.uuid);
	expect(&w->rec, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_change_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_and_ignore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwatch_inside_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nm_identity_switch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
