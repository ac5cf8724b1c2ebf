/*
 * The profile export format (docs/profiles.md, "Export format"): one
 * [profile] section per profile, "key = value" lines whose keys are the
 * JSON member paths (quoted values and string lists in JSON, which is why
 * it lives in daemon/ with the JSON codec).  Pure: text in, profiles out,
 * and back (the registry's side: daemon/api-profile.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "alr/profile.h"

#define PROFILE_TEXT_MAX_PROFILES 1000

struct profile_text_error {
	unsigned int line;              /* 1-based; 0: not tied to a line */
	char field[96];                 /* the profile field, "" for syntax errors */
	char message[384];              /* "registrar.uri: 'sip:' is not a valid SIP URI" */
};

/*
 * Write @n profiles.  Passwords only when @include_passwords (then wipe the
 * text with explicit_bzero() before freeing it); read-only members (id,
 * registered_aors, registered_contact) are left out, the id as a comment.
 * 0 and a malloc'ed string in *@ret_text, or -ENOMEM.
 */
int profile_text_export(const struct profile *const *profiles, size_t n,
			bool include_passwords, char **ret_text);

/*
 * Parse @len bytes of @text.  Every profile goes through profile_apply_json()
 * on a profile_new() and profile_validate() with @ctx (may be NULL); at most
 * one may be the default.  0 with *@ret_profiles (free with
 * profile_text_free()) and *@ret_n, or -EINVAL with @ret_error filled,
 * or -ENOMEM.
 */
int profile_text_import(const char *text, size_t len, const struct profile_validate_ctx *ctx,
			struct profile ***ret_profiles, size_t *ret_n,
			struct profile_text_error *ret_error);

void profile_text_free(struct profile **profiles, size_t n);
