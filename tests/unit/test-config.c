/* Configuration: defaults < file < command line, and errors with lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"

static char *write_tmp(const char *text)
{
	char *path = strdup("/tmp/alrd-test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* @len bytes of @text, which may hold NUL bytes. */
static char *write_tmp_len(const char *text, size_t len)
{
	char *path = strdup("/tmp/alrd-test-config-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static struct config *load_ok(const char *text)
{
	struct config_error e;
	struct config *c = NULL;
	char *path = write_tmp(text);
	int r = config_load(path, true, &c, &e);

	if (r < 0)
		fail_msg("unexpected error: line %d: %s", e.line, e.problem);
	unlink(path);
	free(path);
	return c;
}

static void test_defaults(void **state)
{
	struct config *c = config_new_defaults();

	assert_non_null(c);
	assert_string_equal(c->state_dir, ALR_DEFAULT_STATEDIR);
	assert_string_equal(c->socket_path, ALR_DEFAULT_SOCKET);
	assert_int_equal(c->socket_mode, 0660);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->max_request_size, 65536);
	assert_int_equal(c->n_control_groups, 1);
	assert_string_equal(c->control_groups[0], "alrd");
	assert_int_equal(c->read_access, CONFIG_READ_ALL);
	assert_int_equal(c->register_rate, 200);
	assert_int_equal(c->register_burst, 50);
	assert_int_equal(c->max_clients, 64);
	assert_int_equal(c->max_clients_per_user, 16);
	assert_int_equal(c->reserved_clients, 8);
	assert_int_equal(c->request_timeout_ms, 30000);
	assert_int_equal(c->edge_relay_port_min, 30000);
	assert_int_equal(c->edge_relay_port_max, 30999);
	config_free(c);
}

static void test_precedence(void **state)
{
	struct config *c = load_ok(
		"; comment\n"
		"[daemon]\n"
		"state-dir = /tmp/file-state\n"
		"log-level = debug\n"
		"[control]\n"
		"socket = /tmp/file.sock\n"
		"socket-mode = 0666\n"
		"control-groups = wheel, netdev\n"
		"max-clients = 5\n"
		"max-clients-per-user = 3\n"
		"reserved-clients = 2\n"
		"request-timeout = 0\n");
	struct config_overrides o = { .state_dir = "/tmp/cli-state", .log_level = -1,
				      .log_target = -1 };

	/* file over defaults */
	assert_string_equal(c->state_dir, "/tmp/file-state");
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_string_equal(c->socket_path, "/tmp/file.sock");
	assert_int_equal(c->socket_mode, 0666);
	assert_int_equal(c->max_clients, 5);
	assert_int_equal(c->n_control_groups, 2);
	assert_string_equal(c->control_groups[1], "netdev");
	assert_int_equal(c->max_clients_per_user, 3);
	assert_int_equal(c->reserved_clients, 2);
	assert_int_equal(c->request_timeout_ms, 0);
	/* defaults where the file is silent */
	assert_int_equal(c->max_request_size, 65536);

	/* command line over file; what it does not give stays */
	config_apply_overrides(c, &o);
	assert_string_equal(c->state_dir, "/tmp/cli-state");
	assert_string_equal(c->socket_path, "/tmp/file.sock");
	assert_int_equal(c->log_level, LOG_DEBUG);
	o = (struct config_overrides){ .socket_path = "/tmp/cli.sock", .log_level = LOG_ERR,
				       .log_target = LOG_TARGET_SYSLOG };
	config_apply_overrides(c, &o);
	assert_string_equal(c->socket_path, "/tmp/cli.sock");
	assert_int_equal(c->log_level, LOG_ERR);
	assert_int_equal(c->log_target, LOG_TARGET_SYSLOG);
	config_free(c);
}

static void test_kind_rules(void **state)
{
	struct config *c = load_ok(
		"[iap-kinds]\n"
		"wlan-special = cellular\n"
		"wlan* = wifi\n"
		"wwan* = cellular\n"
		"docker* = ignore\n");

	/* first match wins, in file order */
	assert_string_equal(config_kind_for(c, "wlan-special"), "cellular");
	assert_string_equal(config_kind_for(c, "wlan0"), "wifi");
	assert_string_equal(config_kind_for(c, "wwan3"), "cellular");
	assert_string_equal(config_kind_for(c, "docker0"), "ignore");
	assert_null(config_kind_for(c, "eth0"));
	config_free(c);
}

struct bad_case {
	const char *text;
	int line;
	const char *problem_part;
};

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[daemon]\nlog-level = loud\n", 2, "log-level" },
		{ "[daemon]\n\nnonsense line\n", 3, "syntax" },
		{ "[daemon]\nstate-dir = relative/path\n", 2, "absolute" },
		{ "[daemon]\ncolour = blue\n", 2, "unknown key 'colour'" },
		{ "[wat]\nx = 1\n", 2, "unknown section [wat]" },
		{ "[control]\nsocket-mode = 0999\n", 2, "socket-mode" },
		{ "[control]\nmax-clients = -3\n", 2, "max-clients" },
		{ "[control]\nmax-clients = 0\n", 2, "out of range" },
		{ "[control]\nread-access = some\n", 2, "read-access" },
		{ "[control]\nmax-clients-per-user = 0\n", 2, "max-clients-per-user: 0 is out of range" },
		{ "[control]\nreserved-clients = -1\n", 2, "reserved-clients" },
		{ "[control]\nrequest-timeout = 3601\n", 2, "request-timeout: 3601 is out of range" },
		{ "[netlink]\nreceive-buffer = 12abc\n", 2, "not a number" },
		{ "[iap-kinds]\nwlan* = radio\n", 2, "kind 'radio'" },
		{ "[sip]\nregister-rate = -1\n", 2, "register-rate: '-1' is not a non-negative number" },
		{ "[sip]\nregister-rate = fast\n", 2, "register-rate: 'fast' is not a number" },
		{ "[sip]\nregister-rate = 100001\n", 2, "register-rate: 100001 is out of range (0..100000)" },
		{ "[sip]\nregister-burst = 0\n", 2, "register-burst: 0 is out of range (1..100000)" },
		{ "[sip]\nregister-burst =\n", 2, "register-burst" },
		{ "[sip]\nregister-pace = 3\n", 2, "unknown key 'register-pace' in [sip]" },
		{ "[edge]\nrelay-ports = 30001-30999\n", 2, "relay-ports: the first port 30001 is odd" },
		{ "[edge]\nrelay-ports = 30000\n", 2, "relay-ports: '30000' is not FIRST-LAST" },
		{ "[edge]\nrelay-ports = 30000-\n", 2, "is not FIRST-LAST" },
		{ "[edge]\nrelay-ports = -30000\n", 2, "is not FIRST-LAST" },
		{ "[edge]\nrelay-ports = 30000--3\n", 2, "is not FIRST-LAST" },
		{ "[edge]\nrelay-ports = 30000-3x\n", 2, "is not FIRST-LAST" },
		{ "[edge]\nrelay-ports = 100-200\n", 2, "100-200 is not a range within 1024-65535" },
		{ "[edge]\nrelay-ports = 30000-70000\n", 2, "not a range within" },
		{ "[edge]\nrelay-ports = 30000-30000\n", 2, "not a range within" },
		{ "[edge]\nrelay-ports = 99999999999999999999-3\n", 2, "is not FIRST-LAST" },
		{ "x = 1\n", 1, "outside any section" },
		/* found by fuzz-config: "a, ;b" reads back as "a" */
		{ "[control]\ncontrol-groups = a,;b\n", 2, "control-groups: ';b' is not a group name" },
		{ "[control]\nsocket-group =;x\n", 2, "socket-group: ';x' is not a group name" },
		{ "[control]\ncontrol-groups = -x\n", 2, "not a group name" },
		/* the first problem is reported, with its own line */
		{ "[daemon]\nlog-level = loud\ncolour = blue\n", 2, "log-level" },
		{ "[daemon]\nnonsense\nlog-level = loud\n", 2, "syntax" },
		{ "[daemon]\nlog-level = loud\nnonsense\n", 2, "log-level" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_error e;
		struct config *c = NULL;
		char *path = write_tmp(cases[i].text);
		char buf[700];
		int r = config_load(path, true, &c, &e);

		assert_true(r < 0);
		assert_null(c);
		if (e.line != cases[i].line || !strstr(e.problem, cases[i].problem_part))
			fail_msg("case %zu: got line %d '%s'", i, e.line, e.problem);
		/* The message names file and line. */
		config_error_to_str(&e, buf, sizeof(buf));
		assert_non_null(strstr(buf, path));
		unlink(path);
		free(path);
	}
}

/*
 * Issue 11: a NUL byte ended the value it was in (inih works on C
 * strings), so "socket = /run/alrd/x\0.sock" quietly meant /run/alrd/x;
 * and a key given twice was taken, the last one winning.  Both refuse the
 * file, naming its line.
 */
static void test_nul_and_duplicates_refused(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		int line;
		const char *problem_part;
	} cases[] = {
#define T(s) s, sizeof(s) - 1
		{ T("[control]\nsocket = /run/alrd/x\0.sock\n"), 2, "NUL byte" },
		{ T("[daemon]\nlog-level = debug\n\n; x\0\n"), 4, "NUL byte" },
		{ T("\0[daemon]\n"), 1, "NUL byte" },
		{ T("[daemon]\nlog-level = debug\nlog-level = error\n"), 3,
		  "duplicate key 'log-level' in [daemon] (first set at line 2)" },
		/* the same section opened twice is one section */
		{ T("[control]\nsocket = /run/a.sock\n[daemon]\nlog-level = info\n"
		    "[control]\nsocket = /run/b.sock\n"), 6, "duplicate key 'socket' in [control]" },
		{ T("[iap-kinds]\nwlan* = wifi\nwlan* = cellular\n"), 3,
		  "duplicate key 'wlan*' in [iap-kinds]" },
		/* an indented line is a line, not the continuation of a value */
		{ T("[sip]\nregister-rate = 10\n  register-rate = 20\n"), 3,
		  "duplicate key 'register-rate'" },
		/* a line fgets() would have cut in two */
		{ T("[daemon]\nstate-dir = /var/lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
		    "[daemon]\n"), 2, "line is longer than" },
#undef T
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_error e;
		struct config *c = NULL;
		char *path = write_tmp_len(cases[i].text, cases[i].len);
		char buf[700];
		int r = config_load(path, true, &c, &e);

		if (r != -EINVAL || c)
			fail_msg("case %zu: loaded (r %d)", i, r);
		if (e.line != cases[i].line || !strstr(e.problem, cases[i].problem_part))
			fail_msg("case %zu: got line %d '%s'", i, e.line, e.problem);
		config_error_to_str(&e, buf, sizeof(buf));
		assert_non_null(strstr(buf, path));
		/* the same from memory, as the fuzzer calls it */
		assert_int_equal(config_parse_string("mem.conf", cases[i].text, cases[i].len,
						     &c, &e), -EINVAL);
		assert_int_equal(e.line, cases[i].line);
		unlink(path);
		free(path);
	}
}

/* Found by fuzz-config: a value that fits its line as "key=value" did
 * not fit as config_print()'s "key = value" (nor a group list written
 * back with ", "), so --check-config printed a file it refuses.  What
 * loads prints lines that load again. */
static void test_printed_lines_read_back(void **state)
{
	char text[512], path_value[200], groups[200];
	struct config *c = NULL, *again = NULL;
	struct config_error e;
	char *out = NULL;
	size_t size = 0;
	FILE *f;

	/* "state-dir=/aaa...": 197 characters, 199 once printed */
	memset(path_value, 'a', sizeof(path_value));
	path_value[0] = '/';
	path_value[186] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nstate-dir=%s\n", path_value);
	assert_int_equal(config_parse_string("m", text, strlen(text), &c, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.problem, "would be longer than 197 characters"));
	/* one shorter fits as printed */
	path_value[184] = '\0';
	snprintf(text, sizeof(text), "[daemon]\nstate-dir=%s\n", path_value);
	assert_int_equal(config_parse_string("m", text, strlen(text), &c, &e), 0);
	config_free(c);

	/* 16 groups "group00000,...": 190 characters as "control-groups=...",
	 * 207 as "control-groups = group00000, ..." */
	groups[0] = '\0';
	for (int i = 0; i < 16; i++)
		snprintf(groups + strlen(groups), sizeof(groups) - strlen(groups), "%sgroup%05d",
			 i ? "," : "", i);
	snprintf(text, sizeof(text), "[control]\ncontrol-groups=%s\n", groups);
	assert_int_equal(config_parse_string("m", text, strlen(text), &c, &e), -EINVAL);
	assert_non_null(strstr(e.problem, "control-groups: longer than 197"));
	groups[10 * 14 + 13] = '\0';   /* 14 groups */
	snprintf(text, sizeof(text), "[control]\ncontrol-groups=%s\n", groups);
	assert_int_equal(config_parse_string("m", text, strlen(text), &c, &e), 0);
	f = open_memstream(&out, &size);
	config_print(c, f);
	fclose(f);
	if (config_parse_string("printed", out, size, &again, &e) != 0)
		fail_msg("printed file refused: line %d: %s\n%s", e.line, e.problem, out);
	assert_int_equal(again->n_control_groups, 14);
	free(out);
	config_free(c);
	config_free(again);
}

static void test_indented_keys(void **state)
{
	struct config *c = load_ok("[daemon]\n  log-level = debug\n\tmax-profiles = 20\n");

	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->max_profiles, 20);
	config_free(c);
}

static void test_max_profiles(void **state)
{
	static const char zero[] = "[daemon]\nmax-profiles = 0\n";
	struct config *c = config_new_defaults();
	struct config_error e;

	assert_int_equal(c->max_profiles, 1000);
	config_free(c);
	c = load_ok("[daemon]\nmax-profiles = 1\n");
	assert_int_equal(c->max_profiles, 1);
	config_free(c);
	c = NULL;
	assert_int_equal(config_parse_string("m", zero, strlen(zero), &c, &e), -EINVAL);
	assert_non_null(strstr(e.problem, "max-profiles: 0 is out of range (1..1000000)"));
	assert_null(c);
}

static void test_missing_file(void **state)
{
	struct config_error e;
	struct config *c = NULL;

	/* The default file may be absent: defaults stand. */
	assert_int_equal(config_load("/nonexistent/alrd.conf", false, &c, &e), 0);
	assert_non_null(c);
	assert_string_equal(c->state_dir, ALR_DEFAULT_STATEDIR);
	config_free(c);
	/* A file named on the command line must exist. */
	c = NULL;
	assert_true(config_load("/nonexistent/alrd.conf", true, &c, &e) < 0);
	assert_null(c);
	assert_non_null(strstr(e.problem, "No such file"));
}

static void test_sip_pacing(void **state)
{
	struct config *c = load_ok("[sip]\nregister-rate = 0\nregister-burst = 1\n");

	/* 0: unlimited */
	assert_int_equal(c->register_rate, 0);
	assert_int_equal(c->register_burst, 1);
	config_free(c);
	c = load_ok("[sip]\nregister-rate = 100000\n");
	assert_int_equal(c->register_rate, 100000);
	assert_int_equal(c->register_burst, 50);
	config_free(c);
}

static void test_print_roundtrip(void **state)
{
	struct config *c = load_ok(
		"[daemon]\nlog-level = warning\n[control]\nsocket-group = adm\n"
		"read-access = control\n[sip]\nregister-rate = 75\nregister-burst = 9\n"
		"[iap-kinds]\nwl* = wifi\nppp0 = cellular\n[daemon]\nmax-profiles = 77\n"
		"[edge]\nrelay-ports = 40000-40198\n");
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	struct config *again;

	config_print(c, f);
	fclose(f);
	again = load_ok(text);
	assert_int_equal(again->log_level, LOG_WARNING);
	assert_string_equal(again->socket_group, "adm");
	assert_int_equal(again->read_access, CONFIG_READ_CONTROL);
	assert_int_equal(again->register_rate, 75);
	assert_int_equal(again->register_burst, 9);
	assert_int_equal(again->max_profiles, 77);
	assert_int_equal(again->edge_relay_port_min, 40000);
	assert_int_equal(again->edge_relay_port_max, 40198);
	assert_int_equal(again->n_kind_rules, 2);
	assert_string_equal(again->kind_rules[1].pattern, "ppp0");
	assert_string_equal(again->kind_rules[1].kind, "cellular");
	free(text);
	config_free(c);
	config_free(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_kind_rules),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_and_duplicates_refused),
		cmocka_unit_test(test_printed_lines_read_back),
		cmocka_unit_test(test_indented_keys),
		cmocka_unit_test(test_max_profiles),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_sip_pacing),
		cmocka_unit_test(test_print_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
