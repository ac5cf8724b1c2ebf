/* alr/iap.c names nmmon_conn_state_to_str() (its IAP JSON); the file
 * fuzzers never call it, and linking nm/nmmon.c would bring libnm and
 * GLib in.  Not a fake: reaching it is a bug in the fuzz build. */
#include <stdlib.h>

#include "nm/nmmon.h"

const char *nmmon_conn_state_to_str(enum nmmon_conn_state s)
{
	(void)s;
	abort();
}
