/* Control methods of the store noun: store.backup, store.restore
 * (docs/protocol.md). */
#include "daemon/backup.h"
#include "daemon/api.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alr/registry.h"
#include "alr/types.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "daemon/userfile.h"
#include "store/store.h"

/* ---- store.backup, store.restore ----------------------------------------- */

/*
 * Paths given by clients are opened with the client's own rights
 * (daemon/userfile.h, docs/security.md): the kernel resolves each name
 * once, as the caller, and alrd works on the descriptors from then on.
 * A backup is created by the caller's identity, so it is the caller's file
 * from the start; a restore reads only what the caller could read, through
 * a private copy in the state directory that nobody else can change.
 */
static int client_cred(struct control_client *cl, struct userfile_cred *ret,
		       struct jsonrpc_error *err)
{
	int n;

	ret->uid = control_client_uid(cl);
	ret->gid = control_client_gid(cl);
	ret->n_groups = 0;
	if (ret->uid == 0)
		return 0;
	n = control_client_groups(cl, ret->groups, USERFILE_MAX_GROUPS);
	if (n < 0) {
		/* fewer rights, never more: a caller in over 64 groups is
		 * refused rather than acting with some of them */
		jsonrpc_error_set(err, ALR_ERR_PERMISSION, "permission denied: alrd cannot tell "
				  "your groups (%s); it acts on files with your rights only",
				  strerror(-n));
		return -EPERM;
	}
	ret->n_groups = (size_t)n;
	return 0;
}

static int method_store_backup(void *ud, struct control_client *cl, struct json_object *params,
			       struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "path", json_type_string, true },
		{ "secrets", json_type_boolean, false },
	};
	struct daemon *d = ud;
	struct userfile_cred cred;
	struct json_object *v;
	bool secrets = false;
	int r;

	(void)ret;
	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = api_refuse_busy(d, err)) < 0 || (r = client_cred(cl, &cred, err)) < 0)
		return r;
	if (json_object_object_get_ex(params, "secrets", &v))
		secrets = json_object_get_boolean(v);
	json_object_object_get_ex(params, "path", &v);
	/* in slices, answered when written (daemon/backup.c) */
	r = backup_start(d, cl, &cred, json_object_get_string(v), secrets, err);
	return r < 0 ? r : CONTROL_DEFERRED;
}

struct pending_restore {
	struct daemon *d;
	struct control_deferred *reply;
	char *path;
	char copy[PATH_MAX];            /* the private copy that is restored */
};

static void pending_restore_free(struct pending_restore *pr)
{
	if (pr->copy[0])
		store_remove_copy(pr->copy);
	free(pr->path);
	free(pr);
}

/* Messages about the private copy, in the client's words: "the file"
 * for the copy's name, which means nothing to the client. */
static const char *copy_message(char *msg, size_t size, const char *copy)
{
	size_t clen = strlen(copy);
	char *p;

	while (clen && (p = strstr(msg, copy))) {
		size_t tail = strlen(p + clen);

		if ((size_t)(p - msg) + 8 + tail >= size)
			break;
		memmove(p + 8, p + clen, tail + 1);
		memcpy(p, "the file", 8);
	}
	return msg;
}

static void restore_done(int result, const char *message, void *ud)
{
	struct pending_restore *pr = ud;
	struct jsonrpc_error err = { 0 };
	struct json_object *res = NULL;

	char msg[512];

	if (result < 0) {
		snprintf(msg, sizeof(msg), "%s", message ? message : strerror(-result));
		jsonrpc_error_set(&err, ALR_ERR_INTERNAL, "restore from %.200s failed: %s; the "
				  "profiles as they were are loaded again", pr->path,
				  copy_message(msg, sizeof(msg), pr->copy));
	} else {
		res = json_object_new_object();
		json_object_object_add(res, "path", json_object_new_string(pr->path));
		json_object_object_add(res, "profiles",
				       json_object_new_int64((int64_t)registry_count(pr->d->registry)));
	}
	control_deferred_reply(pr->reply, res, &err);
	pending_restore_free(pr);
}

static int method_store_restore(void *ud, struct control_client *cl, struct json_object *params,
				struct json_object **ret, struct jsonrpc_error *err)
{
	static const struct jsonrpc_param spec[] = {
		{ "path", json_type_string, true },
	};
	struct daemon *d = ud;
	struct userfile_cred cred;
	struct pending_restore *pr;
	struct json_object *v;
	const char *path;
	char msg[512] = "";
	int r, fd;

	r = jsonrpc_check_params(params, spec, ARRAY_SIZE(spec), err);
	if (r < 0 || (r = api_refuse_busy(d, err)) < 0 || (r = client_cred(cl, &cred, err)) < 0)
		return r;
	if (backup_count(d)) {
		jsonrpc_error_set(err, ALR_ERR_BUSY, "a backup is being written; restore when "
				  "it is done");
		return -EBUSY;
	}
	json_object_object_get_ex(params, "path", &v);
	path = json_object_get_string(v);
	r = userfile_open_read(&cred, path, &fd, msg, sizeof(msg));
	if (r < 0)
		return api_file_error(r, msg, err);
	pr = calloc(1, sizeof(*pr));
	if (!pr || !(pr->path = strdup(path))) {
		free(pr);
		close(fd);
		return -ENOMEM;
	}
	r = store_receive_fd(d->store, fd, pr->copy, sizeof(pr->copy), msg, sizeof(msg));
	close(fd);
	if (r < 0) {
		pr->copy[0] = '\0';
		pending_restore_free(pr);
		jsonrpc_error_set(err, r == -EFBIG ? ALR_ERR_INVALID_PARAMS : ALR_ERR_INTERNAL,
				  "%s%.200s: %s", r == -EFBIG ? "invalid params: " : "", path, msg);
		return r;
	}
	pr->d = d;
	pr->reply = control_client_defer(cl);
	if (!pr->reply) {
		pending_restore_free(pr);
		return -ENOMEM;
	}
	r = registry_restore(d->registry, pr->copy, restore_done, pr, msg, sizeof(msg));
	if (r < 0) {
		struct jsonrpc_error e = { 0 };

		/* the messages name the private copy: say the client's path */
		jsonrpc_error_set(&e, r == -EBUSY ? ALR_ERR_BUSY : ALR_ERR_INVALID_PARAMS,
				  "%s%.200s: %s", r == -EBUSY ? "" : "invalid params: ",
				  path, r == -EBUSY ? msg : copy_message(msg, sizeof(msg), pr->copy));
		control_deferred_reply(pr->reply, NULL, &e);
		pending_restore_free(pr);
		return CONTROL_DEFERRED;
	}
	log_notice("control: client uid %u restores the store from %s",
		   (unsigned)control_client_uid(cl), path);
	return CONTROL_DEFERRED;
}

static const struct control_method methods[] = {
	{ "store.backup", true, "writes a copy of the store", method_store_backup },
	{ "store.restore", true, "replaces the store", method_store_restore },
};

int api_store_register(struct control *c)
{
	return control_add_methods(c, methods, ARRAY_SIZE(methods));
}
