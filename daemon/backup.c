/* store.backup in slices (backup.h). */
#include "daemon/backup.h"

#include <errno.h>
#include <ev.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "alr/types.h"
#include "base/log.h"
#include "base/util.h"
#include "daemon/api.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/jsonrpc.h"
#include "store/store.h"

struct pending_backup {
	struct pending_backup *next;
	struct daemon *d;
	struct control_deferred *reply;
	struct userfile_cred cred;
	struct userfile_new nf;
	struct store_backup *sb;
	char *path;
	bool secrets;
	unsigned int turns;
	ev_idle idle;
};

static void unlink_backup(struct pending_backup *pb)
{
	for (struct pending_backup **p = &pb->d->backups; *p; p = &(*p)->next)
		if (*p == pb) {
			*p = pb->next;
			break;
		}
}

/* Answer (@err, or the result when @err is NULL) and free. */
static void backup_end(struct pending_backup *pb, struct jsonrpc_error *err)
{
	struct json_object *res = NULL;

	ev_idle_stop(pb->d->loop, &pb->idle);
	unlink_backup(pb);
	if (!err) {
		res = json_object_new_object();
		json_object_object_add(res, "path", json_object_new_string(pb->path));
		json_object_object_add(res, "secrets", json_object_new_boolean(pb->secrets));
	}
	control_deferred_reply(pb->reply, res, err);
	store_backup_abort(pb->sb);
	if (pb->nf.dirfd >= 0)
		userfile_abort(&pb->cred, &pb->nf);
	free(pb->path);
	free(pb);
}

static void backup_failed(struct pending_backup *pb, const char *msg)
{
	struct jsonrpc_error err = { 0 };

	jsonrpc_error_set(&err, ALR_ERR_INTERNAL, "backup failed: %s", msg);
	backup_end(pb, &err);
}

static void backup_turn_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct pending_backup *pb = container_of(w, struct pending_backup, idle);
	char msg[512] = "";
	int r;

	(void)loop;
	(void)revents;
	pb->turns++;
	r = store_backup_step(pb->sb, BACKUP_PAGES_PER_TURN, msg, sizeof(msg));
	if (r > 0)
		return;                 /* more next turn; events first */
	if (r < 0) {
		backup_failed(pb, msg);
		return;
	}
	r = store_backup_finish(pb->sb, pb->nf.fd, msg, sizeof(msg));
	pb->sb = NULL;
	if (r < 0) {
		backup_failed(pb, msg);
		return;
	}
	r = userfile_commit(&pb->cred, &pb->nf, msg, sizeof(msg));
	pb->nf.dirfd = -1;              /* released either way */
	if (r < 0) {
		struct jsonrpc_error err = { 0 };

		api_file_error(r, msg, &err);
		backup_end(pb, &err);
		return;
	}
	log_notice("control: client uid %u backed the store up to %s%s (%u loop turns)",
		   (unsigned)pb->cred.uid, pb->path, pb->secrets ? " with its secrets" : "",
		   pb->turns);
	backup_end(pb, NULL);
}

int backup_start(struct daemon *d, struct control_client *cl, const struct userfile_cred *cred,
		 const char *path, bool secrets, struct jsonrpc_error *err)
{
	struct pending_backup *pb = calloc(1, sizeof(*pb));
	char msg[512] = "";
	int r;

	if (!pb || !(pb->path = strdup(path))) {
		free(pb);
		return -ENOMEM;
	}
	pb->d = d;
	pb->cred = *cred;
	pb->secrets = secrets;
	r = userfile_create(cred, path, &pb->nf, msg, sizeof(msg));
	if (r < 0) {
		api_file_error(r, msg, err);
		free(pb->path);
		free(pb);
		return r;
	}
	r = store_backup_begin(d->store, secrets, &pb->sb, msg, sizeof(msg));
	if (r == 0) {
		pb->reply = control_client_defer(cl);
		if (!pb->reply) {
			store_backup_abort(pb->sb);
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		jsonrpc_error_set(err, ALR_ERR_INTERNAL, "backup failed: %s", msg[0] ? msg :
				  strerror(-r));
		userfile_abort(cred, &pb->nf);
		free(pb->path);
		free(pb);
		return r;
	}
	pb->next = d->backups;
	d->backups = pb;
	ev_idle_init(&pb->idle, backup_turn_cb);
	ev_idle_start(d->loop, &pb->idle);
	return 0;
}

size_t backup_count(const struct daemon *d)
{
	size_t n = 0;

	for (const struct pending_backup *pb = d->backups; pb; pb = pb->next)
		n++;
	return n;
}

void backup_cancel_all(struct daemon *d)
{
	while (d->backups) {
		struct jsonrpc_error err = { 0 };

		jsonrpc_error_set(&err, ALR_ERR_BUSY, "alrd is stopping: the backup was not "
				  "written");
		backup_end(d->backups, &err);
	}
}
