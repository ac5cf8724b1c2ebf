/* Passwords at rest: HA1 instead of the password where the protocol allows
 * it (docs/security.md, "Where secrets live").
 *
 * Digest authentication (RFC 7616 §3.4.2) needs H(username:realm:password)
 * per hash, not the password, once the realm is known.  A server whose
 * realm is configured therefore keeps only that: the profile's password is
 * replaced by a sealed HA1 record before it is stored or used.  The record
 * names the user and realm it was made for, so a later change of either
 * without a new password is refused instead of failing at the registrar. */
#pragma once

#include "alr/profile.h"
#include "sip/digest.h"

/*
 * Seal the passwords of @p's servers: where a server has a password and a
 * realm, replace the password by an HA1 record; where it has a record but
 * no password, check that the record still fits its user name and realm.
 * 0 (nothing to do counts), -EINVAL with @e filled when a record no longer
 * fits, -ENOMEM.
 */
int secret_seal_profile(struct profile *p, struct profile_error *e);

/* Whether secret_seal_profile() would change @p (a password to replace). */
bool secret_profile_unsealed(const struct profile *p);

/*
 * Read the HA1 record of a sealed server: the digest user it was made for
 * in *ret_user (malloc'd) and the hashes in @ret.  -EINVAL for a record
 * that is not one (a damaged store), -ENOMEM.
 */
int secret_open(const char *record, char **ret_user, struct digest_ha1 *ret);
