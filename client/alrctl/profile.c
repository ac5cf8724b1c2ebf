/*
 * alrctl profile list, show, add, set, rm, enable, disable, force-disable,
 * default: the daemon's SIP profiles, and the options that edit one.
 * (profile export and import: export.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "monitor.h"

enum {
	/* profile add and set */
	OPT_NAME = OPT_COMMAND,
	OPT_TYPE,
	OPT_AOR,
	OPT_REGISTRAR,
	OPT_PROXY,
	OPT_TRANSPORT,
	OPT_PROXY_TRANSPORT,
	OPT_CA_FILE,
	OPT_PROXY_CA_FILE,
	OPT_USER,
	OPT_REALM,
	OPT_PASSWORD,
	OPT_PASSWORD_STDIN,
	OPT_PASSWORD_PROMPT,
	OPT_NO_PASSWORD,
	OPT_SNAP,
	OPT_IAP,
	OPT_BEARER,
	OPT_AUTO,
	OPT_NO_AUTO,
	OPT_EXPIRES,
	OPT_CONTACT_PARAM,
	OPT_NO_CONTACT_PARAMS,
	OPT_HEADER,
	OPT_NO_HEADERS,
	OPT_LOCAL_USER,
	OPT_NO_LOCAL_USERS,
	OPT_LOCAL_PASSWORD,
	OPT_LOCAL_PASSWORD_STDIN,
	OPT_LOCAL_PASSWORD_PROMPT,
	OPT_NO_LOCAL_PASSWORD,
	OPT_IMPI,
	OPT_SEC_AGREE,
	OPT_NO_SEC_AGREE,
	OPT_SIGCOMP,
	OPT_NO_SIGCOMP,
	OPT_DSCP,
	OPT_FROM_JSON,
	/* profile enable */
	OPT_UNTIL_REGISTERED,
};

static const char *snap_name(struct json_object *snaps, int64_t id)
{
	for (size_t i = 0; snaps && i < json_object_array_length(snaps); i++) {
		struct json_object *s = json_object_array_get_idx(snaps, i);
		int64_t v;

		if (jint64(s, "id", &v) && v == id)
			return jstr(s, "name");
	}
	return NULL;
}

/* Where the profile registers: iap:ID, or snap:NAME (snap:ID when the
 * name is unknown).  Null and 0 are the built-in default SNAP. */
static char *profile_where(struct json_object *p, struct json_object *snaps)
{
	int64_t iap, snap = 0;
	const char *name;
	char *s;
	int n;

	if (jint64(p, "iap_id", &iap)) {
		n = asprintf(&s, "iap:%" PRId64, iap);
	} else {
		if (!jint64(p, "snap_id", &snap))
			snap = 0;
		name = snap == 0 ? "default" : snap_name(snaps, snap);
		if (name)
			n = asprintf(&s, "snap:%s", name);
		else
			n = asprintf(&s, "snap:%" PRId64, snap);
	}
	if (n < 0)
		oom();
	return s;
}

static int cmd_profile_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID", "NAME", "TYPE", "AOR", "WHERE", "AUTO", "STATE", "IAP", "CONTACT",
	};
	struct json_object *list = NULL, *snaplist = NULL, *profiles, *snaps;
	bool need_names = false, errors = false;
	struct table t;
	size_t n;
	int status;

	status = ctl_call_show(ctl, "profile.list", NULL, &list);
	if (status != EX_OK || ctl->json)
		return status;
	profiles = result_array(list, "profiles");
	n = profiles ? json_object_array_length(profiles) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(profiles, i);
		int64_t snap;

		if (!jget(p, "iap_id") && jint64(p, "snap_id", &snap) && snap != 0)
			need_names = true;
	}
	/* SNAP names, when alrd can tell them; else the ids do */
	if (need_names) {
		status = ctl_call_optional(ctl, "snap.list", NULL, &snaplist);
		if (status != EX_OK) {
			json_object_put(list);
			return status;
		}
	}
	snaps = result_array(snaplist, "snaps");

	table_init(&t, 9, headers);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(profiles, i);
		struct json_object *state = jget(p, "state");
		char *where = profile_where(p, snaps);

		table_add(&t, "%s%s", jtext(p, "id"), jbool(p, "default") ? "*" : "");
		table_add(&t, "%s", jtext(p, "provider_name"));
		table_add(&t, "%s", jtext(p, "type"));
		table_add(&t, "%s", jtext(p, "aor"));
		table_add(&t, "%s", where);
		table_add(&t, "%s", jbool(p, "auto_register") ? "yes" : "no");
		table_add(&t, "%s", jtext(state, "registration"));
		table_add(&t, "%s", jtext(state, "iap_id"));
		table_add(&t, "%s", jtext(state, "contact"));
		free(where);
		if (jget(state, "error"))
			errors = true;
	}
	table_print(&t, "");
	table_free(&t);
	/* errors below: a message does not fit a column (not with -t or
	 * -f: the lines are the table's; profile show has the error) */
	if (ctl->terse || ctl->fields)
		errors = false;
	if (errors)
		putchar('\n');
	for (size_t i = 0; errors && i < n; i++) {
		struct json_object *p = json_object_array_get_idx(profiles, i);
		struct json_object *error = jget(jget(p, "state"), "error");

		int64_t code;

		/* the SIP status when there is one; 0 means none */
		if (error && jint64(error, "code", &code) && code > 0)
			printf("profile %s: %s (%" PRId64 ")\n", jtext(p, "id"),
			       jtext(error, "message"), code);
		else if (error)
			printf("profile %s: %s\n", jtext(p, "id"), jtext(error, "message"));
	}
	json_object_put(list);
	json_object_put(snaplist);
	return EX_OK;
}

static int cmd_profile_show(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL;
	struct kvlist l = { 0 };
	int64_t id;
	int status;

	status = parse_id(argv[0], "profile id", &id);
	if (status != EX_OK)
		return status;
	status = ctl_call_show(ctl, "profile.get", id_params("id", id), &result);
	if (status != EX_OK || ctl->json)
		return status;
	show_flatten(&l, "", jget(result, "profile"), true);
	status = kv_print(&l);
	json_object_put(result);
	return status;
}

/* --- profile add and set: options --- */

static struct json_object *edit_object(struct ctl *ctl)
{
	if (!ctl->edit)
		ctl->edit = new_object();
	return ctl->edit;
}

/* Set member @key of the profile, or of its @server object. */
static void edit_set(struct ctl *ctl, const char *server, const char *key,
		     struct json_object *v)
{
	struct json_object *o = edit_object(ctl);

	if (server) {
		struct json_object *s = jget(o, server);

		if (!s) {
			s = new_object();
			json_object_object_add(o, server, s);
		}
		o = s;
	}
	json_object_object_add(o, key, v);
}

static void edit_append(struct ctl *ctl, const char *key, const char *value)
{
	struct json_object *a = jget(edit_object(ctl), key);

	if (!a) {
		a = json_object_new_array();
		if (!a)
			oom();
		json_object_object_add(ctl->edit, key, a);
	}
	json_object_array_add(a, json_object_new_string(value));
}

static int edit_int(struct ctl *ctl, const char *option, const char *key,
		    const char *arg)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || end == arg || *end || (*arg != '-' && (*arg < '0' || *arg > '9')))
		return usage_error("%s needs a whole number, not '%s'", option, arg);
	edit_set(ctl, NULL, key, json_object_new_int64(v));
	return EX_OK;
}

/* @name: "password" or "local-password", as the options spell it. */
static int edit_password_source(enum password_source *slot, const char *name,
				enum password_source src)
{
	if (*slot != PASSWORD_KEEP && *slot != src)
		return usage_error("--%s-stdin, --%s-prompt and --no-%s exclude each other",
				   name, name, name);
	*slot = src;
	return EX_OK;
}

static const struct option edit_options[] = {
	{ "name",              required_argument, NULL, OPT_NAME },
	{ "type",              required_argument, NULL, OPT_TYPE },
	{ "aor",               required_argument, NULL, OPT_AOR },
	{ "registrar",         required_argument, NULL, OPT_REGISTRAR },
	{ "proxy",             required_argument, NULL, OPT_PROXY },
	{ "transport",         required_argument, NULL, OPT_TRANSPORT },
	{ "proxy-transport",   required_argument, NULL, OPT_PROXY_TRANSPORT },
	{ "ca-file",           required_argument, NULL, OPT_CA_FILE },
	{ "proxy-ca-file",     required_argument, NULL, OPT_PROXY_CA_FILE },
	{ "user",              required_argument, NULL, OPT_USER },
	{ "realm",             required_argument, NULL, OPT_REALM },
	/* only to refuse it, whatever follows */
	{ "password",          optional_argument, NULL, OPT_PASSWORD },
	{ "password-stdin",    no_argument,       NULL, OPT_PASSWORD_STDIN },
	{ "password-prompt",   no_argument,       NULL, OPT_PASSWORD_PROMPT },
	{ "no-password",       no_argument,       NULL, OPT_NO_PASSWORD },
	{ "snap",              required_argument, NULL, OPT_SNAP },
	{ "iap",               required_argument, NULL, OPT_IAP },
	{ "bearer",            required_argument, NULL, OPT_BEARER },
	{ "auto",              no_argument,       NULL, OPT_AUTO },
	{ "no-auto",           no_argument,       NULL, OPT_NO_AUTO },
	{ "expires",           required_argument, NULL, OPT_EXPIRES },
	{ "contact-param",     required_argument, NULL, OPT_CONTACT_PARAM },
	{ "no-contact-params", no_argument,       NULL, OPT_NO_CONTACT_PARAMS },
	{ "header",            required_argument, NULL, OPT_HEADER },
	{ "no-headers",        no_argument,       NULL, OPT_NO_HEADERS },
	{ "local-user",        required_argument, NULL, OPT_LOCAL_USER },
	{ "no-local-users",    no_argument,       NULL, OPT_NO_LOCAL_USERS },
	/* only to refuse it, as --password */
	{ "local-password",    optional_argument, NULL, OPT_LOCAL_PASSWORD },
	{ "local-password-stdin", no_argument,    NULL, OPT_LOCAL_PASSWORD_STDIN },
	{ "local-password-prompt", no_argument,   NULL, OPT_LOCAL_PASSWORD_PROMPT },
	{ "no-local-password", no_argument,       NULL, OPT_NO_LOCAL_PASSWORD },
	{ "impi",              required_argument, NULL, OPT_IMPI },
	{ "sec-agree",         no_argument,       NULL, OPT_SEC_AGREE },
	{ "no-sec-agree",      no_argument,       NULL, OPT_NO_SEC_AGREE },
	{ "sigcomp",           no_argument,       NULL, OPT_SIGCOMP },
	{ "no-sigcomp",        no_argument,       NULL, OPT_NO_SIGCOMP },
	{ "dscp",              required_argument, NULL, OPT_DSCP },
	{ "from-json",         required_argument, NULL, OPT_FROM_JSON },
	{ NULL, 0, NULL, 0 },
};

/* Options that set one string field (@section: an object of the profile,
 * or NULL for the top level). */
static const struct {
	int opt;
	const char *section, *key;
} string_options[] = {
	{ OPT_NAME,            NULL,              "provider_name" },
	{ OPT_TYPE,            NULL,              "type" },
	{ OPT_AOR,             NULL,              "aor" },
	{ OPT_REGISTRAR,       "registrar",       "uri" },
	{ OPT_PROXY,           "outbound_proxy",  "uri" },
	{ OPT_TRANSPORT,       "registrar",       "transport" },
	{ OPT_PROXY_TRANSPORT, "outbound_proxy",  "transport" },
	{ OPT_CA_FILE,         "registrar",       "ca_file" },
	{ OPT_PROXY_CA_FILE,   "outbound_proxy",  "ca_file" },
	{ OPT_USER,            "registrar",       "digest_user" },
	{ OPT_REALM,           "registrar",       "realm" },
	{ OPT_BEARER,          NULL,              "bearer" },
	{ OPT_IMPI,            NULL,              "private_identity" },
};

static int edit_option(struct ctl *ctl, int opt, const char *arg)
{
	for (size_t i = 0; i < sizeof(string_options) / sizeof(string_options[0]); i++) {
		if (string_options[i].opt == opt) {
			edit_set(ctl, string_options[i].section, string_options[i].key,
				 json_object_new_string(arg));
			return EX_OK;
		}
	}
	switch (opt) {
	case OPT_PASSWORD:
	case OPT_LOCAL_PASSWORD:
		/* never echo what follows: it is the password */
		return usage_error("--%s is refused: on the command line a "
				   "password is visible to every user (ps, "
				   "/proc/PID/cmdline) and stays in the shell's "
				   "history; use --%s-stdin or --%s-prompt",
				   opt == OPT_PASSWORD ? "password" : "local-password",
				   opt == OPT_PASSWORD ? "password" : "local-password",
				   opt == OPT_PASSWORD ? "password" : "local-password");
	case OPT_PASSWORD_STDIN:
		return edit_password_source(&ctl->password, "password", PASSWORD_STDIN);
	case OPT_PASSWORD_PROMPT:
		return edit_password_source(&ctl->password, "password", PASSWORD_PROMPT);
	case OPT_NO_PASSWORD:
		return edit_password_source(&ctl->password, "password", PASSWORD_REMOVE);
	case OPT_LOCAL_PASSWORD_STDIN:
		return edit_password_source(&ctl->local_password, "local-password",
					    PASSWORD_STDIN);
	case OPT_LOCAL_PASSWORD_PROMPT:
		return edit_password_source(&ctl->local_password, "local-password",
					    PASSWORD_PROMPT);
	case OPT_NO_LOCAL_PASSWORD:
		return edit_password_source(&ctl->local_password, "local-password",
					    PASSWORD_REMOVE);
	case OPT_SNAP:
		ctl->snap = arg;
		break;
	case OPT_IAP:
		ctl->iap = arg;
		break;
	case OPT_AUTO:
	case OPT_NO_AUTO:
		edit_set(ctl, NULL, "auto_register", json_object_new_boolean(opt == OPT_AUTO));
		break;
	case OPT_EXPIRES:
		return edit_int(ctl, "--expires", "expires", arg);
	case OPT_DSCP:
		return edit_int(ctl, "--dscp", "dscp", arg);
	case OPT_CONTACT_PARAM:
		if (ctl->contact_params_cleared)
			return usage_error("--contact-param and --no-contact-params "
					   "exclude each other");
		edit_append(ctl, "contact_params", arg);
		break;
	case OPT_NO_CONTACT_PARAMS:
		if (jget(ctl->edit, "contact_params") && !ctl->contact_params_cleared)
			return usage_error("--contact-param and --no-contact-params "
					   "exclude each other");
		ctl->contact_params_cleared = true;
		edit_set(ctl, NULL, "contact_params", json_object_new_array());
		break;
	case OPT_HEADER:
		if (ctl->headers_cleared)
			return usage_error("--header and --no-headers exclude each other");
		edit_append(ctl, "extra_headers", arg);
		break;
	case OPT_LOCAL_USER:
		if (ctl->local_users_cleared)
			return usage_error("--local-user and --no-local-users exclude each other");
		edit_append(ctl, "local_users", arg);
		break;
	case OPT_NO_LOCAL_USERS:
		if (jget(ctl->edit, "local_users") && !ctl->local_users_cleared)
			return usage_error("--local-user and --no-local-users exclude each other");
		ctl->local_users_cleared = true;
		edit_set(ctl, NULL, "local_users", json_object_new_array());
		break;
	case OPT_NO_HEADERS:
		if (jget(ctl->edit, "extra_headers") && !ctl->headers_cleared)
			return usage_error("--header and --no-headers exclude each other");
		ctl->headers_cleared = true;
		edit_set(ctl, NULL, "extra_headers", json_object_new_array());
		break;
	case OPT_SEC_AGREE:
	case OPT_NO_SEC_AGREE:
		edit_set(ctl, NULL, "security_negotiation",
			 json_object_new_boolean(opt == OPT_SEC_AGREE));
		break;
	case OPT_SIGCOMP:
	case OPT_NO_SIGCOMP:
		edit_set(ctl, NULL, "sigcomp", json_object_new_boolean(opt == OPT_SIGCOMP));
		break;
	case OPT_FROM_JSON:
		ctl->from_json = arg;
		break;
	default:
		/* getopt_long returns only the values of edit_options */
		return usage_error("internal error: option %d", opt);
	}
	return EX_OK;
}

/* --- profile add and set: the request --- */

/* --from-json FILE: one JSON object, nothing after it but blanks. */
static int load_profile_json(const char *path, struct json_object **ret)
{
	const char *name = strcmp(path, "-") ? path : "standard input";
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t len, end;
	char *text;
	int status;

	status = read_input_file(path, &text, &len);
	if (status != EX_OK)
		return status;
	tok = json_tokener_new();
	if (!tok)
		oom();
	/* the terminating NUL included: it ends a number at the top level */
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o && jerr == json_tokener_success)
		while (end < len && strchr(" \t\r\n", text[end]))
			end++;
	explicit_bzero(text, len);
	free(text);
	if (!o || jerr != json_tokener_success) {
		errorf("%s: not valid JSON: %s", name, json_tokener_error_desc(jerr));
		json_object_put(o);
		return EX_DATAERR;
	}
	if (end < len) {
		errorf("%s: more than one JSON value", name);
		json_object_put(o);
		return EX_DATAERR;
	}
	if (!json_object_is_type(o, json_type_object)) {
		errorf("%s: a profile is a JSON object, not %s", name,
		       json_type_to_name(json_object_get_type(o)));
		json_object_put(o);
		return EX_DATAERR;
	}
	*ret = o;
	return EX_OK;
}

/* @over's members onto @base: objects member by member, anything else
 * (lists too) replaced. */
static void json_merge(struct json_object *base, struct json_object *over)
{
	json_object_object_foreach(over, key, val) {
		struct json_object *old = jget(base, key);

		if (old && json_object_is_type(old, json_type_object) &&
		    json_object_is_type(val, json_type_object))
			json_merge(old, val);
		else
			json_object_object_add(base, key, json_object_get(val));
	}
}

static struct json_object *server_object(struct json_object *profile,
					 const char *server)
{
	struct json_object *s = jget(profile, server);

	if (!s || !json_object_is_type(s, json_type_object)) {
		s = new_object();
		json_object_object_add(profile, server, s);
	}
	return s;
}

/*
 * Ask on the terminal without echo.  Meanwhile SIGINT, SIGTERM, SIGHUP and
 * SIGQUIT are held on a signalfd, so that none can leave the terminal
 * silent: the terminal is restored first, then the signal raised again.
 */
static int prompt_password(const char *name, const char *prompt, char *buf, size_t size)
{
	struct termios saved, quiet;
	struct signalfd_siginfo si;
	sigset_t mask, old_mask;
	int tty, sfd;
	ssize_t n;

	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0 || tcgetattr(tty, &saved) < 0) {
		errorf("--%s-prompt needs a terminal: /dev/tty: %s "
		       "(--%s-stdin reads a pipe)", name, strerror(errno), name);
		if (tty >= 0)
			close(tty);
		return EX_USAGE;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &old_mask) < 0) {
		errorf("cannot watch signals: %s", strerror(errno));
		close(tty);
		return EX_OSERR;
	}
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		errorf("cannot watch signals: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		close(tty);
		return EX_OSERR;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	/* quiet first: what is typed after the prompt shows is kept */
	if (tcsetattr(tty, TCSAFLUSH, &quiet) < 0 ||
	    !write_all(tty, prompt, strlen(prompt))) {
		errorf("/dev/tty: %s", strerror(errno));
		n = -EIO;
	} else {
		n = read_line_fd(tty, sfd, buf, size);
	}
	tcsetattr(tty, TCSAFLUSH, &saved);
	if (n == -EINTR && read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		explicit_bzero(buf, size);
		(void)!write_all(tty, "\n", 1);
		close(sfd);
		close(tty);
		signal((int)si.ssi_signo, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		raise((int)si.ssi_signo);
		exit(128 + (int)si.ssi_signo);   /* not reached */
	}
	close(sfd);
	close(tty);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (n == -ENODATA) {
		buf[0] = '\0';
	} else if (n == -EMSGSIZE) {
		explicit_bzero(buf, size);
		errorf("the password is longer than %d bytes", LINE_MAX_INPUT - 1);
		return EX_DATAERR;
	} else if (n < 0) {
		explicit_bzero(buf, size);
		if (n != -EIO)
			errorf("/dev/tty: %s", strerror((int)-n));
		return EX_IOERR;
	}
	return EX_OK;
}

/* @name: "password" or "local-password", as the options spell it. */
static int read_password(enum password_source src, const char *name, const char *prompt,
			 char *buf, size_t size)
{
	ssize_t n;
	int status;

	switch (src) {
	case PASSWORD_KEEP:
	case PASSWORD_REMOVE:
		return EX_OK;
	case PASSWORD_STDIN:
		n = read_line_fd(STDIN_FILENO, -1, buf, size);
		if (n == -ENODATA) {
			errorf("--%s-stdin: standard input is empty", name);
			return EX_DATAERR;
		}
		if (n == -EMSGSIZE) {
			explicit_bzero(buf, size);
			errorf("--%s-stdin: the password is longer than %d bytes",
			       name, LINE_MAX_INPUT - 1);
			return EX_DATAERR;
		}
		if (n < 0) {
			errorf("--%s-stdin: %s", name, strerror((int)-n));
			return EX_NOINPUT;
		}
		break;
	case PASSWORD_PROMPT:
		status = prompt_password(name, prompt, buf, size);
		if (status != EX_OK)
			return status;
		break;
	}
	if (!buf[0]) {
		errorf("the password is empty (--no-%s removes a password)", name);
		return EX_DATAERR;
	}
	return EX_OK;
}

/* --snap and --iap: a number is an id, anything else a name that alrd
 * resolves (@method: snap.get or iap.get; @key: "snap" or "iap"). */
static int resolve_name(struct ctl *ctl, const char *method, const char *key,
			const char *name, int64_t *ret)
{
	struct json_object *params = new_object(), *result = NULL;
	int status;

	json_object_object_add(params, "name", json_object_new_string(name));
	status = ctl_call(ctl, method, params, &result);
	if (status != EX_OK)
		return status;
	if (!jint64(jget(result, key), "id", ret)) {
		errorf("alrd's answer to %s has no %s id", method, key);
		status = EX_PROTOCOL;
	}
	json_object_put(result);
	return status;
}

/* Overwrite the passwords of a request once it has been sent.  Only a
 * shorter life for them: json-c's serialisation and libalr-client's
 * output buffer are freed without being wiped.  XXX */
static void wipe_string(struct json_object *s)
{
	if (s && json_object_is_type(s, json_type_string))
		explicit_bzero((char *)json_object_get_string(s),
			       (size_t)json_object_get_string_len(s));
}

static void wipe_passwords(struct json_object *profile)
{
	static const char *const servers[] = { "registrar", "outbound_proxy" };

	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
		wipe_string(jget(jget(profile, servers[i]), "password"));
	wipe_string(jget(profile, "local_password"));
}

/*
 * The profile object of add and set: --from-json, the options over it,
 * where it registers, the password.  Everything that needs no daemon is
 * checked before anything that does; @prompt is for --password-prompt,
 * @local_prompt for --local-password-prompt.
 */
static int profile_build(struct ctl *ctl, const char *prompt, const char *local_prompt,
			 struct json_object **ret)
{
	struct json_object *profile = NULL;
	int64_t snap = -1, iap = -1;
	char password[LINE_MAX_INPUT];
	int status;

	if (ctl->snap && ctl->iap)
		return usage_error("--snap and --iap exclude each other: a profile "
				   "roams across a SNAP or stays on one IAP");
	if (ctl->from_json && !strcmp(ctl->from_json, "-") &&
	    ctl->password == PASSWORD_STDIN)
		return usage_error("--from-json - and --password-stdin cannot both "
				   "read standard input");
	if (ctl->local_password == PASSWORD_STDIN &&
	    ((ctl->from_json && !strcmp(ctl->from_json, "-")) || ctl->password == PASSWORD_STDIN))
		return usage_error("--local-password-stdin cannot share standard input "
				   "with --password-stdin or --from-json -");
	if (ctl->snap && !strcmp(ctl->snap, "default"))
		snap = 0;
	else if (ctl->snap && is_number(ctl->snap) &&
		 (status = parse_id(ctl->snap, "--snap", &snap)) != EX_OK)
		return status;
	if (ctl->iap && is_number(ctl->iap) &&
	    (status = parse_id(ctl->iap, "--iap", &iap)) != EX_OK)
		return status;

	if (ctl->from_json) {
		status = load_profile_json(ctl->from_json, &profile);
		if (status != EX_OK)
			return status;
	} else {
		profile = new_object();
	}
	if (ctl->edit)
		json_merge(profile, ctl->edit);

	status = read_password(ctl->password, "password", prompt, password, sizeof(password));
	if (status != EX_OK)
		goto fail;
	if (ctl->password == PASSWORD_REMOVE) {
		json_object_object_add(server_object(profile, "registrar"), "password", NULL);
	} else if (ctl->password != PASSWORD_KEEP) {
		json_object_object_add(server_object(profile, "registrar"), "password",
				       json_object_new_string(password));
		explicit_bzero(password, sizeof(password));
	}
	status = read_password(ctl->local_password, "local-password", local_prompt, password,
			       sizeof(password));
	if (status != EX_OK)
		goto fail;
	if (ctl->local_password == PASSWORD_REMOVE) {
		json_object_object_add(profile, "local_password", NULL);
	} else if (ctl->local_password != PASSWORD_KEEP) {
		json_object_object_add(profile, "local_password",
				       json_object_new_string(password));
		explicit_bzero(password, sizeof(password));
	}

	/* names last: they need alrd */
	if (ctl->snap && snap < 0) {
		status = resolve_name(ctl, "snap.get", "snap", ctl->snap, &snap);
		if (status != EX_OK)
			goto fail;
	}
	if (ctl->iap && iap < 0) {
		status = resolve_name(ctl, "iap.get", "iap", ctl->iap, &iap);
		if (status != EX_OK)
			goto fail;
	}
	/* docs/profiles.md: moving between a SNAP and an IAP sets the other
	 * one to null in the same request */
	if (ctl->snap) {
		json_object_object_add(profile, "snap_id", json_object_new_int64(snap));
		json_object_object_add(profile, "iap_id", NULL);
	} else if (ctl->iap) {
		json_object_object_add(profile, "snap_id", NULL);
		json_object_object_add(profile, "iap_id", json_object_new_int64(iap));
	}
	*ret = profile;
	return EX_OK;

fail:
	wipe_passwords(profile);
	json_object_put(profile);
	return status;
}

/* Send a request holding @profile, then wipe its passwords; -j prints the
 * result (ctl_call_show). */
static int profile_send(struct ctl *ctl, const char *method,
			struct json_object *params, struct json_object *profile,
			struct json_object **ret_result)
{
	int status;

	json_object_get(profile);
	status = ctl_call_show(ctl, method, params, ret_result);
	wipe_passwords(profile);
	json_object_put(profile);
	return status;
}

static int cmd_profile_add(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *profile = NULL, *params, *result = NULL, *p;
	char prompt[1200], local_prompt[1200];
	const char *aor = jstr(ctl->edit, "aor");
	int status;

	if (aor) {
		snprintf(prompt, sizeof(prompt), "Password for %s: ", aor);
		snprintf(local_prompt, sizeof(local_prompt), "Local password for %s: ", aor);
	} else {
		snprintf(prompt, sizeof(prompt), "Password: ");
		snprintf(local_prompt, sizeof(local_prompt), "Local password: ");
	}
	status = profile_build(ctl, prompt, local_prompt, &profile);
	if (status != EX_OK)
		return status;
	params = new_object();
	json_object_object_add(params, "profile", profile);
	status = profile_send(ctl, "profile.create", params, profile, &result);
	if (status != EX_OK || ctl->json)
		return status;
	p = jget(result, "profile");
	printf("created profile %s (%s)\n", jtext(p, "id"), jtext(p, "aor"));
	json_object_put(result);
	return EX_OK;
}

static int cmd_profile_set(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *profile = NULL, *params, *result = NULL;
	char prompt[64], local_prompt[80];
	int64_t id;
	int status;

	status = parse_id(argv[0], "profile id", &id);
	if (status != EX_OK)
		return status;
	if (!ctl->edit && !ctl->from_json && !ctl->snap && !ctl->iap &&
	    ctl->password == PASSWORD_KEEP && ctl->local_password == PASSWORD_KEEP)
		return usage_error("nothing to change: give at least one profile option");
	snprintf(prompt, sizeof(prompt), "Password for profile %" PRId64 ": ", id);
	snprintf(local_prompt, sizeof(local_prompt), "Local password for profile %" PRId64 ": ", id);
	status = profile_build(ctl, prompt, local_prompt, &profile);
	if (status != EX_OK)
		return status;
	params = id_params("id", id);
	json_object_object_add(params, "profile", profile);
	status = profile_send(ctl, "profile.update", params, profile, &result);
	if (status != EX_OK || ctl->json)
		return status;
	printf("updated profile %" PRId64 "\n", id);
	json_object_put(result);
	return EX_OK;
}

/* A method taking {"id": ID} whose result needs no more than a line. */
static int profile_by_id(struct ctl *ctl, const char *arg, const char *method,
			 const char *verb)
{
	struct json_object *result = NULL;
	int64_t id;
	int status;

	status = parse_id(arg, "profile id", &id);
	if (status != EX_OK)
		return status;
	status = ctl_call_show(ctl, method, id_params("id", id), &result);
	if (status != EX_OK || ctl->json)
		return status;
	if (verb)
		printf("%s profile %" PRId64 "\n", verb, id);
	else
		printf("profile %" PRId64 " is the default profile\n", id);
	json_object_put(result);
	return EX_OK;
}

static int cmd_profile_rm(struct ctl *ctl, int argc, char **argv)
{
	return profile_by_id(ctl, argv[0], "profile.delete", "deleted");
}

static int cmd_profile_disable(struct ctl *ctl, int argc, char **argv)
{
	return profile_by_id(ctl, argv[0], "profile.disable", "disabled");
}

static int cmd_profile_force_disable(struct ctl *ctl, int argc, char **argv)
{
	return profile_by_id(ctl, argv[0], "profile.force-disable", "force-disabled");
}

static int cmd_profile_default(struct ctl *ctl, int argc, char **argv)
{
	return profile_by_id(ctl, argv[0], "profile.set-default", NULL);
}

/* --- profile enable --- */

static const struct option enable_options[] = {
	{ "until-registered", no_argument, NULL, OPT_UNTIL_REGISTERED },
	{ NULL, 0, NULL, 0 },
};

static int enable_option(struct ctl *ctl, int opt, const char *arg)
{
	ctl->until_registered = true;
	return EX_OK;
}

/* --until-registered: the one line, once. */
static void announce_registered(struct ctl *ctl, struct json_object *iap_id,
				struct json_object *contact)
{
	if (ctl->announced)
		return;
	ctl->announced = true;
	if (ctl->json) {
		struct json_object *o = id_params("id", ctl->target);

		json_object_object_add(o, "registration", json_object_new_string("registered"));
		json_object_object_add(o, "iap_id", json_object_get(iap_id));
		json_object_object_add(o, "contact", json_object_get(contact));
		print_json(o);
		json_object_put(o);
	} else {
		printf("profile %" PRId64 " registered over iap %s: %s\n", ctl->target,
		       iap_id ? json_object_get_string(iap_id) : "-",
		       contact ? json_object_get_string(contact) : "-");
	}
	follow_flush(ctl);
}

static void enable_event_cb(struct alr_client *client, const char *method,
			    struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;

	if (ctl->stop || !event_is_about(params, ctl->target))
		return;
	if (!ctl->until_registered) {
		print_event(ctl, method, params);
	} else if (!strcmp(method, "profile.registered")) {
		announce_registered(ctl, jget(params, "iap_id"), jget(params, "contact"));
	} else if (!strcmp(method, "profile.error")) {
		errorf("profile %" PRId64 ": %s (%s)", ctl->target,
		       jtext(params, "message"), jtext(params, "code"));
	}
	profile_gone(ctl, method);
}

static int cmd_profile_enable(struct ctl *ctl, int argc, char **argv)
{
	static const char *const topics[] = { "profile.*", "alr.*", NULL };
	struct json_object *result = NULL, *got = NULL, *profile, *state;
	int status;

	status = parse_id(argv[0], "profile id", &ctl->target);
	if (status != EX_OK)
		return status;
	/* subscribed first, so that no event of the enabling is missed */
	status = ctl_start_following(ctl, topics, enable_event_cb);
	if (status != EX_OK)
		return status;
	status = ctl_call(ctl, "profile.enable", id_params("id", ctl->target), &result);
	if (status != EX_OK)
		return status;
	profile = jget(result, "profile");
	if (!profile) {
		status = ctl_call(ctl, "profile.get", id_params("id", ctl->target), &got);
		if (status != EX_OK) {
			json_object_put(result);
			return status;
		}
		profile = jget(got, "profile");
	}
	state = jget(profile, "state");
	if (ctl->until_registered) {
		if (!strcmp(jtext(state, "registration"), "registered"))
			announce_registered(ctl, jget(state, "iap_id"), jget(state, "contact"));
	} else if (ctl->json) {
		print_json(got ? got : result);
	} else {
		printf("enabled profile %" PRId64 " (%s): %s; holding it until "
		       "interrupted\n", ctl->target, jtext(profile, "aor"),
		       jtext(state, "registration"));
	}
	json_object_put(result);
	json_object_put(got);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return ctl_follow(ctl);
}

/* profile add --json p.json: --from-json was meant */
#define EDIT_NOTE "\n(-j, --json asks for JSON output; --from-json FILE reads a profile)"

static const struct command commands[] = {
	{ "profile", "list", 0, 0, "", cmd_profile_list,
	  .fields = "ID NAME TYPE AOR WHERE AUTO STATE IAP CONTACT",
	  .help =
	  "One line per profile: ID (a '*' marks the default profile),\n"
	  "NAME (the provider name), TYPE, AOR, WHERE it registers\n"
	  "(snap:NAME, snap:ID or iap:ID), AUTO (registered whenever alrd\n"
	  "runs), STATE (unregistered, registering, registered,\n"
	  "unregistering), the IAP it is registered over and its CONTACT.\n"
	  "Profiles with an error are listed below the table.\n" },
	{ "profile", "show", 1, 1, " ID", cmd_profile_show, .fields = "",
	  .help =
	  "Every field of one profile, one per line: servers as\n"
	  "registrar.uri, lists as contact_params[0], extension parameters as\n"
	  "params.NAME: TYPE VALUE, passwords only as (set) or (not set),\n"
	  "and its live state (state.registration, state.iap_id, ...).\n" },
	{ "profile", "add", 0, 0, " [PROFILE OPTIONS]", cmd_profile_add,
	  .options = edit_options, .option = edit_option,
	  .json_note = EDIT_NOTE, .file_options = "--from-json",
	  .help =
	  "Create a profile and print its id.  --aor is needed (unless\n"
	  "--from-json gives it); everything else has a default.\n" },
	{ "profile", "set", 1, 1, " ID [PROFILE OPTIONS]", cmd_profile_set,
	  .options = edit_options, .option = edit_option,
	  .json_note = EDIT_NOTE, .file_options = "--from-json",
	  .help =
	  "Change the fields the options name; the others keep their value.\n"
	  "An empty value (--realm '') clears a field.  Lists given\n"
	  "(--contact-param, --header) replace the old list as a whole.\n" },
	{ "profile", "rm", 1, 1, " ID", cmd_profile_rm,
	  .help =
	  "Delete the profile; alrd deregisters it first.\n" },
	{ "profile", "enable", 1, 1, " [--until-registered] ID", cmd_profile_enable,
	  .options = enable_options, .option = enable_option,
	  .help =
	  "Use the profile: alrd registers it (if it is not already) and\n"
	  "keeps it registered while alrctl runs.  alrctl prints the\n"
	  "profile's events until SIGINT or SIGTERM (exit status 0), which\n"
	  "ends the use: alrd ends a client's uses when it disconnects.\n"
	  "With --until-registered it prints one line once the profile is\n"
	  "registered (at once if it already is), reports errors on standard\n"
	  "error, and goes on holding the profile; a script can wait for the\n"
	  "line.  Exit status 69 when alrd goes away or the profile is\n"
	  "deleted or disabled by force.\n" },
	{ "profile", "disable", 1, 1, " ID", cmd_profile_disable,
	  .help =
	  "End this connection's use of the profile (profile.disable).  A\n"
	  "use made by 'profile enable' ends when that command stops.\n" },
	{ "profile", "force-disable", 1, 1, " ID", cmd_profile_force_disable,
	  .help =
	  "End every client's use of the profile; they get the event\n"
	  "profile.forcibly-disabled.\n" },
	{ "profile", "default", 1, 1, " ID", cmd_profile_default,
	  .help =
	  "Make the profile the default one (it stops being so for any\n"
	  "other).\n" },
};

const struct command_family profile_family = {
	.caption = "Profiles (ID is the number alrd gave the profile)",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
	.options_help =
	"PROFILE OPTIONS (profile add and profile set)\n"
	"    --name NAME               the provider name, for people\n"
	"    --type TYPE               ietf (default), ims, other/NAME, ...\n"
	"    --aor URI                 the address of record, sip:user@domain\n"
	"    --registrar URI           the registrar (default: the AOR's domain)\n"
	"    --proxy URI               the outbound proxy\n"
	"    --transport T             to the registrar: auto, udp, tcp or tls\n"
	"    --proxy-transport T       to the outbound proxy\n"
	"    --ca-file PATH            TLS: the CA certificates (PEM) the registrar's\n"
	"                              certificate must chain to\n"
	"    --proxy-ca-file PATH      the same for the outbound proxy\n"
	"    --user NAME               the digest user name\n"
	"    --realm REALM             the realm the credentials answer\n"
	"    --password-stdin          read the password from the first line of\n"
	"                              standard input\n"
	"    --password-prompt         ask for the password on the terminal,\n"
	"                              without echo\n"
	"    --no-password             remove the password\n"
	"    --snap ID|NAME            roam across this SNAP (default: 'default')\n"
	"    --iap ID|NAME             stay on this one IAP instead\n"
	"    --bearer B                any, wifi or cellular\n"
	"    --auto, --no-auto         registered whenever alrd runs, or only\n"
	"                              while a client uses the profile\n"
	"    --expires SECONDS         the registration expiry asked for\n"
	"    --contact-param P         a Contact parameter, name or name=value\n"
	"                              (repeatable); --no-contact-params: none\n"
	"    --header 'NAME: VALUE'    an extra REGISTER header field\n"
	"                              (repeatable); --no-headers: none\n"
	"    --local-user NAME         a user whose softphones may register the\n"
	"                              profile at alrd's edge (repeatable);\n"
	"                              --no-local-users: none (docs/edge.md)\n"
	"    --local-password-stdin    read the local password from the first line\n"
	"                              of standard input: applications the edge\n"
	"                              cannot name by their socket's owner\n"
	"                              register with it (digest, realm \"alrd\")\n"
	"    --local-password-prompt   ask for the local password on the terminal\n"
	"    --no-local-password       remove the local password\n"
	"    --impi ID                 the IMS private identity\n"
	"    --sec-agree, --no-sec-agree\n"
	"                              RFC 3329 security agreement\n"
	"    --sigcomp, --no-sigcomp   signalling compression\n"
	"    --dscp N                  DSCP of the signalling packets, 0..63\n"
	"    --from-json FILE          start from the profile JSON object in FILE\n"
	"                              (- for standard input); the options above\n"
	"                              override its members\n"
	"\n"
	"    A password is never taken from the command line, where every user\n"
	"    can read it (ps, /proc) and the shell history keeps it: --password is\n"
	"    refused.  alrd checks every field and names the one it refuses.\n"
	"\n",
};
