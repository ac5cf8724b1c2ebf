/* Store: stable IAP ids across reopen; damaged and newer files refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	strcpy(dir, "/tmp/alrd-test-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alrd.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_ids_persist(void **state)
{
	struct store *s;
	char err[256];
	unsigned int a, b, a2, b2, c;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &a), 0);
	assert_int_equal(store_iap_id(s, "if:wwan0", "wwan0", "cellular", &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &a2), 0);
	assert_int_equal(a, a2);
	store_close(s);

	/* Reopen: same ids, and a new identity gets a new one. */
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(store_iap_id(s, "if:wwan0", "wwan0", "cellular", &b2), 0);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &a2), 0);
	assert_int_equal(a, a2);
	assert_int_equal(b, b2);
	assert_int_equal(store_iap_id(s, "if:eth1", "eth1", "ethernet", &c), 0);
	assert_true(c != a && c != b);
	store_close(s);
	assert_null(store_close(NULL));
}

static char *read_all(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *buf;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void test_garbage_file_refused_untouched(void **state)
{
	static const char junk[] = "this is not a database, but someone's notes\n";
	struct store *s = NULL;
	char err[512];
	size_t len;
	char *after;
	FILE *f = fopen(path, "wb");

	fwrite(junk, 1, sizeof(junk) - 1, f);
	fclose(f);
	assert_true(store_open(path, &s, err, sizeof(err)) < 0);
	assert_null(s);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "untouched"));
	after = read_all(path, &len);
	assert_int_equal(len, sizeof(junk) - 1);
	assert_memory_equal(after, junk, len);
	free(after);
}

static void test_corrupt_pages_refused(void **state)
{
	struct store *s;
	char err[512];
	unsigned int id;
	FILE *f;

	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	for (int i = 0; i < 200; i++) {
		char ident[32];

		snprintf(ident, sizeof(ident), "if:veth%d", i);
		assert_int_equal(store_iap_id(s, ident, ident + 3, "ethernet", &id), 0);
	}
	store_close(s);
	/* Overwrite page 2 (the root of the table's b-tree). */
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 4096, SEEK_SET);
	for (int i = 0; i < 4096; i++)
		fputc(0xa5, f);
	fclose(f);
	s = NULL;
	assert_true(store_open(path, &s, err, sizeof(err)) < 0);
	assert_null(s);
	assert_non_null(strstr(err, "untouched"));
}

static void test_newer_schema_refused(void **state)
{
	sqlite3 *db;
	struct store *s = NULL;
	char err[512];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(store_open(path, &s, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "newer"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_pages_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
