/* The contacts alrd registered (DESIGN §3.8): what a restarted alrd
 * removes at the registrar. */
#include "store/store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/profile.h"

/* ---- registered contacts --------------------------------------------- */

/* Contacts change with every REGISTER: a profile that moves to another
 * IAP writes three times (CSeq, new contact, old contact gone), so 1,000
 * profiles failing over together must not cost 3,000 fsyncs in alrd's one
 * thread while the REGISTERs wait.  Like every commit they are in the
 * kernel's hands at once (a crash of alrd keeps them: DESIGN §3.8) and on
 * the disk at the next store_sync(), which the daemon runs once the loop
 * is idle; a power cut in between may lose them, and such a contact stays
 * at the registrar until it expires, as after any power cut. */
int store_contact_upsert(struct store *s, const struct store_contact *c)
{
	sqlite3_stmt *st = s->contact_upsert;
	int rc;

	sqlite3_bind_int64(st, 1, c->profile_id);
	sqlite3_bind_int64(st, 2, c->iap_id);
	sqlite3_bind_text(st, 3, c->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->cseq);
	sqlite3_bind_int64(st, 6, c->expires_at);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return -ENOENT;         /* the caller's mistake, not the store's */
	if (rc != SQLITE_DONE)
		return store_db_error(s, rc, "recording a registered contact");
	s->unsynced++;
	return 0;
}

int store_contact_delete(struct store *s, unsigned int profile_id, unsigned int iap_id,
			 const char *contact)
{
	sqlite3_stmt *st = s->contact_delete;
	int r;

	sqlite3_bind_int64(st, 1, profile_id);
	sqlite3_bind_int64(st, 2, iap_id);
	sqlite3_bind_text(st, 3, contact, -1, SQLITE_STATIC);
	r = store_step_done(s, st, "deleting a registered contact");
	sqlite3_clear_bindings(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	if (r == 0)
		s->unsynced++;
	return r;
}

void store_contacts_free(struct store_contact *c, size_t n)
{
	if (!c)
		return;
	for (size_t i = 0; i < n; i++) {
		free(c[i].contact);
		free(c[i].call_id);
	}
	free(c);
}

int store_contact_list(struct store *s, unsigned int profile_id,
		       struct store_contact **ret, size_t *ret_n)
{
	struct store_contact *v = NULL;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc, r;

	r = store_prepare(s, "SELECT profile_id, iap_id, contact, call_id, cseq, expires_at "
		    "FROM registered_contact WHERE ?1 = 0 OR profile_id = ?1 "
		    "ORDER BY profile_id, iap_id, contact", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, profile_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_contact *nv = realloc(v, (n + 1) * sizeof(*nv)), *c;

		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		c = &v[n++];
		memset(c, 0, sizeof(*c));
		c->profile_id = (unsigned int)sqlite3_column_int64(st, 0);
		c->iap_id = (unsigned int)sqlite3_column_int64(st, 1);
		c->cseq = (uint32_t)sqlite3_column_int64(st, 4);
		c->expires_at = sqlite3_column_int64(st, 5);
		if (profile_set_string(&c->contact, (const char *)sqlite3_column_text(st, 2),
				       false) < 0 ||
		    profile_set_string(&c->call_id, (const char *)sqlite3_column_text(st, 3),
				       false) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_db_error(s, rc, "listing registered contacts");
	sqlite3_finalize(st);
	if (r < 0) {
		store_contacts_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

