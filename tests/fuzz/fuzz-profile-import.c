/* libFuzzer target: arbitrary bytes as a profile.import text (the export
 * format of docs/profiles.md).
 *
 * profile_text_import() parses the text and runs every profile through
 * profile_apply_json() and profile_validate() (libosip2's URI parser
 * included), as profile.import does (daemon/api-profile.c), without a
 * daemon (no plugin, SNAP or IAP checks).  What imports is exported with its passwords and
 * imported again: the same number of profiles, each equal to the first
 * (profile_diff() NONE), or the export format does not round-trip and
 * that aborts.  No global state: the parser keeps none. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alr/profile.h"
#include "daemon/profile-text.h"

/* Each profile costs a parse and a validation; a big input is no more
 * interesting than a small one, just slower. */
#define MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile **ps = NULL, **again = NULL;
	struct profile_text_error e;
	size_t n = 0, n2 = 0;
	char *text = NULL;

	if (size > MAX_INPUT)
		return 0;
	if (profile_text_import((const char *)data, size, NULL, &ps, &n, &e) < 0)
		return 0;
	if (profile_text_export((const struct profile *const *)ps, n, true, &text) < 0)
		abort();
	if (profile_text_import(text, strlen(text), NULL, &again, &n2, &e) < 0) {
		fprintf(stderr, "exported text does not import: line %u: %s\n%s", e.line,
			e.message, text);
		abort();
	}
	if (n2 != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (profile_diff(ps[i], again[i]) != PROFILE_CHANGE_NONE) {
			fprintf(stderr, "profile %zu differs after export and import:\n%s", i,
				text);
			abort();
		}
	explicit_bzero(text, strlen(text));
	free(text);
	profile_text_free(ps, n);
	profile_text_free(again, n2);
	return 0;
}
