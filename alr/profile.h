/*
 * A SIP profile: one identity and how to register it (docs/profiles.md).
 *
 * The object itself is base/profile.h (the store persists it); this module
 * is what the engine knows about it: its validation, the classification of
 * an update, and the patch a client's change arrives as.  Its JSON form
 * (docs/protocol.md conventions) is the control socket's, in
 * daemon/profile-json.h.  Pure: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/profile.h"

/* What an update means for a registered profile (profile_diff()). */
enum profile_change {
	PROFILE_CHANGE_NONE,
	PROFILE_CHANGE_MINOR,           /* re-REGISTER the same binding */
	PROFILE_CHANGE_MAJOR,           /* deregister, then register anew */
	_PROFILE_CHANGE_MAX,
};

const char *profile_change_to_str(enum profile_change c);

/* Plugin capabilities, as told by lookup_type(). */
enum {
	PROFILE_TYPE_NEEDS_REGISTRAR         = 1u << 0,
	PROFILE_TYPE_NEEDS_PRIVATE_IDENTITY  = 1u << 1,
	PROFILE_TYPE_SIGCOMP                 = 1u << 2,
	PROFILE_TYPE_SECURITY_NEGOTIATION    = 1u << 3,
};

/*
 * What profile_validate() checks against the world.  A NULL callback skips
 * that check (an offline import); the daemon passes all of them.
 */
struct profile_validate_ctx {
	/* 0 and *ret_flags (PROFILE_TYPE_*) when a plugin serves the type,
	 * -ENOENT when none does. */
	int (*lookup_type)(void *userdata, enum profile_class cls,
			   const char *type_name, unsigned int *ret_flags);
	/* The plugin's own checks, after the generic ones: 0 or -EINVAL
	 * with @ret filled. */
	int (*plugin_validate)(void *userdata, const struct profile *p,
			       struct profile_error *ret);
	bool (*snap_exists)(void *userdata, unsigned int snap_id);
	bool (*iap_exists)(void *userdata, unsigned int iap_id);
	void *userdata;
};

/* 0, or -EINVAL with @ret naming the first bad field and why.
 * @ctx may be NULL. */
int profile_validate(const struct profile *p, const struct profile_validate_ctx *ctx,
		     struct profile_error *ret);

/* profile_validate() without @ctx: the checks that need nothing of the
 * running daemon (the store's row check, store_set_profile_check()). */
int profile_check(const struct profile *p, struct profile_error *ret);

/* A type or parameter name: 1 to PROFILE_MAX_NAME of A-Z a-z 0-9 _ . + - */
bool profile_name_valid(const char *s);

/*
 * A change to a profile in whatever form a client sent it (the control
 * socket's JSON object: daemon/profile-json.h), for create and partial
 * update.  @apply changes @p all or nothing: absent members keep their
 * value; it checks shapes, profile_validate() checks values.  0, -EINVAL
 * with @ret naming the member (@p unchanged), or -ENOMEM.  The registry
 * may apply one patch twice (over the plugin's defaults).
 */
struct profile_patch {
	int (*apply)(struct profile *p, const void *data, struct profile_error *ret);
	const void *data;
};

/*
 * How @b differs from @a in what the registrar sees: NONE (identical
 * configuration; id and the read-only registration state are ignored),
 * MINOR or MAJOR, per docs/profiles.md.
 */
enum profile_change profile_diff(const struct profile *a, const struct profile *b);
