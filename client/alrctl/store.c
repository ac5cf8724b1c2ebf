/*
 * alrctl backup, restore: the daemon's store (store.backup,
 * store.restore).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl.h"

/* alrd opens the path itself and refuses a relative one: make it relative
 * to our working directory, not to alrd's. */
static int absolute_path(const char *path, char **ret)
{
	char *cwd, *abs;
	int n;

	if (!*path)
		return usage_error("empty path");
	if (path[0] == '/') {
		abs = strdup(path);
		if (!abs)
			oom();
		*ret = abs;
		return EX_OK;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd) {
		errorf("cannot make %s absolute: the working directory: %s",
		       path, strerror(errno));
		return EX_OSERR;
	}
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (*path == '/')
			path++;
	}
	n = asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") ? "/" : "",
		     *path ? path : ".");
	free(cwd);
	if (n < 0)
		oom();
	*ret = abs;
	return EX_OK;
}

static int store_command(struct ctl *ctl, const char *method, const char *arg)
{
	struct json_object *params, *result = NULL;
	char *path = NULL;
	int status;

	status = absolute_path(arg, &path);
	if (status != EX_OK)
		return status;
	params = new_object();
	json_object_object_add(params, "path", json_object_new_string(path));
	if (ctl->with_passwords)
		json_object_object_add(params, "secrets", json_object_new_boolean(true));
	status = ctl_call_show(ctl, method, params, &result);
	if (status == EX_OK && !ctl->json) {
		struct json_object *secrets;

		if (!strcmp(method, "store.backup"))
			printf("backup written to %s%s\n",
			       jstr(result, "path") ? jstr(result, "path") : path,
			       json_object_object_get_ex(result, "secrets", &secrets) &&
			       json_object_get_boolean(secrets) ? ", passwords included" : "");
		else
			printf("store restored from %s\n", path);
	}
	json_object_put(result);
	free(path);
	return status;
}

static int cmd_backup(struct ctl *ctl, int argc, char **argv)
{
	return store_command(ctl, "store.backup", argv[0]);
}

static int cmd_restore(struct ctl *ctl, int argc, char **argv)
{
	return store_command(ctl, "store.restore", argv[0]);
}

static const struct command commands[] = {
	{ "backup", NULL, 1, 1, " [--with-passwords] PATH", cmd_backup,
	  .options = with_passwords_options, .option = with_passwords_option,
	  .complete = ARGS_FILE,
	  .help =
	  "Make alrd write a consistent copy of its store to PATH, which\n"
	  "must not exist.  alrd creates PATH with your rights (it is your\n"
	  "file, mode 0600); a relative path is made absolute against\n"
	  "alrctl's working directory.  The profiles' passwords are left\n"
	  "out unless --with-passwords is given.\n" },
	{ "restore", NULL, 1, 1, " PATH", cmd_restore,
	  .complete = ARGS_FILE,
	  .help =
	  "Make alrd replace its store with the backup PATH, which alrd\n"
	  "reads with your rights (checked first;\n"
	  "the current store is kept as alrd.db.before-restore).  Profiles\n"
	  "are deregistered, reloaded and registered again.\n" },
};

const struct command_family store_family = {
	.caption = "The store",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
