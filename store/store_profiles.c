/* The store's profiles: written with their servers and parameters in one
 * transaction, read back row by row (a row the owner's check refuses is
 * skipped and logged, never fatal). */
#include "store/store_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/profile.h"

/* @sv as a JSON array (malloc'ed); NULL on ENOMEM or a SQLite failure
 * (logged). */
static char *strv_to_text(struct store *s, const struct profile_strv *sv)
{
	size_t size = sizeof("SELECT json_array()") + 2 * sv->n;
	char *sql = malloc(size), *text = NULL;
	sqlite3_stmt *st = NULL;
	size_t len;
	int rc;

	if (!sql)
		return NULL;
	len = (size_t)snprintf(sql, size, "SELECT json_array(");
	for (size_t i = 0; i < sv->n; i++)
		len += (size_t)snprintf(sql + len, size - len, i ? ",?" : "?");
	snprintf(sql + len, size - len, ")");
	if (store_prepare(s, sql, &st) == 0) {
		for (size_t i = 0; i < sv->n; i++)
			sqlite3_bind_text(st, (int)i + 1, sv->v[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
			text = strdup((const char *)sqlite3_column_text(st, 0));
		else
			store_db_error(s, rc, "writing a list as JSON");
	}
	sqlite3_finalize(st);
	free(sql);
	return text;
}

/* Append the strings of the JSON array @text (NULL: none) to @ret.
 * -EBADMSG when it is not an array of strings. */
static int text_to_strv(struct store *s, const char *text, struct profile_strv *ret)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_DONE, r;

	if (!text)
		return 0;
	r = store_prepare(s, "SELECT json_type(?1) = 'array', type, value "
		    "FROM (SELECT 1) LEFT JOIN json_each(?1)", &st);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(st, 1);

		if (!sqlite3_column_int(st, 0))
			r = -EBADMSG;
		else if (!type)
			break;          /* [] */
		else if (strcmp(type, "text") != 0)
			r = -EBADMSG;
		else
			r = profile_strv_push(ret, (const char *)sqlite3_column_text(st, 2));
	}
	/* malformed JSON is an error of the statement */
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = -EBADMSG;
	sqlite3_finalize(st);
	return r;
}

static int bind_strv(struct store *s, sqlite3_stmt *st, int i, const struct profile_strv *sv)
{
	char *text = strv_to_text(s, sv);

	if (!text)
		return -ENOMEM;
	sqlite3_bind_text(st, i, text, -1, free);
	return 0;
}

/* ---- profiles: write ------------------------------------------------- */

#define PROFILE_COLUMNS \
	"provider_name, type_class, type_name, aor, registered_aors, registered_contact, " \
	"snap_id, iap_id, bearer, proxy_from_dhcp, auto_register, is_default, " \
	"private_identity, security_negotiation, sigcomp, contact_params, extra_headers, " \
	"expires, dscp, locked, local_users, local_password"

static int bind_profile(struct store *s, sqlite3_stmt *st, const struct profile *p)
{
	store_bind_opt_text(st, 1, p->provider_name);
	sqlite3_bind_text(st, 2, profile_class_to_str(p->type_class), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p->type_name, -1, SQLITE_TRANSIENT);
	store_bind_opt_text(st, 4, p->aor);
	if (bind_strv(s, st, 5, &p->registered_aors) < 0)
		return -ENOMEM;
	store_bind_opt_text(st, 6, p->registered_contact);
	store_bind_opt_id(st, 7, p->snap_id);
	store_bind_opt_id(st, 8, p->iap_id);
	sqlite3_bind_text(st, 9, profile_bearer_to_str(p->bearer), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 10, p->proxy_from_dhcp);
	sqlite3_bind_int(st, 11, p->auto_register);
	sqlite3_bind_int(st, 12, p->is_default);
	store_bind_opt_text(st, 13, p->private_identity);
	sqlite3_bind_int(st, 14, p->security_negotiation);
	sqlite3_bind_int(st, 15, p->sigcomp);
	if (bind_strv(s, st, 16, &p->contact_params) < 0 ||
	    bind_strv(s, st, 17, &p->extra_headers) < 0)
		return -ENOMEM;
	sqlite3_bind_int64(st, 18, p->expires);
	sqlite3_bind_int64(st, 19, p->dscp);
	sqlite3_bind_int(st, 20, p->locked);
	if (bind_strv(s, st, 21, &p->local_users) < 0)
		return -ENOMEM;
	/* SQLITE_STATIC: no copy of the password outside SQLite's pages */
	if (p->local_password)
		sqlite3_bind_text(st, 22, p->local_password, -1, SQLITE_STATIC);
	return 0;
}

static int write_params(struct store *s, sqlite3_stmt *st, unsigned int id, const char *scope,
			const struct profile_params *ps)
{
	int r;

	for (size_t i = 0; i < ps->n; i++) {
		const struct profile_param *pp = &ps->v[i];

		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
		if (pp->name)
			sqlite3_bind_text(st, 4, pp->name, -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_int64(st, 5, pp->key);
		sqlite3_bind_text(st, 6, profile_param_type_to_str(pp->type), -1, SQLITE_STATIC);
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			sqlite3_bind_int64(st, 7, pp->value.i);
			break;
		case PROFILE_PARAM_BOOL:
			sqlite3_bind_int64(st, 7, pp->value.b);
			break;
		case PROFILE_PARAM_STRING:
			store_bind_opt_text(st, 8, pp->value.s);
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (bind_strv(s, st, 8, &pp->value.list) < 0)
				return -ENOMEM;
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			return -EINVAL;
		}
		r = store_step_done(s, st, "writing a profile parameter");
		if (r < 0)
			return r;
	}
	return 0;
}

static int write_children(struct store *s, const struct profile *p)
{
	static const char *const roles[2] = { "registrar", "outbound_proxy" };
	const struct profile_server *servers[2] = { &p->registrar, &p->outbound_proxy };
	sqlite3_stmt *del_s = NULL, *del_p = NULL, *ins_s = NULL, *ins_p = NULL;
	int r;

	r = store_prepare(s, "DELETE FROM profile_server WHERE profile_id = ?1", &del_s);
	if (r == 0)
		r = store_prepare(s, "DELETE FROM profile_param WHERE profile_id = ?1", &del_p);
	if (r == 0)
		r = store_prepare(s, "INSERT INTO profile_server (profile_id, role, uri, transport, "
			    "digest_user, realm, password, ha1, ca_file) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &ins_s);
	if (r == 0)
		r = store_prepare(s, "INSERT INTO profile_param (profile_id, scope, position, name, "
			    "num_key, type, value_int, value_text) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &ins_p);
	if (r < 0)
		goto out;
	sqlite3_bind_int64(del_s, 1, p->id);
	sqlite3_bind_int64(del_p, 1, p->id);
	r = store_step_done(s, del_s, "replacing profile servers");
	if (r == 0)
		r = store_step_done(s, del_p, "replacing profile parameters");
	for (int i = 0; i < 2 && r == 0; i++) {
		const struct profile_server *sv = servers[i];

		sqlite3_bind_int64(ins_s, 1, p->id);
		sqlite3_bind_text(ins_s, 2, roles[i], -1, SQLITE_STATIC);
		store_bind_opt_text(ins_s, 3, sv->uri);
		sqlite3_bind_text(ins_s, 4, profile_transport_to_str(sv->transport), -1,
				  SQLITE_STATIC);
		store_bind_opt_text(ins_s, 5, sv->digest_user);
		store_bind_opt_text(ins_s, 6, sv->realm);
		/* SQLITE_STATIC: no copy of the password outside SQLite's pages */
		if (sv->password)
			sqlite3_bind_text(ins_s, 7, sv->password, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins_s, 7);
		if (sv->ha1)
			sqlite3_bind_text(ins_s, 8, sv->ha1, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(ins_s, 8);
		store_bind_opt_text(ins_s, 9, sv->ca_file);
		r = store_step_done(s, ins_s, "writing a profile server");
		sqlite3_clear_bindings(ins_s);
		if (r == 0)
			r = write_params(s, ins_p, p->id, roles[i], &sv->params);
	}
	if (r == 0)
		r = write_params(s, ins_p, p->id, "profile", &p->params);
out:
	sqlite3_finalize(del_s);
	sqlite3_finalize(del_p);
	sqlite3_finalize(ins_s);
	sqlite3_finalize(ins_p);
	return r;
}

/* Clear the default flag on every profile but @keep (0: all). */
static int clear_default(struct store *s, unsigned int keep)
{
	sqlite3_stmt *st;
	int r = store_prepare(s, "UPDATE profile SET is_default = 0 WHERE is_default AND id <> ?1", &st);

	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, keep);
	r = store_step_done(s, st, "clearing the default profile");
	sqlite3_finalize(st);
	return r;
}

int store_profile_insert(struct store *s, struct profile *p)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 id;
	int r;

	r = store_tx_begin(s);
	if (r < 0)
		return r;
	if (p->is_default)
		r = clear_default(s, 0);
	if (r == 0)
		r = store_prepare(s, "INSERT INTO profile (" PROFILE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, "
			    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
			    "?20, ?21, ?22)", &st);
	if (r == 0)
		r = bind_profile(s, st, p);
	if (r == 0)
		r = store_step_done(s, st, "inserting a profile");
	sqlite3_finalize(st);
	if (r < 0)
		return store_tx_end(s, r);
	id = sqlite3_last_insert_rowid(s->db);
	if (id <= 0 || id > (sqlite3_int64)UINT32_MAX)
		return store_tx_end(s, log_errno(LOG_ERR, -ERANGE, "store: profile id %lld out of range",
					   (long long)id));
	p->id = (unsigned int)id;
	r = store_durable(s, store_tx_end(s, write_children(s, p)));
	if (r < 0)
		p->id = 0;
	return r;
}

int store_profile_update(struct store *s, const struct profile *p)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (!p->id)
		return -ENOENT;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	if (p->is_default)
		r = clear_default(s, p->id);
	if (r == 0)
		r = store_prepare(s, "UPDATE profile SET (" PROFILE_COLUMNS ") = (?1, ?2, ?3, ?4, ?5, "
			    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, "
			    "?21, ?22) WHERE id = ?23", &st);
	if (r == 0)
		r = bind_profile(s, st, p);
	if (r == 0) {
		sqlite3_bind_int64(st, 23, p->id);
		r = store_step_done(s, st, "updating a profile");
	}
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	if (r == 0)
		r = write_children(s, p);
	return store_durable(s, store_tx_end(s, r));
}

int store_profile_delete(struct store *s, unsigned int id)
{
	sqlite3_stmt *st;
	int r = store_prepare(s, "DELETE FROM profile WHERE id = ?1", &st);

	if (r < 0)
		return r;
	/* one statement: its own transaction; the cascade deletes servers,
	 * parameters and contacts with it */
	sqlite3_bind_int64(st, 1, id);
	r = store_step_done(s, st, "deleting a profile");
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	return store_durable(s, r);
}

int store_set_default_profile(struct store *s, unsigned int id)
{
	sqlite3_stmt *st = NULL;
	int r = store_tx_begin(s);

	if (r < 0)
		return r;
	r = clear_default(s, id);
	if (r == 0 && id) {
		r = store_prepare(s, "UPDATE profile SET is_default = 1 WHERE id = ?1", &st);
		if (r == 0) {
			sqlite3_bind_int64(st, 1, id);
			r = store_step_done(s, st, "setting the default profile");
		}
		sqlite3_finalize(st);
		if (r == 0 && sqlite3_changes(s->db) == 0)
			r = -ENOENT;
	}
	return store_durable(s, store_tx_end(s, r));
}

/* ---- profiles: read -------------------------------------------------- */

struct loader {
	struct store *s;
	sqlite3_stmt *servers;
	sqlite3_stmt *params;
};

static int col_string(sqlite3_stmt *st, int col, char **slot, bool secret)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return profile_set_string(slot, t, secret);
}

static int bad_row(struct store *s, unsigned int id, const char *what, const char *value)
{
	return log_errno(LOG_ERR, -EBADMSG, "store: %s: profile %u has a bad %s '%s'",
			 s->path, id, what, value ? value : "(null)");
}

static int load_params(struct loader *l, struct profile *p)
{
	sqlite3_stmt *st = l->params;
	int rc = SQLITE_DONE, r = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, p->id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *scope = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 3);
		struct profile_params *ps;
		struct profile_param *pp;
		int t = profile_param_type_from_str(type);

		if (scope && strcmp(scope, "profile") == 0)
			ps = &p->params;
		else if (scope && strcmp(scope, "registrar") == 0)
			ps = &p->registrar.params;
		else if (scope && strcmp(scope, "outbound_proxy") == 0)
			ps = &p->outbound_proxy.params;
		else {
			r = bad_row(l->s, p->id, "parameter scope", scope);
			break;
		}
		if (t < 0) {
			r = bad_row(l->s, p->id, "parameter type", type);
			break;
		}
		pp = profile_params_add(ps);
		if (!pp) {
			r = -ENOMEM;
			break;
		}
		pp->type = (enum profile_param_type)t;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			r = col_string(st, 1, &pp->name, false);
		else
			pp->key = (uint32_t)sqlite3_column_int64(st, 2);
		switch (pp->type) {
		case PROFILE_PARAM_INT:
			pp->value.i = sqlite3_column_int64(st, 4);
			break;
		case PROFILE_PARAM_BOOL:
			pp->value.b = sqlite3_column_int64(st, 4) != 0;
			break;
		case PROFILE_PARAM_STRING:
			if (r == 0)
				r = col_string(st, 5, &pp->value.s, false);
			break;
		case PROFILE_PARAM_STRING_LIST:
			if (r == 0)
				r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 5),
						 &pp->value.list);
			if (r == -EBADMSG)
				r = bad_row(l->s, p->id, "string list",
					    (const char *)sqlite3_column_text(st, 5));
			break;
		case _PROFILE_PARAM_TYPE_MAX:
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_db_error(l->s, rc, "reading profile parameters");
	sqlite3_reset(st);
	return r;
}

static int load_servers(struct loader *l, struct profile *p)
{
	sqlite3_stmt *st = l->servers;
	int rc = SQLITE_DONE, r = 0;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, p->id);
	while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *role = (const char *)sqlite3_column_text(st, 0);
		const char *transport = (const char *)sqlite3_column_text(st, 2);
		struct profile_server *sv;
		int t = profile_transport_from_str(transport);

		if (role && strcmp(role, "registrar") == 0)
			sv = &p->registrar;
		else if (role && strcmp(role, "outbound_proxy") == 0)
			sv = &p->outbound_proxy;
		else {
			r = bad_row(l->s, p->id, "server role", role);
			break;
		}
		if (t < 0) {
			r = bad_row(l->s, p->id, "transport", transport);
			break;
		}
		sv->transport = (enum profile_transport)t;
		if (col_string(st, 1, &sv->uri, false) < 0 ||
		    col_string(st, 3, &sv->digest_user, false) < 0 ||
		    col_string(st, 4, &sv->realm, false) < 0 ||
		    col_string(st, 5, &sv->password, true) < 0 ||
		    col_string(st, 6, &sv->ha1, true) < 0 ||
		    col_string(st, 7, &sv->ca_file, false) < 0)
			r = -ENOMEM;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_db_error(l->s, rc, "reading profile servers");
	sqlite3_reset(st);
	return r;
}

static int profile_from_row(struct loader *l, sqlite3_stmt *st, struct profile **ret)
{
	struct profile *p = profile_new();
	const char *cls, *bearer;
	int c, b, r = 0;

	if (!p)
		return -ENOMEM;
	p->id = (unsigned int)sqlite3_column_int64(st, 0);
	cls = (const char *)sqlite3_column_text(st, 2);
	bearer = (const char *)sqlite3_column_text(st, 9);
	c = profile_class_from_str(cls);
	b = profile_bearer_from_str(bearer);
	if (c < 0)
		r = bad_row(l->s, p->id, "type class", cls);
	else if (b < 0)
		r = bad_row(l->s, p->id, "bearer", bearer);
	if (r < 0)
		goto fail;
	p->type_class = (enum profile_class)c;
	p->bearer = (enum profile_bearer)b;
	if (col_string(st, 1, &p->provider_name, false) < 0 ||
	    col_string(st, 3, &p->type_name, false) < 0 ||
	    col_string(st, 4, &p->aor, false) < 0 ||
	    col_string(st, 6, &p->registered_contact, false) < 0 ||
	    col_string(st, 13, &p->private_identity, false) < 0 ||
	    col_string(st, 22, &p->local_password, true) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 5), &p->registered_aors);
	if (r == 0)
		r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 16), &p->contact_params);
	if (r == 0)
		r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 17), &p->extra_headers);
	if (r == 0)
		r = text_to_strv(l->s, (const char *)sqlite3_column_text(st, 21), &p->local_users);
	if (r == -EBADMSG)
		r = bad_row(l->s, p->id, "string list", "(not a JSON array of strings)");
	if (r < 0)
		goto fail;
	p->snap_id = (unsigned int)sqlite3_column_int64(st, 7);
	p->iap_id = (unsigned int)sqlite3_column_int64(st, 8);
	p->proxy_from_dhcp = sqlite3_column_int(st, 10) != 0;
	p->auto_register = sqlite3_column_int(st, 11) != 0;
	p->is_default = sqlite3_column_int(st, 12) != 0;
	p->security_negotiation = sqlite3_column_int(st, 14) != 0;
	p->sigcomp = sqlite3_column_int(st, 15) != 0;
	p->expires = (uint32_t)sqlite3_column_int64(st, 18);
	p->dscp = (unsigned int)sqlite3_column_int64(st, 19);
	p->locked = sqlite3_column_int(st, 20) != 0;
	r = load_servers(l, p);
	if (r == 0)
		r = load_params(l, p);
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	profile_free(p);
	return r;
}

/*
 * A row must make a profile profile.create would have accepted (the
 * generic checks; plugins, SNAPs and IAPs may come and go): the registry
 * takes every loaded profile for a valid one, and a NULL or broken AOR
 * would reach the SIP stack.  An edited or damaged row is skipped with a
 * warning naming it, and left in the file as it is (docs/profiles.md,
 * "The store"): the other profiles work, nothing is lost.  The check is
 * the registry's (store_set_profile_check()): validation is engine logic.
 */
void store_set_profile_check(struct store *s, store_profile_check_fn check)
{
	s->check = check;
}

static bool row_valid(struct store *s, const struct profile *p)
{
	struct profile_error e = { "", "" };

	if (!s->check || s->check(p, &e) == 0)
		return true;
	/* A URI with a password in it comes back in the reason. */
	log_warning("store: %s: profile row %u skipped: %s: %s; the row is kept as it is: "
		    "fix or delete it with sqlite3, or restore a backup", s->path, p->id,
		    e.field, strstr(e.reason, "password") ? "carries a password" : e.reason);
	return false;
}

/* Read profiles (@id 0: all) into an array, inside one read transaction so
 * that a profile's rows come from one version. */
static int load_profiles(struct store *s, unsigned int id, struct profile ***ret,
			 size_t *ret_n)
{
	struct loader l = { .s = s };
	sqlite3_stmt *st = NULL;
	struct profile **v = NULL;
	size_t n = 0;
	int rc, r;

	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_db_error(s, rc, "starting a read");
	r = store_prepare(s, id ? "SELECT id, " PROFILE_COLUMNS " FROM profile WHERE id = ?1"
			  : "SELECT id, " PROFILE_COLUMNS " FROM profile ORDER BY id", &st);
	if (r == 0)
		r = store_prepare(s, "SELECT role, uri, transport, digest_user, realm, password, ha1, "
			    "ca_file FROM profile_server WHERE profile_id = ?1", &l.servers);
	if (r == 0)
		r = store_prepare(s, "SELECT scope, name, num_key, type, value_int, value_text "
			    "FROM profile_param WHERE profile_id = ?1 ORDER BY scope, position",
			    &l.params);
	if (r < 0)
		goto out;
	if (id)
		sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct profile **nv = realloc(v, (n + 1) * sizeof(*nv));

		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		v = nv;
		r = profile_from_row(&l, st, &v[n]);
		if (r < 0)
			goto out;
		if (!row_valid(s, v[n])) {
			profile_free(v[n]);
			continue;
		}
		n++;
	}
	if (rc != SQLITE_DONE)
		r = store_db_error(s, rc, "reading profiles");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(l.servers);
	sqlite3_finalize(l.params);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			profile_free(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int store_profile_get(struct store *s, unsigned int id, struct profile **ret)
{
	struct profile **v = NULL;
	size_t n = 0;
	int r;

	if (!id)
		return -ENOENT;
	r = load_profiles(s, id, &v, &n);
	if (r < 0)
		return r;
	if (n == 0) {
		free(v);
		return -ENOENT;
	}
	*ret = v[0];
	free(v);
	return 0;
}

int store_profile_load_all(struct store *s, store_profile_cb cb, void *userdata)
{
	struct profile **v = NULL;
	size_t n = 0, i;
	int r;

	r = load_profiles(s, 0, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r >= 0; i++)
		r = cb(v[i], userdata);
	for (; i < n; i++)
		profile_free(v[i]);
	free(v);
	return r < 0 ? r : 0;
}

