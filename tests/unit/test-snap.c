/* SNAP matching and ranking: the examples of docs/policy.md, bearer
 * filter, equivalence, signal hysteresis, and no allocation per event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/snap.h"
#include "policy/policy.h"

#include "alloc-count.h"

/* ---- helpers ---- */

static struct policy_snap *parse_ok(const char *text)
{
	struct policy_error e;
	struct policy_snap *s = NULL;

	if (policy_parse_string("test.conf", text, strlen(text), &s, &e) < 0)
		fail_msg("line %u: %s\n---\n%s", e.line, e.problem, text);
	return s;
}

static const char *source_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("ALR_SOURCE_DIR");
	char *cut;

	if (env)
		return env;
	snprintf(dir, sizeof(dir), "%s", __FILE__);
	cut = strstr(dir, "/tests/unit/");
	if (cut)
		*cut = '\0';
	return dir;
}

/* The ```ini block of docs/policy.md whose first line names @file. */
static struct policy_snap *doc_example(const char *file)
{
	char path[PATH_MAX + 32], line[512], text[4096] = "";
	size_t indent = 0;
	bool in = false, found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/docs/policy.md", source_dir());
	f = fopen(path, "re");
	if (!f)
		fail_msg("cannot open %s", path);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t ind = strspn(line, " ");

		if (!in && strcmp(line + ind, "```ini\n") == 0) {
			in = true;
			indent = ind;
			text[0] = '\0';
		} else if (in && strcmp(line + ind, "```\n") == 0) {
			in = false;
			found = strstr(text, file) != NULL;
		} else if (in) {
			assert_true(strlen(text) + strlen(line) < sizeof(text));
			strcat(text, line + (ind < indent ? ind : indent));
		}
	}
	fclose(f);
	if (!found)
		fail_msg("no example %s in docs/policy.md", file);
	return parse_ok(text);
}

/* An available IAP that NetworkManager knows nothing about. */
static struct snap_iap_view view(unsigned int id, enum iap_kind kind, const char *ifname)
{
	return (struct snap_iap_view){
		.id = id,
		.kind = kind,
		.available = true,
		.ifname = ifname,
		.metered = SNAP_METERED_UNKNOWN,
		.strength = -1,
	};
}

/* The order as "id:priority id:priority ...". */
static const char *order(const struct snap_ranking *r)
{
	static char buf[256];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < snap_ranking_count(r); i++) {
		const struct snap_rank_entry *e = snap_ranking_at(r, i);

		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%u:%u",
					i ? " " : "", e->iap_id, e->priority);
	}
	return buf;
}

static const char *rank(struct snap_ranking *r, const struct snap_iap_view *v, size_t n)
{
	assert_true(snap_rank(r, v, n) >= 0);
	return order(r);
}

/* ---- laptop: wired > home Wi-Fi > any Wi-Fi > cellular ---- */

enum { L_ETH, L_HOME, L_CAFE, L_WWAN, L_VPN, L_N };

static void laptop_views(struct snap_iap_view *v, bool nm)
{
	v[L_ETH] = view(1, IAP_KIND_ETHERNET, "enp0s31f6");
	v[L_HOME] = view(2, IAP_KIND_WIFI, "wlan0");
	v[L_CAFE] = view(3, IAP_KIND_WIFI, "wlan1");
	v[L_WWAN] = view(4, IAP_KIND_CELLULAR, "wwan0");
	v[L_VPN] = view(5, IAP_KIND_VPN, "tun0");
	if (!nm)
		return;
	v[L_HOME].ssid = "HomeNet";
	v[L_HOME].conn_id = "HomeNet";
	v[L_HOME].strength = 70;
	v[L_HOME].metered = SNAP_METERED_NO;
	v[L_CAFE].ssid = "Cafe";
	v[L_CAFE].conn_id = "Cafe";
	v[L_CAFE].strength = 80;
	v[L_WWAN].conn_id = "Mobile data";
	v[L_WWAN].metered = SNAP_METERED_YES;
}

static void test_laptop(void **state)
{
	static const struct {
		const char *what;
		bool nm;
		unsigned int down;      /* bit per L_* */
		int home_strength;      /* 0: as laptop_views() has it */
		const char *want;
	} cases[] = {
		{ "everything up (no VPN in this SNAP)", true, 0, 0, "1:10 2:20 3:30 4:40" },
		{ "unplugged", true, 1u << L_ETH, 0, "2:20 3:30 4:40" },
		{ "home network weak: any Wi-Fi, equivalent to the cafe", true, 1u << L_ETH, 35,
		  "2:30 3:30 4:40" },
		{ "home network at the threshold", true, 1u << L_ETH, 40, "2:20 3:30 4:40" },
		{ "without NetworkManager no SSID: both any Wi-Fi", false, 0, 0, "1:10 2:30 3:30 4:40" },
		{ "only cellular", true, (1u << L_ETH) | (1u << L_HOME) | (1u << L_CAFE), 0, "4:40" },
		{ "nothing", true, (1u << L_N) - 1, 0, "" },
	};
	struct policy_snap *s = doc_example("10-laptop.conf");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snap_ranking *r = snap_ranking_new(s);
		struct snap_iap_view v[L_N];
		const char *got;

		laptop_views(v, cases[i].nm);
		for (int k = 0; k < L_N; k++)
			if (cases[i].down & (1u << k))
				v[k].available = false;
		if (cases[i].home_strength)
			v[L_HOME].strength = cases[i].home_strength;
		got = rank(r, v, L_N);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].what, got, cases[i].want);
		snap_ranking_free(r);
	}
	policy_snap_free(s);
}

/* ---- handheld: Wi-Fi > cellular; abroad: Wi-Fi only ---- */

static void test_handheld(void **state)
{
	struct policy_snap *s = doc_example("20-handheld.conf");
	struct policy_snap *abroad = doc_example("21-handheld-abroad.conf");
	struct snap_ranking *r;
	struct snap_iap_view v[3];

	v[0] = view(1, IAP_KIND_WIFI, "wlan0");
	v[0].strength = 60;
	v[1] = view(2, IAP_KIND_CELLULAR, "rmnet_data0");
	v[1].conn_id = "Mobile data";
	v[2] = view(3, IAP_KIND_ETHERNET, "usb0");

	r = snap_ranking_new(s);
	assert_string_equal(rank(r, v, 3), "1:10 2:20");          /* no Ethernet rule */
	v[0].strength = 25;                                     /* 30 - 10 <= 25: stays */
	assert_string_equal(rank(r, v, 3), "1:10 2:20");
	v[0].strength = 19;
	assert_string_equal(rank(r, v, 3), "2:20");
	v[0].strength = 29;                                     /* not enough to come back */
	assert_string_equal(rank(r, v, 3), "2:20");
	v[0].strength = 30;
	assert_string_equal(rank(r, v, 3), "1:10 2:20");
	/* another operator's connection (say, a travel SIM) is not a member */
	v[1].conn_id = "Travel SIM";
	assert_string_equal(rank(r, v, 3), "1:10");
	/* without NetworkManager neither rule can tell */
	v[0].strength = -1;
	v[1].conn_id = NULL;
	assert_string_equal(rank(r, v, 3), "");
	snap_ranking_free(r);

	/* the abroad SNAP holds Wi-Fi only, even with cellular up */
	v[0].strength = 10;
	v[1].conn_id = "Mobile data";
	r = snap_ranking_new(abroad);
	assert_string_equal(rank(r, v, 3), "1:10");
	snap_ranking_free(r);
	policy_snap_free(s);
	policy_snap_free(abroad);
}

static void test_bearer_filter(void **state)
{
	struct policy_snap *s = parse_ok("[snap]\nid = 1\nname = b\nbearer = wifi, cellular\n"
					 "[rule]\npriority = 1\nkind = any\n");
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[4] = {
		view(1, IAP_KIND_ETHERNET, "eth0"), view(2, IAP_KIND_WIFI, "wlan0"),
		view(3, IAP_KIND_CELLULAR, "wwan0"), view(4, IAP_KIND_VPN, "wg0"),
	};

	/* the rule admits every kind; the filter keeps two */
	assert_true(snap_rule_match(&s->rules[0], &v[0], false));
	assert_string_equal(rank(r, v, 4), "2:1 3:1");
	snap_ranking_free(r);
	policy_snap_free(s);
}

static void test_default_snap(void **state)
{
	struct policy_snap *s = policy_snap_new_default();
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[6] = {
		view(1, IAP_KIND_VPN, "tun0"), view(2, IAP_KIND_OTHER, "ppp0"),
		view(3, IAP_KIND_CELLULAR, "wwan0"), view(4, IAP_KIND_WIFI, "wlan0"),
		view(5, IAP_KIND_ETHERNET, "eth1"), view(6, IAP_KIND_ETHERNET, "eth0"),
	};

	assert_string_equal(rank(r, v, 6), "5:10 6:10 4:20 3:30 2:40 1:50");
	v[4].available = false;
	v[5].available = false;
	assert_string_equal(rank(r, v, 6), "4:20 3:30 2:40 1:50");
	snap_ranking_free(r);
	policy_snap_free(s);
}

/* ---- equivalence and the helpers ---- */

static void test_equivalence(void **state)
{
	struct policy_snap *s = doc_example("30-office.conf");
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[4] = {
		view(3, IAP_KIND_WIFI, "wlan0"), view(5, IAP_KIND_CELLULAR, "wwan0"),
		view(7, IAP_KIND_ETHERNET, "enx00e04c680001"), view(9, IAP_KIND_ETHERNET, "eth0"),
	};
	const struct snap_rank_entry *e;

	v[0].ssid = "ACME Corp";
	v[1].conn_uuid = "6F1C9A62-0D7B-4F43-9A51-2D6A1B0C3E55";   /* case does not matter */
	assert_int_equal(snap_rank(r, v, 4), 1);
	assert_string_equal(order(r), "3:10 7:10 5:20");         /* eth0 is not enx* */

	assert_false(snap_ranking_better(r, 3, 7));              /* equivalent */
	assert_false(snap_ranking_better(r, 7, 3));
	assert_true(snap_ranking_better(r, 7, 5));
	assert_false(snap_ranking_better(r, 5, 7));
	assert_false(snap_ranking_better(r, 5, 5));
	assert_true(snap_ranking_better(r, 5, 9));               /* 9 is not in the SNAP */
	assert_false(snap_ranking_better(r, 9, 5));
	assert_false(snap_ranking_better(r, 9, 10));

	assert_int_equal(snap_ranking_best(r)->iap_id, 3);
	assert_int_equal(snap_ranking_position(r, 3), 0);
	assert_int_equal(snap_ranking_position(r, 7), 1);
	assert_int_equal(snap_ranking_position(r, 5), 2);
	assert_int_equal(snap_ranking_position(r, 9), -ENOENT);
	e = snap_ranking_find(r, 5);
	assert_non_null(e);
	assert_int_equal(e->priority, 20);
	assert_string_equal(s->rules[e->rule].uuid, "6f1c9a62-0d7b-4f43-9a51-2d6a1b0c3e55");
	assert_int_equal(e->view, 1);
	assert_null(snap_ranking_find(r, 9));
	assert_null(snap_ranking_at(r, 3));

	/* the same input again: no change */
	assert_int_equal(snap_rank(r, v, 4), 0);
	/* the views in another order: the same ranking */
	{
		struct snap_iap_view w[4] = { v[3], v[2], v[1], v[0] };

		assert_int_equal(snap_rank(r, w, 4), 0);
		assert_string_equal(order(r), "3:10 7:10 5:20");
		assert_int_equal(snap_ranking_find(r, 5)->view, 2);
	}
	v[0].available = false;
	assert_int_equal(snap_rank(r, v, 4), 1);
	assert_string_equal(order(r), "7:10 5:20");
	snap_ranking_free(r);
	policy_snap_free(s);
}

/* ---- one rule, one IAP ---- */

static void test_rule_match(void **state)
{
	struct policy_snap *s = parse_ok(
		"[snap]\nid = 1\nname = m\n"
		"[rule]\npriority = 1\nmetered = yes\n"                         /* 0 */
		"[rule]\npriority = 2\nmetered = no\n"                          /* 1 */
		"[rule]\npriority = 3\nconnection = Hotel*\n"                   /* 2 */
		"[rule]\npriority = 4\nuuid = 00000000-0000-0000-0000-0000000000aa\n" /* 3 */
		"[rule]\npriority = 5\nkind = wifi\nssid = Hotel\n"             /* 4 */
		"[rule]\npriority = 6\ninterface = wl*\n"                       /* 5 */
		"[rule]\npriority = 7\nkind = ethernet, vpn\n");                /* 6 */
	struct snap_iap_view unknown = view(1, IAP_KIND_WIFI, NULL);
	struct snap_iap_view known = view(1, IAP_KIND_WIFI, "wlp2s0");
	struct snap_iap_view bad_kind = view(1, (enum iap_kind)99, "eth0");

	known.metered = SNAP_METERED_YES;
	known.conn_id = "Hotel Lobby";
	known.conn_uuid = "00000000-0000-0000-0000-0000000000AA";
	known.ssid = "Hotel";
	/* rules are sorted by priority: index = line order here */
	for (size_t i = 0; i <= 5; i++)
		assert_false(snap_rule_match(&s->rules[i], &unknown, false));
	assert_true(snap_rule_match(&s->rules[0], &known, false));
	assert_false(snap_rule_match(&s->rules[1], &known, false));
	known.metered = SNAP_METERED_NO;
	assert_false(snap_rule_match(&s->rules[0], &known, false));
	assert_true(snap_rule_match(&s->rules[1], &known, false));
	assert_true(snap_rule_match(&s->rules[2], &known, false));
	assert_true(snap_rule_match(&s->rules[3], &known, false));
	assert_true(snap_rule_match(&s->rules[4], &known, false));
	assert_true(snap_rule_match(&s->rules[5], &known, false));
	assert_false(snap_rule_match(&s->rules[6], &known, false));
	known.conn_id = "Motel";
	known.ssid = "hotel";                                   /* SSIDs are exact */
	known.ifname = "";
	assert_false(snap_rule_match(&s->rules[2], &known, false));
	assert_false(snap_rule_match(&s->rules[4], &known, false));
	assert_false(snap_rule_match(&s->rules[5], &known, false));
	known.kind = IAP_KIND_VPN;
	assert_true(snap_rule_match(&s->rules[6], &known, false));
	assert_false(snap_rule_match(&s->rules[6], &bad_kind, false));
	policy_snap_free(s);
}

/* ---- signal hysteresis ---- */

static void test_hysteresis_rule(void **state)
{
	static const struct {
		int strength[10];
		const char *admitted;
	} seqs[] = {
		{ { 50, 41, 39, 31, 29, 41, 45, -2 }, "YYYYNYY" },
		{ { 50, 41, 39, 31, 29, 35, 39, 41, 45, -2 }, "YYYYNNNYY" },
		{ { 35, 39, 40, 30, 30, 29, 30, -2 }, "NNYYYNN" },
		{ { 60, -1, 35, -2 }, "YNN" },                  /* unknown strength: start over */
	};
	struct policy_snap *s = parse_ok("[snap]\nid = 1\nname = h\n[rule]\npriority = 1\n"
					 "kind = wifi\nmin-signal = 40\nsignal-hysteresis = 10\n");
	struct snap_iap_view v = view(1, IAP_KIND_WIFI, "wlan0");

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char got[16] = "";
		bool admitted = false;

		for (size_t j = 0; seqs[i].strength[j] != -2; j++) {
			v.strength = seqs[i].strength[j];
			admitted = snap_rule_match(&s->rules[0], &v, admitted);
			got[j] = admitted ? 'Y' : 'N';
		}
		assert_string_equal(got, seqs[i].admitted);
	}
	policy_snap_free(s);
}

/* The same through snap_rank(): the ranking remembers, per IAP. */
static void test_hysteresis_ranking(void **state)
{
	static const struct {
		int strength;
		const char *want;
		int changed;
	} steps[] = {
		{ 50, "2:20", 1 }, { 41, "2:20", 0 }, { 39, "2:20", 0 }, { 31, "2:20", 0 },
		{ 29, "2:30", 1 }, { 35, "2:30", 0 }, { 39, "2:30", 0 }, { 41, "2:20", 1 },
		{ 45, "2:20", 0 },
	};
	struct policy_snap *s = doc_example("10-laptop.conf");
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[2];

	v[0] = view(2, IAP_KIND_WIFI, "wlan0");
	v[0].ssid = "HomeNet";
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		v[0].strength = steps[i].strength;
		assert_int_equal(snap_rank(r, v, 1), steps[i].changed);
		assert_string_equal(order(r), steps[i].want);
	}

	/* per IAP: a second interface on the same network, first seen at 35 */
	v[0].strength = 35;
	v[1] = v[0];
	v[1].id = 3;
	v[1].ifname = "wlan1";
	assert_string_equal(rank(r, v, 2), "2:20 3:30");

	/* unavailable: forgotten */
	v[0].available = false;
	assert_string_equal(rank(r, v, 2), "3:30");
	v[0].available = true;
	assert_string_equal(rank(r, v, 2), "2:30 3:30");

	/* gone from the views: forgotten too */
	v[0].strength = 45;
	assert_string_equal(rank(r, v, 2), "2:20 3:30");
	assert_string_equal(rank(r, &v[1], 1), "3:30");
	v[0].strength = 35;
	assert_string_equal(rank(r, v, 2), "2:30 3:30");
	snap_ranking_free(r);
	policy_snap_free(s);
}

/* An identity switch keeps the order and the hysteresis memory under the
 * new id; it never adds an IAP that was not there. */
static void test_hysteresis_replace(void **state)
{
	struct policy_snap *s = doc_example("10-laptop.conf");
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[2];

	v[0] = view(2, IAP_KIND_WIFI, "wlan0");
	v[0].ssid = "HomeNet";
	v[0].strength = 50;
	v[1] = view(4, IAP_KIND_CELLULAR, "wwan0");
	assert_string_equal(rank(r, v, 2), "2:20 4:40");
	v[0].strength = 35;
	assert_string_equal(rank(r, v, 2), "2:20 4:40");

	/* wlan0 is now IAP 7 (another connection on the same link), still
	 * at 35: admitted, as it was. */
	snap_ranking_replace(r, 2, 7);
	assert_string_equal(order(r), "7:20 4:40");
	assert_non_null(snap_ranking_find(r, 7));
	assert_null(snap_ranking_find(r, 2));
	v[0].id = 7;
	assert_int_equal(snap_rank(r, v, 2), 0);
	assert_string_equal(order(r), "7:20 4:40");

	/* Nothing to move: nothing changes. */
	snap_ranking_replace(r, 3, 9);
	snap_ranking_replace(r, 7, 7);
	assert_string_equal(order(r), "7:20 4:40");

	/* Without the switch the new id starts over: not admitted at 35. */
	v[0].id = 8;
	assert_string_equal(rank(r, v, 2), "8:30 4:40");
	snap_ranking_free(r);
	policy_snap_free(s);
}

static void test_set_snap(void **state)
{
	struct policy_snap *old = doc_example("10-laptop.conf");
	struct policy_snap *same = doc_example("10-laptop.conf");
	struct policy_snap *other = doc_example("20-handheld.conf");
	struct snap_ranking *r = snap_ranking_new(old);
	struct snap_iap_view v = view(2, IAP_KIND_WIFI, "wlan0");

	v.ssid = "HomeNet";
	v.strength = 45;
	assert_string_equal(rank(r, &v, 1), "2:20");
	v.strength = 35;
	assert_string_equal(rank(r, &v, 1), "2:20");

	/* a reload with the same rules: order and memory stay */
	same->stable_time_ms = 9000;
	snap_ranking_set_snap(r, same);
	policy_snap_free(old);
	assert_ptr_equal(snap_ranking_snap(r), same);
	assert_string_equal(order(r), "2:20");
	assert_int_equal(snap_rank(r, &v, 1), 0);
	assert_string_equal(order(r), "2:20");

	/* other rules: both forgotten */
	snap_ranking_set_snap(r, other);
	assert_int_equal(snap_ranking_count(r), 0);
	v.strength = 35;                                        /* handheld: min-signal 30 */
	assert_int_equal(snap_rank(r, &v, 1), 1);
	assert_string_equal(order(r), "2:10");
	snap_ranking_set_snap(r, same);
	assert_string_equal(rank(r, &v, 1), "2:30");            /* 35 < 40, no memory */
	snap_ranking_free(r);
	policy_snap_free(same);
	policy_snap_free(other);
}

static void test_empty(void **state)
{
	struct snap_ranking *r = snap_ranking_new(NULL);
	struct snap_iap_view v = view(1, IAP_KIND_ETHERNET, "eth0");

	assert_int_equal(snap_rank(r, &v, 1), 0);
	assert_int_equal(snap_ranking_count(r), 0);
	assert_null(snap_ranking_best(r));
	assert_int_equal(snap_rank(r, NULL, 0), 0);
	snap_ranking_free(r);
	assert_null(snap_ranking_free(NULL));
	assert_string_equal(snap_metered_to_str(SNAP_METERED_YES), "yes");
	assert_string_equal(snap_metered_to_str(_SNAP_METERED_MAX), "unknown");
}

/* ---- cheap: no allocation per event ---- */

static void test_no_allocation(void **state)
{
	struct policy_snap *s = doc_example("10-laptop.conf");
	struct snap_ranking *r = snap_ranking_new(s);
	struct snap_iap_view v[64];
	unsigned long n;

	count_setup();
	for (unsigned int i = 0; i < 64; i++) {
		v[i] = view(i + 1, (enum iap_kind)(i % _IAP_KIND_MAX), i % 2 ? "wlan0" : "eth0");
		v[i].ssid = i % 3 ? "HomeNet" : "Cafe";
		v[i].strength = 50;
	}

	/* the first ranking makes room: the counter does count */
	count_start();
	assert_true(snap_rank(r, v, 8) > 0);
	n = count_stop();
	assert_true(n > 0);

	/* then a thousand events on as many IAPs or fewer: nothing */
	count_start();
	for (unsigned int i = 0; i < 1000; i++) {
		v[i % 8].available = !v[i % 8].available;
		v[(i + 3) % 8].strength = (int)(i * 7 % 101);
		if (snap_rank(r, v, 8 - i % 3) < 0)
			break;
		(void)snap_ranking_best(r);
		(void)snap_ranking_better(r, 1, 2);
		(void)snap_ranking_position(r, 3);
	}
	n = count_stop();
	assert_int_equal(n, 0);

	/* one IAP more than ever: room again */
	count_start();
	assert_true(snap_rank(r, v, 9) >= 0);
	n = count_stop();
	assert_true(n > 0);

	/* reserved ahead: none even for 64 */
	assert_int_equal(snap_ranking_reserve(r, 64), 0);
	count_start();
	assert_true(snap_rank(r, v, 64) >= 0);
	n = count_stop();
	assert_int_equal(n, 0);
	assert_true(snap_ranking_count(r) > 0);

	snap_ranking_free(r);
	policy_snap_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_laptop),
		cmocka_unit_test(test_handheld),
		cmocka_unit_test(test_bearer_filter),
		cmocka_unit_test(test_default_snap),
		cmocka_unit_test(test_equivalence),
		cmocka_unit_test(test_rule_match),
		cmocka_unit_test(test_hysteresis_rule),
		cmocka_unit_test(test_hysteresis_ranking),
		cmocka_unit_test(test_hysteresis_replace),
		cmocka_unit_test(test_set_snap),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_no_allocation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
