/* One profile's contacts (alr/contacts.c): one list, recorded and stale
 * as flags of one entry, written through to a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alr/contacts.h"
#include "alr/profile.h"
#include "base/log.h"
#include "store/store.h"

#define NOW 1800000000

struct fx {
	char dir[64];
	char db[128];
	struct store *s;
	unsigned int pid, wlan, wwan;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct profile *p = profile_new();
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/alrd-test-contacts-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/alrd.db", f->dir);
	assert_int_equal(store_open(f->db, &f->s, err, sizeof(err)), 0);
	assert_int_equal(store_iap_id(f->s, "if:wlan0", "wlan0", "wifi", &f->wlan), 0);
	assert_int_equal(store_iap_id(f->s, "if:wwan0", "wwan0", "cellular", &f->wwan), 0);
	p->aor = strdup("sip:bob@example.net");
	p->registrar.uri = strdup("sip:example.net");
	assert_int_equal(store_profile_insert(f->s, p), 0);
	f->pid = p->id;
	profile_free(p);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The store's rows of the profile, as "uri@iap cseq" lines. */
static void rows(struct fx *f, char *buf, size_t size)
{
	struct store_contact *v;
	size_t n, off = 0;

	assert_int_equal(store_contact_list(f->s, f->pid, &v, &n), 0);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s@%u %u", i ? "; " : "",
					v[i].contact, v[i].iap_id, v[i].cseq);
	store_contacts_free(v, n);
}

#define A "sip:a@10.0.0.2:5060"
#define B "sip:b@10.9.0.2:5060"

static void test_write_through(void **state)
{
	struct fx *f = *state;
	struct contacts c;
	char buf[512];

	contacts_init(&c, f->s, f->pid);
	assert_int_equal(contacts_registered(&c, f->wlan, A, "call-1", 3, 600, NOW), 0);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, A "@1 3");
	/* the CSeq moves on: every recorded contact of the Call-ID follows */
	contacts_set_cseq(&c, "call-1", 5);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, A "@1 5");
	/* the same contact under another IAP id: one row */
	assert_int_equal(contacts_registered(&c, f->wwan, A, "call-1", 6, 600, NOW), 0);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, A "@2 6");
	assert_int_equal(c.n, 1);
	/* unregistered by the binding: gone from both */
	contacts_unrecorded(&c, A);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(c.n, 0);
	contacts_clear(&c);
}

static void test_stale_and_removal(void **state)
{
	struct fx *f = *state;
	struct contacts c;
	char buf[512];

	contacts_init(&c, f->s, f->pid);
	assert_int_equal(contacts_registered(&c, f->wlan, A, "call-1", 3, 600, NOW), 0);
	/* the binding moved: A is stale, still recorded */
	contacts_mark_stale(&c, A, f->wlan);
	contacts_mark_stale(&c, B, f->wwan);    /* known to a binding, never recorded */
	assert_int_equal(contacts_count_stale(&c), 2);
	assert_false(contacts_any_pending(&c));
	contacts_find(&c, A)->pending = true;
	assert_true(contacts_any_pending(&c));
	/* a stale contact the binding unregistered stays until our removal */
	contacts_unrecorded(&c, A);
	assert_non_null(contacts_find(&c, A));
	assert_true(contacts_any_pending(&c));
	/* the binding is let go: no removal is out */
	contacts_release(&c, NOW);
	assert_false(contacts_any_pending(&c));
	/* B is registered again after all: not stale, and as it was never
	 * recorded, not in the list either */
	contacts_unmark_stale(&c, B);
	assert_null(contacts_find(&c, B));
	contacts_removed(&c, A);
	assert_int_equal(c.n, 0);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, "");
	contacts_clear(&c);
}

/* "uri@iap" of the entries the binding reads (recorded, unexpired). */
static void held(const struct contacts *c, int64_t now, char *buf, size_t size)
{
	const struct contact *e;
	size_t cursor = 0, off = 0;

	buf[0] = '\0';
	while ((e = contacts_next_held(c, &cursor, now)))
		off += (size_t)snprintf(buf + off, size - off, "%s%s@%u", off ? "; " : "", e->uri,
					e->iap_id);
}

/* What the binding reads is what was recorded and has not expired; a
 * report that changes nothing but the time does not write; a contact the
 * registrar no longer holds (or whose time ran out) leaves the list
 * unless its removal is out. */
static void test_what_the_binding_reads(void **state)
{
	struct fx *f = *state;
	struct contacts c;
	struct store_contact *v;
	char buf[512];
	size_t n;

	contacts_init(&c, f->s, f->pid);
	assert_int_equal(contacts_registered(&c, f->wlan, A, "call-1", 3, 600, NOW), 0);
	assert_int_equal(contacts_registered(&c, f->wwan, B, "call-1", 4, 60, NOW), 0);
	contacts_mark_stale(&c, "sip:never@10.0.0.3", f->wlan);        /* not recorded */
	held(&c, NOW, buf, sizeof(buf));
	assert_string_equal(buf, A "@1; " B "@2");
	held(&c, NOW + 60, buf, sizeof(buf));   /* B's time ran out */
	assert_string_equal(buf, A "@1");
	contacts_expire(&c, NOW + 60);
	assert_null(contacts_find(&c, B));
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, A "@1 3");

	/* a refresh granted as long as before: the expiry moves in memory,
	 * the row waits for the next CSeq write */
	assert_int_equal(contacts_registered(&c, f->wlan, A, "call-1", 3, 600, NOW + 300), 0);
	assert_int_equal(contacts_find(&c, A)->expires_at, NOW + 900);
	assert_int_equal(store_contact_list(f->s, f->pid, &v, &n), 0);
	assert_int_equal(v[0].expires_at, NOW + 600);
	store_contacts_free(v, n);
	contacts_set_cseq(&c, "call-1", 5);
	assert_int_equal(store_contact_list(f->s, f->pid, &v, &n), 0);
	assert_int_equal(v[0].expires_at, NOW + 900);
	store_contacts_free(v, n);

	/* let go: every recorded one is stale; B's removal goes out, A's
	 * not yet; the registrar says both are gone */
	assert_int_equal(contacts_registered(&c, f->wwan, B, "call-1", 6, 600, NOW), 0);
	contacts_release(&c, NOW);
	assert_int_equal(contacts_count_stale(&c), 3);
	contacts_find(&c, B)->pending = true;
	contacts_unrecorded(&c, A);
	contacts_unrecorded(&c, B);
	assert_null(contacts_find(&c, A));
	assert_non_null(contacts_find(&c, B));
	held(&c, NOW, buf, sizeof(buf));
	assert_string_equal(buf, "");
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, "");
	contacts_clear(&c);
}

static void test_load_after_restart(void **state)
{
	struct fx *f = *state;
	struct contacts c, again;
	struct store_contact old = {
		.profile_id = f->pid, .iap_id = f->wlan, .contact = "sip:old@10.0.0.2:5060",
		.call_id = "call-0", .cseq = 1, .expires_at = NOW - 1,
	};
	char *call_id = NULL, buf[512];
	uint32_t cseq = 0;

	assert_int_equal(store_contact_upsert(f->s, &old), 0);
	contacts_init(&c, f->s, f->pid);
	assert_int_equal(contacts_registered(&c, f->wlan, A, "call-1", 3, 600, NOW), 0);
	assert_int_equal(contacts_registered(&c, f->wwan, B, "call-2", 9, 600, NOW), 0);
	contacts_clear(&c);            /* a crash */

	contacts_init(&again, f->s, f->pid);
	assert_int_equal(contacts_load(&again, NOW, &call_id, &cseq), 2);
	assert_string_equal(call_id, "call-2");        /* the highest CSeq */
	assert_int_equal(cseq, 9);
	assert_int_equal(contacts_count_stale(&again), 2);
	assert_int_equal(contacts_find(&again, A)->iap_id, f->wlan);
	assert_true(contacts_find(&again, B)->recorded);
	rows(f, buf, sizeof(buf));     /* the expired one is gone */
	assert_string_equal(buf, A "@1 3; " B "@2 9");
	contacts_removed(&again, A);
	rows(f, buf, sizeof(buf));
	assert_string_equal(buf, B "@2 9");
	contacts_clear(&again);
	free(call_id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_and_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_what_the_binding_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_after_restart, setup, teardown),
	};

	log_open("test-contacts", LOG_TARGET_STDERR, true);
	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
