/*
 * Following events: what monitor does, and profile enable and alr control
 * do for the profile they hold.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include <alr/client.h>

#include "ctl.h"

/* The local time the daemon decided (the event's "time"), HH:MM:SS.mmm;
 * now without one. */
void print_time(struct json_object *params);
/* One line per event, as monitor prints it (-j: the notification). */
void print_event(struct ctl *ctl, const char *method, struct json_object *params);
/* Flush what a callback printed: output is flushed after every line, so
 * that it can be piped; a failed write ends the loop (74). */
void follow_flush(struct ctl *ctl);
/* Whether the event is about profile @id. */
bool event_is_about(struct json_object *params, int64_t id);
/* Whether the event ends the use of ctl->target from alrd's side (deleted,
 * disabled by force): then said, and the loop stopped with 69. */
bool profile_gone(struct ctl *ctl, const char *method);
/* Connect, watch signals, take events with @cb, subscribe to @topics. */
int ctl_start_following(struct ctl *ctl, const char *const *topics,
			alr_event_cb cb);
/* Deliver events until SIGINT or SIGTERM (then ctl->status, normally 0),
 * a callback stops, or the connection ends (69, or 76 for garbage). */
int ctl_follow(struct ctl *ctl);
