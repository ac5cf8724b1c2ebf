/*
 * The table of local registrations (DESIGN §1, §8; docs/edge.md): which
 * local applications registered which profile's AOR at the edge, with
 * which contact, until when.  alrd is the registrar of these bindings
 * (RFC 3261 §10.3); the network's registrar only ever sees alrd's own.
 *
 * A pure module: no sockets, no loop, no logging, no store.  The caller
 * hands in a REGISTER already read (struct locreg_request), the limits and
 * the time; the table decides the answer and reports every binding it
 * adds, refreshes or removes through its change callback, so that the
 * edge persists it, tells the clients and counts the profile's use.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most Contacts one REGISTER may carry; more get 400. */
#define LOCREG_MAX_CONTACTS       16
#define LOCREG_REASON_MAX         160

/* One local registration: one contact of one profile's AOR. */
struct locreg {
	unsigned int profile_id;
	char *contact;                  /* the Contact URI, as sent */
	char *call_id;
	uint32_t cseq;
	int64_t expires_at;             /* wall clock, seconds since the epoch */
	uint32_t uid;                   /* owner of the sending socket */
	char *user_agent;               /* or NULL */
	char *source;                   /* "udp:127.0.0.1:5060": where it came from */
};

struct locreg_limits {
	uint32_t min_expires;           /* shorter (but not 0): 423 (RFC 3261 §10.3 step 7) */
	uint32_t max_expires;           /* longer is granted this */
	uint32_t default_expires;       /* neither a parameter nor Expires */
	uint32_t max_per_profile;       /* a new one beyond it: 503 */
};

/* One Contact of the request. */
struct locreg_contact {
	const char *uri;
	int64_t expires;                /* its expires parameter; < 0: none */
};

/* What the table needs of a REGISTER whose To is the profile's AOR. */
struct locreg_request {
	const char *call_id;
	uint32_t cseq;
	bool star;                      /* Contact: * (RFC 3261 §10.2.2) */
	const struct locreg_contact *contacts;
	size_t n_contacts;              /* 0 and !star: a query (§10.2.3) */
	int64_t expires;                /* the Expires header; < 0: none */
	uint32_t uid;
	const char *user_agent;         /* or NULL */
	const char *source;
};

enum locreg_change {
	LOCREG_ADDED,
	LOCREG_REFRESHED,               /* expiry, Call-ID, CSeq or source changed */
	LOCREG_REMOVED,                 /* expires=0 or Contact: * */
	LOCREG_EXPIRED,
	LOCREG_DROPPED,                 /* its profile went (locreg_table_drop_profile) */
	_LOCREG_CHANGE_MAX,
};

/* "added", "refreshed", "unregistered", "expired", "dropped". */
const char *locreg_change_to_str(enum locreg_change c);

/* Called for each change, the entry still valid (a removed one is freed
 * after the call).  Must not change the table. */
typedef void (*locreg_change_fn)(const struct locreg *r, enum locreg_change what,
				 void *user_data);

struct locreg_table;

struct locreg_table *locreg_table_new(locreg_change_fn fn, void *user_data);
/* Frees the entries without reporting them.  NULL-safe; returns NULL. */
struct locreg_table *locreg_table_free(struct locreg_table *t);

/* What the answer to a REGISTER is. */
struct locreg_result {
	int code;                       /* 200, 400, 423, 503 */
	char reason[LOCREG_REASON_MAX]; /* the reason phrase */
	uint32_t min_expires;           /* 423: the Min-Expires header */
};

/*
 * Apply a REGISTER to profile @profile_id's bindings, as RFC 3261 §10.3
 * steps 6 to 8 say: all of it or nothing.  *@ret says what to answer; on
 * 200 the profile's bindings (locreg_table_at()) are what the response
 * lists.  0, or -ENOMEM (nothing changed, unless memory ran out between
 * two refreshes of one request), -EINVAL (a NULL argument).
 */
int locreg_table_apply(struct locreg_table *t, unsigned int profile_id,
		       const struct locreg_request *req, const struct locreg_limits *lim,
		       int64_t now, struct locreg_result *ret);

/* Put back a binding read from the store (no change reported).  An
 * expired one is taken too: locreg_table_expire() reports it.  0,
 * -ENOMEM, -EEXIST (the same profile and contact is there). */
int locreg_table_restore(struct locreg_table *t, const struct locreg *r);

/* Remove the bindings that expired at @now (LOCREG_EXPIRED each). */
void locreg_table_expire(struct locreg_table *t, int64_t now);
/* The earliest expires_at, or INT64_MAX when the table is empty. */
int64_t locreg_table_next_expiry(const struct locreg_table *t);
/* Remove every binding of the profile (LOCREG_DROPPED each). */
void locreg_table_drop_profile(struct locreg_table *t, unsigned int profile_id);

/* Bindings of profile @profile_id (0: all) and the i-th of them, oldest
 * first; NULL past the end.  Valid until the table changes. */
size_t locreg_table_count(const struct locreg_table *t, unsigned int profile_id);
const struct locreg *locreg_table_at(const struct locreg_table *t, unsigned int profile_id,
				     size_t i);
