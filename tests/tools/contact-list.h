/* The contact list of a binding that runs on its own (struct
 * binding_contacts, sip/binding.h): what tests/unit/test-sip-binding.c
 * and tests/tools/alr-sipreg.c own where alrd has the profile's
 * alr/contacts.c.  A set of URIs with the interface each went over, no
 * store, no expiry; tap (optional) sees every update.  Test code. */
#pragma once

#include <net/if.h>
#include <string.h>

#include "base/util.h"
#include "sip/binding.h"
#include "sip/sipmsg.h"

#define CONTACT_LIST_MAX 32

struct contact_list {
	struct {
		char uri[SIPMSG_URI_MAX + 1];
		char ifname[IFNAMSIZ];
	} v[CONTACT_LIST_MAX];
	size_t n;
	void (*tap)(const struct binding_persist *p, void *data);
	void *tap_data;
};

static inline const char *contact_list_next(void *data, size_t *cursor,
					    const char **ret_ifname)
{
	struct contact_list *l = data;

	if (*cursor >= l->n)
		return NULL;
	*ret_ifname = l->v[*cursor].ifname;
	return l->v[(*cursor)++].uri;
}

/* The i-th contact (NULL past the end), for the tests' checks. */
static inline const char *contact_list_at(const struct contact_list *l, size_t i,
					  const char **ret_ifname)
{
	if (i >= l->n)
		return NULL;
	if (ret_ifname)
		*ret_ifname = l->v[i].ifname;
	return l->v[i].uri;
}

static inline void contact_list_update(void *data, const struct binding_persist *p)
{
	struct contact_list *l = data;
	size_t i = 0;

	if (l->tap)
		l->tap(p, l->tap_data);
	if (!p->contact)
		return;
	while (i < l->n && strcmp(l->v[i].uri, p->contact) != 0)
		i++;
	if (p->expires == 0) {
		if (i < l->n)
			memmove(&l->v[i], &l->v[i + 1], (l->n-- - i - 1) * sizeof(l->v[0]));
		return;
	}
	if (i == l->n) {
		if (l->n == CONTACT_LIST_MAX)
			return;         /* full: not kept */
		util_strlcpy(l->v[l->n++].uri, p->contact, sizeof(l->v[0].uri));
	}
	util_strlcpy(l->v[i].ifname, p->ifname ? p->ifname : "", sizeof(l->v[0].ifname));
}

static const struct binding_contacts contact_list_ops = {
	.next = contact_list_next,
	.update = contact_list_update,
};
