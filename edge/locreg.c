/* The table of local registrations (see locreg.h). */
#include "edge/locreg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "base/util.h"
#include "sip/sipmsg.h"

struct locreg_table {
	struct locreg **v;              /* oldest first */
	size_t n, cap;
	locreg_change_fn fn;
	void *user_data;
};

static const char *const change_names[_LOCREG_CHANGE_MAX] = {
	[LOCREG_ADDED] = "added",
	[LOCREG_REFRESHED] = "refreshed",
	[LOCREG_REMOVED] = "unregistered",
	[LOCREG_EXPIRED] = "expired",
	[LOCREG_DROPPED] = "dropped",
};

const char *locreg_change_to_str(enum locreg_change c)
{
	return c >= 0 && c < _LOCREG_CHANGE_MAX ? change_names[c] : "?";
}

static void entry_free(struct locreg *e)
{
	if (!e)
		return;
	free(e->contact);
	free(e->call_id);
	free(e->user_agent);
	free(e->source);
	free(e);
}

struct locreg_table *locreg_table_new(locreg_change_fn fn, void *user_data)
{
	struct locreg_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fn = fn;
	t->user_data = user_data;
	return t;
}

struct locreg_table *locreg_table_free(struct locreg_table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		entry_free(t->v[i]);
	free(t->v);
	free(t);
	return NULL;
}

static void notify(struct locreg_table *t, const struct locreg *e, enum locreg_change what)
{
	if (t->fn)
		t->fn(e, what, t->user_data);
}

/* Remove entry @i, keeping the order; reported as @what first. */
static void remove_at(struct locreg_table *t, size_t i, enum locreg_change what)
{
	struct locreg *e = t->v[i];

	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
	notify(t, e, what);
	entry_free(e);
}

static int reserve(struct locreg_table *t, size_t more)
{
	struct locreg **v;
	size_t cap;

	if (t->n + more <= t->cap)
		return 0;
	cap = t->cap ? t->cap * 2 : 8;
	while (cap < t->n + more)
		cap *= 2;
	v = realloc(t->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	t->cap = cap;
	return 0;
}

/* Same binding?  RFC 3261 §10.3 step 7 compares contact URIs by §19.1.4. */
static bool same_contact(const char *a, const char *b)
{
	osip_uri_t *ua = NULL, *ub = NULL;
	bool same = false;

	if (strcmp(a, b) == 0)
		return true;
	if (osip_uri_init(&ua) == 0 && osip_uri_init(&ub) == 0 &&
	    osip_uri_parse(ua, a) == 0 && osip_uri_parse(ub, b) == 0)
		same = sipmsg_uri_same_contact(ua, ub);
	osip_uri_free(ua);
	osip_uri_free(ub);
	return same;
}

static ssize_t find(const struct locreg_table *t, unsigned int profile_id, const char *contact)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->profile_id == profile_id && same_contact(t->v[i]->contact, contact))
			return (ssize_t)i;
	return -1;
}

size_t locreg_table_count(const struct locreg_table *t, unsigned int profile_id)
{
	size_t n = 0;

	if (!t)
		return 0;
	if (profile_id == 0)
		return t->n;
	for (size_t i = 0; i < t->n; i++)
		n += t->v[i]->profile_id == profile_id;
	return n;
}

const struct locreg *locreg_table_at(const struct locreg_table *t, unsigned int profile_id,
				     size_t i)
{
	if (!t)
		return NULL;
	for (size_t k = 0; k < t->n; k++)
		if (profile_id == 0 || t->v[k]->profile_id == profile_id) {
			if (i == 0)
				return t->v[k];
			i--;
		}
	return NULL;
}

static int result(struct locreg_result *ret, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int result(struct locreg_result *ret, int code, const char *fmt, ...)
{
	va_list ap;

	ret->code = code;
	va_start(ap, fmt);
	vsnprintf(ret->reason, sizeof(ret->reason), fmt, ap);
	va_end(ap);
	return 0;
}

/* §10.3 step 7: with the stored Call-ID, only a higher CSeq may change a
 * binding; otherwise the whole request fails. */
static bool out_of_order(const struct locreg *e, const struct locreg_request *req)
{
	return strcmp(e->call_id, req->call_id) == 0 && req->cseq <= e->cseq;
}

static struct locreg *entry_new(unsigned int profile_id, const char *contact,
				const struct locreg_request *req, int64_t expires_at)
{
	struct locreg *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->profile_id = profile_id;
	e->contact = strdup(contact);
	e->call_id = strdup(req->call_id);
	e->source = strdup(req->source ? req->source : "");
	e->user_agent = req->user_agent ? strdup(req->user_agent) : NULL;
	e->cseq = req->cseq;
	e->uid = req->uid;
	e->expires_at = expires_at;
	if (!e->contact || !e->call_id || !e->source || (req->user_agent && !e->user_agent)) {
		entry_free(e);
		return NULL;
	}
	return e;
}

/* Refresh @e from @req; the strings are made first, so that a failure
 * changes nothing.  0 or -ENOMEM. */
static int entry_refresh(struct locreg *e, const struct locreg_request *req, int64_t expires_at)
{
	char *call_id = strdup(req->call_id);
	char *source = strdup(req->source ? req->source : "");
	char *ua = req->user_agent ? strdup(req->user_agent) : NULL;

	if (!call_id || !source || (req->user_agent && !ua)) {
		free(call_id);
		free(source);
		free(ua);
		return -ENOMEM;
	}
	free(e->call_id);
	free(e->source);
	free(e->user_agent);
	e->call_id = call_id;
	e->source = source;
	e->user_agent = ua;
	e->cseq = req->cseq;
	e->uid = req->uid;
	e->expires_at = expires_at;
	return 0;
}

static int apply_star(struct locreg_table *t, unsigned int profile_id,
		      const struct locreg_request *req, struct locreg_result *ret)
{
	/* RFC 3261 §10.2.2: "*" only with Expires: 0, and alone. */
	if (req->n_contacts > 0)
		return result(ret, 400, "Bad Request (Contact: * must be the only Contact)");
	if (req->expires != 0)
		return result(ret, 400, "Bad Request (Contact: * needs Expires: 0)");
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->profile_id == profile_id && out_of_order(t->v[i], req))
			return result(ret, 400, "Bad Request (CSeq %" PRIu32 " is not above %"
				      PRIu32 " of this Call-ID)", req->cseq, t->v[i]->cseq);
	for (size_t i = t->n; i-- > 0;)
		if (t->v[i]->profile_id == profile_id)
			remove_at(t, i, LOCREG_REMOVED);
	return result(ret, 200, "OK");
}

int locreg_table_apply(struct locreg_table *t, unsigned int profile_id,
		       const struct locreg_request *req, const struct locreg_limits *lim,
		       int64_t now, struct locreg_result *ret)
{
	int64_t granted[LOCREG_MAX_CONTACTS];
	ssize_t found[LOCREG_MAX_CONTACTS];
	struct locreg *fresh[LOCREG_MAX_CONTACTS] = { 0 };
	size_t adds = 0, removes = 0, have;

	if (!t || !req || !lim || !ret || !req->call_id || (req->n_contacts && !req->contacts))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (req->star)
		return apply_star(t, profile_id, req, ret);
	if (req->n_contacts > LOCREG_MAX_CONTACTS)
		return result(ret, 400, "Bad Request (more than %d Contacts)", LOCREG_MAX_CONTACTS);

	/* First decide everything, then change: all or nothing (§10.3). */
	for (size_t i = 0; i < req->n_contacts; i++) {
		const struct locreg_contact *c = &req->contacts[i];
		int64_t e = c->expires >= 0 ? c->expires :
			    req->expires >= 0 ? req->expires : (int64_t)lim->default_expires;

		for (size_t k = 0; k < i; k++)
			if (same_contact(req->contacts[k].uri, c->uri))
				return result(ret, 400, "Bad Request (Contact %s given twice)",
					      c->uri);
		/* §10.3 step 7: shorter than our minimum, and not a removal. */
		if (e > 0 && e < lim->min_expires) {
			ret->min_expires = lim->min_expires;
			return result(ret, 423, "Interval Too Brief (at least %" PRIu32 " s)",
				      lim->min_expires);
		}
		if (e > lim->max_expires)
			e = lim->max_expires;
		granted[i] = e;
		found[i] = find(t, profile_id, c->uri);
		if (found[i] >= 0 && out_of_order(t->v[found[i]], req))
			return result(ret, 400, "Bad Request (CSeq %" PRIu32 " is not above %"
				      PRIu32 " of this Call-ID)", req->cseq, t->v[found[i]]->cseq);
		if (found[i] < 0 && e > 0)
			adds++;
		else if (found[i] >= 0 && e == 0)
			removes++;
	}
	have = locreg_table_count(t, profile_id);
	if (adds > 0 && have - removes + adds > lim->max_per_profile)
		return result(ret, 503, "Too Many Registered Contacts (at most %" PRIu32
			      " local registrations of this profile)", lim->max_per_profile);

	/* Allocate what is new before the first change. */
	if (reserve(t, adds) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_contacts; i++) {
		if (found[i] >= 0 || granted[i] == 0)
			continue;
		fresh[i] = entry_new(profile_id, req->contacts[i].uri, req, now + granted[i]);
		if (!fresh[i])
			goto enomem;
	}
	/* Refreshes can still fail (strdup): do them first, each whole. */
	for (size_t i = 0; i < req->n_contacts; i++)
		if (found[i] >= 0 && granted[i] > 0) {
			struct locreg *e = t->v[found[i]];

			if (entry_refresh(e, req, now + granted[i]) < 0)
				goto enomem;
			notify(t, e, LOCREG_REFRESHED);
		}
	for (size_t i = 0; i < req->n_contacts; i++)
		if (fresh[i]) {
			t->v[t->n++] = fresh[i];
			notify(t, fresh[i], LOCREG_ADDED);
		}
	/* Removals last: they shift the indexes found[] holds. */
	for (size_t i = 0; i < req->n_contacts; i++) {
		ssize_t k;

		if (granted[i] != 0)
			continue;
		k = find(t, profile_id, req->contacts[i].uri);
		if (k >= 0)
			remove_at(t, (size_t)k, LOCREG_REMOVED);
	}
	return result(ret, 200, "OK");
enomem:
	for (size_t i = 0; i < req->n_contacts; i++)
		entry_free(fresh[i]);
	return -ENOMEM;
}

int locreg_table_restore(struct locreg_table *t, const struct locreg *r)
{
	struct locreg_request req = {
		.call_id = r->call_id, .cseq = r->cseq, .uid = r->uid,
		.user_agent = r->user_agent, .source = r->source,
	};
	struct locreg *e;

	if (!t || !r || !r->contact || !r->call_id)
		return -EINVAL;
	if (find(t, r->profile_id, r->contact) >= 0)
		return -EEXIST;
	if (reserve(t, 1) < 0)
		return -ENOMEM;
	e = entry_new(r->profile_id, r->contact, &req, r->expires_at);
	if (!e)
		return -ENOMEM;
	t->v[t->n++] = e;
	return 0;
}

void locreg_table_expire(struct locreg_table *t, int64_t now)
{
	if (!t)
		return;
	for (size_t i = t->n; i-- > 0;)
		if (t->v[i]->expires_at <= now)
			remove_at(t, i, LOCREG_EXPIRED);
}

int64_t locreg_table_next_expiry(const struct locreg_table *t)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; t && i < t->n; i++)
		if (t->v[i]->expires_at < next)
			next = t->v[i]->expires_at;
	return next;
}

void locreg_table_drop_profile(struct locreg_table *t, unsigned int profile_id)
{
	if (!t)
		return;
	for (size_t i = t->n; i-- > 0;)
		if (t->v[i]->profile_id == profile_id)
			remove_at(t, i, LOCREG_DROPPED);
}
