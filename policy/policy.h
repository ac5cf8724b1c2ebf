/*
 * SNAP policy files: one SNAP per /etc/alrd/snap.d/NAME.conf (INI, read with
 * inih like the daemon configuration).  The format is docs/policy.md.
 *
 * Pure: files in, checked structs out; no loop, no logging.  Errors are
 * handed to the caller (file, line, problem), which decides how to report
 * them (alrd --check-config prints them, the daemon logs them).
 *
 * A policy set always holds the built-in default SNAP (id 0, name
 * "default"); files may use ids POLICY_ID_MIN..POLICY_ID_MAX and any other
 * name.  A set is immutable once loaded: on reload the daemon loads a new
 * set in full and swaps it in.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/enums.h"

#define POLICY_DEFAULT_ID       0u
#define POLICY_DEFAULT_NAME     "default"
#define POLICY_ID_MIN           1u
#define POLICY_ID_MAX           65535u
#define POLICY_NAME_MAX         64      /* bytes, without the terminator */
#define POLICY_PRIORITY_MAX     65535u  /* lower number = preferred */
#define POLICY_MAX_RULES        64      /* per SNAP (hysteresis memory is a 64-bit mask) */
#define POLICY_MAX_SNAPS        256     /* files loaded from one directory */
#define POLICY_MAX_FILE_SIZE    (64 * 1024)
#define POLICY_PATTERN_MAX      128     /* interface and connection patterns */
#define POLICY_SSID_MAX         32      /* bytes of the SSID itself */
#define POLICY_UNLIMITED        0u      /* max_migrations: no damping */

/* A set of IAP kinds: bit (1 << enum iap_kind). */
#define POLICY_KIND_BIT(k)      (1u << (unsigned)(k))
#define POLICY_KINDS_ALL        ((1u << _IAP_KIND_MAX) - 1u)

enum policy_metered {
	POLICY_METERED_ANY,     /* no condition */
	POLICY_METERED_YES,
	POLICY_METERED_NO,
	_POLICY_METERED_MAX,
};

enum policy_on_timeout {
	POLICY_ON_TIMEOUT_ALLOW,
	POLICY_ON_TIMEOUT_DISALLOW,
	_POLICY_ON_TIMEOUT_MAX,
};

enum policy_migration {
	POLICY_MIGRATION_MAKE_BEFORE_BREAK,
	POLICY_MIGRATION_BREAK_BEFORE_MAKE,
	_POLICY_MIGRATION_MAX,
};

/* What a planned migration does with the profile's calls through the
 * edge (docs/policy.md, "calls"). */
enum policy_calls {
	POLICY_CALLS_MIGRATE,   /* answered calls move with the profile */
	POLICY_CALLS_DEFER,     /* the profile moves once no call is up */
	_POLICY_CALLS_MAX,
};

const char *policy_metered_to_str(enum policy_metered m);
int policy_metered_from_str(const char *s);             /* -EINVAL if unknown */
const char *policy_on_timeout_to_str(enum policy_on_timeout t);
int policy_on_timeout_from_str(const char *s);
const char *policy_migration_to_str(enum policy_migration m);
int policy_migration_from_str(const char *s);
const char *policy_calls_to_str(enum policy_calls c);
int policy_calls_from_str(const char *s);

/*
 * One [rule]: an IAP is a member of the SNAP through this rule when every
 * condition the rule states holds.  Conditions on NetworkManager attributes
 * (connection, uuid, ssid, metered, min_signal) never hold for an IAP
 * whose attribute is unknown.
 */
struct policy_rule {
	unsigned int line;              /* of its [rule] header */
	unsigned int priority;          /* 0..POLICY_PRIORITY_MAX, lower = preferred */
	unsigned int kinds;             /* POLICY_KIND_BIT() mask; POLICY_KINDS_ALL: any */
	char *interface;                /* fnmatch(3) pattern on the interface name, or NULL */
	char *connection;               /* fnmatch(3) pattern on the NM connection id, or NULL */
	char *uuid;                     /* NM connection UUID, lower case, or NULL */
	char *ssid;                     /* exact, in nmmon's printable form, or NULL */
	enum policy_metered metered;
	int min_signal;                 /* 0..100 (NM strength), -1: no condition */
	unsigned int signal_hysteresis; /* 0..min_signal */
};

struct policy_snap {
	unsigned int id;                /* POLICY_DEFAULT_ID for the built-in one */
	char *name;
	char *file;                     /* NULL for the built-in one */
	unsigned int id_line;           /* where id and name were set (0: built in) */
	unsigned int name_line;

	unsigned int stable_time_ms;
	unsigned int approval_timeout_ms;
	enum policy_on_timeout on_timeout;
	enum policy_migration migration;
	enum policy_calls calls;
	unsigned int max_migrations;    /* per window; POLICY_UNLIMITED: no damping */
	unsigned int migration_window_ms;
	unsigned int bearers;           /* POLICY_KIND_BIT() mask of admitted kinds */

	/* Sorted by priority; rules of equal priority keep their file order. */
	size_t n_rules;
	struct policy_rule *rules;
};

/* Where a policy problem was found. */
struct policy_error {
	char file[PATH_MAX];
	unsigned int line;              /* 0: not tied to a line */
	char problem[256];
};

/* "FILE:LINE: PROBLEM" for messages. */
const char *policy_error_to_str(const struct policy_error *e, char *buf, size_t size);

/* The built-in default SNAP, freshly allocated (NULL on ENOMEM). */
struct policy_snap *policy_snap_new_default(void);
struct policy_snap *policy_snap_free(struct policy_snap *s);

/*
 * Parse one SNAP from @len bytes of @text; @file only names it in errors
 * and in the result.  0, or a negative errno with @ret_error filled
 * (-EINVAL for a bad file, -ENOMEM, -EFBIG).
 */
int policy_parse_string(const char *file, const char *text, size_t len,
			struct policy_snap **ret, struct policy_error *ret_error);

/* The same for a file (at most POLICY_MAX_FILE_SIZE bytes, not writable by
 * others). */
int policy_load_file(const char *path, struct policy_snap **ret,
		     struct policy_error *ret_error);

/* Print @s back in normalised form; policy_parse_string() of the output
 * gives an equal SNAP (the built-in one is printed as comments). */
void policy_snap_print(const struct policy_snap *s, FILE *f);

/* Same settings and rules (file and line numbers are not compared). */
bool policy_snap_equal(const struct policy_snap *a, const struct policy_snap *b);
bool policy_rules_equal(const struct policy_snap *a, const struct policy_snap *b);

/* ---- sets ---- */

struct policy_set;

typedef void (*policy_error_cb)(const struct policy_error *e, void *user_data);

/* A set holding only the built-in default SNAP. */
struct policy_set *policy_set_new(void);
struct policy_set *policy_set_free(struct policy_set *set);

/*
 * Load every "*.conf" file of @dir, in byte order of their names; hidden
 * files and anything not ending in ".conf" (editor backups, .dpkg-old, ...)
 * are ignored.  A file that does not parse, or whose id or name an earlier
 * file already uses, is passed to @cb (once, with its first problem) and
 * skipped; the others load.  A missing @dir gives the default SNAP only.
 *
 * Returns the number of files skipped (>= 0) with *@ret set, or a negative
 * errno when @dir cannot be read at all (nothing is passed to @cb then).
 */
int policy_load_dir(const char *dir, struct policy_set **ret,
		    policy_error_cb cb, void *user_data);

/*
 * Add @snap (taking it over) unless its id or name is taken: then -EEXIST
 * with @ret_error naming the clash, and @snap is freed.
 */
int policy_set_add(struct policy_set *set, struct policy_snap *snap,
		   struct policy_error *ret_error);

/* SNAPs in load order; index 0 is the built-in default. */
size_t policy_set_count(const struct policy_set *set);
const struct policy_snap *policy_set_at(const struct policy_set *set, size_t i);
const struct policy_snap *policy_set_find_by_id(const struct policy_set *set, unsigned int id);
const struct policy_snap *policy_set_find_by_name(const struct policy_set *set, const char *name);

/* Every SNAP of @set, normalised, each headed by the file it came from. */
void policy_print(const struct policy_set *set, FILE *f);
