/* store.backup in slices: a deferred answer, the copy made from an idle
 * watcher a few pages at a time, so that a large store does not hold the
 * loop (docs/protocol.md, store.backup). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "daemon/userfile.h"

struct daemon;
struct control_client;
struct jsonrpc_error;

/* Pages copied per loop turn (4 KiB each). */
#define BACKUP_PAGES_PER_TURN 64

/*
 * Start writing a backup of @d's store to @path as @cred; the answer goes
 * to @cl when it is written.  0 (the answer is deferred), or a negative
 * errno with @err set (answer now).
 */
int backup_start(struct daemon *d, struct control_client *cl, const struct userfile_cred *cred,
		 const char *path, bool secrets, struct jsonrpc_error *err);

/* Backups being written (a restore during one is refused). */
size_t backup_count(const struct daemon *d);

/* Cancel every backup being written, answering each (alrd is stopping). */
void backup_cancel_all(struct daemon *d);
