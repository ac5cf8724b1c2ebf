/* Passwords at rest (secret.h). */
#include "alr/secret.h"

#include <errno.h>
#include <osipparser2/osip_uri.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "ha1:1\nUSER\nREALM\nMD5-HEX\nSHA256-HEX": user and realm are checked
 * text without control characters (profile_validate), so a newline
 * separates them safely. */
#define RECORD_TAG "ha1:1\n"

static void set_error(struct profile_error *e, const char *field, const char *reason)
{
	if (!e)
		return;
	snprintf(e->field, sizeof(e->field), "%s", field);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

/* The digest user of @sv, as the binding will send it: digest_user, else
 * private_identity, else the AOR's user part.  NULL when there is none;
 * *ret_owned is what to free. */
static const char *digest_user(const struct profile *p, const struct profile_server *sv,
			       char **ret_owned)
{
	osip_uri_t *u = NULL;

	*ret_owned = NULL;
	if (sv->digest_user)
		return sv->digest_user;
	if (p->private_identity)
		return p->private_identity;
	if (!p->aor || osip_uri_init(&u) != 0)
		return NULL;
	if (osip_uri_parse(u, p->aor) == 0 && u->username && *u->username)
		*ret_owned = strdup(u->username);
	osip_uri_free(u);
	return *ret_owned;
}

int secret_open(const char *record, char **ret_user, struct digest_ha1 *ret)
{
	const char *f[4], *p;
	size_t len[4];

	if (!record || strncmp(record, RECORD_TAG, strlen(RECORD_TAG)) != 0)
		return -EINVAL;
	p = record + strlen(RECORD_TAG);
	for (int i = 0; i < 4; i++) {
		const char *nl = strchr(p, '\n');

		f[i] = p;
		len[i] = nl ? (size_t)(nl - p) : strlen(p);
		if ((i < 3 && !nl) || (i == 3 && nl))
			return -EINVAL;
		p = nl ? nl + 1 : p + len[i];
	}
	if (len[0] == 0 || len[2] != 32 || len[3] != 64)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->md5, f[2], 32);
	memcpy(ret->sha256, f[3], 64);
	if (ret_user) {
		*ret_user = strndup(f[0], len[0]);
		if (!*ret_user) {
			OPENSSL_cleanse(ret, sizeof(*ret));
			return -ENOMEM;
		}
	}
	return 0;
}

/* The realm a record was made for (a pointer into it, @ret_len bytes). */
static const char *record_realm(const char *record, size_t *ret_len)
{
	const char *p = strchr(record + strlen(RECORD_TAG), '\n'), *nl;

	if (!p)
		return NULL;
	nl = strchr(++p, '\n');
	if (!nl)
		return NULL;
	*ret_len = (size_t)(nl - p);
	return p;
}

static int seal_server(const struct profile *p, struct profile_server *sv,
		       const char *field, struct profile_error *e)
{
	struct digest_ha1 h;
	char *owned, *user = NULL, *rec;
	const char *name;
	const char *realm;
	size_t rlen = 0;
	int r, n;

	name = digest_user(p, sv, &owned);
	if (sv->password && *sv->password) {
		/* Without a realm any realm may challenge: the password itself
		 * is needed, and kept. */
		if (!sv->realm || !name) {
			free(owned);
			return 0;
		}
		r = digest_ha1_compute(name, sv->realm, sv->password, &h);
		if (r < 0) {
			free(owned);
			return r;
		}
		n = asprintf(&rec, RECORD_TAG "%s\n%s\n%s\n%s", name, sv->realm, h.md5, h.sha256);
		OPENSSL_cleanse(&h, sizeof(h));
		free(owned);
		if (n < 0)
			return -ENOMEM;
		/* profile_set_string() wipes what it replaces */
		profile_set_string(&sv->ha1, NULL, true);
		sv->ha1 = rec;
		profile_set_string(&sv->password, NULL, true);
		return 0;
	}
	if (!sv->ha1) {
		free(owned);
		return 0;
	}
	r = secret_open(sv->ha1, &user, &h);
	OPENSSL_cleanse(&h, sizeof(h));
	realm = r == 0 ? record_realm(sv->ha1, &rlen) : NULL;
	if (r == -ENOMEM) {
		free(owned);
		return r;
	}
	if (r < 0 || !realm || !name || strcmp(user, name) != 0 || !sv->realm ||
	    strlen(sv->realm) != rlen || strncmp(sv->realm, realm, rlen) != 0) {
		char reason[256];

		if (r < 0 || !realm)
			snprintf(reason, sizeof(reason), "the stored form of the password is "
				 "damaged; give the password again");
		else
			snprintf(reason, sizeof(reason), "alrd keeps only a digest of the password, "
				 "made for user '%.60s' in realm '%.*s'; give the password again to "
				 "change the user name or realm", user, (int)(rlen > 60 ? 60 : rlen),
				 realm);
		set_error(e, field, reason);
		free(user);
		free(owned);
		return -EINVAL;
	}
	free(user);
	free(owned);
	return 0;
}

int secret_seal_profile(struct profile *p, struct profile_error *e)
{
	int r = seal_server(p, &p->registrar, "registrar.password", e);

	return r < 0 ? r : seal_server(p, &p->outbound_proxy, "outbound_proxy.password", e);
}

bool secret_profile_unsealed(const struct profile *p)
{
	for (int i = 0; i < 2; i++) {
		const struct profile_server *sv = i ? &p->outbound_proxy : &p->registrar;

		if (sv->password && *sv->password && sv->realm)
			return true;
	}
	return false;
}
