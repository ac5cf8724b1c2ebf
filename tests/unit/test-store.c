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

/* SQLite's syncs, counted: a VFS made default for the test that opens
 * files with the real one and points their methods at a copy whose xSync
 * counts before it calls the real xSync. */
static int syncs;
static sqlite3_vfs *real_vfs, counting_vfs;
static const sqlite3_io_methods *orig_io[4];
static sqlite3_io_methods copy_io[4];
static size_t n_io;

static int counting_sync(sqlite3_file *f, int flags)
{
	for (size_t i = 0; i < n_io; i++)
		if (f->pMethods == &copy_io[i]) {
			syncs++;
			return orig_io[i]->xSync(f, flags);
		}
	return SQLITE_IOERR_FSYNC;
}

static int counting_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
			 int *out_flags)
{
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
	size_t i;

	(void)vfs;
	if (rc != SQLITE_OK || !f->pMethods)
		return rc;
	for (i = 0; i < n_io && orig_io[i] != f->pMethods; i++)
		;
	if (i == n_io) {
		assert_true(n_io < 4);
		orig_io[i] = f->pMethods;
		copy_io[i] = *f->pMethods;
		copy_io[i].xSync = counting_sync;
		n_io++;
	}
	f->pMethods = &copy_io[i];
	return rc;
}

static void count_syncs(void)
{
	if (real_vfs)
		return;
	real_vfs = sqlite3_vfs_find(NULL);
	counting_vfs = *real_vfs;
	counting_vfs.zName = "counting";
	counting_vfs.pNext = NULL;
	counting_vfs.xOpen = counting_open;
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* No fsync on the hot path (issue 12): an IAP seen for the first time
 * (netlink) and a contact written after a REGISTER (SIP) cost no sync;
 * store_sync() writes them out, and a profile change is synced before it
 * returns.  Before, each IAP id was a FULL commit and each contact toggled
 * synchronous twice. */
static void test_no_sync_on_the_hot_path(void **state)
{
	struct store_contact c = { 0, 0, "sip:a@10.0.0.2", "cid", 1, 1700000000 };
	struct store *s;
	char err[256];
	unsigned int a, b;

	(void)state;
	count_syncs();
	assert_int_equal(store_open(path, &s, err, sizeof(err)), 0);
	assert_false(store_unsynced(s));
	syncs = 0;
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &a), 0);
	assert_int_equal(store_iap_id(s, "if:wwan0", "wwan0", "cellular", &b), 0);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &a), 0);
	assert_int_equal(syncs, 0);
	assert_true(store_unsynced(s));
	assert_int_equal(store_sync(s), 0);
	assert_true(syncs > 0);
	assert_false(store_unsynced(s));

	/* contacts need a profile: a raw one, through SQLite */
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "INSERT INTO profile (id, type_class, "
					      "type_name, bearer, proxy_from_dhcp, auto_register, "
					      "is_default, security_negotiation, sigcomp, expires, dscp, "
					      "locked) VALUES (7, 'ietf', 'ietf', 'any', 0, 0, 0, 0, 0, "
					      "600, 0, 0)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	c.profile_id = 7;
	c.iap_id = a;
	syncs = 0;
	for (int i = 0; i < 10; i++) {
		c.cseq = (uint32_t)i + 1;
		assert_int_equal(store_contact_upsert(s, &c), 0);
	}
	assert_int_equal(store_contact_delete(s, 7, a, c.contact), 0);
	assert_int_equal(syncs, 0);
	assert_true(store_unsynced(s));
	assert_int_equal(store_sync(s), 0);
	assert_true(syncs > 0);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_persist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_sync_on_the_hot_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_pages_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
