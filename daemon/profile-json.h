/*
 * The profile object of docs/profiles.md on the control socket: struct
 * profile to JSON and back (json-c).  The wire format lives at the edge,
 * like networkd's networkd-*-json.c; alr/ speaks struct profile and takes
 * a client's change as a struct profile_patch.
 */
#pragma once

#include <stdbool.h>

#include "alr/profile.h"

struct json_object;
struct registry_profile_status;

/*
 * The profile object (new reference).  Passwords are emitted only when
 * @include_secrets (export with passwords); otherwise each server carries
 * "password_set".  NULL on ENOMEM.
 */
struct json_object *profile_to_json(const struct profile *p, bool include_secrets);

/*
 * Apply a JSON object to @p, for create (on profile_new()) and partial
 * update: absent members keep their value, null clears, an empty password
 * keeps the old one.  Unknown and read-only members are refused.  Checks
 * shapes (JSON types, enum names, integer ranges); profile_validate()
 * checks values.  All or nothing: on -EINVAL @p is unchanged and @ret
 * names the member.  -ENOMEM possible.
 */
int profile_apply_json(struct profile *p, struct json_object *obj,
		       struct profile_error *ret);

/* A patch (alr/profile.h) that applies @obj with profile_apply_json();
 * @obj is borrowed and must outlive the registry call it is given to. */
struct profile_patch profile_json_patch(struct json_object *obj);

/* A profile of the registry as docs/protocol.md shows it
 * (registry_profile_status()): the profile object, never a password,
 * with its read-only "state".  NULL on ENOMEM. */
struct json_object *profile_status_to_json(const struct registry_profile_status *st);
