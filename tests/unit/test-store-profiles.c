/*
 * Store: profiles, default profile, extension parameters, registered
 * contacts, migration from schema 1, refusal of newer and foreign files,
 * backup and restore, file modes, and crash safety under SIGKILL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alr/profile.h"
#include "daemon/profile-json.h"
#include "store/store.h"
#include "backup-to.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	strcpy(dir, "/tmp/alrd-test-store-profiles-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/alrd.db", dir);
	return 0;
}

/*
 * The crash test kills a process, not the machine: what a killed writer
 * wrote stays in the page cache, so fsync plays no part and tmpfs (when
 * there is one) keeps 20 rounds of 1,000 FULL-sync commits within seconds.
 */
static int setup_shm(void **state)
{
	struct stat st;

	if (stat("/dev/shm", &st) != 0 || !S_ISDIR(st.st_mode) || access("/dev/shm", W_OK) != 0)
		return setup(state);
	strcpy(dir, "/dev/shm/alrd-test-store-crash-XXXXXX");
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

static struct store *open_store(const char *p)
{
	struct store *s = NULL;
	char err[512];

	if (store_open(p, &s, err, sizeof(err)) != 0)
		fail_msg("store_open %s: %s", p, err);
	/* as the registry does */
	store_set_profile_check(s, profile_check);
	return s;
}

static struct profile *profile_from(const char *json)
{
	struct profile *p = profile_new();
	struct json_object *o = json_tokener_parse(json);
	struct profile_error e;

	assert_non_null(o);
	if (profile_apply_json(p, o, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	if (profile_validate(p, NULL, &e) != 0)
		fail_msg("%s: %s: %s", json, e.field, e.reason);
	json_object_put(o);
	return p;
}

static const char full_json[] =
	"{\"provider_name\": \"Example \\\"Voice\\\" \\u00e9\", \"type\": \"ims\","
	" \"aor\": \"sip:+4930123@ims.example.org\","
	" \"iap_id\": 4, \"bearer\": \"cellular\","
	" \"registrar\": {\"uri\": \"sip:scscf.example.org\", \"transport\": \"tcp\","
	"   \"digest_user\": \"alice@ims.example.org\", \"realm\": \"ims.example.org\","
	"   \"password\": \"reg-secret\","
	"   \"params\": [{\"name\": \"auth\", \"value\": \"aka\"}, {\"key\": 12, \"value\": 3}]},"
	" \"outbound_proxy\": {\"uri\": \"sip:pcscf.example.org;lr\", \"transport\": \"tls\","
	"   \"ca_file\": \"/etc/alrd/ims-ca.pem\","
	"   \"digest_user\": \"proxyuser\", \"password\": \"proxy-secret\","
	"   \"params\": [{\"name\": \"keepalive\", \"value\": true},"
	"     {\"key\": 4294967295, \"value\": [\"a\", \"b\"]}]},"
	" \"proxy_from_dhcp\": true, \"auto_register\": true, \"default\": false,"
	" \"private_identity\": \"alice@ims.example.org\", \"security_negotiation\": true,"
	" \"sigcomp\": true,"
	" \"contact_params\": [\"+g.3gpp.smsip\", \"video\", \"x=\\\"q\\\\\\\"\\\"\"],"
	" \"extra_headers\": [\"P-Access-Network-Info: 3GPP-E-UTRAN-FDD\", \"X-Extra: \\u00e9t\\u00e9\"],"
	" \"expires\": 600000, \"dscp\": 46, \"locked\": true,"
	" \"params\": [{\"name\": \"count\", \"value\": -42},"
	"   {\"name\": \"min\", \"value\": -9223372036854775808},"
	"   {\"name\": \"max\", \"value\": 9223372036854775807},"
	"   {\"name\": \"flag\", \"value\": false},"
	"   {\"name\": \"on\", \"type\": \"bool\", \"value\": true},"
	"   {\"name\": \"label\", \"value\": \"a \\\"q\\\" \\\\ b \\u2603\"},"
	"   {\"name\": \"empty\", \"value\": \"\"},"
	"   {\"name\": \"none\", \"type\": \"string-list\", \"value\": []},"
	"   {\"key\": 70000, \"value\": [\"one\", \"\", \"three\", \"[\\\"json\\\"]\"]},"
	"   {\"key\": 0, \"type\": \"int\", \"value\": 7}]}";

static const char small_json[] =
	"{\"provider_name\": \"Small\", \"aor\": \"sip:bob@example.net\","
	" \"registrar\": {\"uri\": \"sip:example.net\", \"password\": \"bob-pw\"}}";

static void assert_same(const struct profile *a, const struct profile *b)
{
	if (profile_diff(a, b) != PROFILE_CHANGE_NONE) {
		struct json_object *ja = profile_to_json(a, true), *jb = profile_to_json(b, true);

		fail_msg("profiles differ:\n%s\n%s", json_object_to_json_string(ja),
			 json_object_to_json_string(jb));
	}
	assert_int_equal(a->id, b->id);
}

struct collect {
	struct profile *v[64];
	size_t n;
	int stop_after;                 /* return -ECANCELED after this many */
};

static int collect_cb(struct profile *p, void *ud)
{
	struct collect *c = ud;

	if (c->stop_after && (int)c->n == c->stop_after) {
		profile_free(p);
		return -ECANCELED;
	}
	assert_true(c->n < 64);
	c->v[c->n++] = p;
	return 0;
}

static void collect_free(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		profile_free(c->v[i]);
	c->n = 0;
}

static void test_crud(void **state)
{
	struct store *s = open_store(path);
	struct profile *full = profile_from(full_json), *small = profile_from(small_json);
	struct profile *got = NULL;
	struct collect c = { 0 };
	const char *aors[] = { "sip:+4930123@ims.example.org", "tel:+4930123" };

	profile_set_registered(full, aors, 2, "sip:alice@10.0.0.1:5060;transport=tcp");
	assert_int_equal(store_profile_insert(s, full), 0);
	assert_int_equal(store_profile_insert(s, small), 0);
	assert_true(full->id > 0);
	assert_true(small->id > full->id);

	assert_int_equal(store_profile_get(s, full->id, &got), 0);
	assert_same(full, got);
	/* what a diff ignores, the store keeps too */
	assert_int_equal(got->registered_aors.n, 2);
	assert_string_equal(got->registered_aors.v[1], "tel:+4930123");
	assert_string_equal(got->registered_contact, "sip:alice@10.0.0.1:5060;transport=tcp");
	assert_string_equal(got->registrar.password, "reg-secret");
	assert_string_equal(got->outbound_proxy.password, "proxy-secret");
	profile_free(got);

	/* update: several fields at once, servers and parameters replaced */
	{
		struct json_object *o = json_tokener_parse(
			"{\"aor\": \"sip:carol@example.net\", \"iap_id\": null, \"snap_id\": 3,"
			" \"registrar\": {\"uri\": null, \"params\": null, \"password\": null},"
			" \"outbound_proxy\": null, \"params\": [{\"name\": \"only\", \"value\": 1}],"
			" \"contact_params\": [], \"expires\": 120}");
		struct profile_error e;

		assert_int_equal(profile_apply_json(full, o, &e), 0);
		json_object_put(o);
	}
	assert_int_equal(store_profile_update(s, full), 0);
	assert_int_equal(store_profile_get(s, full->id, &got), 0);
	assert_same(full, got);
	assert_null(got->registrar.password);
	assert_int_equal(got->params.n, 1);
	assert_int_equal(got->snap_id, 3);
	assert_int_equal(got->iap_id, 0);
	profile_free(got);

	/* load_all: id order, caller owns */
	assert_int_equal(store_profile_load_all(s, collect_cb, &c), 0);
	assert_int_equal(c.n, 2);
	assert_same(full, c.v[0]);
	assert_same(small, c.v[1]);
	collect_free(&c);
	/* a callback can stop the walk; the rest is freed (ASan checks) */
	c.stop_after = 1;
	assert_int_equal(store_profile_load_all(s, collect_cb, &c), -ECANCELED);
	assert_int_equal(c.n, 1);
	collect_free(&c);

	/* survives a reopen */
	store_close(s);
	s = open_store(path);
	assert_int_equal(store_profile_get(s, small->id, &got), 0);
	assert_same(small, got);
	profile_free(got);

	/* delete */
	assert_int_equal(store_profile_delete(s, small->id), 0);
	assert_int_equal(store_profile_get(s, small->id, &got), -ENOENT);
	assert_int_equal(store_profile_delete(s, small->id), -ENOENT);
	assert_int_equal(store_profile_update(s, small), -ENOENT);
	small->id = 0;
	assert_int_equal(store_profile_update(s, small), -ENOENT);
	assert_int_equal(store_profile_get(s, 0, &got), -ENOENT);
	/* ids are never reused */
	assert_int_equal(store_profile_insert(s, small), 0);
	assert_true(small->id > full->id + 1);

	profile_free(full);
	profile_free(small);
	store_close(s);
}

static unsigned int default_id(struct store *s)
{
	struct collect c = { 0 };
	unsigned int id = 0;
	int n = 0;

	assert_int_equal(store_profile_load_all(s, collect_cb, &c), 0);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i]->is_default) {
			id = c.v[i]->id;
			n++;
		}
	assert_true(n <= 1);
	collect_free(&c);
	return id;
}

static void test_default_profile(void **state)
{
	struct store *s = open_store(path);
	struct profile *p[3];

	for (int i = 0; i < 3; i++) {
		p[i] = profile_from(small_json);
		p[i]->is_default = true;
		assert_int_equal(store_profile_insert(s, p[i]), 0);
		assert_int_equal(default_id(s), p[i]->id);
	}
	assert_int_equal(store_set_default_profile(s, p[0]->id), 0);
	assert_int_equal(default_id(s), p[0]->id);
	/* an update with the flag moves it */
	assert_int_equal(store_profile_update(s, p[1]), 0);
	assert_int_equal(default_id(s), p[1]->id);
	/* an update without it clears it */
	p[1]->is_default = false;
	assert_int_equal(store_profile_update(s, p[1]), 0);
	assert_int_equal(default_id(s), 0);
	assert_int_equal(store_set_default_profile(s, p[2]->id), 0);
	/* an unknown id changes nothing (the clearing is rolled back) */
	assert_int_equal(store_set_default_profile(s, 9999), -ENOENT);
	assert_int_equal(default_id(s), p[2]->id);
	/* 0 clears */
	assert_int_equal(store_set_default_profile(s, 0), 0);
	assert_int_equal(default_id(s), 0);
	/* the database itself refuses two defaults */
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "UPDATE profile SET is_default = 1", NULL, NULL,
					      NULL), SQLITE_CONSTRAINT);
		sqlite3_close(db);
	}
	for (int i = 0; i < 3; i++)
		profile_free(p[i]);
	store_close(s);
}

static void test_extension_params_round_trip(void **state)
{
	struct store *s = open_store(path);
	struct profile *p = profile_from(full_json), *got = NULL;
	const struct profile_param *pp;

	assert_int_equal(store_profile_insert(s, p), 0);
	store_close(s);
	s = open_store(path);
	assert_int_equal(store_profile_get(s, p->id, &got), 0);
	assert_same(p, got);

	/* each type, by name and by numeric key, in each scope, in order */
	assert_int_equal(got->params.n, 10);
	assert_string_equal(got->params.v[0].name, "count");
	assert_string_equal(got->params.v[9].name == NULL ? "key" : "name", "key");
	pp = profile_params_find_name(&got->params, "min");
	assert_true(pp && pp->type == PROFILE_PARAM_INT && pp->value.i == INT64_MIN);
	pp = profile_params_find_name(&got->params, "max");
	assert_true(pp && pp->type == PROFILE_PARAM_INT && pp->value.i == INT64_MAX);
	pp = profile_params_find_name(&got->params, "flag");
	assert_true(pp && pp->type == PROFILE_PARAM_BOOL && !pp->value.b);
	pp = profile_params_find_name(&got->params, "on");
	assert_true(pp && pp->type == PROFILE_PARAM_BOOL && pp->value.b);
	pp = profile_params_find_name(&got->params, "label");
	assert_true(pp && pp->type == PROFILE_PARAM_STRING);
	assert_string_equal(pp->value.s, "a \"q\" \\ b \xe2\x98\x83");
	pp = profile_params_find_name(&got->params, "empty");
	assert_true(pp && pp->type == PROFILE_PARAM_STRING);
	assert_string_equal(pp->value.s, "");
	pp = profile_params_find_name(&got->params, "none");
	assert_true(pp && pp->type == PROFILE_PARAM_STRING_LIST && pp->value.list.n == 0);
	pp = profile_params_find_key(&got->params, 70000);
	assert_true(pp && pp->type == PROFILE_PARAM_STRING_LIST && pp->value.list.n == 4);
	assert_string_equal(pp->value.list.v[1], "");
	assert_string_equal(pp->value.list.v[3], "[\"json\"]");
	pp = profile_params_find_key(&got->params, 0);
	assert_true(pp && pp->type == PROFILE_PARAM_INT && pp->value.i == 7);
	pp = profile_params_find_key(&got->registrar.params, 12);
	assert_true(pp && pp->type == PROFILE_PARAM_INT && pp->value.i == 3);
	pp = profile_params_find_name(&got->registrar.params, "auth");
	assert_true(pp && pp->type == PROFILE_PARAM_STRING);
	pp = profile_params_find_key(&got->outbound_proxy.params, UINT32_MAX);
	assert_true(pp && pp->type == PROFILE_PARAM_STRING_LIST && pp->value.list.n == 2);
	assert_null(profile_params_find_key(&got->params, 12));

	profile_free(got);
	profile_free(p);
	store_close(s);
}

static void test_contacts(void **state)
{
	struct store *s = open_store(path);
	struct profile *a = profile_from(small_json), *b = profile_from(small_json);
	unsigned int wlan, wwan;
	struct store_contact *v = NULL;
	size_t n = 0;
	struct store_contact c1 = { 0, 0, "sip:bob@10.0.0.2:5060", "call-1@host", 1, 1700000000 };
	struct store_contact c2 = { 0, 0, "sip:bob@10.9.0.2:5060", "call-2@host", 7, 1700000100 };

	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &wlan), 0);
	assert_int_equal(store_iap_id(s, "if:wwan0", "wwan0", "cellular", &wwan), 0);
	assert_int_equal(store_profile_insert(s, a), 0);
	assert_int_equal(store_profile_insert(s, b), 0);

	c1.profile_id = a->id;
	c1.iap_id = wlan;
	c2.profile_id = a->id;
	c2.iap_id = wwan;
	assert_int_equal(store_contact_upsert(s, &c1), 0);
	assert_int_equal(store_contact_upsert(s, &c2), 0);
	/* the same binding again: updated, not added */
	c1.cseq = 2;
	c1.expires_at = 1700003600;
	assert_int_equal(store_contact_upsert(s, &c1), 0);
	/* a binding of another profile */
	c2.profile_id = b->id;
	assert_int_equal(store_contact_upsert(s, &c2), 0);

	assert_int_equal(store_contact_list(s, a->id, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].iap_id, wlan);
	assert_string_equal(v[0].contact, "sip:bob@10.0.0.2:5060");
	assert_string_equal(v[0].call_id, "call-1@host");
	assert_int_equal(v[0].cseq, 2);
	assert_true(v[0].expires_at == 1700003600);
	assert_int_equal(v[1].iap_id, wwan);
	assert_int_equal(v[1].cseq, 7);
	store_contacts_free(v, n);
	assert_int_equal(store_contact_list(s, 0, &v, &n), 0);
	assert_int_equal(n, 3);
	store_contacts_free(v, n);

	/* unknown profile or IAP */
	c1.profile_id = 999;
	assert_int_equal(store_contact_upsert(s, &c1), -ENOENT);
	c1.profile_id = a->id;
	c1.iap_id = 999;
	assert_int_equal(store_contact_upsert(s, &c1), -ENOENT);
	c1.iap_id = wlan;

	assert_int_equal(store_contact_delete(s, a->id, wlan, c1.contact), 0);
	assert_int_equal(store_contact_delete(s, a->id, wlan, c1.contact), -ENOENT);
	assert_int_equal(store_contact_list(s, a->id, &v, &n), 0);
	assert_int_equal(n, 1);
	store_contacts_free(v, n);

	/* they survive a reopen; deleting a profile deletes its contacts */
	store_close(s);
	s = open_store(path);
	assert_int_equal(store_profile_delete(s, a->id), 0);
	assert_int_equal(store_contact_list(s, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].profile_id, b->id);
	store_contacts_free(v, n);
	assert_int_equal(store_contact_list(s, a->id, &v, &n), 0);
	assert_int_equal(n, 0);
	store_contacts_free(v, n);

	profile_free(a);
	profile_free(b);
	store_close(s);
}

/* The schema of the foundation's alrd (version 1), created by hand. */
static void make_v1_database(const char *p, mode_t mode)
{
	sqlite3 *db;
	int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, mode);

	assert_true(fd >= 0);
	fchmod(fd, mode);
	close(fd);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"PRAGMA journal_mode=WAL;"
		"CREATE TABLE iap ("
		"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  identity TEXT NOT NULL UNIQUE,"
		"  name TEXT NOT NULL,"
		"  kind TEXT NOT NULL,"
		"  first_seen INTEGER NOT NULL,"
		"  last_seen INTEGER NOT NULL"
		");"
		"INSERT INTO iap VALUES (3, 'if:eth0', 'eth0', 'ethernet', 1, 2);"
		"INSERT INTO iap VALUES (7, 'if:wlan0', 'wlan0', 'wifi', 1, 2);"
		"DELETE FROM iap WHERE id = 3;"
		"INSERT INTO iap VALUES (3, 'if:eth0', 'eth0', 'ethernet', 1, 2);"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int pragma(const char *p, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_migration_from_v1(void **state)
{
	struct store *s;
	struct profile *p = profile_from(small_json);
	unsigned int id;
	struct stat st;
	char err[512];

	make_v1_database(path, 0644);
	assert_int_equal(store_validate_file(path, err, sizeof(err)), 0);
	s = open_store(path);
	assert_int_equal(pragma(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(pragma(path, "PRAGMA application_id"), STORE_APPLICATION_ID);
	/* the ids the foundation assigned are kept */
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &id), 0);
	assert_int_equal(id, 7);
	assert_int_equal(store_iap_id(s, "if:eth0", "eth0", "ethernet", &id), 0);
	assert_int_equal(id, 3);
	/* and new ones continue after the highest */
	assert_int_equal(store_iap_id(s, "if:wwan0", "wwan0", "cellular", &id), 0);
	assert_int_equal(id, 8);
	/* the new tables work */
	assert_int_equal(store_profile_insert(s, p), 0);
	/* now that it holds passwords, the file is private */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	store_close(s);

	/* a second open does not migrate again */
	s = open_store(path);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &id), 0);
	assert_int_equal(id, 7);
	store_close(s);
	profile_free(p);

	/* every migration path: 0 (new), 1 */
	assert_int_equal(pragma(path, "SELECT count(*) FROM sqlite_schema WHERE name = "
				"'registered_contact'"), 1);
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

/* store_open and store_validate_file refuse @p and leave its bytes alone. */
static void assert_refused_untouched(const char *p, int want, const char *msg)
{
	struct store *s = NULL;
	char err[512];
	size_t len, len2;
	char *before = read_all(p, &len), *after;

	assert_int_equal(store_open(p, &s, err, sizeof(err)), want);
	assert_null(s);
	if (!strstr(err, msg))
		fail_msg("'%s' does not say '%s'", err, msg);
	assert_int_equal(store_validate_file(p, err, sizeof(err)), want);
	if (!strstr(err, msg))
		fail_msg("'%s' does not say '%s'", err, msg);
	after = read_all(p, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(before, after, len);
	free(before);
	free(after);
}

static void test_newer_and_foreign_refused(void **state)
{
	struct store *s = open_store(path);
	struct profile *p = profile_from(small_json);
	sqlite3 *db;
	char other[160];

	assert_int_equal(store_profile_insert(s, p), 0);
	store_close(s);
	profile_free(p);
	/* a future alrd's database, with data */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	{
		char sql[80];

		snprintf(sql, sizeof(sql), "PRAGMA journal_mode=DELETE; PRAGMA user_version = %d",
			 STORE_SCHEMA_VERSION + 1);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
	assert_refused_untouched(path, -EPROTO, "newer than this alrd");

	/* another program's database */
	snprintf(other, sizeof(other), "%s/other.db", dir);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (t TEXT); INSERT INTO notes "
				      "VALUES ('mine')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_refused_untouched(other, -EBADMSG, "not alrd's");
	unlink(other);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 42; CREATE TABLE t (x)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_refused_untouched(other, -EBADMSG, "another program");
	/* schema 1 by its number, but not alrd's tables */
	unlink(other);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1; CREATE TABLE t (x)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_refused_untouched(other, -EBADMSG, "has no table iap");
}

/*
 * Issue 11: PRAGMA user_version -1 was taken for schema 0 (or, without
 * tables, for a new database) and the migrations ran over the file.  A
 * negative version is no alrd's: refused, the file left as it was.
 */
static void test_negative_version_refused(void **state)
{
	struct store *s = open_store(path);
	struct profile *p = profile_from(small_json);
	sqlite3 *db;
	char other[160];

	assert_int_equal(store_profile_insert(s, p), 0);
	store_close(s);
	profile_free(p);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=DELETE; PRAGMA user_version = -1",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_refused_untouched(path, -EBADMSG, "schema version -1, which no alrd writes");

	/* an SQLite file with nothing in it but the negative version */
	snprintf(other, sizeof(other), "%s/other.db", dir);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = -7", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_refused_untouched(other, -EBADMSG, "schema version -7");
	assert_int_equal(pragma(other, "SELECT count(*) FROM sqlite_schema"), 0);
}

/*
 * Issue 11: a 0-byte alrd.db (truncated by a full disk or a bad copy)
 * became an empty store: alrd started with no profiles and wrote its
 * schema over the file.  Refused, naming the file and what to do; a file
 * alrd creates itself is still a new store.
 */
static void test_empty_file_refused(void **state)
{
	struct store *s = NULL;
	struct stat st;
	char err[512], side[160];
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), -EBADMSG);
	assert_null(s);
	if (!strstr(err, path) || !strstr(err, "empty (0 bytes)") ||
	    !strstr(err, "remove it to start with no profiles"))
		fail_msg("'%s'", err);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	snprintf(side, sizeof(side), "%s-wal", path);
	assert_int_equal(access(side, F_OK), -1);

	/* removed: a new store, as on the first start */
	assert_int_equal(unlink(path), 0);
	s = open_store(path);
	store_close(s);
	assert_int_equal(pragma(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/* Collect what stderr gets while @fn runs (the store logs there). */
static char *stderr_of(void (*fn)(void *), void *arg)
{
	char tmp[] = "/tmp/alrd-test-stderr-XXXXXX", *text;
	int fd = mkstemp(tmp), saved = dup(2);
	size_t len;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	fn(arg);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	close(fd);
	text = read_all(tmp, &len);
	text[len] = '\0';
	unlink(tmp);
	return text;
}

struct load_run {
	struct store *s;
	struct collect c;
};

static void load_into(void *arg)
{
	struct load_run *run = arg;

	assert_int_equal(store_profile_load_all(run->s, collect_cb, &run->c), 0);
}

/*
 * Issue 11: a profile row with a NULL or broken AOR (an edit with
 * sqlite3, a damaged page) loaded without a word and reached the
 * registry.  Such a row is skipped with a warning naming its id and what
 * is wrong, and stays in the file as it was.
 */
static void test_bad_rows_skipped(void **state)
{
	struct load_run run = { 0 };
	struct profile *p[4], *got = NULL;
	sqlite3 *db;
	char *log;

	run.s = open_store(path);
	for (int i = 0; i < 4; i++) {
		p[i] = profile_from(small_json);
		assert_int_equal(store_profile_insert(run.s, p[i]), 0);
	}
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE profile SET aor = NULL WHERE id = 2;"
				      "UPDATE profile SET aor = 'not a uri' WHERE id = 3;"
				      "UPDATE profile SET aor = 'sip:bob:hunter2@example.net' WHERE id = 4;",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	log = stderr_of(load_into, &run);
	assert_int_equal(run.c.n, 1);
	assert_int_equal(run.c.v[0]->id, 1);
	if (!strstr(log, "profile row 2 skipped: aor: is missing") ||
	    !strstr(log, "profile row 3 skipped: aor: 'not a uri'") ||
	    !strstr(log, "profile row 4 skipped: aor: carries a password") ||
	    !strstr(log, "the row is kept as it is"))
		fail_msg("log: %s", log);
	/* secrets never reach a log line */
	assert_null(strstr(log, "hunter2"));
	free(log);
	collect_free(&run.c);
	assert_int_equal(store_profile_get(run.s, 1, &got), 0);
	profile_free(got);
	assert_int_equal(store_profile_get(run.s, 2, &got), -ENOENT);
	store_close(run.s);

	/* untouched in the file */
	assert_int_equal(pragma(path, "SELECT count(*) FROM profile"), 4);
	assert_int_equal(pragma(path, "SELECT count(*) FROM profile WHERE id = 2 AND aor IS NULL"), 1);
	assert_int_equal(pragma(path, "SELECT count(*) FROM profile WHERE id = 3 AND "
				"aor = 'not a uri'"), 1);
	for (int i = 0; i < 4; i++)
		profile_free(p[i]);
}

/*
 * List columns are JSON arrays of strings: what json-c wrote (escapes and
 * all) loads, what the store writes now is the same text, and a column
 * that is not an array of strings is refused (-EBADMSG), with its row named.
 */
struct get_run {
	struct store *s;
	unsigned int id;
};

static void get_into(void *arg)
{
	struct get_run *run = arg;
	struct profile *got = NULL;

	assert_int_equal(store_profile_get(run->s, run->id, &got), -EBADMSG);
	assert_null(got);
}

static void test_list_columns(void **state)
{
	struct get_run run = { 0 };
	struct profile *p[4], *got = NULL;
	sqlite3 *db;
	char *log;

	run.s = open_store(path);
	for (int i = 0; i < 4; i++) {
		p[i] = profile_from(small_json);
		assert_int_equal(profile_strv_push(&p[i]->contact_params, "a"), 0);
		assert_int_equal(profile_strv_push(&p[i]->contact_params, "b=\"c/d\\e\""), 0);
		assert_int_equal(store_profile_insert(run.s, p[i]), 0);
	}
	/* json-c's form, as alrd wrote it before */
	assert_int_equal(pragma(path, "SELECT count(*) FROM profile WHERE id = 1 AND "
				"contact_params = '[\"a\",\"b=\\\"c/d\\\\e\\\"\"]' AND "
				"extra_headers = '[]'"), 1);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
				      "UPDATE profile SET extra_headers = "
				      "'[\"X-A: \\u00e9t\\u00e9 \\/ \\\"q\\\"\"]' WHERE id = 1;"
				      "UPDATE profile SET contact_params = '{\"a\": \"b\"}' WHERE id = 2;"
				      "UPDATE profile SET contact_params = '[\"a\", 1]' WHERE id = 3;"
				      "UPDATE profile SET contact_params = '[\"a\"' WHERE id = 4;",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_profile_get(run.s, 1, &got), 0);
	assert_int_equal(got->contact_params.n, 2);
	assert_string_equal(got->contact_params.v[1], "b=\"c/d\\e\"");
	assert_int_equal(got->extra_headers.n, 1);
	assert_string_equal(got->extra_headers.v[0], "X-A: \xc3\xa9t\xc3\xa9 / \"q\"");
	profile_free(got);
	for (unsigned int id = 2; id <= 4; id++) {
		char want[64];

		snprintf(want, sizeof(want), "profile %u has a bad string list", id);
		run.id = id;
		log = stderr_of(get_into, &run);
		if (!strstr(log, want))
			fail_msg("no '%s' in the log: %s", want, log);
		free(log);
	}
	store_close(run.s);
	for (int i = 0; i < 4; i++)
		profile_free(p[i]);
}

static void test_file_modes(void **state)
{
	struct store *s;
	struct stat st;
	char side[160];
	mode_t old = umask(0);

	s = open_store(path);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(side, sizeof(side), "%s-wal", path);
	assert_int_equal(stat(side, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	store_close(s);
}

static void load_all(struct store *s, struct collect *c)
{
	c->n = 0;
	assert_int_equal(store_profile_load_all(s, collect_cb, c), 0);
}

static void test_backup_restore(void **state)
{
	struct store *s = open_store(path);
	struct profile *a = profile_from(full_json), *b = profile_from(small_json);
	struct profile *late = profile_from(small_json);
	struct collect snap = { 0 }, now = { 0 };
	struct store_contact c = { 0, 0, "sip:bob@10.0.0.2", "cid", 5, 1700000000 };
	struct store_contact *v;
	unsigned int wlan, eth;
	char backup[160], before[160], err[512];
	struct stat st;
	size_t n;
	struct store *old;

	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &wlan), 0);
	assert_int_equal(store_profile_insert(s, a), 0);
	assert_int_equal(store_profile_insert(s, b), 0);
	c.profile_id = b->id;
	c.iap_id = wlan;
	assert_int_equal(store_contact_upsert(s, &c), 0);
	load_all(s, &snap);

	/* a snapshot while the store is open and in use */
	snprintf(backup, sizeof(backup), "%s/backup.db", dir);
	assert_int_equal(backup_to(s, backup, true, err, sizeof(err)), 0);
	assert_int_equal(stat(backup, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(store_validate_file(backup, err, sizeof(err)), 0);
	/* an existing file is not overwritten */
	assert_int_equal(backup_to(s, backup, true, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "exists"));
	snprintf(err, sizeof(err), "%s/no/such/dir/x.db", dir);
	assert_true(backup_to(s, err, true, err, sizeof(err)) < 0);

	/* change things after the backup */
	assert_int_equal(store_profile_delete(s, a->id), 0);
	assert_int_equal(store_profile_insert(s, late), 0);
	assert_int_equal(store_iap_id(s, "if:eth0", "eth0", "ethernet", &eth), 0);

	/* restore: the store object stays, its content is the snapshot */
	old = s;
	assert_int_equal(store_restore(s, backup, err, sizeof(err)), 0);
	assert_ptr_equal(s, old);
	load_all(s, &now);
	assert_int_equal(now.n, snap.n);
	for (size_t i = 0; i < now.n; i++)
		assert_same(snap.v[i], now.v[i]);
	assert_int_equal(store_contact_list(s, 0, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].profile_id, b->id);
	assert_int_equal(v[0].cseq, 5);
	store_contacts_free(v, n);
	collect_free(&now);
	/* the backup file itself is not changed or consumed */
	assert_int_equal(store_validate_file(backup, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* the previous content is kept beside, private */
	snprintf(before, sizeof(before), "%s.before-restore", path);
	assert_int_equal(stat(before, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	{
		struct store *bs = open_store(before);
		struct profile *got;

		assert_int_equal(store_profile_get(bs, late->id, &got), 0);
		assert_same(late, got);
		profile_free(got);
		assert_int_equal(store_profile_get(bs, a->id, &got), -ENOENT);
		store_close(bs);
	}

	/* still usable: writes go to the restored database and stay */
	profile_free(late);
	late = profile_from(small_json);
	assert_int_equal(store_profile_insert(s, late), 0);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &eth), 0);
	assert_int_equal(eth, wlan);
	store_close(s);
	s = open_store(path);
	load_all(s, &now);
	assert_int_equal(now.n, snap.n + 1);
	collect_free(&now);

	collect_free(&snap);
	profile_free(a);
	profile_free(b);
	profile_free(late);
	store_close(s);
}

/* Whether @needle occurs anywhere in the bytes of the file @file. */
static bool file_contains(const char *file, const char *needle)
{
	size_t cap = 1 << 20, n, len = strlen(needle);
	char *buf = malloc(cap);
	FILE *f = fopen(file, "rb");
	bool found = false;

	assert_non_null(buf);
	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	for (size_t i = 0; i + len <= n && !found; i++)
		found = memcmp(buf + i, needle, len) == 0;
	free(buf);
	return found;
}

/* store.backup leaves the secrets out unless asked (docs/security.md):
 * not in the columns, and not in a free page of the file either. */
static void test_backup_without_secrets(void **state)
{
	struct store *s = open_store(path);
	struct profile *a = profile_from(full_json), *got;
	char with[160], without[160], err[512];

	(void)state;
	assert_int_equal(store_profile_insert(s, a), 0);
	snprintf(with, sizeof(with), "%s/with.db", dir);
	snprintf(without, sizeof(without), "%s/without.db", dir);
	assert_int_equal(backup_to(s, with, true, err, sizeof(err)), 0);
	assert_int_equal(backup_to(s, without, false, err, sizeof(err)), 0);
	assert_true(file_contains(with, "reg-secret"));
	assert_false(file_contains(without, "reg-secret"));
	assert_false(file_contains(without, "proxy-secret"));
	assert_int_equal(store_validate_file(without, err, sizeof(err)), 0);

	/* restored, the profile is whole but for its passwords */
	assert_int_equal(store_restore(s, without, err, sizeof(err)), 0);
	assert_int_equal(store_profile_get(s, a->id, &got), 0);
	assert_null(got->registrar.password);
	assert_null(got->outbound_proxy.password);
	assert_string_equal(got->registrar.digest_user, a->registrar.digest_user);
	profile_free(got);
	assert_int_equal(store_restore(s, with, err, sizeof(err)), 0);
	assert_int_equal(store_profile_get(s, a->id, &got), 0);
	assert_string_equal(got->registrar.password, "reg-secret");
	profile_free(got);
	profile_free(a);
	store_close(s);
}

static void test_restore_refuses_bad_files(void **state)
{
	struct store *s = open_store(path);
	struct profile *p = profile_from(small_json);
	struct collect c = { 0 };
	char bad[160], err[512], before[160];
	FILE *f;
	sqlite3 *db;

	assert_int_equal(store_profile_insert(s, p), 0);
	snprintf(before, sizeof(before), "%s.before-restore", path);

	snprintf(bad, sizeof(bad), "%s/garbage.db", dir);
	f = fopen(bad, "w");
	fputs("not a database at all, but long enough to look like one maybe\n", f);
	fclose(f);
	assert_true(store_restore(s, bad, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, bad));

	snprintf(bad, sizeof(bad), "%s/missing.db", dir);
	assert_int_equal(store_restore(s, bad, err, sizeof(err)), -ENOENT);

	snprintf(bad, sizeof(bad), "%s/empty.db", dir);
	f = fopen(bad, "w");
	fclose(f);
	assert_int_equal(store_restore(s, bad, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "empty"));

	snprintf(bad, sizeof(bad), "%s/newer.db", dir);
	assert_int_equal(backup_to(s, bad, true, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(bad, &db), SQLITE_OK);
	sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(store_restore(s, bad, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer"));

	snprintf(bad, sizeof(bad), "%s/incomplete.db", dir);
	assert_int_equal(backup_to(s, bad, true, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(bad, &db), SQLITE_OK);
	sqlite3_exec(db, "DROP TABLE registered_contact", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(store_restore(s, bad, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "registered_contact"));

	/* nothing changed, nothing kept aside */
	load_all(s, &c);
	assert_int_equal(c.n, 1);
	assert_same(p, c.v[0]);
	collect_free(&c);
	assert_int_equal(access(before, F_OK), -1);

	profile_free(p);
	store_close(s);
}

/* A schema-1 backup restores into a migrated database. */
static void test_restore_older_schema(void **state)
{
	struct store *s = open_store(path);
	char v1[160], err[512];
	unsigned int id;

	snprintf(v1, sizeof(v1), "%s/v1.db", dir);
	make_v1_database(v1, 0600);
	assert_int_equal(store_iap_id(s, "if:other0", "other0", "other", &id), 0);
	assert_int_equal(store_restore(s, v1, err, sizeof(err)), 0);
	assert_int_equal(store_iap_id(s, "if:wlan0", "wlan0", "wifi", &id), 0);
	assert_int_equal(id, 7);
	store_close(s);
	assert_int_equal(pragma(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* the source stays as it was */
	assert_int_equal(pragma(v1, "PRAGMA user_version"), 1);
}

/* ---- crash safety ---------------------------------------------------- */

#define CRASH_PROFILES 4
#define CRASH_UPDATES 1000
#define CRASH_ROUNDS 20

/* Version @c of profile @j: every field derived from the counter. */
static struct profile *versioned(unsigned int j, unsigned int c)
{
	struct profile *p = profile_new();
	struct profile_param *pp;
	char buf[128];

	snprintf(buf, sizeof(buf), "p%u v%u", j, c);
	profile_set_string(&p->provider_name, buf, false);
	snprintf(buf, sizeof(buf), "sip:user%u-%u@example.org", j, c);
	profile_set_string(&p->aor, buf, false);
	if (c % 3 == 0)
		p->snap_id = 1 + c % 5;
	else if (c % 3 == 1)
		p->iap_id = 1 + c % 7;
	p->bearer = (enum profile_bearer)(c % _PROFILE_BEARER_MAX);
	snprintf(buf, sizeof(buf), "sip:reg%u.example.org", c % 97);
	profile_set_string(&p->registrar.uri, buf, false);
	p->registrar.transport = (enum profile_transport)(c % _PROFILE_TRANSPORT_MAX);
	snprintf(buf, sizeof(buf), "u%u", c);
	profile_set_string(&p->registrar.digest_user, buf, false);
	snprintf(buf, sizeof(buf), "pw%u", c);
	profile_set_string(&p->registrar.password, buf, true);
	if (c % 2) {
		snprintf(buf, sizeof(buf), "sip:proxy%u.example.org", c);
		profile_set_string(&p->outbound_proxy.uri, buf, false);
	}
	p->auto_register = c & 1;
	p->sigcomp = c & 2;
	for (unsigned int i = 0; i < c % 3; i++) {
		snprintf(buf, sizeof(buf), "p%u=%u", i, c);
		profile_strv_push(&p->contact_params, buf);
	}
	snprintf(buf, sizeof(buf), "X-Counter: %u", c);
	profile_strv_push(&p->extra_headers, buf);
	p->expires = 60 + c;
	p->dscp = c % 64;
	pp = profile_params_add(&p->params);
	pp->name = strdup("counter");
	pp->type = PROFILE_PARAM_INT;
	pp->value.i = c;
	pp = profile_params_add(&p->params);
	pp->name = strdup("list");
	pp->type = PROFILE_PARAM_STRING_LIST;
	for (unsigned int i = 0; i < c % 4; i++) {
		snprintf(buf, sizeof(buf), "i%u-%u", i, c);
		profile_strv_push(&pp->value.list, buf);
	}
	pp = profile_params_add(&p->params);
	pp->key = 7;
	pp->type = PROFILE_PARAM_BOOL;
	pp->value.b = c & 4;
	pp = profile_params_add(&p->registrar.params);
	pp->key = c % 11;
	pp->type = PROFILE_PARAM_STRING;
	snprintf(buf, sizeof(buf), "r%u", c);
	pp->value.s = strdup(buf);
	return p;
}

/* The child: CRASH_UPDATES updates, one byte on @fd after each commit. */
static void crash_child(int fd, const unsigned int *ids, unsigned int base)
{
	struct store *s = NULL;
	char err[512];

	if (store_open(path, &s, err, sizeof(err)) != 0)
		_exit(2);
	for (unsigned int k = 0; k < CRASH_UPDATES; k++) {
		unsigned int c = base + k, j = c % CRASH_PROFILES;
		struct profile *p = versioned(j, c);

		p->id = ids[j];
		if (store_profile_update(s, p) != 0)
			_exit(3);
		profile_free(p);
		if (write(fd, "x", 1) != 1)
			_exit(4);
	}
	store_close(s);
	_exit(0);
}

/* The newest version of profile @j among counters 0..@m. */
static unsigned int latest(unsigned int j, unsigned int m)
{
	return m - (m + CRASH_PROFILES - j) % CRASH_PROFILES;
}

static void test_crash_safety(void **state)
{
	unsigned int ids[CRASH_PROFILES], base = CRASH_PROFILES, seed;
	struct store *s = open_store(path);
	unsigned int killed_mid = 0;

	seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	print_message("crash test seed %u\n", seed);
	srand(seed);
	for (unsigned int j = 0; j < CRASH_PROFILES; j++) {
		struct profile *p = versioned(j, j);

		assert_int_equal(store_profile_insert(s, p), 0);
		ids[j] = p->id;
		profile_free(p);
	}
	store_close(s);

	for (int round = 0; round < CRASH_ROUNDS; round++) {
		unsigned int target = (unsigned int)rand() % (CRASH_UPDATES + 1), n = 0, committed;
		int fds[2], status;
		char buf[256];
		ssize_t got;
		pid_t pid;
		struct collect c = { 0 };
		sqlite3 *db;
		sqlite3_stmt *st;

		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1], ids, base);
		}
		close(fds[1]);
		/* let it commit @target updates, then kill it somewhere in
		 * the ones that follow */
		while (n < target && (got = read(fds[0], buf, 1)) == 1)
			n++;
		if (rand() % 2) {
			struct timespec ts = { 0, (long)(rand() % 2000) * 1000 };

			nanosleep(&ts, NULL);
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status))
			assert_int_equal(WEXITSTATUS(status), 0);
		else
			killed_mid++;
		while ((got = read(fds[0], buf, sizeof(buf))) > 0)
			n += (unsigned int)got;
		close(fds[0]);

		/* the file opens and is intact */
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
				 SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
		sqlite3_finalize(st);
		sqlite3_close(db);

		/* every profile is one whole version: the last reported one,
		 * or the next if it committed without telling */
		s = open_store(path);
		load_all(s, &c);
		assert_int_equal(c.n, CRASH_PROFILES);
		committed = n;
		for (unsigned int j = 0; j < CRASH_PROFILES; j++) {
			struct profile *want;
			unsigned int v, pj;

			if (sscanf(c.v[j]->provider_name, "p%u v%u", &pj, &v) != 2)
				fail_msg("round %d: provider_name '%s'", round, c.v[j]->provider_name);
			assert_int_equal(pj, j);
			assert_int_equal(c.v[j]->id, ids[j]);
			if (v != latest(j, base + n - 1) &&
			    !(n < CRASH_UPDATES && v == latest(j, base + n)))
				fail_msg("round %d: profile %u at version %u; %u updates reported "
					 "from %u", round, j, v, n, base);
			if (n < CRASH_UPDATES && v == base + n)
				committed = n + 1;
			want = versioned(j, v);
			want->id = ids[j];
			assert_same(want, c.v[j]);
			profile_free(want);
		}
		collect_free(&c);
		store_close(s);
		base += committed;
	}
	print_message("crash test: %d rounds, %u killed mid-run, %u updates committed\n",
		      CRASH_ROUNDS, killed_mid, base - CRASH_PROFILES);
	/* the test is only worth something if most kills land mid-run */
	assert_true(killed_mid >= CRASH_ROUNDS / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extension_params_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_from_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_and_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negative_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_without_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_refuses_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_older_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_safety, setup_shm, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
