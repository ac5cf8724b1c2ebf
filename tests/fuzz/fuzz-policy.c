/* libFuzzer target: arbitrary bytes as a SNAP policy file (docs/policy.md).
 *
 * policy_parse_string() is what policy_load_file() runs on a file's
 * bytes.  A file that parses is printed back (policy_snap_print(), what
 * `alrd --check-config` shows) and parsed again: policy.h promises an
 * equal SNAP, so anything else is a bug and aborts.  Errors are turned
 * into their message, as the daemon logs them.  No global state: each
 * input parses from scratch. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_snap *s = NULL, *again = NULL;
	struct policy_error e;
	char msg[PATH_MAX + 300], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (policy_parse_string("fuzz.conf", (const char *)data, size, &s, &e) < 0) {
		policy_error_to_str(&e, msg, sizeof(msg));
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		abort();
	policy_snap_print(s, f);
	fclose(f);
	if (policy_parse_string("printed.conf", text, len, &again, &e) < 0) {
		fprintf(stderr, "printed SNAP does not parse: %s\n%s",
			policy_error_to_str(&e, msg, sizeof(msg)), text);
		abort();
	}
	if (!policy_snap_equal(s, again)) {
		fprintf(stderr, "printed SNAP parses to another one:\n%s", text);
		abort();
	}
	free(text);
	policy_snap_free(s);
	policy_snap_free(again);
	return 0;
}
