/* Who a local uid is: its name and groups, asked of NSS (getpwuid_r,
 * getgrouplist) without blocking the loop (docs/edge.md, "Who may
 * register").
 *
 * NSS has no asynchronous interface, and on a host whose passwd and group
 * come from a directory service (sssd, LDAP, winbind) one lookup can take
 * seconds.  So the lookups run in one worker thread that touches nothing
 * but its own queue; each answer comes back to the loop (ev_async) and is
 * handed to the done callback there.  One uid asked again before its
 * answer reached the loop is looked up once.  Nothing is cached beyond
 * that: a request gets an answer NSS gave after it arrived, or at most
 * within the same turn of the loop, as when the lookup ran in the loop. */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

#define USERLOOKUP_MAX_GROUPS   64      /* the first ones count */
#define USERLOOKUP_MAX_PENDING  64      /* distinct uids asked, not yet answered */
#define USERLOOKUP_NAME_MAX     256

struct userlookup_user {
	uid_t uid;
	bool known;                     /* NSS has the uid (name, groups) */
	int error;                      /* getpwuid_r()'s, when not known */
	char name[USERLOOKUP_NAME_MAX];
	gid_t groups[USERLOOKUP_MAX_GROUPS];
	int n_groups;
};

/* Called in the loop with each answer; @u is valid during the call. */
typedef void (*userlookup_done_fn)(void *user_data, const struct userlookup_user *u);

struct userlookup;

struct userlookup *userlookup_new(struct ev_loop *loop, userlookup_done_fn done,
				  void *user_data);

/* Look @uid up; the answer comes to the done callback (never from within
 * this call).  0, -EBUSY (USERLOOKUP_MAX_PENDING other uids are waiting),
 * -errno (the worker thread cannot start). */
int userlookup_ask(struct userlookup *ul, uid_t uid);

/* The number of uids asked and not answered yet. */
unsigned int userlookup_pending(const struct userlookup *ul);

/* Answers not yet delivered are dropped.  A worker stuck in NSS is left to
 * finish alone (it frees what it shares when it does): alrd's shutdown
 * never waits for a directory service. */
struct userlookup *userlookup_free(struct userlookup *ul);

/* The lookup itself (what the worker runs), for the tests. */
void userlookup_resolve(uid_t uid, struct userlookup_user *ret);
