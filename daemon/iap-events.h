/*
 * The iap.* events of the control socket, as clients see them: the IAP
 * object of docs/protocol.md, and for iap.changed the members that differ
 * from what the IAP's last event showed.  An iap.changed that shows
 * nothing new (the IAP table saw a change no client can see: an interface
 * flag the object does not carry, an address reordered) is not sent.
 */
#pragma once

#include "alr/iap_table.h"

struct iap;
struct iap_events;
struct json_object;

struct iap_events *iap_events_new(void);
struct iap_events *iap_events_free(struct iap_events *e);

/*
 * The params of event @ev for @iap ({"time", "iap"[, "changed"]}), a new
 * reference; NULL when @ev is an iap.changed that shows nothing new, or
 * on ENOMEM.  Called for every event of the IAP table, whether a client
 * listens or not, so that the next iap.changed compares with what the
 * previous event showed.  "changed" lists the members that differ, as
 * dotted paths ("nm.state", "link.mtu", "addresses").
 */
struct json_object *iap_events_render(struct iap_events *e, enum iap_event ev,
				      const struct iap *iap, double time);
