/*
 * alrctl profile export, profile import: every profile in the text format
 * of docs/profiles.md, to a file or from one (profile.export,
 * profile.import).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "ctl.h"

/*
 * Write @data to @path.  A regular file (or a new one) is replaced by a
 * new file renamed over it: a failed export leaves the old file whole, and
 * a file with passwords (@secret) is 0600 from its first byte.  Anything
 * else (a terminal, a pipe, /dev/null) is written in place.
 */
static int write_output_file(const char *path, const char *data, size_t len,
			     bool secret)
{
	char *real = NULL, *tmp = NULL;
	const char *target;
	struct stat st;
	int fd, status = EX_OK;

	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			errorf("cannot open %s: %s", path, strerror(errno));
			return EX_CANTCREAT;
		}
		if (!write_all(fd, data, len)) {
			errorf("cannot write %s: %s", path, strerror(errno));
			status = EX_IOERR;
		}
		close(fd);
		return status;
	}
	/* through a symbolic link to its target */
	real = realpath(path, NULL);
	target = real ? real : path;
	if (asprintf(&tmp, "%s.XXXXXX", target) < 0)
		oom();
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		errorf("cannot create %s: %s", path, strerror(errno));
		status = EX_CANTCREAT;
		goto out;
	}
	if (!secret) {
		mode_t mask = umask(0);

		umask(mask);
		if (fchmod(fd, 0666 & ~mask) < 0) {
			errorf("cannot create %s: %s", path, strerror(errno));
			status = EX_CANTCREAT;
		}
	}
	if (status == EX_OK && (!write_all(fd, data, len) || fsync(fd) < 0)) {
		errorf("cannot write %s: %s", path, strerror(errno));
		status = EX_IOERR;
	}
	if (close(fd) < 0 && status == EX_OK) {
		errorf("cannot write %s: %s", path, strerror(errno));
		status = EX_IOERR;
	}
	if (status == EX_OK && rename(tmp, target) < 0) {
		errorf("cannot create %s: %s", path, strerror(errno));
		status = EX_CANTCREAT;
	}
	if (status != EX_OK)
		unlink(tmp);
out:
	free(tmp);
	free(real);
	return status;
}

static int cmd_profile_export(struct ctl *ctl, int argc, char **argv)
{
	const char *file = argc > 0 && strcmp(argv[0], "-") ? argv[0] : NULL;
	struct json_object *params = NULL, *result = NULL, *text;
	int status = EX_OK;

	if (file && !*file)
		return usage_error("empty file name");
	if (ctl->with_passwords) {
		params = new_object();
		json_object_object_add(params, "with_passwords", json_object_new_boolean(1));
	}
	status = ctl_call(ctl, "profile.export", params, &result);
	if (status != EX_OK)
		return status;
	text = jget(result, "text");
	if (!text || !json_object_is_type(text, json_type_string)) {
		errorf("alrd's answer to profile.export has no text");
		json_object_put(result);
		return EX_PROTOCOL;
	}
	if (file)
		status = write_output_file(file, json_object_get_string(text),
					   (size_t)json_object_get_string_len(text),
					   ctl->with_passwords);
	else if (ctl->json)
		print_json(result);
	else
		fwrite(json_object_get_string(text), 1,
		       (size_t)json_object_get_string_len(text), stdout);
	if (ctl->with_passwords) {
		/* flushed before the copy goes */
		fflush(stdout);
		explicit_bzero((char *)json_object_get_string(text),
			       (size_t)json_object_get_string_len(text));
	}
	json_object_put(result);
	return status;
}

static int cmd_profile_import(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL, *text_obj, *created;
	size_t len, n;
	char *text;
	int status;

	status = read_input_file(argv[0], &text, &len);
	if (status != EX_OK)
		return status;
	text_obj = json_object_new_string_len(text, (int)len);
	explicit_bzero(text, len);
	free(text);
	if (!text_obj)
		oom();
	params = new_object();
	json_object_object_add(params, "text", text_obj);
	/* an export with passwords holds them: wiped like a profile's */
	json_object_get(text_obj);
	status = ctl_call_show(ctl, "profile.import", params, &result);
	explicit_bzero((char *)json_object_get_string(text_obj),
		       (size_t)json_object_get_string_len(text_obj));
	json_object_put(text_obj);
	if (status != EX_OK || ctl->json)
		return status;
	created = result_array(result, "created");
	n = created ? json_object_array_length(created) : 0;
	printf("imported %zu profile%s", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : ": ",
		       json_object_get_string(json_object_array_get_idx(created, i)));
	putchar('\n');
	json_object_put(result);
	return EX_OK;
}

static const struct command commands[] = {
	{ "profile", "export", 0, 1, " [--with-passwords] [FILE]", cmd_profile_export,
	  .options = with_passwords_options, .option = with_passwords_option,
	  .complete = ARGS_FILE,
	  .help =
	  "Write every profile in the text format of docs/profiles.md to\n"
	  "FILE (replaced through a new file; mode 0600 with passwords) or,\n"
	  "without FILE or with -, to standard output.  Passwords are left\n"
	  "out unless --with-passwords (also spelt --passwords) is given.\n" },
	{ "profile", "import", 1, 1, " FILE|-", cmd_profile_import,
	  .complete = ARGS_FILE,
	  .help =
	  "Create the profiles of an export file (- reads standard input)\n"
	  "and print their ids.  All or nothing: the first problem is\n"
	  "reported with its line and nothing is created.\n" },
};

const struct command_family export_family = {
	.caption = "Profiles (ID is the number alrd gave the profile)",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
