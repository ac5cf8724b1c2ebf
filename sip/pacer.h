/* REGISTER pacing: a token bucket with a FIFO of waiters.
 *
 * Every binding of a daemon asks the one pacer before the first REGISTER
 * of an attempt (a start, a move, a refresh, a retry after BACKOFF): a
 * token lets it send at once; without one it waits in line and is let go,
 * first come first served, as tokens come back.  `rate` tokens come back
 * per second, at most `burst` are kept (at least one millisecond's worth
 * of the rate: the clock steps by milliseconds); rate 0 lets everything
 * through at once.  So whatever happens to the IAPs (1,000 profiles failing over
 * together), the registrar sees at most `burst` new attempts at once and
 * `rate` per second after that.  What belongs to an attempt already under
 * way is not asked for again: the answer to a 401/407, a 423 retry, the
 * next 3xx target.  Removals, queries and deregistrations are not paced
 * (docs/sip.md, "Pacing").
 *
 * Pure: no loop, no clock of its own.  The caller passes the monotonic
 * time in milliseconds, waits until pacer_next_ms() and then takes the
 * waiters pacer_pop() hands out.  Entries live inside the caller's
 * objects (no allocation), so joining and leaving cannot fail. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of [sip] register-rate and register-burst (docs/configuration.md):
 * a handful of profiles never waits, and 1,000 profiles reach a registrar
 * within about five seconds. */
#define PACER_DEFAULT_RATE      200u
#define PACER_DEFAULT_BURST     50u
#define PACER_RATE_MAX          100000u
#define PACER_BURST_MAX         100000u

/* A waiter's place in line; zero-initialised, it is in no line. */
struct pacer_entry {
	struct pacer_entry *prev, *next;
	bool queued;
	uint64_t since_ms;              /* when it joined the line */
};

struct pacer_stats {
	uint64_t granted;               /* attempts let go, at once or later */
	uint64_t waited;                /* of which had to wait in line */
	uint64_t max_wait_ms;           /* the longest wait so far */
	size_t queued;                  /* in line now */
	size_t max_queued;              /* the longest line so far */
};

struct pacer {
	unsigned rate;                  /* tokens per second; 0: unlimited */
	unsigned burst;                 /* bucket size, at least 1 */
	uint64_t milli_tokens;          /* tokens, in thousandths */
	uint64_t last_ms;               /* when milli_tokens was brought up to date */
	struct pacer_entry *head, *tail;
	struct pacer_stats stats;
};

/* A full bucket.  rate above PACER_RATE_MAX and burst outside
 * 1..PACER_BURST_MAX are clamped (the configuration refuses them). */
void pacer_init(struct pacer *p, unsigned rate, unsigned burst,
		uint64_t now_ms);
/* New settings; the tokens earned so far stay (at most the new burst) and
 * the line keeps its order.  A rate of 0 lets the whole line go at the
 * next pacer_pop(). */
void pacer_configure(struct pacer *p, unsigned rate, unsigned burst,
		     uint64_t now_ms);
/* May the owner of e start an attempt now?  true: yes, a token is taken.
 * false: e joined the end of the line; pacer_pop() hands it out later.
 * Nobody overtakes the line.  e must not be in a line already. */
bool pacer_acquire(struct pacer *p, struct pacer_entry *e, uint64_t now_ms);
/* Leave the line (stopped, moved, freed).  Harmless when not in it. */
void pacer_remove(struct pacer *p, struct pacer_entry *e);
/* The first in line if a token is there for it (taken, and e leaves the
 * line), else NULL.  Call until NULL. */
struct pacer_entry *pacer_pop(struct pacer *p, uint64_t now_ms);
/* When pacer_pop() will hand out the first in line: now_ms when it would
 * now, UINT64_MAX when nobody waits. */
uint64_t pacer_next_ms(struct pacer *p, uint64_t now_ms);
void pacer_get_stats(const struct pacer *p, struct pacer_stats *ret);
