/* SNAP policy files: good files, bad files with their line and problem,
 * directories, and print -> parse round trips (docs/policy.md). */
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
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy.h"

/* ---- helpers ---- */

static struct policy_snap *parse_ok(const char *text)
{
	struct policy_error e;
	struct policy_snap *s = NULL;
	int r = policy_parse_string("test.conf", text, strlen(text), &s, &e);

	if (r < 0)
		fail_msg("unexpected error %d: line %u: %s\n---\n%s", r, e.line, e.problem, text);
	return s;
}

static char *print_to_string(const struct policy_snap *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	policy_snap_print(s, f);
	fclose(f);
	return buf;
}

/* Print, parse the output, compare; and printing again gives the same. */
static void check_round_trip(const struct policy_snap *s)
{
	char *once = print_to_string(s);
	struct policy_snap *again = parse_ok(once);
	char *twice = print_to_string(again);

	if (!policy_snap_equal(s, again))
		fail_msg("round trip changed the SNAP:\n%s", once);
	assert_string_equal(once, twice);
	free(once);
	free(twice);
	policy_snap_free(again);
}

static const char *source_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("ALR_SOURCE_DIR");
	char *cut;

	if (env)
		return env;
	/* Run by hand: this file is SOURCE/tests/unit/test-policy.c. */
	snprintf(dir, sizeof(dir), "%s", __FILE__);
	cut = strstr(dir, "/tests/unit/");
	if (cut)
		*cut = '\0';
	return dir;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long len;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* The ```ini blocks of docs/policy.md, fence indentation removed. */
struct doc_block {
	char name[128];                 /* its first line: "# /etc/alrd/snap.d/..." */
	char text[4096];
};

static size_t doc_blocks(const char *fence, struct doc_block *out, size_t max)
{
	char path[PATH_MAX + 32];
	char *doc, *line, *save = NULL;
	size_t n = 0, indent = 0;
	struct doc_block *cur = NULL;

	snprintf(path, sizeof(path), "%s/docs/policy.md", source_dir());
	doc = read_file(path);
	for (line = strtok_r(doc, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t ind = strspn(line, " ");

		if (!cur && strcmp(line + ind, fence) == 0) {
			assert_true(n < max);
			cur = &out[n++];
			cur->name[0] = cur->text[0] = '\0';
			indent = ind;
			continue;
		}
		if (cur && strcmp(line + ind, "```") == 0) {
			cur = NULL;
			continue;
		}
		if (!cur)
			continue;
		line += ind < indent ? ind : indent;
		if (!cur->name[0])
			snprintf(cur->name, sizeof(cur->name), "%s", line);
		assert_true(strlen(cur->text) + strlen(line) + 2 < sizeof(cur->text));
		strcat(cur->text, line);
		strcat(cur->text, "\n");
	}
	free(doc);
	return n;
}

static struct policy_snap *doc_example(const char *file)
{
	static struct doc_block blocks[16];
	size_t n = doc_blocks("```ini", blocks, 16);

	for (size_t i = 0; i < n; i++)
		if (strstr(blocks[i].name, file))
			return parse_ok(blocks[i].text);
	fail_msg("no example %s in docs/policy.md", file);
	return NULL;
}

/* ---- the examples of docs/policy.md ---- */

static void test_doc_examples_load(void **state)
{
	static struct doc_block blocks[16];
	size_t n = doc_blocks("```ini", blocks, 16);

	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		struct policy_snap *s = parse_ok(blocks[i].text);

		check_round_trip(s);
		policy_snap_free(s);
	}
}

static void test_doc_laptop(void **state)
{
	struct policy_snap *s = doc_example("10-laptop.conf");

	assert_int_equal(s->id, 1);
	assert_string_equal(s->name, "laptop");
	assert_int_equal(s->stable_time_ms, 2000);
	assert_int_equal(s->approval_timeout_ms, 10000);
	assert_int_equal(s->on_timeout, POLICY_ON_TIMEOUT_ALLOW);
	assert_int_equal(s->migration, POLICY_MIGRATION_MAKE_BEFORE_BREAK);
	assert_int_equal(s->max_migrations, 3);
	assert_int_equal(s->migration_window_ms, 60000);
	assert_int_equal(s->bearers, POLICY_KINDS_ALL);
	assert_int_equal(s->n_rules, 4);
	assert_int_equal(s->rules[0].kinds, POLICY_KIND_BIT(IAP_KIND_ETHERNET));
	assert_int_equal(s->rules[1].priority, 20);
	assert_string_equal(s->rules[1].ssid, "HomeNet");
	assert_int_equal(s->rules[1].min_signal, 40);
	assert_int_equal(s->rules[1].signal_hysteresis, 10);
	assert_null(s->rules[2].ssid);
	assert_int_equal(s->rules[2].min_signal, -1);
	assert_int_equal(s->rules[3].kinds, POLICY_KIND_BIT(IAP_KIND_CELLULAR));
	assert_int_equal(s->rules[3].priority, 40);
	policy_snap_free(s);
}

static void test_doc_handheld(void **state)
{
	struct policy_snap *s = doc_example("20-handheld.conf");
	struct policy_snap *a = doc_example("21-handheld-abroad.conf");
	struct policy_snap *o = doc_example("30-office.conf");

	assert_int_equal(s->id, 2);
	assert_int_equal(s->stable_time_ms, 3000);
	assert_int_equal(s->approval_timeout_ms, 15000);
	assert_int_equal(s->max_migrations, 4);
	assert_int_equal(s->migration_window_ms, 120000);
	assert_int_equal(s->n_rules, 2);
	assert_int_equal(s->rules[0].min_signal, 30);
	assert_string_equal(s->rules[1].connection, "Mobile data");

	assert_int_equal(a->id, 3);
	assert_int_equal(a->bearers, POLICY_KIND_BIT(IAP_KIND_WIFI));

	assert_int_equal(o->migration, POLICY_MIGRATION_BREAK_BEFORE_MAKE);
	assert_int_equal(o->on_timeout, POLICY_ON_TIMEOUT_DISALLOW);
	assert_int_equal(o->stable_time_ms, 5000);
	assert_int_equal(o->rules[0].priority, 10);
	assert_int_equal(o->rules[1].priority, 10);
	assert_string_equal(o->rules[0].interface, "enx*");
	assert_string_equal(o->rules[1].ssid, "ACME Corp");
	assert_string_equal(o->rules[2].uuid, "6f1c9a62-0d7b-4f43-9a51-2d6a1b0c3e55");
	policy_snap_free(s);
	policy_snap_free(a);
	policy_snap_free(o);
}

/* The page shows the default SNAP as --check-config prints it. */
static void test_doc_default_snap(void **state)
{
	static struct doc_block blocks[16];
	size_t n = doc_blocks("```text", blocks, 16);
	struct policy_snap *d = policy_snap_new_default();
	char *printed = print_to_string(d);
	bool found = false;

	for (size_t i = 0; i < n; i++)
		if (strstr(blocks[i].name, "# built-in SNAP 0")) {
			assert_string_equal(blocks[i].text, printed);
			found = true;
		}
	assert_true(found);
	free(printed);
	policy_snap_free(d);
}

/* ---- good files ---- */

static void test_defaults(void **state)
{
	struct policy_snap *s = parse_ok("[snap]\nid = 7\nname = x\n[rule]\npriority = 1\nkind = any\n");

	assert_string_equal(s->file, "test.conf");
	assert_int_equal(s->id_line, 2);
	assert_int_equal(s->name_line, 3);
	assert_int_equal(s->stable_time_ms, 2000);
	assert_int_equal(s->approval_timeout_ms, 10000);
	assert_int_equal(s->on_timeout, POLICY_ON_TIMEOUT_ALLOW);
	assert_int_equal(s->migration, POLICY_MIGRATION_MAKE_BEFORE_BREAK);
	assert_int_equal(s->max_migrations, 3);
	assert_int_equal(s->migration_window_ms, 60000);
	assert_int_equal(s->bearers, POLICY_KINDS_ALL);
	assert_int_equal(s->n_rules, 1);
	assert_int_equal(s->rules[0].line, 4);
	assert_int_equal(s->rules[0].kinds, POLICY_KINDS_ALL);
	assert_int_equal(s->rules[0].metered, POLICY_METERED_ANY);
	assert_int_equal(s->rules[0].min_signal, -1);
	policy_snap_free(s);
}

/* Input -> the normalised form policy_snap_print() gives. */
static const struct {
	const char *what;
	const char *text;
	const char *printed;
} good[] = {
	{ "every key, values normalised",
	  "; comment\n"
	  "# another\n"
	  "[snap]\n"
	  "id = 65535\n"
	  "name = Home.net_2-b\n"
	  "stable-time = 1500ms   ; inline comment\n"
	  "approval-timeout = 90\n"
	  "on-timeout = disallow\n"
	  "migration = break-before-make\n"
	  "max-migrations = 10/3600s\n"
	  "calls = defer\n"
	  "bearer = cellular wifi,ethernet\n"
	  "\n"
	  "[rule]\n"
	  "priority = 30\n"
	  "kind = cellular\n"
	  "interface = wwan*\n"
	  "connection = \"Mobile data\"\n"
	  "uuid = 6F1C9A62-0D7B-4F43-9A51-2D6A1B0C3E55\n"
	  "metered = yes\n"
	  "[rule]\n"
	  "priority = 0\n"
	  "kind = wifi\n"
	  "ssid = \" Caf\\xc3\\xa9 \\x3b \"\n"
	  "min-signal = 5\n"
	  "[rule]\n"
	  "priority = 30\n"
	  "kind = ethernet\n"
	  "metered = no\n",
	  "[snap]\n"
	  "id = 65535\n"
	  "name = Home.net_2-b\n"
	  "stable-time = 1500ms\n"
	  "approval-timeout = 90s\n"
	  "on-timeout = disallow\n"
	  "migration = break-before-make\n"
	  "max-migrations = 10/1h\n"
	  "calls = defer\n"
	  "bearer = ethernet, wifi, cellular\n"
	  "\n"
	  "[rule]\n"
	  "priority = 0\n"
	  "kind = wifi\n"
	  "ssid = \" Caf\xc3\xa9 \\x3b \"\n"
	  "min-signal = 5\n"
	  "signal-hysteresis = 5\n"
	  "\n"
	  "[rule]\n"
	  "priority = 30\n"
	  "kind = cellular\n"
	  "interface = wwan*\n"
	  "connection = Mobile data\n"
	  "uuid = 6f1c9a62-0d7b-4f43-9a51-2d6a1b0c3e55\n"
	  "metered = yes\n"
	  "\n"
	  "[rule]\n"
	  "priority = 30\n"
	  "kind = ethernet\n"
	  "metered = no\n" },
	{ "CRLF, byte order mark, rules before [snap], unlimited",
	  "\xef\xbb\xbf[rule]\r\npriority = 5\r\nmetered = no\r\n"
	  "[snap]\r\nname = crlf\r\nid = 9\r\nmax-migrations = unlimited\r\n"
	  "stable-time = 0\r\napproval-timeout = 2m\r\n",
	  "[snap]\n"
	  "id = 9\n"
	  "name = crlf\n"
	  "stable-time = 0s\n"
	  "approval-timeout = 2m\n"
	  "on-timeout = allow\n"
	  "migration = make-before-break\n"
	  "max-migrations = unlimited\n"
	  "calls = migrate\n"
	  "bearer = any\n"
	  "\n"
	  "[rule]\n"
	  "priority = 5\n"
	  "kind = any\n"
	  "metered = no\n" },
	{ "indentation is ignored, a value may hold '=' and ';' without a blank",
	  "  [snap]\n\tid = 1\n    name = i\n  ; comment\n\n  [rule]\n"
	  "    priority = 1\n\t\tconnection = a=b;c\n",
	  "[snap]\nid = 1\nname = i\nstable-time = 2s\napproval-timeout = 10s\n"
	  "on-timeout = allow\nmigration = make-before-break\nmax-migrations = 3/1m\n"
	  "calls = migrate\nbearer = any\n\n[rule]\npriority = 1\nkind = any\nconnection = a=b;c\n" },
	{ "SSID escapes: backslash, bytes, controls, invalid UTF-8",
	  "[snap]\nid = 1\nname = s\n"
	  "[rule]\npriority = 1\nkind = wifi\nssid = a\\\\b\\x41\\x01\\xff\\xc2\\x85\n",
	  "[snap]\nid = 1\nname = s\nstable-time = 2s\napproval-timeout = 10s\n"
	  "on-timeout = allow\nmigration = make-before-break\nmax-migrations = 3/1m\n"
	  "calls = migrate\nbearer = any\n\n[rule]\npriority = 1\nkind = wifi\n"
	  "ssid = a\\\\bA\\x01\\xff\\xc2\\x85\n" },
	{ "hysteresis capped at min-signal; a quoted pattern that keeps quotes",
	  "[snap]\nid = 1\nname = h\n"
	  "[rule]\npriority = 1\nkind = wifi\nmin-signal = 4\n"
	  "[rule]\npriority = 2\nconnection = \"\"x\"\"\n",
	  "[snap]\nid = 1\nname = h\nstable-time = 2s\napproval-timeout = 10s\n"
	  "on-timeout = allow\nmigration = make-before-break\nmax-migrations = 3/1m\n"
	  "calls = migrate\nbearer = any\n\n[rule]\npriority = 1\nkind = wifi\nmin-signal = 4\n"
	  "signal-hysteresis = 4\n\n[rule]\npriority = 2\nkind = any\nconnection = \"\"x\"\"\n" },
};

static void test_good_files(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct policy_snap *s = parse_ok(good[i].text);
		char *printed = print_to_string(s);

		if (strcmp(printed, good[i].printed) != 0)
			fail_msg("%s: printed\n%s\nexpected\n%s", good[i].what, printed,
				 good[i].printed);
		check_round_trip(s);
		free(printed);
		policy_snap_free(s);
	}
}

static void test_rule_order(void **state)
{
	struct policy_snap *s = parse_ok(
		"[snap]\nid = 1\nname = o\n"
		"[rule]\npriority = 20\nkind = wifi\n"           /* line 4 */
		"[rule]\npriority = 10\nkind = cellular\n"       /* line 7 */
		"[rule]\npriority = 20\nkind = ethernet\n"       /* line 10 */
		"[rule]\npriority = 5\ninterface = eth*\n");     /* line 13 */

	/* by priority; equal priorities keep their file order */
	assert_int_equal(s->n_rules, 4);
	assert_int_equal(s->rules[0].line, 13);
	assert_int_equal(s->rules[1].line, 7);
	assert_int_equal(s->rules[2].line, 4);
	assert_int_equal(s->rules[3].line, 10);
	policy_snap_free(s);
}

static void test_long_lines(void **state)
{
	char text[512], value[256];
	struct policy_error e;
	struct policy_snap *s = NULL;
	const char *head = "[snap]\nid = 1\nname = l\n[rule]\npriority = 1\ninterface = ";

	/* "interface = " + value = 197 characters: the longest line */
	memset(value, 'a', 197 - 12);
	value[197 - 12] = '\0';
	snprintf(text, sizeof(text), "%s%s\n", head, value);
	assert_int_equal(policy_parse_string("l.conf", text, strlen(text), &s, &e), -EINVAL);
	/* ... which is longer than a pattern may be, but not than a line */
	assert_int_equal(e.line, 6);
	assert_non_null(strstr(e.problem, "interface: longer than 128"));

	value[197 - 12] = 'a';
	value[197 - 11] = '\0';
	snprintf(text, sizeof(text), "%s%s\n", head, value);
	assert_int_equal(policy_parse_string("l.conf", text, strlen(text), &s, &e), -EINVAL);
	assert_int_equal(e.line, 6);
	assert_string_equal(e.problem, "line is longer than 197 characters");
}

/* ---- bad files ---- */

#define SNAP_HEAD "[snap]\nid = 1\nname = b\n"
#define RULE_ANY "[rule]\npriority = 1\nkind = any\n"

static const struct {
	const char *text;
	unsigned int line;
	const char *problem;            /* a part of it */
} bad[] = {
	/* structure */
	{ "id = 1\n", 1, "'id' is outside any section" },
	{ "[snap]\nid 1\n", 2, "syntax error" },
	{ "[snap\nid = 1\n", 1, "syntax error" },
	{ SNAP_HEAD "[snapp]\nx = 1\n", 4, "unknown section [snapp]; expected [snap] or [rule]" },
	{ SNAP_HEAD "[ rule ]\nx = 1\n", 4, "unknown section [ rule ]" },
	{ SNAP_HEAD "[rule]\n[rule]\npriority = 1\nkind = any\n", 4, "empty section" },
	{ SNAP_HEAD RULE_ANY "[rule]\n; nothing\n", 7, "empty section" },
	{ SNAP_HEAD RULE_ANY "[snap]\nstable-time = 1s\n", 7,
	  "a second [snap] section (the first is at line 1)" },
	{ SNAP_HEAD "bogus = 1\n" RULE_ANY, 4, "unknown key 'bogus' in [snap]" },
	{ SNAP_HEAD "id = 2\n" RULE_ANY, 4, "duplicate key 'id' in [snap]" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi,\n  cellular\n", 7, "syntax error" },
	{ "[snap]\nid = 1\n\0name = x\n", 3, "contains a NUL byte" },
	{ "[rule]\npriority = 1\nkind = any\n", 0, "no [snap] section" },
	{ "[snap]\nname = x\n" RULE_ANY, 1, "[snap] has no id" },
	{ "[snap]\nid = 1\n" RULE_ANY, 1, "[snap] has no name" },
	{ SNAP_HEAD, 0, "no [rule] sections" },
	/* first problem wins */
	{ "[snap]\nid 1\nname = default\n", 2, "syntax error" },
	{ "[snap]\nid = 0\nname = default\n", 2, "id: 0 is the built-in" },
	/* [snap] values */
	{ "[snap]\nid = 65536\n", 2, "id: 65536 is out of range (1..65535)" },
	{ "[snap]\nid = -1\n", 2, "id: '-1' is not a non-negative number" },
	{ "[snap]\nid = 1x\n", 2, "id: '1x' is not a number" },
	{ "[snap]\nid = 1\nname = default\n", 3, "name: 'default' is the built-in SNAP" },
	{ "[snap]\nid = 1\nname = 123\n", 3, "name: '123' is not" },
	{ "[snap]\nid = 1\nname = a b\n", 3, "name: 'a b' is not" },
	{ "[snap]\nid = 1\nname = -a\n", 3, "name: '-a' is not" },
	{ SNAP_HEAD "stable-time = 2x\n", 4, "stable-time: '2x' is not a duration" },
	{ SNAP_HEAD "stable-time = s\n", 4, "stable-time: 's' is not a duration" },
	{ SNAP_HEAD "stable-time = 2h\n", 4, "stable-time: 2h is out of range (0s..1h)" },
	{ SNAP_HEAD "stable-time = 99999999999999999999\n", 4, "is out of range" },
	{ SNAP_HEAD "approval-timeout = 50ms\n", 4,
	  "approval-timeout: 50ms is out of range (100ms..1h)" },
	{ SNAP_HEAD "on-timeout = maybe\n", 4, "on-timeout: 'maybe' is not one of allow, disallow" },
	{ SNAP_HEAD "migration = teleport\n", 4, "migration: 'teleport' is not one of" },
	{ SNAP_HEAD "calls = hold\n", 4, "calls: 'hold' is not one of migrate, defer" },
	{ SNAP_HEAD "max-migrations = 3\n", 4, "max-migrations: '3' is not COUNT/WINDOW" },
	{ SNAP_HEAD "max-migrations = 0/60s\n", 4, "max-migrations: 0 is out of range (1..1000)" },
	{ SNAP_HEAD "max-migrations = 3/0s\n", 4, "max-migrations: 0s is out of range (1s..24h)" },
	{ SNAP_HEAD "bearer = wifi, radio\n", 4, "bearer: 'radio' is not one of any, ethernet" },
	{ SNAP_HEAD "bearer = ,\n", 4, "bearer: no kind given" },
	{ SNAP_HEAD "bearer = wifi\n[rule]\npriority = 1\nkind = cellular\n", 5,
	  "[rule] can never match: kind cellular is not in bearer = wifi" },
	/* [rule] values and consistency */
	{ SNAP_HEAD "[rule]\nkind = any\n", 4, "[rule] has no priority" },
	{ SNAP_HEAD "[rule]\npriority = 1\n", 4, "[rule] matches nothing" },
	{ SNAP_HEAD "[rule]\npriority = 1\nmetered = any\n", 4, "[rule] matches nothing" },
	{ SNAP_HEAD "[rule]\npriority = 70000\n", 5, "priority: 70000 is out of range (0..65535)" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = bogus\n", 6, "kind: 'bogus' is not one of" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi, wifi\n", 6, "kind: 'wifi' is listed twice" },
	{ SNAP_HEAD "[rule]\npriority = 1\nfoo = bar\n", 6, "unknown key 'foo' in [rule]" },
	{ SNAP_HEAD "[rule]\npriority = 1\nssid = x\n", 4, "[rule] with ssid needs kind = wifi" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi, cellular\nssid = x\n", 4,
	  "[rule] with ssid needs kind = wifi" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = cellular\nmin-signal = 3\n", 4,
	  "[rule] with min-signal needs kind = wifi" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nmin-signal = 140\n", 7,
	  "min-signal: 140 is out of range (0..100)" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nsignal-hysteresis = 5\n", 4,
	  "[rule] has signal-hysteresis without min-signal" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nmin-signal = 20\nsignal-hysteresis = 30\n", 4,
	  "[rule] signal-hysteresis 30 is larger than min-signal 20" },
	{ SNAP_HEAD "[rule]\npriority = 1\nuuid = 6f1c9a62-0d7b-4f43-9a51-2d6a1b0c3e5\n", 6,
	  "uuid: '6f1c9a62-0d7b-4f43-9a51-2d6a1b0c3e5' is not a UUID" },
	{ SNAP_HEAD "[rule]\npriority = 1\nuuid = 6f1c9a62_0d7b-4f43-9a51-2d6a1b0c3e55\n", 6,
	  "is not a UUID" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nssid = 123456789012345678901234567890123\n", 7,
	  "ssid: longer than 32 bytes" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nssid = a\\qb\n", 7, "ssid: unknown escape" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nssid = a\\x4\n", 7, "ssid: unknown escape" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\nssid = \"abc\n", 7, "ssid: unterminated quote" },
	{ SNAP_HEAD "[rule]\npriority = 1\nconnection = \"\"\n", 6, "connection: empty value" },
	{ SNAP_HEAD "[rule]\npriority = 1\nmetered = maybe\n", 6, "metered: 'maybe' is not one of any, yes, no" },
	{ SNAP_HEAD "[rule]\npriority = 1\nkind = wifi\n[rule]\npriority = 2\nkind = wifi\n", 7,
	  "[rule] matches the same IAPs as the [rule] at line 4" },
};

static void test_bad_files(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy_error e;
		struct policy_snap *s = NULL;
		/* the NUL case needs its real length */
		size_t len = strlen(bad[i].text);
		int r;

		if (strstr(bad[i].problem, "NUL"))
			len += 1 + strlen(bad[i].text + len + 1);
		r = policy_parse_string("bad.conf", bad[i].text, len, &s, &e);
		if (r != -EINVAL || e.line != bad[i].line || !strstr(e.problem, bad[i].problem))
			fail_msg("case %zu: got %d, line %u: '%s'; expected line %u: '%s'\n---\n%s",
				 i, r, e.line, e.problem, bad[i].line, bad[i].problem, bad[i].text);
		assert_string_equal(e.file, "bad.conf");
		assert_null(s);
	}
}

static void test_too_many_rules(void **state)
{
	char text[8192] = SNAP_HEAD;
	struct policy_error e;
	struct policy_snap *s = NULL;

	for (int i = 0; i <= POLICY_MAX_RULES; i++) {
		char rule[64];

		snprintf(rule, sizeof(rule), "[rule]\npriority = %d\nkind = any\n", i);
		strcat(text, rule);
	}
	assert_int_equal(policy_parse_string("r.conf", text, strlen(text), &s, &e), -EINVAL);
	assert_int_equal(e.line, 4 + 3 * POLICY_MAX_RULES);
	assert_string_equal(e.problem, "more than 64 [rule] sections");
}

static void test_error_to_str(void **state)
{
	struct policy_error e;
	struct policy_snap *s = NULL;
	char buf[512];
	const char *text = SNAP_HEAD "on-timeout = never\n";

	assert_int_equal(policy_parse_string("/etc/alrd/snap.d/x.conf", text, strlen(text), &s, &e),
			 -EINVAL);
	assert_string_equal(policy_error_to_str(&e, buf, sizeof(buf)),
			    "/etc/alrd/snap.d/x.conf:4: on-timeout: 'never' is not one of allow, disallow");
	text = SNAP_HEAD;
	assert_int_equal(policy_parse_string("y.conf", text, strlen(text), &s, &e), -EINVAL);
	assert_string_equal(policy_error_to_str(&e, buf, sizeof(buf)),
			    "y.conf: no [rule] sections: the SNAP would hold no IAP");
}

/* ---- files and directories ---- */

struct tmpdir {
	char path[64];
};

static void tmpdir_make(struct tmpdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/alrd-test-policy-XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void put(const struct tmpdir *d, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void tmpdir_remove(const struct tmpdir *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	assert_int_equal(system(cmd), 0);
}

struct errors {
	size_t n;
	struct policy_error e[8];
};

static void collect(const struct policy_error *e, void *user_data)
{
	struct errors *errs = user_data;

	assert_true(errs->n < 8);
	errs->e[errs->n++] = *e;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_dir_good_and_bad(void **state)
{
	struct tmpdir d;
	struct errors errs = { 0 };
	struct policy_set *set = NULL;

	tmpdir_make(&d);
	put(&d, "30-c.conf", "[snap]\nid = 3\nname = c\n[rule]\npriority = 1\nkind = wifi\n", 0644);
	put(&d, "20-b.conf", "[snap]\nid = 2\nname = b\n[rule]\npriority = 1\nkind = radio\n", 0644);
	put(&d, "10-a.conf", "[snap]\nid = 1\nname = a\n[rule]\npriority = 1\nkind = any\n", 0600);

	assert_int_equal(policy_load_dir(d.path, &set, collect, &errs), 1);
	assert_int_equal(errs.n, 1);
	assert_true(ends_with(errs.e[0].file, "/20-b.conf"));
	assert_int_equal(errs.e[0].line, 6);
	assert_string_equal(errs.e[0].problem,
			    "kind: 'radio' is not one of any, ethernet, wifi, cellular, vpn, other");

	assert_int_equal(policy_set_count(set), 3);
	/* the default, then the files in name order */
	assert_int_equal(policy_set_at(set, 0)->id, POLICY_DEFAULT_ID);
	assert_string_equal(policy_set_at(set, 1)->name, "a");
	assert_string_equal(policy_set_at(set, 2)->name, "c");
	assert_null(policy_set_at(set, 3));
	assert_true(ends_with(policy_set_at(set, 2)->file, "/30-c.conf"));
	assert_string_equal(policy_set_find_by_id(set, 3)->name, "c");
	assert_string_equal(policy_set_find_by_name(set, "a")->name, "a");
	assert_string_equal(policy_set_find_by_name(set, "default")->name, "default");
	assert_int_equal(policy_set_find_by_id(set, 0)->n_rules, 5);
	assert_null(policy_set_find_by_id(set, 2));
	assert_null(policy_set_find_by_name(set, "b"));
	policy_set_free(set);
	tmpdir_remove(&d);
}

static void test_dir_ignored_files(void **state)
{
	static const char *const ignored[] = {
		".hidden.conf", "10-a.conf~", "#10-a.conf#", "10-a.conf.dpkg-old",
		"10-a.conf.bak", "README", ".conf", "conf",
	};
	struct tmpdir d;
	struct errors errs = { 0 };
	struct policy_set *set = NULL;
	char sub[PATH_MAX];

	tmpdir_make(&d);
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		put(&d, ignored[i], "garbage\n", 0644);
	put(&d, "10-a.conf", "[snap]\nid = 1\nname = a\n[rule]\npriority = 1\nkind = any\n", 0644);
	put(&d, "20-open.conf", "[snap]\nid = 2\nname = o\n[rule]\npriority = 1\nkind = any\n", 0666);
	snprintf(sub, sizeof(sub), "%s/30-dir.conf", d.path);
	assert_int_equal(mkdir(sub, 0755), 0);

	assert_int_equal(policy_load_dir(d.path, &set, collect, &errs), 2);
	assert_int_equal(errs.n, 2);
	assert_true(ends_with(errs.e[0].file, "/20-open.conf"));
	assert_string_equal(errs.e[0].problem, "writable by every user; not loaded");
	assert_true(ends_with(errs.e[1].file, "/30-dir.conf"));
	assert_string_equal(errs.e[1].problem, "not a regular file");
	assert_int_equal(policy_set_count(set), 2);
	policy_set_free(set);
	tmpdir_remove(&d);
}

static void test_dir_duplicates(void **state)
{
	struct tmpdir d;
	struct errors errs = { 0 };
	struct policy_set *set = NULL;

	tmpdir_make(&d);
	put(&d, "10-a.conf", "[snap]\nid = 1\nname = a\n[rule]\npriority = 1\nkind = any\n", 0644);
	put(&d, "20-b.conf", "[snap]\nname = b\nid = 1\n[rule]\npriority = 1\nkind = any\n", 0644);
	put(&d, "30-c.conf", "[snap]\nid = 3\n\nname = a\n[rule]\npriority = 1\nkind = any\n", 0644);
	put(&d, "40-d.conf", "[snap]\nid = 4\nname = d\n[rule]\npriority = 1\nkind = any\n", 0644);

	assert_int_equal(policy_load_dir(d.path, &set, collect, &errs), 2);
	assert_int_equal(errs.n, 2);
	assert_true(ends_with(errs.e[0].file, "/20-b.conf"));
	assert_int_equal(errs.e[0].line, 3);
	assert_true(strstr(errs.e[0].problem, "id 1 is already used by ") == errs.e[0].problem);
	assert_true(ends_with(errs.e[0].problem, "/10-a.conf"));
	assert_true(ends_with(errs.e[1].file, "/30-c.conf"));
	assert_int_equal(errs.e[1].line, 4);
	assert_true(strstr(errs.e[1].problem, "name 'a' is already used by ") == errs.e[1].problem);
	assert_int_equal(policy_set_count(set), 3);
	assert_string_equal(policy_set_find_by_id(set, 4)->name, "d");
	policy_set_free(set);
	tmpdir_remove(&d);
}

/*
 * Issue 11: a symlink in snap.d was followed, and the first token of
 * whatever it pointed at (a file alrd, running as root, may read and the
 * one who made the link may not) came back in the error.  A link is now
 * refused without opening its target, and the problem says so in its
 * own words; so is a file that belongs to another user.
 */
static void test_dir_symlinks_and_owners(void **state)
{
	struct tmpdir d, other;
	struct errors errs = { 0 };
	struct policy_set *set = NULL;
	struct policy_error e;
	struct policy_snap *s = NULL;
	char target[PATH_MAX], link1[PATH_MAX], link2[PATH_MAX], link3[PATH_MAX];

	tmpdir_make(&d);
	tmpdir_make(&other);
	put(&other, "secret", "hunter2-token = x\n", 0600);
	put(&other, "valid.conf", "[snap]\nid = 7\nname = v\n[rule]\npriority = 1\nkind = any\n",
	    0644);
	put(&d, "10-a.conf", "[snap]\nid = 1\nname = a\n[rule]\npriority = 1\nkind = any\n", 0644);
	snprintf(target, sizeof(target), "%s/secret", other.path);
	snprintf(link1, sizeof(link1), "%s/20-secret.conf", d.path);
	assert_int_equal(symlink(target, link1), 0);
	snprintf(target, sizeof(target), "%s/valid.conf", other.path);
	snprintf(link2, sizeof(link2), "%s/30-valid.conf", d.path);
	assert_int_equal(symlink(target, link2), 0);
	snprintf(link3, sizeof(link3), "%s/40-dangling.conf", d.path);
	assert_int_equal(symlink("/nonexistent/x", link3), 0);

	assert_int_equal(policy_load_dir(d.path, &set, collect, &errs), 3);
	assert_int_equal(errs.n, 3);
	for (size_t i = 0; i < errs.n; i++) {
		char buf[PATH_MAX + 300];

		policy_error_to_str(&errs.e[i], buf, sizeof(buf));
		if (strstr(buf, "hunter2") || strstr(buf, other.path))
			fail_msg("error %zu shows the target: %s", i, buf);
		assert_int_equal(errs.e[i].line, 0);
		assert_string_equal(errs.e[i].problem, "a symbolic link; not followed");
	}
	assert_true(ends_with(errs.e[0].file, "/20-secret.conf"));
	assert_true(ends_with(errs.e[1].file, "/30-valid.conf"));
	assert_true(ends_with(errs.e[2].file, "/40-dangling.conf"));
	assert_int_equal(policy_set_count(set), 2);
	assert_null(policy_set_find_by_id(set, 7));
	policy_set_free(set);

	assert_int_equal(policy_load_file(link1, &s, &e), -ELOOP);
	assert_null(s);
	assert_string_equal(e.problem, "a symbolic link; not followed");

	/* someone else's file: only root can make one here */
	if (geteuid() == 0) {
		snprintf(target, sizeof(target), "%s/10-a.conf", d.path);
		assert_int_equal(chown(target, 65534, 65534), 0);
		assert_int_equal(policy_load_file(target, &s, &e), -EPERM);
		assert_null(s);
		assert_string_equal(e.problem, "belongs to uid 65534, not to root or alrd's user; "
				    "not loaded");
	}
	tmpdir_remove(&d);
	tmpdir_remove(&other);
}

static void test_dir_missing(void **state)
{
	struct policy_set *set = NULL;
	struct errors errs = { 0 };
	struct tmpdir d;
	char file[PATH_MAX];

	assert_int_equal(policy_load_dir("/nonexistent/alrd/snap.d", &set, collect, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(policy_set_count(set), 1);
	assert_string_equal(policy_set_at(set, 0)->name, POLICY_DEFAULT_NAME);
	policy_set_free(set);

	/* not a directory: an error for the caller, no set */
	tmpdir_make(&d);
	put(&d, "f", "x", 0644);
	snprintf(file, sizeof(file), "%s/f", d.path);
	set = NULL;
	assert_int_equal(policy_load_dir(file, &set, collect, &errs), -ENOTDIR);
	assert_null(set);
	assert_int_equal(errs.n, 0);
	tmpdir_remove(&d);
}

static void test_load_file(void **state)
{
	struct tmpdir d;
	struct policy_error e;
	struct policy_snap *s = NULL;
	char path[PATH_MAX], *big;

	tmpdir_make(&d);
	snprintf(path, sizeof(path), "%s/missing.conf", d.path);
	assert_int_equal(policy_load_file(path, &s, &e), -ENOENT);
	assert_string_equal(e.file, path);
	assert_string_equal(e.problem, "cannot open: No such file or directory");

	big = malloc(POLICY_MAX_FILE_SIZE + 2);
	assert_non_null(big);
	memset(big, ';', POLICY_MAX_FILE_SIZE + 1);
	big[POLICY_MAX_FILE_SIZE + 1] = '\0';
	put(&d, "big.conf", big, 0644);
	free(big);
	snprintf(path, sizeof(path), "%s/big.conf", d.path);
	assert_int_equal(policy_load_file(path, &s, &e), -EFBIG);
	assert_string_equal(e.problem, "larger than 65536 bytes");

	put(&d, "ok.conf", "[snap]\nid = 1\nname = ok\n[rule]\npriority = 1\nkind = any\n", 0644);
	snprintf(path, sizeof(path), "%s/ok.conf", d.path);
	assert_int_equal(policy_load_file(path, &s, &e), 0);
	assert_string_equal(s->file, path);
	policy_snap_free(s);
	tmpdir_remove(&d);
}

static void test_print_set(void **state)
{
	struct tmpdir d;
	struct policy_set *set = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	tmpdir_make(&d);
	put(&d, "10-a.conf", "[snap]\nid = 1\nname = a\n[rule]\npriority = 1\nkind = any\n", 0644);
	assert_int_equal(policy_load_dir(d.path, &set, NULL, NULL), 0);
	f = open_memstream(&buf, &len);
	policy_print(set, f);
	fclose(f);
	assert_true(strncmp(buf, "# built-in SNAP 0 (default)", 27) == 0);
	assert_non_null(strstr(buf, "# [rule]\n# priority = 50\n# kind = vpn\n\n# "));
	assert_non_null(strstr(buf, "/10-a.conf\n[snap]\nid = 1\nname = a\n"));
	free(buf);
	policy_set_free(set);
	tmpdir_remove(&d);
}

static void test_set_add(void **state)
{
	struct policy_set *set = policy_set_new();
	struct policy_error e;

	/* the built-in one cannot be added twice, whatever the parser allows */
	assert_int_equal(policy_set_add(set, policy_snap_new_default(), &e), -EEXIST);
	assert_string_equal(e.file, "(built in)");
	assert_string_equal(e.problem, "id 0 is already used by (built in)");
	for (unsigned int i = 1; i <= POLICY_MAX_SNAPS; i++) {
		char text[128];
		struct policy_snap *s = NULL;

		snprintf(text, sizeof(text), "[snap]\nid = %u\nname = n%u\n[rule]\npriority = 1\nkind = any\n",
			 i, i);
		assert_int_equal(policy_parse_string("m.conf", text, strlen(text), &s, &e), 0);
		assert_int_equal(policy_set_add(set, s, &e), 0);
	}
	{
		const char *text = "[snap]\nid = 999\nname = last\n[rule]\npriority = 1\nkind = any\n";
		struct policy_snap *s = NULL;

		assert_int_equal(policy_parse_string("m.conf", text, strlen(text), &s, &e), 0);
		assert_int_equal(policy_set_add(set, s, &e), -E2BIG);
	}
	assert_int_equal(policy_set_count(set), POLICY_MAX_SNAPS + 1);
	policy_set_free(set);
}

static void test_equal(void **state)
{
	const char *base = "[snap]\nid = 1\nname = e\n[rule]\npriority = 1\nkind = wifi\n";
	struct policy_snap *a = parse_ok(base);
	struct policy_snap *b = parse_ok("; other file, same SNAP\n[snap]\nname = e\nid = 1\n"
					 "stable-time = 2000ms\n[rule]\nkind = wifi\npriority = 1\n");
	struct policy_snap *c = parse_ok("[snap]\nid = 1\nname = e\nstable-time = 3s\n"
					 "[rule]\npriority = 1\nkind = wifi\n");
	struct policy_snap *d = parse_ok("[snap]\nid = 1\nname = e\n"
					 "[rule]\npriority = 2\nkind = wifi\n");

	assert_true(policy_snap_equal(a, b));
	assert_false(policy_snap_equal(a, c));
	assert_true(policy_rules_equal(a, c));          /* settings differ, rules do not */
	assert_false(policy_snap_equal(a, d));
	assert_false(policy_rules_equal(a, d));
	policy_snap_free(a);
	policy_snap_free(b);
	policy_snap_free(c);
	policy_snap_free(d);
}

static void test_enums(void **state)
{
	assert_string_equal(policy_metered_to_str(POLICY_METERED_NO), "no");
	assert_int_equal(policy_metered_from_str("yes"), POLICY_METERED_YES);
	assert_int_equal(policy_metered_from_str("YES"), -EINVAL);
	assert_string_equal(policy_on_timeout_to_str(POLICY_ON_TIMEOUT_DISALLOW), "disallow");
	assert_int_equal(policy_on_timeout_from_str("allow"), POLICY_ON_TIMEOUT_ALLOW);
	assert_string_equal(policy_migration_to_str(POLICY_MIGRATION_BREAK_BEFORE_MAKE),
			    "break-before-make");
	assert_int_equal(policy_migration_from_str("make-before-break"),
			 POLICY_MIGRATION_MAKE_BEFORE_BREAK);
	assert_string_equal(policy_migration_to_str(_POLICY_MIGRATION_MAX), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_examples_load),
		cmocka_unit_test(test_doc_laptop),
		cmocka_unit_test(test_doc_handheld),
		cmocka_unit_test(test_doc_default_snap),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_files),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_too_many_rules),
		cmocka_unit_test(test_error_to_str),
		cmocka_unit_test(test_dir_good_and_bad),
		cmocka_unit_test(test_dir_ignored_files),
		cmocka_unit_test(test_dir_duplicates),
		cmocka_unit_test(test_dir_symlinks_and_owners),
		cmocka_unit_test(test_dir_missing),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_print_set),
		cmocka_unit_test(test_set_add),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_enums),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
