/* The ALR engine (alr/roam.h) driven through a fake SIP layer, a fake clock
 * and fake clients.  Every op the engine calls, every event it sends and
 * every edge it takes is written to one trace; scenarios feed inputs and
 * compare the trace line by line (docs/roaming.md has the same names).
 * The last test checks that the scenarios took every edge of the state
 * table in docs/roaming.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/roam.h"
#include "base/log.h"
#include "policy/policy.h"

/* IAPs: 1 wired, 2 and 4 Wi-Fi, 3 cellular.  The test SNAPs rank
 * ethernet (10) > wifi (20) > cellular (30). */
enum { ETH = 1, WLAN = 2, WWAN = 3, WLAN2 = 4 };
enum { P1 = 1, P2 = 2 };
enum { C1 = 11, C2 = 12, C3 = 13, C9 = 19 };
/* SNAPs: 1 make-before-break, 2 on-timeout disallow, 3 break-before-make,
 * 4 damped (stable-time 1 s, 2 migrations per 60 s), 5 calls = defer. */
enum { S_MBB = 1, S_DENY = 2, S_BBM = 3, S_DAMP = 4, S_DEFER = 5 };

#define MAX_TRACE 256
#define LINE 160
#define MAX_IAPS 16
#define MAX_PROFILES 8

/* ---- edges seen by all tests (test_every_edge checks them) ---- */

static bool edges[_ROAM_STATE_MAX][_ROAM_STATE_MAX];

/* ---- the fake world ---- */

struct world {
	struct roam *r;
	uint64_t now;
	struct policy_set *set;

	struct snap_iap_view views[MAX_IAPS];
	size_t n_views;

	char trace[MAX_TRACE][LINE];
	size_t n_trace;
	char last_message[ROAM_MESSAGE_MAX];
	int last_status;

	uint64_t timer_at[MAX_PROFILES];        /* 0: not armed */
	int next_result;                        /* of the next SIP op, then STARTED */
};

static void trace(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void trace(struct world *w, const char *fmt, ...)
{
	va_list ap;

	assert_true(w->n_trace < MAX_TRACE);
	va_start(ap, fmt);
	vsnprintf(w->trace[w->n_trace++], LINE, fmt, ap);
	va_end(ap);
}

static bool traced(const struct world *w, const char *line)
{
	for (size_t i = 0; i < w->n_trace; i++)
		if (strcmp(w->trace[i], line) == 0)
			return true;
	return false;
}

static int op_result(struct world *w)
{
	int r = w->next_result;

	w->next_result = ROAM_OP_STARTED;
	return r;
}

static uint64_t f_now(void *ud)
{
	return ((struct world *)ud)->now;
}

static void f_timer_start(void *ud, unsigned int profile, uint64_t at)
{
	struct world *w = ud;

	assert_true(profile < MAX_PROFILES);
	assert_true(at > 0);
	w->timer_at[profile] = at;
}

static void f_timer_stop(void *ud, unsigned int profile)
{
	struct world *w = ud;

	assert_true(profile < MAX_PROFILES);
	w->timer_at[profile] = 0;
}

static int f_register(void *ud, unsigned int profile, unsigned int iap)
{
	trace(ud, "register p%u iap%u", profile, iap);
	return op_result(ud);
}

static int f_move(void *ud, unsigned int profile, unsigned int iap)
{
	trace(ud, "move p%u iap%u", profile, iap);
	return op_result(ud);
}

static int f_remove_old(void *ud, unsigned int profile, unsigned int old_iap, unsigned int via)
{
	trace(ud, "remove-old p%u old%u via%u", profile, old_iap, via);
	return op_result(ud);
}

static int f_deregister(void *ud, unsigned int profile, unsigned int via)
{
	trace(ud, "deregister p%u via%u", profile, via);
	return op_result(ud);
}

static void f_abandon(void *ud, unsigned int profile)
{
	trace(ud, "abandon p%u", profile);
}

static void f_event(void *ud, const struct roam_event *ev)
{
	struct world *w = ud;
	char line[LINE], to[32], snap[16];
	size_t n = 0;

	if (ev->snap == ROAM_SNAP_NONE)
		snprintf(snap, sizeof(snap), "s-");
	else
		snprintf(snap, sizeof(snap), "s%d", ev->snap);
	snprintf(to, sizeof(to), ">%s%s", ev->to & ROAM_TO_CONTROLLERS ? "C" : "",
		 ev->to & ROAM_TO_OBSERVERS ? "O" : "");
	if (ev->to & ROAM_TO_CLIENT) {
		assert_int_not_equal(ev->client, 0);
		snprintf(to, sizeof(to), ">client%u", ev->client);
	}
	assert_int_not_equal(ev->to, 0);
	n += (size_t)snprintf(line, sizeof(line), "%s p%u", roam_event_type_to_str(ev->type),
			      ev->profile);
	switch (ev->type) {
	case ROAM_EVENT_IAP_AVAILABLE:
		assert_true(ev->round > 0);
		assert_true(ev->deadline_ms > 0);
		snprintf(line + n, sizeof(line) - n, " %s iap%u", snap, ev->iap);
		break;
	case ROAM_EVENT_MIGRATION_STARTED:
	case ROAM_EVENT_MIGRATION_COMPLETED:
		snprintf(line + n, sizeof(line) - n, " %s %u->%u", snap, ev->from, ev->to_iap);
		break;
	case ROAM_EVENT_ERROR:
		assert_non_null(ev->message);
		assert_true(strlen(ev->message) > 0);
		snprintf(w->last_message, sizeof(w->last_message), "%s", ev->message);
		w->last_status = ev->status;
		snprintf(line + n, sizeof(line) - n, " %s iap%u %s", snap, ev->iap,
			 roam_error_to_str(ev->code));
		break;
	case ROAM_EVENT_NO_IAP:
		snprintf(line + n, sizeof(line) - n, " %s", snap);
		break;
	case ROAM_EVENT_REGISTERED:
	case ROAM_EVENT_UPDATED:
		snprintf(line + n, sizeof(line) - n, " iap%u", ev->iap);
		break;
	case ROAM_EVENT_DEREGISTERED:
		snprintf(line + n, sizeof(line) - n, " iap%u %s", ev->iap,
			 roam_reason_to_str(ev->reason));
		break;
	case _ROAM_EVENT_MAX:
		fail();
	}
	trace(w, "%s %s", line, to);
}

static void f_state(void *ud, unsigned int profile, enum roam_state old, enum roam_state new)
{
	edges[old][new] = true;
	trace(ud, "p%u %s -> %s", profile, roam_state_to_str(old), roam_state_to_str(new));
}

static int f_probe(void *ud, unsigned int profile, unsigned int iap)
{
	trace(ud, "probe p%u iap%u", profile, iap);
	return op_result(ud);
}

static const struct roam_ops fake_ops = {
	.now_ms = f_now,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.sip_register = f_register,
	.sip_move = f_move,
	.sip_remove_old = f_remove_old,
	.sip_deregister = f_deregister,
	.sip_abandon = f_abandon,
	.event = f_event,
	.state_changed = f_state,
};

/* The same with probes of unreachable IAPs (roam_ops.sip_probe). */
static const struct roam_ops probe_ops = {
	.now_ms = f_now,
	.timer_start = f_timer_start,
	.timer_stop = f_timer_stop,
	.sip_register = f_register,
	.sip_move = f_move,
	.sip_remove_old = f_remove_old,
	.sip_deregister = f_deregister,
	.sip_abandon = f_abandon,
	.sip_probe = f_probe,
	.event = f_event,
	.state_changed = f_state,
};

/* ---- policy ---- */

static const char *const rules =
	"[rule]\npriority = 10\nkind = ethernet\n"
	"[rule]\npriority = 20\nkind = wifi\n"
	"[rule]\npriority = 30\nkind = cellular\n";

static void add_snap(struct policy_set *set, unsigned int id, const char *name,
		     const char *settings, const char *rule_text)
{
	char text[2048];
	struct policy_snap *s = NULL;
	struct policy_error e;

	snprintf(text, sizeof(text), "[snap]\nid = %u\nname = %s\n%s\n%s", id, name, settings,
		 rule_text);
	if (policy_parse_string("test.conf", text, strlen(text), &s, &e) < 0)
		fail_msg("line %u: %s\n%s", e.line, e.problem, text);
	assert_int_equal(policy_set_add(set, s, &e), 0);
}

static struct policy_set *make_set(const char *mbb_rules)
{
	struct policy_set *set = policy_set_new();

	assert_non_null(set);
	add_snap(set, S_MBB, "mbb",
		 "stable-time = 2s\napproval-timeout = 10s\non-timeout = allow\n"
		 "max-migrations = unlimited", mbb_rules);
	add_snap(set, S_DENY, "deny",
		 "stable-time = 2s\napproval-timeout = 10s\non-timeout = disallow\n"
		 "max-migrations = unlimited", rules);
	add_snap(set, S_BBM, "bbm",
		 "stable-time = 2s\nmigration = break-before-make\nmax-migrations = unlimited",
		 rules);
	add_snap(set, S_DAMP, "damped", "stable-time = 1s\nmax-migrations = 2/60s", rules);
	add_snap(set, S_DEFER, "defer",
		 "stable-time = 2s\napproval-timeout = 10s\non-timeout = allow\n"
		 "max-migrations = unlimited\ncalls = defer", rules);
	return set;
}

/* ---- driving the world ---- */

static struct world *world_new_ops(const struct roam_ops *ops)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	w->now = 1000;
	w->r = roam_new(ops, w);
	assert_non_null(w->r);
	w->set = make_set(rules);
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	return w;
}

static struct world *world_new(void)
{
	return world_new_ops(&fake_ops);
}

static void world_free(struct world *w)
{
	roam_free(w->r);
	policy_set_free(w->set);
	free(w);
}

static void sync_iaps(struct world *w)
{
	assert_int_equal(roam_iaps_changed(w->r, w->views, w->n_views), 0);
}

static struct snap_iap_view *find_iap(struct world *w, unsigned int id)
{
	for (size_t i = 0; i < w->n_views; i++)
		if (w->views[i].id == id)
			return &w->views[i];
	return NULL;
}

static enum iap_kind kind_of(unsigned int id)
{
	switch (id) {
	case ETH:
		return IAP_KIND_ETHERNET;
	case WLAN:
	case WLAN2:
		return IAP_KIND_WIFI;
	default:
		return IAP_KIND_CELLULAR;
	}
}

/* IAP @id (of the kind its number says) is set up or down, without
 * telling the engine yet. */
static void set_iap(struct world *w, unsigned int id, bool available)
{
	struct snap_iap_view *v = find_iap(w, id);

	if (!v) {
		assert_true(w->n_views < MAX_IAPS);
		v = &w->views[w->n_views++];
		*v = (struct snap_iap_view){
			.id = id,
			.kind = kind_of(id),
			.ifname = "if",
			.metered = SNAP_METERED_UNKNOWN,
			.strength = -1,
		};
	}
	v->available = available;
}

static void up(struct world *w, unsigned int id)
{
	set_iap(w, id, true);
	sync_iaps(w);
}

static void down(struct world *w, unsigned int id)
{
	set_iap(w, id, false);
	sync_iaps(w);
}

/* Let time pass, firing the engine's timers when they are due. */
static void advance(struct world *w, uint64_t ms)
{
	uint64_t end = w->now + ms;
	unsigned int fired = 0;

	for (;;) {
		unsigned int who = 0;
		uint64_t at = 0;

		for (unsigned int p = 0; p < MAX_PROFILES; p++)
			if (w->timer_at[p] && w->timer_at[p] <= end && (!at || w->timer_at[p] < at)) {
				at = w->timer_at[p];
				who = p;
			}
		if (!at)
			break;
		if (at > w->now)
			w->now = at;
		/* A timer that keeps firing without time passing is a bug. */
		assert_true(++fired < 1000);
		w->timer_at[who] = 0;
		roam_timer_fired(w->r, who);
	}
	w->now = end;
}

static void expect_lines(struct world *w, const char *file, int line, const char *const *want)
{
	size_t n = 0;
	bool ok;

	while (want[n])
		n++;
	ok = n == w->n_trace;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(want[i], w->trace[i]) == 0;
	if (!ok) {
		print_error("%s:%d: trace differs\n--- expected\n", file, line);
		for (size_t i = 0; i < n; i++)
			print_error("  %s\n", want[i]);
		print_error("--- got\n");
		for (size_t i = 0; i < w->n_trace; i++)
			print_error("  %s\n", w->trace[i]);
		fail_msg("%s:%d: unexpected trace", file, line);
	}
	w->n_trace = 0;
}

#define EXPECT(w, ...) expect_lines((w), __FILE__, __LINE__, (const char *const[]){ __VA_ARGS__, NULL })
#define EXPECT_NONE(w) expect_lines((w), __FILE__, __LINE__, (const char *const[]){ NULL })

static void enable(struct world *w, unsigned int profile, unsigned int snap)
{
	struct roam_profile_config cfg = { .snap_id = snap, .name = "alice@example.test" };

	assert_int_equal(roam_profile_enable(w->r, profile, &cfg), 0);
}

static void enable_fixed(struct world *w, unsigned int profile, unsigned int iap,
			 unsigned int bearers)
{
	struct roam_profile_config cfg = { .iap_id = iap, .bearers = bearers, .name = "bob" };

	assert_int_equal(roam_profile_enable(w->r, profile, &cfg), 0);
}

static void control(struct world *w, unsigned int profile, unsigned int client)
{
	char msg[ROAM_MESSAGE_MAX] = "";

	assert_int_equal(roam_control(w->r, profile, client, msg, sizeof(msg)), 0);
}

static int allow(struct world *w, unsigned int profile, unsigned int iap, unsigned int client)
{
	w->last_message[0] = '\0';
	return roam_allow(w->r, profile, iap, client, w->last_message, sizeof(w->last_message));
}

static int disallow(struct world *w, unsigned int profile, unsigned int iap, unsigned int client)
{
	w->last_message[0] = '\0';
	return roam_disallow(w->r, profile, iap, client, w->last_message,
			     sizeof(w->last_message));
}

static int refresh(struct world *w, unsigned int profile, unsigned int client)
{
	w->last_message[0] = '\0';
	return roam_refresh(w->r, profile, client, w->last_message, sizeof(w->last_message));
}

static void expect_state(struct world *w, unsigned int profile, enum roam_state s)
{
	assert_string_equal(roam_state_to_str(roam_profile_state(w->r, profile)),
			    roam_state_to_str(s));
}

static void expect_registration(struct world *w, unsigned int profile, enum roam_registration reg)
{
	assert_string_equal(roam_registration_to_str(roam_profile_registration_state(w->r, profile)),
			    roam_registration_to_str(reg));
}

static unsigned int current_iap(struct world *w, unsigned int profile)
{
	struct roam_profile_info info;

	assert_int_equal(roam_profile_get_info(w->r, profile, &info), 0);
	return info.iap;
}

/* Profile @profile on @snap registered over @iap (brought up first), with
 * the trace cleared. */
static void registered_over(struct world *w, unsigned int profile, unsigned int snap,
			    unsigned int iap)
{
	up(w, iap);
	enable(w, profile, snap);
	expect_state(w, profile, ROAM_REGISTERING);
	assert_int_equal(current_iap(w, profile), iap);
	roam_sip_registered(w->r, profile, iap);
	expect_state(w, profile, ROAM_REGISTERED);
	w->n_trace = 0;
}

/* P1 on S_MBB registered over WWAN, WLAN offered to controller C1 (and
 * C2 if @two). */
static struct world *offered(bool two)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	control(w, P1, C1);
	if (two)
		control(w, P1, C2);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C",
	       "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	return w;
}

/* P1 on @snap registered over WWAN, migrating to WLAN (no controllers). */
static struct world *migrating(unsigned int snap)
{
	struct world *w = world_new();

	registered_over(w, P1, snap, WWAN);
	up(w, WLAN);
	advance(w, 2000);
	w->n_trace = 0;
	return w;
}

/* ---- scenarios ---- */

static void test_names(void **state)
{
	for (int s = 0; s < _ROAM_STATE_MAX; s++)
		assert_string_not_equal(roam_state_to_str(s), "unknown");
	for (int s = 0; s < _ROAM_REG_MAX; s++)
		assert_string_not_equal(roam_registration_to_str(s), "unknown");
	for (int t = 0; t < _ROAM_EVENT_MAX; t++)
		assert_string_not_equal(roam_event_type_to_str(t), "unknown");
	for (int e = 1; e < _ROAM_ERROR_MAX; e++)
		assert_string_not_equal(roam_error_to_str(e), "unknown");
	for (int r = 0; r < _ROAM_REASON_MAX; r++)
		assert_string_not_equal(roam_reason_to_str(r), "unknown");
	assert_string_equal(roam_state_to_str(_ROAM_STATE_MAX), "unknown");
	assert_string_equal(roam_error_to_str(0), "unknown");
	/* Stable numbers: clients match on them. */
	assert_int_equal(ROAM_ERROR_ACCESS_DENIED, 1);
	assert_int_equal(ROAM_ERROR_MIGRATION_FAILED, 2);
	assert_int_equal(ROAM_ERROR_REGISTRATION_FAILED, 3);
	assert_int_equal(ROAM_ERROR_OFFER_WITHDRAWN, 4);
	assert_int_equal(ROAM_ERROR_MIGRATION_ABORTED, 5);
	assert_int_equal(ROAM_ERROR_REMOVAL_FAILED, 6);
	assert_string_equal(roam_event_type_to_str(ROAM_EVENT_IAP_AVAILABLE), "alr.iap-available");
	assert_string_equal(roam_reason_to_str(ROAM_REASON_NETWORK_LOST), "network-lost");
	assert_string_equal(roam_reason_to_str(ROAM_REASON_ERROR), "error");
	assert_string_equal(roam_reason_to_str(ROAM_REASON_MIGRATION), "migration");
	assert_null(roam_new(NULL, NULL));
	roam_free(NULL);
}

/* DESIGN §3.1: the best IAP, at once, asking nobody. */
static void test_initial_registration(void **state)
{
	struct world *w = world_new();

	up(w, WWAN);
	up(w, WLAN);
	control(w, P1, C1);
	enable(w, P1, S_MBB);
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERED -> REGISTERING");
	expect_registration(w, P1, ROAM_REG_REGISTERING);
	assert_int_equal(w->timer_at[P1], 0);
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "p1 REGISTERING -> REGISTERED");
	expect_registration(w, P1, ROAM_REG_REGISTERED);
	/* A worse IAP is never offered. */
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	/* Enabling again with the same configuration changes nothing. */
	enable(w, P1, S_MBB);
	EXPECT_NONE(w);
	world_free(w);
}

/* No IAP: WAIT_FOR_IAP and alr.no-iap; the first IAP registers without
 * an approval round, even with controllers. */
static void test_wait_for_iap(void **state)
{
	struct world *w = world_new();

	control(w, P1, C1);
	enable(w, P1, S_MBB);
	EXPECT(w, "alr.no-iap p1 s1 >CO", "p1 UNREGISTERED -> WAIT_FOR_IAP");
	expect_registration(w, P1, ROAM_REG_REGISTERING);
	/* An IAP the SNAP does not admit is no use. */
	w->views[0] = (struct snap_iap_view){ .id = 9, .kind = IAP_KIND_VPN, .available = true,
					      .strength = -1 };
	w->n_views = 1;
	sync_iaps(w);
	EXPECT_NONE(w);
	up(w, WWAN);
	EXPECT(w, "register p1 iap3", "p1 WAIT_FOR_IAP -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "p1 REGISTERING -> REGISTERED");
	world_free(w);
}

/* DESIGN §3.2, §3.7: offered after stable-time, not if it flaps away. */
static void test_stable_time(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	EXPECT_NONE(w);
	assert_int_equal(w->timer_at[P1], 1000 + 2000);
	advance(w, 1000);
	EXPECT_NONE(w);
	/* It flaps away: no offer, no timer. */
	down(w, WLAN);
	EXPECT_NONE(w);
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 5000);
	EXPECT_NONE(w);
	/* Back: stable-time starts over. */
	up(w, WLAN);
	assert_int_equal(w->timer_at[P1], w->now + 2000);
	advance(w, 1999);
	EXPECT_NONE(w);
	advance(w, 1);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	/* The deadline is the SNAP's approval-timeout. */
	assert_int_equal(w->timer_at[P1], w->now + 10000);
	expect_registration(w, P1, ROAM_REG_REGISTERED);
	world_free(w);
}

/* All controllers must allow. */
static void test_all_allow(void **state)
{
	struct world *w = offered(true);

	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	/* Allowing twice changes nothing. */
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	assert_int_equal(allow(w, P1, WLAN, C2), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	expect_registration(w, P1, ROAM_REG_REGISTERED);
	assert_int_equal(w->timer_at[P1], 0);
	world_free(w);
}

/* One disallow decides; the IAP is not offered again until it changes
 * or a controller refreshes. */
static void test_one_disallow(void **state)
{
	struct world *w = offered(true);

	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	assert_int_equal(disallow(w, P1, WLAN, C2), 0);
	EXPECT(w, "alr.error p1 s1 iap2 access-denied >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");
	assert_non_null(strstr(w->last_message, "client 12"));
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	assert_int_equal(allow(w, P1, WLAN, C1), -EINVAL);
	assert_non_null(strstr(w->last_message, "no iap is on offer"));

	/* Its availability changes: offered again after stable-time. */
	down(w, WLAN);
	up(w, WLAN);
	EXPECT_NONE(w);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	assert_int_equal(disallow(w, P1, WLAN, C1), 0);
	EXPECT(w, "alr.error p1 s1 iap2 access-denied >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");

	/* A refresh: offered again at once (it has been stable). */
	assert_int_equal(refresh(w, P1, C9), -EPERM);
	assert_non_null(strstr(w->last_message, "not a controller"));
	assert_int_equal(refresh(w, P1, C2), 0);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	world_free(w);
}

/* Nobody to ask: the profile migrates by itself, no offer is sent. */
static void test_no_controllers(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* ---- calls (roam_profile_calls(), docs/roaming.md "Calls") ---- */

static bool held_by_calls(struct world *w, unsigned int profile)
{
	struct roam_profile_info info;

	assert_int_equal(roam_profile_get_info(w->r, profile, &info), 0);
	return info.held_by_calls;
}

/* A ringing call holds a planned migration back (an early dialog cannot
 * move); it goes as soon as the call is answered, and the answered call
 * moves with it (calls = migrate). */
static void test_ringing_call_holds_migration(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	roam_profile_calls(w->r, P1, 1, 0);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT_NONE(w);
	assert_true(held_by_calls(w, P1));
	expect_state(w, P1, ROAM_REGISTERED);
	/* No timer spins meanwhile: the calls' change is the next input. */
	advance(w, 60000);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 0, 1);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	assert_false(held_by_calls(w, P1));
	world_free(w);
}

/* The ringing call ends instead: the migration goes then. */
static void test_ringing_call_ends_then_migration(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	roam_profile_calls(w->r, P1, 2, 1);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 1, 1);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 0, 1);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* calls = defer: an answered call holds the move too, until no call is
 * up; with calls = migrate it does not. */
static void test_defer_waits_for_calls(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_DEFER, WWAN);
	registered_over(w, P2, S_MBB, WWAN);
	roam_profile_calls(w->r, P1, 0, 1);
	roam_profile_calls(w->r, P2, 0, 1);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p2 s1 3->2 >CO", "move p2 iap2",
	       "p2 REGISTERED -> MIGRATING");
	assert_true(held_by_calls(w, P1));
	roam_profile_calls(w->r, P1, 0, 0);
	EXPECT(w, "alr.migration-started p1 s5 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* With controllers: the offer goes out at once (they decide with the
 * calls in view); alrd's own answer comes when the calls are done, and
 * the approval timeout (on-timeout = allow) does not overrule it. */
static void test_defer_with_controllers(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_DEFER, WWAN);
	control(w, P1, C1);
	control(w, P1, C2);
	roam_profile_calls(w->r, P1, 0, 2);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s5 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	/* C2 never answers; the deadline passes: still the calls. */
	advance(w, 10000);
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_WAIT_FOR_PERMISSION);
	assert_true(held_by_calls(w, P1));
	assert_int_equal(w->timer_at[P1], 0);
	roam_profile_calls(w->r, P1, 0, 1);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 0, 0);
	EXPECT(w, "alr.migration-started p1 s5 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);
}

/* Everybody allowed, a call still up: the move waits for it. */
static void test_defer_allowed_then_calls_end(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_DEFER, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s5 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	/* A call comes while the controllers think. */
	roam_profile_calls(w->r, P1, 1, 0);
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 0, 1);
	EXPECT_NONE(w);
	roam_profile_calls(w->r, P1, 0, 0);
	EXPECT(w, "alr.migration-started p1 s5 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);
}

/* Losing the current IAP never waits for calls, ringing or not. */
static void test_calls_never_hold_a_failover(void **state)
{
	struct world *w = world_new();

	up(w, WWAN);
	registered_over(w, P1, S_DEFER, WLAN);
	roam_profile_calls(w->r, P1, 1, 3);
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	world_free(w);
}

/* An op that reports calls (a call ended as its profile moved) is taken
 * into account before the input returns. */
static int f_move_ends_call(void *ud, unsigned int profile, unsigned int iap)
{
	struct world *w = ud;

	roam_profile_calls(w->r, profile, 0, 0);
	return f_move(ud, profile, iap);
}

static void test_calls_from_an_op(void **state)
{
	struct roam_ops ops = fake_ops;
	struct roam_profile_info info;
	struct world *w;


	ops.sip_move = f_move_ends_call;
	w = world_new_ops(&ops);
	up(w, WWAN);
	roam_profile_calls(w->r, P1, 1, 0);     /* not enabled: ignored */
	enable(w, P1, S_MBB);
	EXPECT(w, "register p1 iap3", "p1 UNREGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	roam_profile_calls(w->r, P1, 1, 0);
	up(w, WLAN);
	advance(w, 2000);
	assert_true(held_by_calls(w, P1));
	/* WWAN is lost: the failover's op reports the call gone, from
	 * inside the input. */
	w->n_trace = 0;
	down(w, WWAN);
	EXPECT(w, "profile.deregistered p1 iap3 network-lost >CO", "move p1 iap2",
	       "p1 REGISTERED -> REGISTERING");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.calls_ringing, 0);
	assert_false(info.held_by_calls);
	world_free(w);
}

/* A newer offer replaces the older one and everybody is asked again. */
static void test_newer_offer(void **state)
{
	struct world *w = offered(true);
	uint64_t deadline;

	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	advance(w, 1000);
	up(w, ETH);
	EXPECT_NONE(w);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s1 iap1 >C",
	       "p1 WAIT_FOR_PERMISSION -> WAIT_FOR_PERMISSION");
	deadline = w->timer_at[P1];
	assert_int_equal(deadline, w->now + 10000);
	/* Answers for the old offer are refused, clearly. */
	assert_int_equal(allow(w, P1, WLAN, C2), -EINVAL);
	assert_string_equal(w->last_message, "iap 2 is not on offer for profile 1; iap 1 is");
	/* C1's earlier allow was for the old offer: C2 alone is not enough. */
	assert_int_equal(allow(w, P1, ETH, C2), 0);
	EXPECT_NONE(w);
	assert_int_equal(allow(w, P1, ETH, C1), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->1 >CO", "move p1 iap1",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);
}

static void test_timeout_allow(void **state)
{
	struct world *w = offered(true);

	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	advance(w, 9999);
	EXPECT_NONE(w);
	advance(w, 1);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);
}

static void test_timeout_disallow(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_DENY, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s2 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	advance(w, 10000);
	EXPECT(w, "alr.error p1 s2 iap2 access-denied >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");
	assert_non_null(strstr(w->last_message, "on-timeout"));
	/* Not offered again until it changes. */
	advance(w, 60000);
	EXPECT_NONE(w);
	world_free(w);
}

/* A controller that disconnects is dropped and the round re-evaluated at
 * once. */
static void test_controller_gone(void **state)
{
	struct world *w = offered(true);

	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	roam_client_gone(w->r, C2);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	assert_false(roam_is_controller(w->r, P1, C2));
	assert_true(roam_is_controller(w->r, P1, C1));
	world_free(w);

	/* The only controller goes: no controllers is allow. */
	w = offered(false);
	roam_client_gone(w->r, C1);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);

	/* Releasing control does the same; releasing twice is refused. */
	w = offered(true);
	assert_int_equal(allow(w, P1, WLAN, C2), 0);
	assert_int_equal(roam_release(w->r, P1, C1, NULL, 0), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	assert_int_equal(roam_release(w->r, P1, C1, w->last_message, sizeof(w->last_message)),
			 -EPERM);
	world_free(w);
}

/* A controller that joins during a round is asked too. */
static void test_controller_joins(void **state)
{
	struct world *w = offered(false);

	control(w, P1, C3);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >client13");
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT_NONE(w);
	/* Its refresh sends the offer again, to it alone. */
	assert_int_equal(refresh(w, P1, C3), 0);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >client13");
	assert_int_equal(allow(w, P1, WLAN, C3), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	world_free(w);
}

/* Controller requests that cannot be honoured, and why. */
static void test_bad_answers(void **state)
{
	struct world *w = offered(false);
	char msg[ROAM_MESSAGE_MAX];

	assert_int_equal(allow(w, P1, WWAN, C1), -EINVAL);
	assert_string_equal(w->last_message, "iap 3 is not on offer for profile 1; iap 2 is");
	assert_int_equal(disallow(w, P1, ETH, C1), -EINVAL);
	assert_int_equal(allow(w, P1, WLAN, C9), -EPERM);
	assert_string_equal(w->last_message,
			    "client 19 is not a controller of profile 1 (alr.control first)");
	assert_int_equal(allow(w, P2, WLAN, C1), -ENOENT);
	assert_string_equal(w->last_message, "profile 2 is not enabled");
	assert_int_equal(refresh(w, P2, C1), -ENOENT);
	assert_int_equal(roam_control(w->r, P1, 0, msg, sizeof(msg)), -EINVAL);
	/* Controlling twice is once; a profile has a bounded number of them. */
	control(w, P1, C1);
	for (unsigned int c = 100; c < 100 + ROAM_MAX_CONTROLLERS - 1; c++)
		control(w, P1, c);
	assert_int_equal(roam_control(w->r, P1, 999, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "controllers already"));
	w->n_trace = 0;
	/* Nothing moved. */
	expect_state(w, P1, ROAM_WAIT_FOR_PERMISSION);
	world_free(w);
}

/* Every registered profile of the SNAP gets its own offer; answers for
 * one do not count for the other. */
static void test_two_profiles(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	enable(w, P2, S_MBB);
	roam_sip_registered(w->r, P2, WWAN);
	control(w, P1, C1);
	control(w, P2, C1);
	control(w, P2, C2);
	w->n_trace = 0;
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION",
	       "alr.iap-available p2 s1 iap2 >C", "p2 REGISTERED -> WAIT_FOR_PERMISSION");
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	assert_int_equal(allow(w, P2, WLAN, C1), 0);
	EXPECT_NONE(w);
	assert_int_equal(disallow(w, P2, WLAN, C2), 0);
	EXPECT(w, "alr.error p2 s1 iap2 access-denied >C", "p2 WAIT_FOR_PERMISSION -> REGISTERED");
	world_free(w);
}

/* DESIGN §3.3: the order of a make-before-break migration. */
static void test_migration_success(void **state)
{
	struct world *w = migrating(S_MBB);
	struct roam_profile_info info;

	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.from, WWAN);
	assert_int_equal(info.to, WLAN);
	assert_int_equal(info.migrations_in_window, 0);        /* unlimited: not kept */
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "alr.migration-completed p1 s1 3->2 >CO", "profile.updated p1 iap2 >CO",
	       "remove-old p1 old3 via3", "p1 MIGRATING -> UNREGISTERING_OLD");
	expect_registration(w, P1, ROAM_REG_REGISTERED);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING_OLD -> REGISTERED");
	assert_int_equal(current_iap(w, P1), WLAN);
	world_free(w);

	/* The old IAP goes before the removal is done: over the new one. */
	w = migrating(S_MBB);
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	down(w, WWAN);
	EXPECT(w, "remove-old p1 old3 via2", "p1 UNREGISTERING_OLD -> UNREGISTERING_OLD");
	roam_sip_old_removed(w->r, P1, 0, NULL);
	EXPECT(w, "p1 UNREGISTERING_OLD -> REGISTERED");
	world_free(w);

	/* The old IAP is gone by the time of the 200: over the new one at
	 * once.  (Its loss during MIGRATING is a failover, see below.) */
	w = migrating(S_MBB);
	set_iap(w, WWAN, false);
	/* ... delivered after the 200: */
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "alr.migration-completed p1 s1 3->2 >CO", "profile.updated p1 iap2 >CO",
	       "remove-old p1 old3 via3", "p1 MIGRATING -> UNREGISTERING_OLD");
	sync_iaps(w);
	EXPECT(w, "remove-old p1 old3 via2", "p1 UNREGISTERING_OLD -> UNREGISTERING_OLD");
	world_free(w);
}

/* Removal over the old IAP fails: over the new one; fails again:
 * removal-failed, and the profile carries on. */
static void test_removal_failed(void **state)
{
	struct world *w = migrating(S_MBB);

	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	roam_sip_old_removed(w->r, P1, 408, "Request Timeout");
	EXPECT(w, "remove-old p1 old3 via2", "p1 UNREGISTERING_OLD -> UNREGISTERING_OLD");
	roam_sip_old_removed(w->r, P1, -ETIMEDOUT, NULL);
	EXPECT(w, "alr.error p1 s1 iap3 removal-failed >CO", "p1 UNREGISTERING_OLD -> REGISTERED");
	assert_non_null(strstr(w->last_message, strerror(ETIMEDOUT)));
	assert_int_equal(w->last_status, -ETIMEDOUT);
	world_free(w);
}

/* DESIGN §3.3: a failed migration keeps the old binding (the binding goes
 * back to it) and the IAP is not offered again until it changes or a
 * refresh. */
static void test_migration_failure(void **state)
{
	struct world *w = migrating(S_MBB);

	roam_sip_failed(w->r, P1, WLAN, 503, "Service Unavailable");
	EXPECT(w, "alr.error p1 s1 iap2 migration-failed >CO", "move p1 iap3",
	       "p1 MIGRATING -> REGISTERED");
	assert_string_equal(w->last_message, "REGISTER over iap 2 failed: 503 Service Unavailable");
	assert_int_equal(w->last_status, 503);
	assert_int_equal(current_iap(w, P1), WWAN);
	/* The move back is confirmed like any refresh. */
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT_NONE(w);
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	/* It changes: offered (here: taken) again after stable-time. */
	down(w, WLAN);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);

	/* With a controller: refresh offers it again. */
	w = offered(false);
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	roam_sip_failed(w->r, P1, WLAN, -ECONNREFUSED, NULL);
	w->n_trace = 0;
	advance(w, 60000);
	EXPECT_NONE(w);
	assert_int_equal(refresh(w, P1, C1), 0);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	world_free(w);

	/* The new IAP goes away mid-migration: failed, not marked. */
	w = migrating(S_MBB);
	down(w, WLAN);
	EXPECT(w, "alr.error p1 s1 iap2 migration-failed >CO", "move p1 iap3",
	       "p1 MIGRATING -> REGISTERED");
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* DESIGN §3.5: the current IAP is lost: no approval, deregistered, the
 * next REGISTER leaves inside the same call, no time passes. */
static void test_loss_failover(void **state)
{
	struct world *w = world_new();
	uint64_t t;

	up(w, WWAN);
	registered_over(w, P1, S_MBB, WLAN);
	control(w, P1, C1);
	t = w->now;
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	assert_int_equal(w->now, t);
	assert_int_equal(w->timer_at[P1], 0);
	expect_registration(w, P1, ROAM_REG_REGISTERING);
	/* The old contact goes as soon as a path allows: over the new IAP. */
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "remove-old p1 old2 via3",
	       "p1 REGISTERING -> UNREGISTERING_OLD");
	roam_sip_old_removed(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING_OLD -> REGISTERED");
	/* The lost IAP comes back: an ordinary offer after stable-time. */
	up(w, WLAN);
	EXPECT_NONE(w);
	advance(w, 2000);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	world_free(w);
}

/* Lost with nothing left: WAIT_FOR_IAP, then registration (no approval)
 * when an IAP comes; the old contact is removed then. */
static void test_loss_no_iap(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WLAN);
	control(w, P1, C1);
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "alr.no-iap p1 s1 >CO",
	       "abandon p1", "p1 REGISTERED -> WAIT_FOR_IAP");
	up(w, WWAN);
	EXPECT(w, "move p1 iap3", "p1 WAIT_FOR_IAP -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "remove-old p1 old2 via3",
	       "p1 REGISTERING -> UNREGISTERING_OLD");
	world_free(w);

	/* The same IAP comes back: registered again over it, now. */
	w = world_new();
	registered_over(w, P1, S_MBB, WLAN);
	down(w, WLAN);
	w->n_trace = 0;
	up(w, WLAN);
	EXPECT(w, "move p1 iap2", "p1 WAIT_FOR_IAP -> REGISTERING");
	w->next_result = ROAM_OP_DONE;  /* nothing else to remove */
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "remove-old p1 old2 via2",
	       "p1 REGISTERING -> UNREGISTERING_OLD", "p1 UNREGISTERING_OLD -> REGISTERED");
	world_free(w);
}

/* Loss in the other states. */
static void test_loss_elsewhere(void **state)
{
	struct world *w;

	/* During an offer: withdrawn; the failover may go to the offered
	 * IAP, without asking. */
	w = offered(false);
	down(w, WWAN);
	EXPECT(w, "alr.error p1 s1 iap2 offer-withdrawn >C",
	       "profile.deregistered p1 iap3 network-lost >CO", "move p1 iap2",
	       "p1 WAIT_FOR_PERMISSION -> REGISTERING");
	world_free(w);

	/* The offered IAP goes: withdrawn. */
	w = offered(false);
	down(w, WLAN);
	EXPECT(w, "alr.error p1 s1 iap2 offer-withdrawn >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");
	assert_int_equal(allow(w, P1, WLAN, C1), -EINVAL);
	world_free(w);

	/* Both: nothing left. */
	w = offered(false);
	set_iap(w, WLAN, false);
	down(w, WWAN);
	EXPECT(w, "alr.error p1 s1 iap2 offer-withdrawn >C",
	       "profile.deregistered p1 iap3 network-lost >CO", "alr.no-iap p1 s1 >CO",
	       "abandon p1", "p1 WAIT_FOR_PERMISSION -> WAIT_FOR_IAP");
	world_free(w);

	/* While registering: on to the next IAP, or wait. */
	w = world_new();
	up(w, WWAN);
	up(w, WLAN);
	enable(w, P1, S_MBB);
	w->n_trace = 0;
	down(w, WLAN);
	EXPECT(w, "move p1 iap3", "p1 REGISTERING -> REGISTERING");
	down(w, WWAN);
	EXPECT(w, "alr.no-iap p1 s1 >CO", "abandon p1", "p1 REGISTERING -> WAIT_FOR_IAP");
	world_free(w);

	/* The old IAP goes mid-migration: the move goes on as a failover
	 * (no new request: the binding is already moving). */
	w = migrating(S_MBB);
	down(w, WWAN);
	EXPECT(w, "alr.error p1 s1 iap2 migration-aborted >CO",
	       "profile.deregistered p1 iap3 network-lost >CO", "p1 MIGRATING -> REGISTERING");
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "remove-old p1 old3 via2",
	       "p1 REGISTERING -> UNREGISTERING_OLD");
	world_free(w);

	/* Both IAPs of the migration go. */
	w = migrating(S_MBB);
	set_iap(w, WLAN, false);
	down(w, WWAN);
	EXPECT(w, "alr.error p1 s1 iap2 migration-aborted >CO",
	       "profile.deregistered p1 iap3 network-lost >CO", "alr.no-iap p1 s1 >CO",
	       "abandon p1", "p1 MIGRATING -> WAIT_FOR_IAP");
	world_free(w);

	/* The current IAP goes while the old contact is removed. */
	w = migrating(S_MBB);
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "move p1 iap3",
	       "p1 UNREGISTERING_OLD -> REGISTERING");
	down(w, WWAN);
	EXPECT(w, "alr.no-iap p1 s1 >CO", "abandon p1", "p1 REGISTERING -> WAIT_FOR_IAP");
	world_free(w);

	w = migrating(S_MBB);
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	set_iap(w, WWAN, false);
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "alr.no-iap p1 s1 >CO",
	       "abandon p1", "p1 UNREGISTERING_OLD -> WAIT_FOR_IAP");
	world_free(w);
}

/* A REGISTER that fails: the next IAP, or the binding retries. */
static void test_registration_failure(void **state)
{
	struct world *w = world_new();

	up(w, WWAN);
	up(w, WLAN);
	enable(w, P1, S_MBB);
	w->n_trace = 0;
	roam_sip_failed(w->r, P1, WLAN, 403, "Forbidden");
	EXPECT(w, "alr.error p1 s1 iap2 registration-failed >CO", "move p1 iap3",
	       "p1 REGISTERING -> REGISTERING");
	roam_sip_failed(w->r, P1, WWAN, 403, "Forbidden");
	EXPECT(w, "alr.error p1 s1 iap3 registration-failed >CO");
	expect_state(w, P1, ROAM_REGISTERING);
	/* A late failure for the IAP it left is dropped. */
	roam_sip_failed(w->r, P1, WLAN, 403, "Forbidden");
	EXPECT_NONE(w);
	/* An IAP that changes is tried (only a failure moves a registration). */
	up(w, ETH);
	EXPECT(w, "move p1 iap1", "p1 REGISTERING -> REGISTERING");
	roam_sip_failed(w->r, P1, ETH, 403, "Forbidden");
	EXPECT(w, "alr.error p1 s1 iap1 registration-failed >CO");
	/* A refresh tries the best one again, now. */
	assert_int_equal(refresh(w, P1, C1), 0);
	EXPECT(w, "move p1 iap1", "p1 REGISTERING -> REGISTERING");
	roam_sip_registered(w->r, P1, ETH);
	EXPECT(w, "profile.registered p1 iap1 >CO", "p1 REGISTERING -> REGISTERED");
	world_free(w);

	/* A refresh that fails while registered: deregistered, elsewhere. */
	w = world_new();
	up(w, WWAN);
	registered_over(w, P1, S_MBB, WLAN);
	roam_sip_failed(w->r, P1, WLAN, 408, "Request Timeout");
	EXPECT(w, "alr.error p1 s1 iap2 registration-failed >CO",
	       "profile.deregistered p1 iap2 error >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "remove-old p1 old2 via2",
	       "p1 REGISTERING -> UNREGISTERING_OLD");
	world_free(w);
}

/* DESIGN §3.6: break-before-make deregisters first, then registers. */
static void test_break_before_make(void **state)
{
	struct world *w = world_new();
	struct roam_profile_info info;

	registered_over(w, P1, S_BBM, WWAN);
	up(w, WLAN);
	advance(w, 2000);
	/* Clients see the registration end and begin again. */
	EXPECT(w, "alr.migration-started p1 s3 3->2 >CO",
	       "profile.deregistered p1 iap3 migration >CO", "deregister p1 via3",
	       "p1 REGISTERED -> UNREGISTERING_OLD");
	expect_registration(w, P1, ROAM_REG_REGISTERING);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_true(info.break_before_make);
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERING_OLD -> MIGRATING");
	expect_registration(w, P1, ROAM_REG_REGISTERING);
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "alr.migration-completed p1 s3 3->2 >CO",
	       "profile.updated p1 iap2 >CO", "p1 MIGRATING -> REGISTERED");
	world_free(w);

	/* With a controller. */
	w = world_new();
	registered_over(w, P1, S_BBM, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	advance(w, 2000);
	assert_int_equal(allow(w, P1, WLAN, C1), 0);
	EXPECT(w, "alr.iap-available p1 s3 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION",
	       "alr.migration-started p1 s3 3->2 >CO",
	       "profile.deregistered p1 iap3 migration >CO", "deregister p1 via3",
	       "p1 WAIT_FOR_PERMISSION -> UNREGISTERING_OLD");
	/* The make fails: nothing is registered (clients were told at the
	 * break); back over the best IAP. */
	roam_sip_deregistered(w->r, P1, 200, "OK");
	w->n_trace = 0;
	roam_sip_failed(w->r, P1, WLAN, 486, "Busy Here");
	EXPECT(w, "alr.error p1 s3 iap2 migration-failed >CO", "move p1 iap3",
	       "p1 MIGRATING -> REGISTERING");
	world_free(w);

	/* The deregistration fails: the move goes on, the old contact is
	 * removed afterwards. */
	w = migrating(S_BBM);
	roam_sip_deregistered(w->r, P1, 408, "Request Timeout");
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERING_OLD -> MIGRATING");
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "alr.migration-completed p1 s3 3->2 >CO",
	       "profile.updated p1 iap2 >CO",
	       "remove-old p1 old3 via3", "p1 MIGRATING -> UNREGISTERING_OLD");
	world_free(w);

	/* The old IAP goes during the break: make at once. */
	w = migrating(S_BBM);
	down(w, WWAN);
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERING_OLD -> MIGRATING");
	world_free(w);

	/* The new IAP goes during the break: register over the best one. */
	w = migrating(S_BBM);
	down(w, WLAN);
	EXPECT(w, "alr.error p1 s3 iap2 migration-failed >CO", "register p1 iap3",
	       "p1 UNREGISTERING_OLD -> REGISTERING");
	world_free(w);

	/* The new IAP goes during the make. */
	w = migrating(S_BBM);
	roam_sip_deregistered(w->r, P1, 200, "OK");
	w->n_trace = 0;
	set_iap(w, WWAN, false);
	down(w, WLAN);
	EXPECT(w, "alr.error p1 s3 iap2 migration-failed >CO", "alr.no-iap p1 s3 >CO",
	       "abandon p1", "p1 MIGRATING -> WAIT_FOR_IAP");
	world_free(w);
}

/* DESIGN §3.7: at most max-migrations per window; losses never wait. */
static void test_damping(void **state)
{
	struct world *w = world_new();
	struct roam_profile_info info;
	uint64_t first;

	registered_over(w, P1, S_DAMP, WWAN);
	/* Migrations 1 and 2 go through, each followed by a loss. */
	for (int i = 0; i < 2; i++) {
		up(w, WLAN);
		advance(w, 1000);
		if (i == 0)
			first = w->now;
		EXPECT(w, "alr.migration-started p1 s4 3->2 >CO", "move p1 iap2",
		       "p1 REGISTERED -> MIGRATING");
		roam_sip_registered(w->r, P1, WLAN);
		roam_sip_old_removed(w->r, P1, 200, "OK");
		w->n_trace = 0;
		down(w, WLAN);
		EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "move p1 iap3",
		       "p1 REGISTERED -> REGISTERING");
		roam_sip_registered(w->r, P1, WWAN);
		roam_sip_old_removed(w->r, P1, 200, "OK");
		w->n_trace = 0;
	}
	/* The third is held back until the window lets it through. */
	up(w, WLAN);
	advance(w, 1000);
	EXPECT_NONE(w);
	assert_int_equal(w->timer_at[P1], first + 60000);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.migrations_in_window, 2);
	assert_int_equal(info.damped_until_ms, first + 60000);
	/* Meanwhile a loss fails over at once, to the held-back IAP. */
	down(w, WWAN);
	EXPECT(w, "profile.deregistered p1 iap3 network-lost >CO", "move p1 iap2",
	       "p1 REGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WLAN);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	w->n_trace = 0;
	/* A better one still waits for the window... */
	up(w, ETH);
	advance(w, 1000);
	EXPECT_NONE(w);
	assert_int_equal(w->timer_at[P1], first + 60000);
	advance(w, first + 60000 - 1 - w->now);
	EXPECT_NONE(w);
	/* ... and goes when it opens. */
	advance(w, 1);
	EXPECT(w, "alr.migration-started p1 s4 2->1 >CO", "move p1 iap1",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* An identity switch (iap.added with replaces, iap.removed with
 * replaced_by, no iap.down) is the same network. */
static void test_replacement(void **state)
{
	struct world *w = world_new();
	struct snap_iap_view *v;

	up(w, WWAN);
	registered_over(w, P1, S_MBB, WLAN);
	control(w, P1, C1);
	roam_iap_replaced(w->r, WLAN, 7);
	v = find_iap(w, WLAN);
	v->id = 7;
	sync_iaps(w);
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERED);
	assert_int_equal(current_iap(w, P1), 7);
	/* And back. */
	roam_iap_replaced(w->r, 7, WLAN);
	v->id = WLAN;
	sync_iaps(w);
	EXPECT_NONE(w);
	/* It is still the current IAP: its loss is a loss. */
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	world_free(w);

	/* The IAP on offer switches: the offer stands under the new id. */
	w = offered(false);
	roam_iap_replaced(w->r, WLAN, 7);
	find_iap(w, WLAN)->id = 7;
	sync_iaps(w);
	EXPECT_NONE(w);
	assert_int_equal(allow(w, P1, WLAN, C1), -EINVAL);
	assert_int_equal(allow(w, P1, 7, C1), 0);
	EXPECT(w, "alr.migration-started p1 s1 3->7 >CO", "move p1 iap7",
	       "p1 WAIT_FOR_PERMISSION -> MIGRATING");
	/* The old one of a migration switches: removal follows it. */
	roam_iap_replaced(w->r, WWAN, 8);
	find_iap(w, WWAN)->id = 8;
	sync_iaps(w);
	EXPECT_NONE(w);
	roam_sip_registered(w->r, P1, 7);
	EXPECT(w, "alr.migration-completed p1 s1 8->7 >CO", "profile.updated p1 iap7 >CO",
	       "remove-old p1 old8 via8", "p1 MIGRATING -> UNREGISTERING_OLD");
	world_free(w);

	/* A stable IAP stays stable across its switch; a disallowed one
	 * stays disallowed. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	advance(w, 1500);
	roam_iap_replaced(w->r, WLAN, 7);
	find_iap(w, WLAN)->id = 7;
	sync_iaps(w);
	advance(w, 500);
	EXPECT(w, "alr.iap-available p1 s1 iap7 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");
	assert_int_equal(disallow(w, P1, 7, C1), 0);
	w->n_trace = 0;
	roam_iap_replaced(w->r, 7, WLAN);
	find_iap(w, 7)->id = WLAN;
	sync_iaps(w);
	advance(w, 10000);
	EXPECT_NONE(w);
	world_free(w);
}

/* Reloaded SNAPs: profiles on changed SNAPs are evaluated again. */
static void test_snap_reload(void **state)
{
	struct world *w = world_new();
	struct policy_set *old, *cell_first;

	up(w, WWAN);
	registered_over(w, P1, S_MBB, WLAN);
	control(w, P1, C1);
	advance(w, 10000);
	EXPECT_NONE(w);

	/* The same SNAPs again: nothing. */
	old = w->set;
	w->set = make_set(rules);
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	EXPECT_NONE(w);

	/* Cellular first: offered at once (it has been there for long). */
	cell_first = make_set("[rule]\npriority = 10\nkind = cellular\n"
			      "[rule]\npriority = 20\nkind = wifi\n");
	old = w->set;
	w->set = cell_first;
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	EXPECT(w, "alr.iap-available p1 s1 iap3 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION");

	/* Back: the offer is no longer better; withdrawn. */
	old = w->set;
	w->set = make_set(rules);
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	EXPECT(w, "alr.error p1 s1 iap3 offer-withdrawn >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");

	/* The SNAP is gone: the profile stays while its IAP does. */
	old = w->set;
	w->set = policy_set_new();
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERED);
	/* ... and waits when it goes. */
	down(w, WLAN);
	EXPECT(w, "profile.deregistered p1 iap2 network-lost >CO", "alr.no-iap p1 s1 >CO",
	       "abandon p1", "p1 REGISTERED -> WAIT_FOR_IAP");
	/* It comes back with the SNAP. */
	old = w->set;
	w->set = make_set(rules);
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	EXPECT(w, "move p1 iap3", "p1 WAIT_FOR_IAP -> REGISTERING");
	world_free(w);
}

static void expect_ranking(struct world *w, unsigned int snap, const unsigned int *want,
			   size_t n)
{
	const struct snap_ranking *rk = roam_snap_ranking(w->r, snap);

	assert_non_null(rk);
	assert_int_equal(snap_ranking_count(rk), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(snap_ranking_at(rk, i)->iap_id, want[i]);
}

#define EXPECT_RANKING(w, snap, ...)							\
	expect_ranking((w), (snap), (const unsigned int[]){ __VA_ARGS__ },			\
		       sizeof((const unsigned int[]){ __VA_ARGS__ }) / sizeof(unsigned int))

static void strength(struct world *w, unsigned int iap, int s)
{
	find_iap(w, iap)->strength = s;
	sync_iaps(w);
}

/* A Wi-Fi rule with min-signal 50 and hysteresis 10 over cellular: the
 * engine's order (roam_snap_ranking(), what snap.get shows) keeps the
 * Wi-Fi network at 45 once admitted, drops it at 35, does not take it
 * back at 45 and does at 55; the profile follows.  An identity switch
 * inside the hysteresis band keeps the network.  An unknown SNAP has no
 * ranking. */
static void test_signal_hysteresis(void **state)
{
	struct world *w = world_new();
	struct policy_set *old = w->set;

	w->set = make_set("[rule]\npriority = 10\nkind = wifi\nmin-signal = 50\n"
			  "signal-hysteresis = 10\n"
			  "[rule]\npriority = 30\nkind = cellular\n");
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	assert_null(roam_snap_ranking(w->r, 77));

	set_iap(w, WLAN, true);
	find_iap(w, WLAN)->strength = 80;
	up(w, WWAN);
	EXPECT_RANKING(w, S_MBB, WLAN, WWAN);
	enable(w, P1, S_MBB);
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;

	strength(w, WLAN, 45);
	EXPECT_RANKING(w, S_MBB, WLAN, WWAN);
	advance(w, 10000);
	EXPECT_NONE(w);

	/* An identity switch at 45 (NetworkManager names the link anew):
	 * the hysteresis memory follows, nothing moves; the new id is
	 * WLAN2 from here on. */
	roam_iap_replaced(w->r, WLAN, WLAN2);
	find_iap(w, WLAN)->id = WLAN2;
	sync_iaps(w);
	EXPECT_RANKING(w, S_MBB, WLAN2, WWAN);
	advance(w, 10000);
	EXPECT_NONE(w);
	assert_int_equal(current_iap(w, P1), WLAN2);
	find_iap(w, WLAN2)->id = WLAN;
	roam_iap_replaced(w->r, WLAN2, WLAN);
	sync_iaps(w);
	EXPECT_RANKING(w, S_MBB, WLAN, WWAN);
	EXPECT_NONE(w);

	strength(w, WLAN, 35);
	EXPECT_RANKING(w, S_MBB, WWAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 2->3 >CO", "move p1 iap3",
	       "p1 REGISTERED -> MIGRATING");
	roam_sip_registered(w->r, P1, WWAN);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	w->n_trace = 0;
	expect_state(w, P1, ROAM_REGISTERED);
	assert_int_equal(current_iap(w, P1), WWAN);

	strength(w, WLAN, 45);
	EXPECT_RANKING(w, S_MBB, WWAN);
	advance(w, 10000);
	EXPECT_NONE(w);

	strength(w, WLAN, 55);
	EXPECT_RANKING(w, S_MBB, WLAN, WWAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* A SNAP by connection name; the IAPs as NetworkManager names them (or,
 * @nm false, as they are without it: no connection). */
static void name_iaps(struct world *w, bool nm)
{
	find_iap(w, WLAN)->conn_id = nm ? "HomeNet" : NULL;
	find_iap(w, WWAN)->conn_id = nm ? "Mobile" : NULL;
}

/* IAP @old is now @new (an identity switch), named or not. */
static void switch_iap(struct world *w, unsigned int old, unsigned int new, const char *conn)
{
	struct snap_iap_view *v = find_iap(w, old);

	roam_iap_replaced(w->r, old, new);
	v->id = new;
	v->conn_id = conn;
	sync_iaps(w);
}

/* NetworkManager stops, one connection after the other: while only the
 * current IAP has lost its name, the other one ranks above it, but an
 * identity switch of the current IAP holds offers back for stable-time;
 * so nothing moves (it would have at once: Mobile has been stable for
 * long).  A switch is no veto: were Mobile still named after stable-time,
 * it would be offered. */
static void test_switch_settles(void **state)
{
	static const char *const by_name = "[rule]\npriority = 10\nconnection = HomeNet\n"
					   "[rule]\npriority = 20\nconnection = Mobile\n";
	struct world *w = world_new();
	struct policy_set *old = w->set;

	w->set = make_set(by_name);
	assert_int_equal(roam_snap_set(w->r, w->set, w->views, w->n_views), 0);
	policy_set_free(old);
	set_iap(w, WLAN, true);
	set_iap(w, WWAN, true);
	name_iaps(w, true);
	registered_over(w, P1, S_MBB, WLAN);
	advance(w, 10000);
	EXPECT_NONE(w);

	/* Stop: HomeNet first, Mobile 1 ms later. */
	switch_iap(w, WLAN, 7, NULL);
	EXPECT_RANKING(w, S_MBB, WWAN);
	EXPECT_NONE(w);
	advance(w, 1);
	switch_iap(w, WWAN, 8, NULL);
	advance(w, 10000);
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERED);
	assert_int_equal(current_iap(w, P1), 7);

	/* Start: Mobile first, HomeNet 100 ms later. */
	switch_iap(w, 8, WWAN, "Mobile");
	advance(w, 100);
	switch_iap(w, 7, WLAN, "HomeNet");
	advance(w, 10000);
	EXPECT_NONE(w);
	assert_int_equal(current_iap(w, P1), WLAN);

	/* Only HomeNet loses its name: Mobile is offered after stable-time,
	 * not before. */
	switch_iap(w, WLAN, 7, NULL);
	advance(w, 1999);
	EXPECT_NONE(w);
	advance(w, 1);
	EXPECT(w, "alr.migration-started p1 s1 7->3 >CO", "move p1 iap3",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* The default SNAP (0) holds every IAP. */
static void test_default_snap(void **state)
{
	struct world *w = world_new();

	up(w, WWAN);
	registered_over(w, P1, POLICY_DEFAULT_ID, WWAN);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s0 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);
}

/* The profile's bearer filter narrows its SNAP. */
static void test_bearer_filter(void **state)
{
	struct world *w = world_new();
	struct roam_profile_config cfg = {
		.snap_id = S_MBB,
		.bearers = POLICY_KIND_BIT(IAP_KIND_WIFI) | POLICY_KIND_BIT(IAP_KIND_CELLULAR),
	};

	up(w, ETH);
	up(w, WWAN);
	assert_int_equal(roam_profile_enable(w->r, P1, &cfg), 0);
	EXPECT(w, "register p1 iap3", "p1 UNREGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	w->n_trace = 0;
	advance(w, 60000);
	EXPECT_NONE(w);
	world_free(w);
}

/* roam_next_candidate(): the engine's order for a configuration, enabled
 * or not (the registry removes old contacts over the first). */
static void test_next_candidate(void **state)
{
	struct world *w = world_new();
	struct roam_profile_config any = { .snap_id = S_MBB };
	struct roam_profile_config radio = {
		.snap_id = S_MBB,
		.bearers = POLICY_KIND_BIT(IAP_KIND_WIFI) | POLICY_KIND_BIT(IAP_KIND_CELLULAR),
	};
	struct roam_profile_config fixed_wwan = { .iap_id = WWAN };
	struct roam_profile_config no_snap = { .snap_id = 99 };
	size_t i = 0;

	up(w, WWAN);
	up(w, ETH);
	up(w, WLAN);
	assert_int_equal(roam_next_candidate(w->r, &any, &i), ETH);
	assert_int_equal(roam_next_candidate(w->r, &any, &i), WLAN);
	assert_int_equal(roam_next_candidate(w->r, &any, &i), WWAN);
	assert_int_equal(roam_next_candidate(w->r, &any, &i), ROAM_IAP_NONE);
	i = 0;
	assert_int_equal(roam_next_candidate(w->r, &radio, &i), WLAN);
	i = 0;
	assert_int_equal(roam_next_candidate(w->r, &fixed_wwan, &i), WWAN);
	assert_int_equal(roam_next_candidate(w->r, &fixed_wwan, &i), ROAM_IAP_NONE);
	i = 0;
	assert_int_equal(roam_next_candidate(w->r, &no_snap, &i), ROAM_IAP_NONE);
	down(w, WWAN);
	i = 0;
	assert_int_equal(roam_next_candidate(w->r, &fixed_wwan, &i), ROAM_IAP_NONE);
	world_free(w);
}

/* A profile fixed to one IAP: that IAP or nothing. */
static void test_fixed_iap(void **state)
{
	struct world *w = world_new();

	up(w, ETH);
	up(w, WLAN);
	up(w, WWAN);
	enable_fixed(w, P1, WWAN, 0);
	EXPECT(w, "register p1 iap3", "p1 UNREGISTERED -> REGISTERING");
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "p1 REGISTERING -> REGISTERED");
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	down(w, WWAN);
	EXPECT(w, "profile.deregistered p1 iap3 network-lost >CO", "alr.no-iap p1 s- >CO",
	       "abandon p1", "p1 REGISTERED -> WAIT_FOR_IAP");
	up(w, WWAN);
	EXPECT(w, "move p1 iap3", "p1 WAIT_FOR_IAP -> REGISTERING");

	/* Its kind is not one the profile admits. */
	enable_fixed(w, P2, ETH, POLICY_KIND_BIT(IAP_KIND_WIFI));
	EXPECT(w, "alr.no-iap p2 s- >CO", "p2 UNREGISTERED -> WAIT_FOR_IAP");
	world_free(w);
}

/* A new configuration: deregister, then register anew. */
static void test_reconfigure(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	up(w, WLAN);
	enable_fixed(w, P1, WLAN, 0);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERED -> UNREGISTERING");
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap3 update >CO", "p1 UNREGISTERING -> UNREGISTERED",
	       "register p1 iap2", "p1 UNREGISTERED -> REGISTERING");
	world_free(w);

	/* Disabled, then enabled again before the deregistration is done. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	enable(w, P1, S_MBB);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERED -> UNREGISTERING");
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap3 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED",
	       "register p1 iap3", "p1 UNREGISTERED -> REGISTERING");
	world_free(w);
}

/* A registrar's own error (503, 500, ...) says nothing about the network
 * it came over (issue 15): no alr.error for the IAP, no mark, no move;
 * the binding honours Retry-After and retries.  A make-before-break
 * migration goes on (failing it would offer the move again at once, into
 * the same answer) and completes when the registrar answers. */
static void test_server_error(void **state)
{
	struct world *w = world_new();
	struct roam_profile_info info;

	up(w, WWAN);
	up(w, WLAN);
	enable(w, P1, S_MBB);
	expect_state(w, P1, ROAM_REGISTERING);
	assert_int_equal(current_iap(w, P1), WLAN);
	w->n_trace = 0;
	roam_sip_server_error(w->r, P1, WLAN, 503, "Service Unavailable");
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERING);
	assert_int_equal(current_iap(w, P1), WLAN);
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "profile.registered p1 iap2 >CO", "p1 REGISTERING -> REGISTERED");
	/* A refresh the server refuses: still registered over the IAP. */
	roam_sip_server_error(w->r, P1, WLAN, 500, "Server Internal Error");
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERED);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 0);
	/* The same status as transport evidence (a timeout) moves it. */
	roam_sip_failed(w->r, P1, WLAN, 408, "Request Timeout");
	EXPECT(w, "alr.error p1 s1 iap2 registration-failed >CO",
	       "profile.deregistered p1 iap2 error >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	world_free(w);

	w = migrating(S_MBB);
	expect_state(w, P1, ROAM_MIGRATING);
	roam_sip_server_error(w->r, P1, WLAN, 503, "Service Unavailable");
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_MIGRATING);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 0);
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "alr.migration-completed p1 s1 3->2 >CO", "profile.updated p1 iap2 >CO",
	       "remove-old p1 old3 via3", "p1 MIGRATING -> UNREGISTERING_OLD");
	world_free(w);
}

/* The profile's next wake-up is @at_least to @at_most ms from now. */
static void expect_timer_in(struct world *w, unsigned int profile, uint64_t at_least,
			    uint64_t at_most)
{
	uint64_t at = w->timer_at[profile];

	if (!at || at < w->now + at_least || at > w->now + at_most)
		fail_msg("timer of p%u at %+lld ms, not in [%llu, %llu]", profile,
			 at ? (long long)(at - w->now) : 0LL, (unsigned long long)at_least,
			 (unsigned long long)at_most);
}

/* P1 on S_MBB (wifi > cellular) fell from WLAN to WWAN when a refresh over
 * WLAN got no answer (transport evidence: WLAN marked unreachable), and is
 * registered over WWAN again, the old contact removed.  With probes. */
static struct world *fell_to_cellular(void)
{
	struct world *w = world_new_ops(&probe_ops);

	up(w, WWAN);
	registered_over(w, P1, S_MBB, WLAN);
	roam_sip_failed(w->r, P1, WLAN, 408, "Request Timeout");
	EXPECT(w, "alr.error p1 s1 iap2 registration-failed >CO",
	       "profile.deregistered p1 iap2 error >CO", "move p1 iap3",
	       "p1 REGISTERED -> REGISTERING");
	/* Nothing registered: nothing probed, no wake-up at all. */
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 1000);
	EXPECT_NONE(w);
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "remove-old p1 old2 via2",
	       "p1 REGISTERING -> UNREGISTERING_OLD");
	assert_int_equal(w->timer_at[P1], 0);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING_OLD -> REGISTERED");
	return w;
}

/* The profile's timer fires for the probe that is due. */
static void probe_due(struct world *w)
{
	assert_int_not_equal(w->timer_at[P1], 0);
	advance(w, w->timer_at[P1] - w->now);
	EXPECT(w, "probe p1 iap2");
}

/* Issue 15 #1: an IAP marked for transport evidence is probed (a request
 * over it that changes nothing) while the profile is registered over a
 * worse one, with backoff: 5 s doubling to 5 min, each in [d/2, d]; once
 * the registrar answers over it, the mark goes and the profile moves back
 * (here: no controllers, at once).  No wake-ups while nothing is
 * registered or nothing is worth probing. */
static void test_unreachable_iap_probed(void **state)
{
	struct world *w = fell_to_cellular();
	struct roam_profile_info info;
	uint64_t d = 5000;

	/* The first within 5 s of the mark (1 s of it went registering). */
	expect_timer_in(w, P1, 1500, 4000);
	probe_due(w);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.probing, WLAN);
	assert_int_equal(info.n_blocked, 1);
	/* One probe at a time: only a wake-up in case its outcome is lost. */
	expect_timer_in(w, P1, 120000, 120000);
	for (int n = 1; n <= 9; n++) {
		roam_sip_probed(w->r, P1, WLAN, false, -ETIMEDOUT, NULL);
		EXPECT_NONE(w);
		d = d * 2 > 300000 ? 300000 : d * 2;
		expect_timer_in(w, P1, d / 2, d);
		probe_due(w);
	}
	/* The registrar answers over Wi-Fi: unmarked, and it is the better
	 * IAP (stable for long): the profile goes back. */
	roam_sip_probed(w->r, P1, WLAN, true, 200, "OK");
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 0);
	assert_int_equal(info.probing, 0);
	roam_sip_registered(w->r, P1, WLAN);
	EXPECT(w, "alr.migration-completed p1 s1 3->2 >CO", "profile.updated p1 iap2 >CO",
	       "remove-old p1 old3 via3", "p1 MIGRATING -> UNREGISTERING_OLD");
	roam_sip_old_removed(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING_OLD -> REGISTERED");
	/* Registered over the best IAP: nothing to probe, no wake-up. */
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	world_free(w);

	/* Any answer will do (a 403 to the query still came back over it);
	 * a probe that cannot be sent counts as not answered. */
	w = fell_to_cellular();
	w->next_result = -ENETUNREACH;
	probe_due(w);
	expect_timer_in(w, P1, 5000, 10000);
	probe_due(w);
	roam_sip_probed(w->r, P1, WLAN, true, 403, "Forbidden");
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);

	/* An outcome that never comes is given up; the next probe follows
	 * the backoff. */
	w = fell_to_cellular();
	probe_due(w);
	advance(w, 120000);
	EXPECT_NONE(w);
	expect_timer_in(w, P1, 5000, 10000);
	probe_due(w);
	/* A late outcome of the given-up probe still counts. */
	roam_sip_probed(w->r, P1, WLAN, true, 200, "OK");
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	world_free(w);

	/* Probes only while registered: a probe out when the profile
	 * starts moving is answered, but none follows until it settles. */
	w = fell_to_cellular();
	probe_due(w);
	down(w, WWAN);
	EXPECT(w, "profile.deregistered p1 iap3 network-lost >CO", "move p1 iap2",
	       "p1 REGISTERED -> REGISTERING");
	assert_int_equal(w->timer_at[P1], 0);
	world_free(w);
}

/* The marks a probe does not clear: the registrar's refusal over an IAP
 * (roam_sip_refused), the controllers' disallow; and an unreachable IAP
 * no better than the current one holds nothing back: not probed.  The
 * registrar answering over an IAP in any other way (a registration, its
 * own error) clears an unreachable mark there too. */
static void test_marks_not_probed(void **state)
{
	struct world *w = world_new_ops(&probe_ops);
	struct roam_profile_info info;

	/* A move to Wi-Fi refused for good: not probed, not offered. */
	registered_over(w, P1, S_MBB, WWAN);
	up(w, WLAN);
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	roam_sip_refused(w->r, P1, WLAN, 403, "Forbidden");
	EXPECT(w, "alr.error p1 s1 iap2 migration-failed >CO", "move p1 iap3",
	       "p1 MIGRATING -> REGISTERED");
	roam_sip_registered(w->r, P1, WWAN);
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	world_free(w);

	/* Disallowed: not probed. */
	w = world_new_ops(&probe_ops);
	registered_over(w, P1, S_MBB, WWAN);
	control(w, P1, C1);
	up(w, WLAN);
	advance(w, 2000);
	assert_int_equal(disallow(w, P1, WLAN, C1), 0);
	EXPECT(w, "alr.iap-available p1 s1 iap2 >C", "p1 REGISTERED -> WAIT_FOR_PERMISSION",
	       "alr.error p1 s1 iap2 access-denied >C", "p1 WAIT_FOR_PERMISSION -> REGISTERED");
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	world_free(w);

	/* Both IAPs failed; the registrar answers with its own error over
	 * the one the binding retries on: that mark goes (the other stays),
	 * and once registered there the better one is probed. */
	w = world_new_ops(&probe_ops);
	up(w, WWAN);
	up(w, WLAN);
	enable(w, P1, S_MBB);
	roam_sip_failed(w->r, P1, WLAN, 408, "Request Timeout");
	roam_sip_failed(w->r, P1, WWAN, -EHOSTUNREACH, NULL);
	w->n_trace = 0;
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 2);
	roam_sip_server_error(w->r, P1, WWAN, 503, "Service Unavailable");
	EXPECT_NONE(w);
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 1);
	assert_int_equal(w->timer_at[P1], 0);
	roam_sip_registered(w->r, P1, WWAN);
	EXPECT(w, "profile.registered p1 iap3 >CO", "p1 REGISTERING -> REGISTERED");
	probe_due(w);
	world_free(w);

	/* Registered over Wi-Fi with cellular marked: nothing probed. */
	w = world_new_ops(&probe_ops);
	up(w, WWAN);
	enable(w, P1, S_MBB);
	roam_sip_failed(w->r, P1, WWAN, 408, "Request Timeout");
	w->n_trace = 0;
	up(w, WLAN);
	EXPECT(w, "move p1 iap2", "p1 REGISTERING -> REGISTERING");
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), 0);
	assert_int_equal(info.n_blocked, 1);
	assert_int_equal(w->timer_at[P1], 0);
	advance(w, 3600 * 1000);
	EXPECT_NONE(w);
	world_free(w);
}

/* A path that answers probes but not registrations: each time the move
 * back fails, the probes go on where their backoff was, not from 5 s. */
static void test_probe_backoff_survives_a_failed_move(void **state)
{
	struct world *w = fell_to_cellular();

	probe_due(w);
	for (int n = 0; n < 3; n++) {
		roam_sip_probed(w->r, P1, WLAN, false, -EHOSTUNREACH, NULL);
		probe_due(w);
	}
	/* Three not answered; the fourth is. */
	roam_sip_probed(w->r, P1, WLAN, true, 200, "OK");
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING");
	roam_sip_failed(w->r, P1, WLAN, 408, "Request Timeout");
	EXPECT(w, "alr.error p1 s1 iap2 migration-failed >CO", "move p1 iap3",
	       "p1 MIGRATING -> REGISTERED");
	/* The fifth probe waits as the fifth would: 80 s, in [40, 80] s. */
	expect_timer_in(w, P1, 40000, 80000);
	probe_due(w);
	/* A registration over it resets that. */
	roam_sip_probed(w->r, P1, WLAN, true, 200, "OK");
	roam_sip_registered(w->r, P1, WLAN);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	w->n_trace = 0;
	roam_sip_failed(w->r, P1, WLAN, -ETIMEDOUT, NULL);
	roam_sip_registered(w->r, P1, WWAN);
	roam_sip_old_removed(w->r, P1, 200, "OK");
	w->n_trace = 0;
	expect_timer_in(w, P1, 2500, 5000);
	world_free(w);
}

/* A deregistration that gets no outcome is given up after the stop
 * timeout: the binding is abandoned (what it registered stays persisted),
 * clients are told with the reason the input gave, and the profile is
 * forgotten.  A registry that waited forever would hold a delete, a
 * restore or alrd's shutdown. */
static void test_stop_timeout(void **state)
{
	struct world *w = world_new();
	struct roam_profile_info info;

	roam_set_stop_timeout(w->r, 1500);
	registered_over(w, P1, S_MBB, WWAN);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DELETED), 0);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERED -> UNREGISTERING");
	assert_int_equal(w->timer_at[P1], w->now + 1500);
	/* An IAP event meanwhile does not push the deadline back. */
	up(w, WLAN);
	advance(w, 1499);
	EXPECT_NONE(w);
	advance(w, 1);
	EXPECT(w, "profile.deregistered p1 iap3 deleted >CO", "abandon p1",
	       "p1 UNREGISTERING -> UNREGISTERED");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), -ENOENT);
	/* The late outcome is dropped. */
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT_NONE(w);
	world_free(w);
}

/* Disable in every state ends in UNREGISTERED, deregistering what is
 * registered, and the profile is forgotten. */
static void test_disable_everywhere(void **state)
{
	struct roam_profile_info info;
	struct world *w;

	/* UNREGISTERED: not enabled. */
	w = world_new();
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), -ENOENT);
	world_free(w);

	/* WAIT_FOR_IAP, never registered: nothing to send. */
	w = world_new();
	enable(w, P1, S_MBB);
	w->n_trace = 0;
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "p1 WAIT_FOR_IAP -> UNREGISTERED");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), -ENOENT);
	world_free(w);

	/* WAIT_FOR_IAP after a loss: the binding is abandoned at once (no
	 * retries over a network that is gone), once. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	w->n_trace = 0;
	down(w, WWAN);
	assert_true(traced(w, "abandon p1"));
	w->n_trace = 0;
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "p1 WAIT_FOR_IAP -> UNREGISTERED");
	world_free(w);

	/* ... and the same IAP back: registered again over it. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	down(w, WWAN);
	w->n_trace = 0;
	up(w, WWAN);
	assert_true(traced(w, "move p1 iap3") || traced(w, "register p1 iap3"));
	world_free(w);

	/* REGISTERING. */
	w = world_new();
	up(w, WWAN);
	enable(w, P1, S_MBB);
	w->n_trace = 0;
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERING -> UNREGISTERING");
	expect_registration(w, P1, ROAM_REG_UNREGISTERING);
	/* Disabling twice: it is going already. */
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), -ENOENT);
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING -> UNREGISTERED");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), -ENOENT);
	world_free(w);

	/* REGISTERED. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERED -> UNREGISTERING");
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap3 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), -ENOENT);
	world_free(w);

	/* WAIT_FOR_PERMISSION. */
	w = offered(false);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "alr.error p1 s1 iap2 offer-withdrawn >C", "deregister p1 via3",
	       "p1 WAIT_FOR_PERMISSION -> UNREGISTERING");
	/* The offer's deadline is gone; the stop timeout is armed. */
	assert_int_equal(w->timer_at[P1], w->now + 2000);
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap3 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED");
	/* The controller stays a controller of the (now disabled) profile. */
	assert_true(roam_is_controller(w->r, P1, C1));
	world_free(w);

	/* MIGRATING: over the IAP the binding is moving to. */
	w = migrating(S_MBB);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "alr.error p1 s1 iap2 migration-aborted >CO", "deregister p1 via2",
	       "p1 MIGRATING -> UNREGISTERING");
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap3 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED");
	world_free(w);

	/* UNREGISTERING_OLD after a migration. */
	w = migrating(S_MBB);
	roam_sip_registered(w->r, P1, WLAN);
	w->n_trace = 0;
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "deregister p1 via2", "p1 UNREGISTERING_OLD -> UNREGISTERING");
	/* The removal's late outcome changes nothing. */
	roam_sip_old_removed(w->r, P1, 200, "OK");
	EXPECT_NONE(w);
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "profile.deregistered p1 iap2 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED");
	world_free(w);

	/* UNREGISTERING_OLD, the break of break-before-make. */
	w = migrating(S_BBM);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "alr.error p1 s3 iap2 migration-aborted >CO", "deregister p1 via3",
	       "p1 UNREGISTERING_OLD -> UNREGISTERING");
	/* Deregistered already at the break (reason migration). */
	roam_sip_deregistered(w->r, P1, 200, "OK");
	EXPECT(w, "p1 UNREGISTERING -> UNREGISTERED");
	world_free(w);

	/* UNREGISTERING: its IAP goes; over another one, or abandoned. */
	w = world_new();
	up(w, WLAN);
	registered_over(w, P1, S_MBB, WLAN);
	up(w, WWAN);
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	w->n_trace = 0;
	down(w, WLAN);
	EXPECT(w, "deregister p1 via3", "p1 UNREGISTERING -> UNREGISTERING");
	down(w, WWAN);
	EXPECT(w, "profile.deregistered p1 iap2 disabled >CO", "abandon p1",
	       "p1 UNREGISTERING -> UNREGISTERED");
	assert_int_equal(roam_profile_get_info(w->r, P1, &info), -ENOENT);
	/* Its timer is not left armed. */
	assert_int_equal(w->timer_at[P1], 0);
	world_free(w);
}

/* Ops may complete, or fail, on the spot. */
static void test_immediate_outcomes(void **state)
{
	struct world *w = world_new();

	up(w, WWAN);
	up(w, WLAN);
	w->next_result = -ENOMEM;
	enable(w, P1, S_MBB);
	EXPECT(w, "register p1 iap2", "p1 UNREGISTERED -> REGISTERING",
	       "alr.error p1 s1 iap2 registration-failed >CO", "move p1 iap3",
	       "p1 REGISTERING -> REGISTERING");
	assert_non_null(strstr(w->last_message, "REGISTER over iap 2 failed: "));
	assert_non_null(strstr(w->last_message, strerror(ENOMEM)));
	roam_sip_registered(w->r, P1, WWAN);
	w->n_trace = 0;

	/* A deregistration with nothing to send. */
	w->next_result = ROAM_OP_DONE;
	assert_int_equal(roam_profile_disable(w->r, P1, ROAM_REASON_DISABLED), 0);
	EXPECT(w, "deregister p1 via3", "p1 REGISTERED -> UNREGISTERING",
	       "profile.deregistered p1 iap3 disabled >CO", "p1 UNREGISTERING -> UNREGISTERED");
	world_free(w);

	/* A move that is done already. */
	w = world_new();
	registered_over(w, P1, S_MBB, WWAN);
	up(w, WLAN);
	w->next_result = ROAM_OP_DONE;
	advance(w, 2000);
	EXPECT(w, "alr.migration-started p1 s1 3->2 >CO", "move p1 iap2",
	       "p1 REGISTERED -> MIGRATING", "alr.migration-completed p1 s1 3->2 >CO",
	       "profile.updated p1 iap2 >CO", "remove-old p1 old3 via3",
	       "p1 MIGRATING -> UNREGISTERING_OLD");
	world_free(w);
}

/* Outcomes that do not fit are dropped. */
static void test_dropped_inputs(void **state)
{
	struct world *w = world_new();

	registered_over(w, P1, S_MBB, WWAN);
	roam_sip_registered(w->r, P1, 9);
	roam_sip_failed(w->r, P1, 9, 500, "x");
	roam_sip_old_removed(w->r, P1, 200, "OK");
	roam_sip_deregistered(w->r, P1, 200, "OK");
	roam_sip_registered(w->r, P2, WWAN);
	roam_sip_failed(w->r, P2, WWAN, 500, NULL);
	roam_sip_old_removed(w->r, P2, 200, NULL);
	roam_sip_deregistered(w->r, P2, 200, NULL);
	roam_timer_fired(w->r, P2);
	roam_timer_fired(w->r, P1);     /* spurious */
	roam_client_gone(w->r, C9);
	roam_iap_replaced(w->r, 0, 5);
	roam_iap_replaced(w->r, 5, 5);
	assert_int_equal(roam_iaps_changed(w->r, NULL, 3), -EINVAL);
	EXPECT_NONE(w);
	expect_state(w, P1, ROAM_REGISTERED);
	assert_int_equal(roam_profile_enable(w->r, 0, &(struct roam_profile_config){ 0 }), -EINVAL);
	expect_state(w, 42, ROAM_UNREGISTERED);
	expect_registration(w, 42, ROAM_REG_UNREGISTERED);
	world_free(w);
}

/* ---- no allocation on IAP events ---- */

#include "alloc-count.h"

static void test_no_allocation(void **state)
{
	struct world *w = world_new();

	count_setup();
	up(w, ETH);
	up(w, WLAN);
	up(w, WWAN);
	up(w, WLAN2);
	registered_over(w, P1, S_MBB, ETH);
	control(w, P1, C1);
	count_start();
	for (int i = 0; i < 100; i++) {
		down(w, i % 2 ? WWAN : WLAN2);
		up(w, i % 2 ? WWAN : WLAN2);
		advance(w, 500);
	}
	assert_int_equal(count_stop(), 0);
	EXPECT_NONE(w);
	world_free(w);
}

/* ---- every edge of docs/roaming.md is taken by the tests above ---- */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static const struct CMUnitTest edge_tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_initial_registration),
		cmocka_unit_test(test_wait_for_iap),
		cmocka_unit_test(test_stable_time),
		cmocka_unit_test(test_all_allow),
		cmocka_unit_test(test_one_disallow),
		cmocka_unit_test(test_no_controllers),
		cmocka_unit_test(test_ringing_call_holds_migration),
		cmocka_unit_test(test_ringing_call_ends_then_migration),
		cmocka_unit_test(test_defer_waits_for_calls),
		cmocka_unit_test(test_defer_with_controllers),
		cmocka_unit_test(test_defer_allowed_then_calls_end),
		cmocka_unit_test(test_calls_never_hold_a_failover),
		cmocka_unit_test(test_calls_from_an_op),
		cmocka_unit_test(test_newer_offer),
		cmocka_unit_test(test_timeout_allow),
		cmocka_unit_test(test_timeout_disallow),
		cmocka_unit_test(test_controller_gone),
		cmocka_unit_test(test_controller_joins),
		cmocka_unit_test(test_bad_answers),
		cmocka_unit_test(test_two_profiles),
		cmocka_unit_test(test_migration_success),
		cmocka_unit_test(test_removal_failed),
		cmocka_unit_test(test_migration_failure),
		cmocka_unit_test(test_loss_failover),
		cmocka_unit_test(test_loss_no_iap),
		cmocka_unit_test(test_loss_elsewhere),
		cmocka_unit_test(test_registration_failure),
		cmocka_unit_test(test_break_before_make),
		cmocka_unit_test(test_damping),
		cmocka_unit_test(test_replacement),
		cmocka_unit_test(test_snap_reload),
		cmocka_unit_test(test_signal_hysteresis),
		cmocka_unit_test(test_switch_settles),
		cmocka_unit_test(test_default_snap),
		cmocka_unit_test(test_bearer_filter),
		cmocka_unit_test(test_next_candidate),
		cmocka_unit_test(test_fixed_iap),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_disable_everywhere),
		cmocka_unit_test(test_stop_timeout),
		cmocka_unit_test(test_server_error),
		cmocka_unit_test(test_unreachable_iap_probed),
		cmocka_unit_test(test_marks_not_probed),
		cmocka_unit_test(test_probe_backoff_survives_a_failed_move),
		cmocka_unit_test(test_immediate_outcomes),
		cmocka_unit_test(test_dropped_inputs),
		cmocka_unit_test(test_no_allocation),
};



static void test_every_edge(void **state)
{
	static const struct { enum roam_state from, to; } table[] = {
		{ ROAM_UNREGISTERED, ROAM_WAIT_FOR_IAP },
		{ ROAM_UNREGISTERED, ROAM_REGISTERING },
		{ ROAM_WAIT_FOR_IAP, ROAM_REGISTERING },
		{ ROAM_WAIT_FOR_IAP, ROAM_UNREGISTERED },
		{ ROAM_REGISTERING, ROAM_REGISTERING },
		{ ROAM_REGISTERING, ROAM_WAIT_FOR_IAP },
		{ ROAM_REGISTERING, ROAM_REGISTERED },
		{ ROAM_REGISTERING, ROAM_UNREGISTERING_OLD },
		{ ROAM_REGISTERING, ROAM_UNREGISTERING },
		{ ROAM_REGISTERED, ROAM_REGISTERING },
		{ ROAM_REGISTERED, ROAM_WAIT_FOR_IAP },
		{ ROAM_REGISTERED, ROAM_WAIT_FOR_PERMISSION },
		{ ROAM_REGISTERED, ROAM_MIGRATING },
		{ ROAM_REGISTERED, ROAM_UNREGISTERING_OLD },
		{ ROAM_REGISTERED, ROAM_UNREGISTERING },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_WAIT_FOR_PERMISSION },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_REGISTERED },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_MIGRATING },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_UNREGISTERING_OLD },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_REGISTERING },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_WAIT_FOR_IAP },
		{ ROAM_WAIT_FOR_PERMISSION, ROAM_UNREGISTERING },
		{ ROAM_MIGRATING, ROAM_UNREGISTERING_OLD },
		{ ROAM_MIGRATING, ROAM_REGISTERED },
		{ ROAM_MIGRATING, ROAM_REGISTERING },
		{ ROAM_MIGRATING, ROAM_WAIT_FOR_IAP },
		{ ROAM_MIGRATING, ROAM_UNREGISTERING },
		{ ROAM_UNREGISTERING_OLD, ROAM_REGISTERED },
		{ ROAM_UNREGISTERING_OLD, ROAM_UNREGISTERING_OLD },
		{ ROAM_UNREGISTERING_OLD, ROAM_MIGRATING },
		{ ROAM_UNREGISTERING_OLD, ROAM_REGISTERING },
		{ ROAM_UNREGISTERING_OLD, ROAM_WAIT_FOR_IAP },
		{ ROAM_UNREGISTERING_OLD, ROAM_UNREGISTERING },
		{ ROAM_UNREGISTERING, ROAM_UNREGISTERING },
		{ ROAM_UNREGISTERING, ROAM_UNREGISTERED },
	};
	size_t missing = 0, extra = 0;

	/* Run the other tests here, from a clean slate, rather than count
	 * what earlier tests of this run left: the result is the same
	 * whatever runs before, and run alone. */
	memset(edges, 0, sizeof(edges));
	for (size_t i = 0; i < ARRAY_LEN(edge_tests); i++) {
		void *st = NULL;

		edge_tests[i].test_func(&st);
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (!edges[table[i].from][table[i].to]) {
			print_error("edge not taken: %s -> %s\n", roam_state_to_str(table[i].from),
				    roam_state_to_str(table[i].to));
			missing++;
		}
		edges[table[i].from][table[i].to] = false;
	}
	/* And no edge outside the table. */
	for (int a = 0; a < _ROAM_STATE_MAX; a++)
		for (int b = 0; b < _ROAM_STATE_MAX; b++)
			if (edges[a][b]) {
				print_error("edge not in the table: %s -> %s\n",
					    roam_state_to_str(a), roam_state_to_str(b));
				extra++;
			}
	assert_int_equal(missing, 0);
	assert_int_equal(extra, 0);
}

int main(void)
{
	struct CMUnitTest tests[ARRAY_LEN(edge_tests) + 1];

	memcpy(tests, edge_tests, sizeof(edge_tests));
	tests[ARRAY_LEN(edge_tests)] = (struct CMUnitTest)cmocka_unit_test(test_every_edge);

	log_set_level(getenv("ALR_TEST_LOG") ? LOG_DEBUG : LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
