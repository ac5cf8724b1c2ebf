/* REGISTER pacing: the token bucket and its line (see pacer.h).
 *
 * Tokens are counted in thousandths, so that `rate` tokens per second is
 * exactly `rate` thousandths per millisecond: no rounding drifts, however
 * small the steps of the clock. */
#include "sip/pacer.h"

#define MILLI 1000u

/* The bucket holds `burst` whole tokens, and at least what one
 * millisecond earns: the clock steps by milliseconds, so a smaller bucket
 * would cap the rate at 1,000 per second times the burst.  It also keeps
 * the fraction a full bucket earns in the millisecond its token is taken
 * (less than one token), so that waking up a little late does not slow
 * the rate down. */
static uint64_t cap(const struct pacer *p)
{
	uint64_t ms_worth = (p->rate + MILLI - 1) / MILLI;
	uint64_t whole = p->burst > ms_worth ? p->burst : ms_worth;
	uint64_t frac = p->rate == 0 ? 0 : (p->rate < MILLI ? p->rate : MILLI) - 1;

	return whole * MILLI + frac;
}

/* Bring the bucket up to now.  With rate 0 it is always full, so that a
 * later rate starts with a whole burst. */
static void refill(struct pacer *p, uint64_t now_ms)
{
	uint64_t dt;

	if (now_ms <= p->last_ms) {
		if (p->rate == 0)
			p->milli_tokens = cap(p);
		return;                 /* the same millisecond (or a clock step back) */
	}
	dt = now_ms - p->last_ms;
	p->last_ms = now_ms;
	if (p->rate == 0 || p->milli_tokens >= cap(p)) {
		p->milli_tokens = cap(p);
		return;
	}
	/* dt * rate cannot overflow below a day or so; beyond, it is full. */
	if (dt >= (cap(p) - p->milli_tokens + p->rate - 1) / p->rate)
		p->milli_tokens = cap(p);
	else
		p->milli_tokens += dt * p->rate;
}

static void set(struct pacer *p, unsigned rate, unsigned burst)
{
	if (rate > PACER_RATE_MAX)
		rate = PACER_RATE_MAX;
	if (burst < 1)
		burst = 1;
	if (burst > PACER_BURST_MAX)
		burst = PACER_BURST_MAX;
	p->rate = rate;
	p->burst = burst;
}

void pacer_init(struct pacer *p, unsigned rate, unsigned burst,
		uint64_t now_ms)
{
	*p = (struct pacer){ .last_ms = now_ms };
	set(p, rate, burst);
	p->milli_tokens = cap(p);
}

void pacer_configure(struct pacer *p, unsigned rate, unsigned burst,
		     uint64_t now_ms)
{
	bool was_unlimited = p->rate == 0;

	refill(p, now_ms);
	set(p, rate, burst);
	/* Coming from unlimited, the bucket is full. */
	if (was_unlimited || p->rate == 0 || p->milli_tokens > cap(p))
		p->milli_tokens = cap(p);
}

static bool take(struct pacer *p)
{
	if (p->rate == 0)
		return true;
	if (p->milli_tokens < MILLI)
		return false;
	p->milli_tokens -= MILLI;
	return true;
}

bool pacer_acquire(struct pacer *p, struct pacer_entry *e, uint64_t now_ms)
{
	refill(p, now_ms);
	if (!p->head && take(p)) {
		p->stats.granted++;
		return true;
	}
	e->next = NULL;
	e->prev = p->tail;
	if (p->tail)
		p->tail->next = e;
	else
		p->head = e;
	p->tail = e;
	e->queued = true;
	e->since_ms = now_ms;
	if (++p->stats.queued > p->stats.max_queued)
		p->stats.max_queued = p->stats.queued;
	return false;
}

void pacer_remove(struct pacer *p, struct pacer_entry *e)
{
	if (!e || !e->queued)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = NULL;
	e->queued = false;
	p->stats.queued--;
}

struct pacer_entry *pacer_pop(struct pacer *p, uint64_t now_ms)
{
	struct pacer_entry *e = p->head;

	refill(p, now_ms);
	if (!e || !take(p))
		return NULL;
	pacer_remove(p, e);
	p->stats.granted++;
	p->stats.waited++;
	if (now_ms > e->since_ms && now_ms - e->since_ms > p->stats.max_wait_ms)
		p->stats.max_wait_ms = now_ms - e->since_ms;
	return e;
}

uint64_t pacer_next_ms(struct pacer *p, uint64_t now_ms)
{
	if (!p->head)
		return UINT64_MAX;
	refill(p, now_ms);
	if (now_ms < p->last_ms)
		now_ms = p->last_ms;    /* the bucket is counted up to there */
	if (p->rate == 0 || p->milli_tokens >= MILLI)
		return now_ms;
	/* Rounded up: at that millisecond the token is whole. */
	return now_ms + (MILLI - p->milli_tokens + p->rate - 1) / p->rate;
}

void pacer_get_stats(const struct pacer *p, struct pacer_stats *ret)
{
	*ret = p->stats;
}
