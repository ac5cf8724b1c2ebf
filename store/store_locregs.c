/* Local registrations at the SIP edge (docs/edge.md): what keeps a
 * profile in use across a restart of alrd. */
#include "store/store_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/profile.h"

/* Written with every REGISTER a local application sends (a refresh each
 * minute or so per application): synced like the registered contacts, by
 * store_sync() STORE_SYNC_DELAY later, never with an fsync of its own. */
int store_locreg_upsert(struct store *s, const struct store_locreg *r)
{
	sqlite3_stmt *st;
	int rc, ret;

	ret = store_prepare(s, "INSERT INTO local_registration (profile_id, contact, call_id, "
			    "cseq, expires_at, uid, user_agent, source) VALUES (?1, ?2, ?3, ?4, ?5, "
			    "?6, ?7, ?8) ON CONFLICT (profile_id, contact) DO UPDATE SET "
			    "call_id = excluded.call_id, cseq = excluded.cseq, "
			    "expires_at = excluded.expires_at, uid = excluded.uid, "
			    "user_agent = excluded.user_agent, source = excluded.source", &st);
	if (ret < 0)
		return ret;
	sqlite3_bind_int64(st, 1, r->profile_id);
	sqlite3_bind_text(st, 2, r->contact, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, r->call_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, r->cseq);
	sqlite3_bind_int64(st, 5, r->expires_at);
	sqlite3_bind_int64(st, 6, r->uid);
	store_bind_opt_text(st, 7, r->user_agent);
	sqlite3_bind_text(st, 8, r->source ? r->source : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		return -ENOENT;
	if (rc != SQLITE_DONE)
		return store_db_error(s, rc, "recording a local registration");
	s->unsynced++;
	return 0;
}

int store_locreg_delete(struct store *s, unsigned int profile_id, const char *contact)
{
	sqlite3_stmt *st;
	int r;

	r = store_prepare(s, "DELETE FROM local_registration WHERE profile_id = ?1 AND "
			  "contact = ?2", &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, profile_id);
	sqlite3_bind_text(st, 2, contact, -1, SQLITE_STATIC);
	r = store_step_done(s, st, "deleting a local registration");
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	if (r == 0)
		s->unsynced++;
	return r;
}

void store_locregs_free(struct store_locreg *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].contact);
		free(v[i].call_id);
		free(v[i].user_agent);
		free(v[i].source);
	}
	free(v);
}

int store_locreg_list(struct store *s, unsigned int profile_id, struct store_locreg **ret,
		      size_t *ret_n)
{
	struct store_locreg *v = NULL;
	sqlite3_stmt *st;
	size_t n = 0;
	int rc, r;

	r = store_prepare(s, "SELECT profile_id, contact, call_id, cseq, expires_at, uid, "
			  "user_agent, source FROM local_registration "
			  "WHERE ?1 = 0 OR profile_id = ?1 ORDER BY profile_id, expires_at, contact",
			  &st);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, profile_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_locreg *nv = realloc(v, (n + 1) * sizeof(*nv)), *e;

		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		e = &v[n++];
		memset(e, 0, sizeof(*e));
		e->profile_id = (unsigned int)sqlite3_column_int64(st, 0);
		e->cseq = (uint32_t)sqlite3_column_int64(st, 3);
		e->expires_at = sqlite3_column_int64(st, 4);
		e->uid = (uint32_t)sqlite3_column_int64(st, 5);
		if (profile_set_string(&e->contact, (const char *)sqlite3_column_text(st, 1),
				       false) < 0 ||
		    profile_set_string(&e->call_id, (const char *)sqlite3_column_text(st, 2),
				       false) < 0 ||
		    profile_set_string(&e->user_agent, (const char *)sqlite3_column_text(st, 6),
				       false) < 0 ||
		    profile_set_string(&e->source, (const char *)sqlite3_column_text(st, 7),
				       false) < 0) {
			r = -ENOMEM;
			break;
		}
		if (!e->contact || !e->call_id) {
			/* NOT NULL columns: only a damaged file */
			n--;
			free(e->user_agent);
			free(e->source);
			free(e->contact);
			free(e->call_id);
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_db_error(s, rc, "listing local registrations");
	sqlite3_finalize(st);
	if (r < 0) {
		store_locregs_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}
