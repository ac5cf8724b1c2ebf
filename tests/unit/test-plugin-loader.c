/* The plugin loader with the test plugins of tests/plugins: one that
 * loads, one without the descriptor symbol, one for another API version,
 * one whose init() fails, a second one for a type already served, one
 * whose validation refuses everything; a directory and a file writable
 * by others; a symlink; a missing directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "alr/plugin_loader.h"
#include "base/log.h"

struct world {
	char dir[64];
	char src[512];
};

static void *t_scratch(struct alr_plugin_reg *reg, size_t size) { return NULL; }
static void *t_get_data(struct alr_plugin_reg *reg) { return NULL; }
static void t_set_data(struct alr_plugin_reg *reg, void *d, void (*destroy)(void *)) {}
static int t_status(const struct alr_sip_message *m) { return 0; }
static const char *t_method(const struct alr_sip_message *m) { return NULL; }
static const char *t_header(const struct alr_sip_message *m, const char *n, size_t i)
{
	return NULL;
}
static int t_aors(struct alr_plugin_reg *reg, const char *const *a, size_t n) { return 0; }
static void t_error(struct alr_plugin_reg *reg, int code, const char *msg) {}

static const struct alr_plugin_host host = {
	.api_version = ALR_PLUGIN_API_VERSION,
	.log = plugin_loader_host_log,
	.scratch = t_scratch,
	.get_data = t_get_data,
	.set_data = t_set_data,
	.message_status = t_status,
	.message_method = t_method,
	.message_header = t_header,
	.set_registered_aors = t_aors,
	.report_error = t_error,
};

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	const char *build = getenv("ALR_BUILD_DIR");

	assert_non_null(w);
	strcpy(w->dir, "/tmp/alrd-test-plugins-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	assert_int_equal(chmod(w->dir, 0755), 0);
	snprintf(w->src, sizeof(w->src), "%s/tests/plugins", build ? build : "build");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
	assert_int_equal(system(cmd), 0);
	free(w);
	return 0;
}

/* Copy test plugin @name.so into the directory as @as with @mode. */
static void put(struct world *w, const char *name, const char *as, mode_t mode)
{
	char from[600], to[200], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(from, sizeof(from), "%s/%s.so", w->src, name);
	snprintf(to, sizeof(to), "%s/%s", w->dir, as);
	in = open(from, O_RDONLY);
	if (in < 0)
		fail_msg("%s: %s (build the test plugins; ALR_BUILD_DIR?)", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_int_equal(chmod(to, mode), 0);
}

static const char *reason_of(struct plugin_loader *l, const char *file)
{
	for (size_t i = 0; i < plugin_loader_failure_count(l); i++) {
		const char *reason, *f = plugin_loader_failure_at(l, i, &reason);

		if (strcmp(f, file) == 0)
			return reason;
	}
	return NULL;
}

static void test_loads_a_plugin(void **state)
{
	struct world *w = *state;
	struct plugin_loader *l = plugin_loader_new(&host);
	const struct alr_plugin *p;
	const char *path;

	put(w, "good", "good.so", 0755);
	put(w, "good", "README", 0644);         /* not *.so: ignored */
	assert_int_equal(plugin_loader_load_dir(l, w->dir), 1);
	assert_int_equal(plugin_loader_count(l), 1);
	assert_int_equal(plugin_loader_failure_count(l), 0);
	p = plugin_loader_at(l, 0, &path);
	assert_non_null(p);
	assert_string_equal(p->name, "test-good");
	assert_non_null(strstr(path, "/good.so"));
	assert_ptr_equal(plugin_loader_find(l, ALR_PROFILE_CLASS_OTHER, "test"), p);
	assert_null(plugin_loader_find(l, ALR_PROFILE_CLASS_IETF, "test"));
	assert_null(plugin_loader_find(l, ALR_PROFILE_CLASS_OTHER, "nope"));
	assert_string_equal(plugin_loader_dir(l), w->dir);
	/* Its defaults are there to be called. */
	{
		struct alr_profile_defaults d = { 3600, false, false };

		p->defaults(&d);
		assert_int_equal(d.expires, 1234);
	}
	/* Once per loader. */
	assert_int_equal(plugin_loader_load_dir(l, w->dir), -EALREADY);
	plugin_loader_free(l);
	plugin_loader_free(NULL);
}

static void test_refusals_do_not_stop_the_others(void **state)
{
	struct world *w = *state;
	struct plugin_loader *l = plugin_loader_new(&host);
	const char *r;

	put(w, "good", "good.so", 0755);
	put(w, "nosymbol", "nosymbol.so", 0755);
	put(w, "badversion", "badversion.so", 0755);
	put(w, "initfail", "initfail.so", 0755);
	put(w, "duplicate", "zz-duplicate.so", 0755);
	put(w, "good", "writable.so", 0757);
	{
		char link[128];

		snprintf(link, sizeof(link), "%s/link.so", w->dir);
		assert_int_equal(symlink("good.so", link), 0);
	}
	{
		char junk[128];
		FILE *f;

		snprintf(junk, sizeof(junk), "%s/junk.so", w->dir);
		f = fopen(junk, "w");
		fputs("not an ELF file\n", f);
		fclose(f);
	}
	assert_int_equal(plugin_loader_load_dir(l, w->dir), 1);
	assert_int_equal(plugin_loader_count(l), 1);
	assert_string_equal(plugin_loader_at(l, 0, NULL)->name, "test-good");
	assert_int_equal(plugin_loader_failure_count(l), 7);

	r = reason_of(l, "nosymbol.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "no symbol alr_plugin_descriptor"));
	r = reason_of(l, "badversion.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "API version 42"));
	r = reason_of(l, "initfail.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "init failed"));
	r = reason_of(l, "zz-duplicate.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "served by plugin test-good"));
	r = reason_of(l, "writable.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "writable by others"));
	r = reason_of(l, "link.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "not a regular file"));
	r = reason_of(l, "junk.so");
	assert_non_null(r);
	assert_non_null(strstr(r, "dlopen"));
	plugin_loader_free(l);
}

static void test_directory_writable_by_others(void **state)
{
	struct world *w = *state;
	struct plugin_loader *l = plugin_loader_new(&host);

	put(w, "good", "good.so", 0755);
	assert_int_equal(chmod(w->dir, 0777), 0);
	assert_int_equal(plugin_loader_load_dir(l, w->dir), -EPERM);
	assert_int_equal(plugin_loader_count(l), 0);
	assert_null(plugin_loader_find(l, ALR_PROFILE_CLASS_OTHER, "test"));
	plugin_loader_free(l);

	/* Sticky /tmp-like directories are refused too: others may add. */
	assert_int_equal(chmod(w->dir, 01777), 0);
	l = plugin_loader_new(&host);
	assert_int_equal(plugin_loader_load_dir(l, w->dir), -EPERM);
	plugin_loader_free(l);
	assert_int_equal(chmod(w->dir, 0755), 0);
}

static void test_missing_directory(void **state)
{
	struct world *w = *state;
	struct plugin_loader *l = plugin_loader_new(&host);
	char path[128];

	snprintf(path, sizeof(path), "%s/nope", w->dir);
	assert_int_equal(plugin_loader_load_dir(l, path), -ENOENT);
	plugin_loader_free(l);
	l = plugin_loader_new(&host);
	put(w, "good", "file", 0644);
	snprintf(path, sizeof(path), "%s/file", w->dir);
	assert_int_equal(plugin_loader_load_dir(l, path), -ENOTDIR);
	plugin_loader_free(l);
}

/* A plugin whose validation fails: it loads, and refuses every profile
 * with its field and reason. */
static void test_validation_fails(void **state)
{
	struct world *w = *state;
	struct plugin_loader *l = plugin_loader_new(&host);
	const struct alr_plugin *p;
	struct alr_profile_info info = { .aor = "sip:a@example.test", .type_name = "picky",
					 .profile_class = ALR_PROFILE_CLASS_OTHER };
	struct alr_plugin_error err = { "", "" };

	put(w, "picky", "picky.so", 0755);
	assert_int_equal(plugin_loader_load_dir(l, w->dir), 1);
	p = plugin_loader_find(l, ALR_PROFILE_CLASS_OTHER, "picky");
	assert_non_null(p);
	assert_null(p->build_registration);
	assert_int_equal(p->validate(&info, &err), -EINVAL);
	assert_string_equal(err.field, "params.picky");
	assert_non_null(strstr(err.reason, "picky plugin"));
	plugin_loader_free(l);
}

static void test_names(void **state)
{
	assert_true(plugin_loader_name_valid("ietf"));
	assert_true(plugin_loader_name_valid("acme.v2+x_y-z"));
	assert_false(plugin_loader_name_valid(""));
	assert_false(plugin_loader_name_valid(NULL));
	assert_false(plugin_loader_name_valid("a/b"));
	assert_false(plugin_loader_name_valid("a b"));
	assert_false(plugin_loader_name_valid("x123456789012345678901234567890123456789012345678901234567890123456"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_loads_a_plugin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_do_not_stop_the_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_writable_by_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_fails, setup, teardown),
		cmocka_unit_test(test_names),
	};

	log_open("test-plugin-loader", LOG_TARGET_STDERR, true);
	log_set_level(LOG_WARNING);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
