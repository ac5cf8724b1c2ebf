/*
 * The control methods (docs/protocol.md), one file per noun: api-daemon.c,
 * api-iap.c, api-snap.c, api-events.c, api-profile.c, api-store.c,
 * api-alr.c, api-call.c.  Each registers its own table with the control server.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct control;
struct daemon;
struct json_object;
struct jsonrpc_error;
struct registry;

/* Every noun's methods; 0 or -ENOSPC (daemon/control.h). */
int api_register(struct control *c);
int api_daemon_register(struct control *c);
int api_iap_register(struct control *c);
int api_snap_register(struct control *c);
int api_events_register(struct control *c);
int api_profile_register(struct control *c);
int api_store_register(struct control *c);
int api_alr_register(struct control *c);
int api_call_register(struct control *c);

/* A call through the edge (edge/call.h) as call.list and the call.*
 * events show it. */
struct call_info;
struct json_object *api_call_to_json(const struct call_info *ci);

/* -EBUSY with error -32003 while a restore or the shutdown runs; else 0. */
int api_refuse_busy(struct daemon *d, struct jsonrpc_error *err);
/* @err for a failure @r of daemon/userfile.c with its message @msg: what
 * the caller's own open() would have said (-32001 for EACCES and EPERM,
 * else -32602).  Returns @r. */
int api_file_error(int r, const char *msg, struct jsonrpc_error *err);
/* Params {"id": N} or {"name": "..."}: exactly one of them (borrowed). */
int api_params_id_or_name(struct json_object *params, struct jsonrpc_error *err,
			  struct json_object **ret_id, struct json_object **ret_name);

/* Profile @id with its "state" (daemon/profile-json.h), as the methods
 * and the profile events show it; NULL if there is none, or on ENOMEM. */
struct json_object *api_profile_to_json(struct registry *r, unsigned int id);

/* One local registration at the edge (docs/protocol.md): contact,
 * user_agent, uid, source, expires_at, expires (seconds left). */
struct locreg;
struct json_object *api_locreg_to_json(const struct locreg *reg);

/* The export text of every profile (daemon/profile-text.h); free() it,
 * explicit_bzero() first when @with_passwords.  0 or -ENOMEM. */
int api_profile_export(struct registry *r, bool with_passwords, char **ret_text);

/*
 * Import @len bytes of @text: every profile validated against the running
 * daemon (registry_validate_ctx()) with the line it came from, then all
 * created, or none (registry_import()).  *@ret_ids (malloc'ed, *@ret_n of
 * them) are the new ids; on error @errbuf says why ("line 3: aor: ...")
 * with the registry's errors (-EINVAL, -EBUSY, -EDQUOT, -ENOMEM, -EIO).
 */
int api_profile_import(struct registry *r, const char *text, size_t len,
		       unsigned int **ret_ids, size_t *ret_n, char *errbuf, size_t errsize);
