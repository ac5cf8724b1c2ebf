/*
 * alrctl: the command line face of alrd's control protocol, built on
 * libalr-client.  Human output is aligned plain text; -j prints the
 * daemon's JSON untouched, for scripts.
 *
 * Every command checks its whole command line before it connects, so that
 * a usage error is reported as such even when alrd is not running, and a
 * refused option (a password on the command line) never reaches alrd.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <alr/client.h>

#ifndef ALR_VERSION
#define ALR_VERSION "unknown"
#endif
#ifdef ALR_DEFAULT_SOCKET
#define CTL_DEFAULT_SOCKET ALR_DEFAULT_SOCKET
#else
#define CTL_DEFAULT_SOCKET ALR_DEFAULT_SOCKET_PATH
#endif

#define DEFAULT_TIMEOUT_MS 5000
/* A password or an answer typed at a prompt; alrd takes at most 1024 bytes
 * and says so itself. */
#define LINE_MAX_INPUT 4096
/* Files alrctl sends whole (profile import, --from-json).  alrd's own
 * request limit (max-request-size) is usually far lower and reported by
 * alrd. */
#define INPUT_FILE_MAX ALR_MAX_RESPONSE

enum password_source {
	PASSWORD_KEEP,           /* no password option: leave it as it is */
	PASSWORD_STDIN,
	PASSWORD_PROMPT,
	PASSWORD_REMOVE,
};

enum answer {
	ANSWER_NONE,
	ANSWER_ALLOW,
	ANSWER_DENY,
	ANSWER_ASK,
};

enum {
	OPT_VERSION = 0x100,
	/* profile add and set */
	OPT_NAME,
	OPT_TYPE,
	OPT_AOR,
	OPT_REGISTRAR,
	OPT_PROXY,
	OPT_TRANSPORT,
	OPT_PROXY_TRANSPORT,
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
	OPT_IMPI,
	OPT_SEC_AGREE,
	OPT_NO_SEC_AGREE,
	OPT_SIGCOMP,
	OPT_NO_SIGCOMP,
	OPT_DSCP,
	OPT_FROM_JSON,
	/* profile export */
	OPT_WITH_PASSWORDS,
	/* profile enable */
	OPT_UNTIL_REGISTERED,
	/* alr control */
	OPT_ALLOW,
	OPT_DENY,
	OPT_ASK,
	OPT_REFRESH,
};

struct ctl {
	const char *socket;
	bool json;
	int timeout_ms;          /* -1: for ever */
	struct alr_client *client;

	/* commands that follow events: monitor, profile enable, alr control */
	int status;              /* exit status decided inside a callback */
	bool stop;               /* a callback ended the loop */
	int sfd;                 /* signalfd for SIGINT and SIGTERM, or -1 */
	int64_t target;          /* the profile followed */
	bool announced;          /* --until-registered: said it */
	int tty;                 /* alr control --ask: /dev/tty, or -1 */

	/* profile add and set */
	struct json_object *edit;      /* profile members given as options */
	const char *from_json;
	const char *snap, *iap;
	enum password_source password;
	bool contact_params_cleared, headers_cleared;
	/* profile export */
	bool with_passwords;
	/* profile enable */
	bool until_registered;
	/* alr control */
	enum answer answer;
	bool refresh;
};

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("alrctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void oom(void) __attribute__((noreturn));

static void oom(void)
{
	errorf("out of memory");
	exit(EX_OSERR);
}

static void print_help(void)
{
	printf(
"NAME\n"
"    alrctl - control and observe alrd, the SIP roaming daemon\n"
"\n"
"SYNOPSIS\n"
"    alrctl [OPTIONS] COMMAND [ARGUMENTS]\n"
"\n"
"DESCRIPTION\n"
"    alrctl talks to alrd over its control socket (JSON-RPC 2.0, one JSON\n"
"    object per line).  It shows the daemon and its IAPs (Internet access\n"
"    points: the network interfaces SIP can register over), its SIP\n"
"    profiles and SNAPs (the sets of IAPs a profile roams across), follows\n"
"    their changes, manages profiles, backs up the store, and approves or\n"
"    refuses the moves of a profile to another IAP.\n"
"\n"
"    Reading needs access to the socket; commands that change something\n"
"    need root or membership in one of alrd's control groups (\"alrd\" by\n"
"    default).\n"
"\n"
"COMMANDS\n"
"  The daemon and its IAPs\n"
"    status\n"
"        The daemon's version, pid, uptime, socket, state directory, log\n"
"        level and clients, and a short table of its IAPs.\n"
"\n"
"    iap list\n"
"        One line per IAP: id, name (the NetworkManager connection, else\n"
"        the interface), interface, kind, state (up or down), the reason\n"
"        when down, SSID, signal and metered (from NetworkManager, '-'\n"
"        without a connection), the usable addresses, and the address\n"
"        families whose default route leaves through it.\n"
"\n"
"    iap show ID|NAME\n"
"        Every field of one IAP, one per line (NetworkManager's as nm.*),\n"
"        then its addresses with their flags.  A number is taken as an id,\n"
"        anything else as a name.\n"
"\n"
"    monitor [TOPIC...]\n"
"        Follow events whose name matches one of the TOPICs (shell\n"
"        patterns such as 'iap.*' or 'profile.*'; default '*'), one line\n"
"        each: local time, event, then what it is about: for IAP events\n"
"        the IAP's id, name, kind, availability and reason, and in an\n"
"        identity switch replaces=ID or replaced_by=ID; for the others\n"
"        the fields it carries as NAME=VALUE (profile, snap, iap, from,\n"
"        to, contact, expires, reason, code, message).  Runs until SIGINT\n"
"        or SIGTERM (exit status 0) or until alrd goes away (69).\n"
"\n"
"    reload\n"
"        Make alrd re-read its configuration file and SNAP files, as SIGHUP\n"
"        does.  An invalid file is reported (exit status 78) and the\n"
"        running configuration stays in force.\n"
"\n"
"    log-level LEVEL\n"
"        Set alrd's log level: error, warning, notice, info or debug.  It\n"
"        lasts until the next reload or restart.\n"
"\n"
"    call METHOD [PARAMS]\n"
"        Call any METHOD of the protocol with PARAMS, a JSON object, and\n"
"        print the result as JSON.  For scripts and debugging.\n"
"\n"
"  Profiles (ID is the number alrd gave the profile)\n"
"    profile list\n"
"        One line per profile: ID (a '*' marks the default profile),\n"
"        NAME (the provider name), TYPE, AOR, WHERE it registers\n"
"        (snap:NAME, snap:ID or iap:ID), AUTO (registered whenever alrd\n"
"        runs), STATE (unregistered, registering, registered,\n"
"        unregistering), the IAP it is registered over and its CONTACT.\n"
"        Profiles with an error are listed below the table.\n"
"\n"
"    profile show ID\n"
"        Every field of one profile, one per line: servers as\n"
"        registrar.uri, lists as contact_params[0], extension parameters as\n"
"        params.NAME: TYPE VALUE, passwords only as (set) or (not set),\n"
"        and its live state (state.registration, state.iap_id, ...).\n"
"\n"
"    profile add [PROFILE OPTIONS]\n"
"        Create a profile and print its id.  --aor is needed (unless\n"
"        --from-json gives it); everything else has a default.\n"
"\n"
"    profile set ID [PROFILE OPTIONS]\n"
"        Change the fields the options name; the others keep their value.\n"
"        An empty value (--realm '') clears a field.  Lists given\n"
"        (--contact-param, --header) replace the old list as a whole.\n"
"\n"
"    profile rm ID\n"
"        Delete the profile; alrd deregisters it first.\n"
"\n"
"    profile enable [--until-registered] ID\n"
"        Use the profile: alrd registers it (if it is not already) and\n"
"        keeps it registered while alrctl runs.  alrctl prints the\n"
"        profile's events until SIGINT or SIGTERM (exit status 0), which\n"
"        ends the use: alrd ends a client's uses when it disconnects.\n"
"        With --until-registered it prints one line once the profile is\n"
"        registered (at once if it already is), reports errors on standard\n"
"        error, and goes on holding the profile; a script can wait for the\n"
"        line.  Exit status 69 when alrd goes away or the profile is\n"
"        deleted or disabled by force.\n"
"\n"
"    profile disable ID\n"
"        End this connection's use of the profile (profile.disable).  A\n"
"        use made by 'profile enable' ends when that command stops.\n"
"\n"
"    profile force-disable ID\n"
"        End every client's use of the profile; they get the event\n"
"        profile.forcibly-disabled.\n"
"\n"
"    profile default ID\n"
"        Make the profile the default one (it stops being so for any\n"
"        other).\n"
"\n"
"    profile export [--with-passwords] [FILE]\n"
"        Write every profile in the text format of docs/profiles.md to\n"
"        FILE (replaced through a new file; mode 0600 with passwords) or,\n"
"        without FILE or with -, to standard output.  Passwords are left\n"
"        out unless --with-passwords (also spelt --passwords) is given.\n"
"\n"
"    profile import FILE|-\n"
"        Create the profiles of an export file (- reads standard input)\n"
"        and print their ids.  All or nothing: the first problem is\n"
"        reported with its line and nothing is created.\n"
"\n"
"  The store\n"
"    backup [--with-passwords] PATH\n"
"        Make alrd write a consistent copy of its store to PATH, which\n"
"        must not exist.  alrd creates PATH with your rights (it is your\n"
"        file, mode 0600); a relative path is made absolute against\n"
"        alrctl's working directory.  The profiles' passwords are left\n"
"        out unless --with-passwords is given.\n"
"\n"
"    restore PATH\n"
"        Make alrd replace its store with the backup PATH, which alrd\n"
"        reads with your rights (checked first;\n"
"        the current store is kept as alrd.db.before-restore).  Profiles\n"
"        are deregistered, reloaded and registered again.\n"
"\n"
"  SNAPs\n"
"    snap list\n"
"        One line per SNAP: ID, NAME, MIGRATION (make-before-break or\n"
"        break-before-make), STABLE (stable-time), TIMEOUT/ON-TIMEOUT\n"
"        (approval-timeout and what happens then), RULES (how many) and\n"
"        RANKING (the available member IAPs, best first).\n"
"\n"
"    snap show ID|NAME\n"
"        Every setting of one SNAP, its file, its rules (rules[0].kind,\n"
"        ...) and its ranking.\n"
"\n"
"  Roaming control\n"
"    alr control PROFILE --allow|--deny|--ask [--refresh]\n"
"        Become a controller of the profile: alrd then asks alrctl before\n"
"        it moves the profile to a better IAP.  --allow allows every move,\n"
"        --deny (or --disallow) refuses every move, --ask asks on the\n"
"        terminal (\"allow migration of profile 3 to IAP 7 (HomeNet)?\n"
"        [y/N]\").  --refresh first lets alrd offer again the IAPs refused\n"
"        or failed before.  Prints the profile's events and the answers\n"
"        given, until SIGINT or SIGTERM (exit status 0); then alrd stops\n"
"        asking.\n"
"\n"
"    alr refresh PROFILE\n"
"        Let alrd offer the profile IAPs that were refused or failed\n"
"        before.  When the profile has controllers, alrd takes this only\n"
"        from one of them: use 'alr control ... --refresh' then.\n"
"\n"
"PROFILE OPTIONS (profile add and profile set)\n"
"    --name NAME               the provider name, for people\n"
"    --type TYPE               ietf (default), ims, other/NAME, ...\n"
"    --aor URI                 the address of record, sip:user@domain\n"
"    --registrar URI           the registrar (default: the AOR's domain)\n"
"    --proxy URI               the outbound proxy\n"
"    --transport T             to the registrar: auto, udp, tcp or tls\n"
"    --proxy-transport T       to the outbound proxy\n"
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
"\n"
"OPTIONS\n"
"    -s, --socket PATH\n"
"        Talk to the alrd listening on PATH (default: $ALRD_SOCKET, else\n"
"        %s).\n"
"\n"
"    -j, --json\n"
"        Print the daemon's JSON result on one line instead of text;\n"
"        commands that follow events print each event as one JSON object\n"
"        per line.\n"
"\n"
"    -t, --timeout MS\n"
"        Wait at most MS milliseconds for each answer (default %d; 0 waits\n"
"        for ever).  Events are awaited for ever.\n"
"\n"
"    -h, --help\n"
"        Print this help and exit.\n"
"\n"
"    --version\n"
"        Print the version and exit.\n"
"\n"
"    These options may come before the command or after its words; a\n"
"    command's own options come after its words.\n"
"\n"
"ENVIRONMENT\n"
"    ALRD_SOCKET\n"
"        The control socket, when -s is not given.\n"
"\n"
"EXIT STATUS\n"
"    0   success; a command following events stopped by SIGINT or SIGTERM\n"
"    64  bad command line (EX_USAGE)\n"
"    65  invalid parameters, no such IAP, profile or SNAP, or a bad input\n"
"        file (EX_DATAERR)\n"
"    66  an input file cannot be read (EX_NOINPUT)\n"
"    69  alrd is not running, its socket is missing, the connection was\n"
"        lost, or the profile followed is gone (EX_UNAVAILABLE)\n"
"    70  another error reported by alrd (EX_SOFTWARE)\n"
"    73  the output file cannot be created (EX_CANTCREAT)\n"
"    74  the output could not be written (EX_IOERR)\n"
"    75  no answer in time, or alrd is busy (EX_TEMPFAIL)\n"
"    76  alrd sent something that is not its protocol (EX_PROTOCOL)\n"
"    77  permission denied (EX_NOPERM)\n"
"    78  reload found an invalid configuration (EX_CONFIG)\n"
"\n"
"EXAMPLES\n"
"    alrctl status\n"
"    alrctl iap show wlan0\n"
"    alrctl -j iap list | jq -r '.iaps[] | select(.available) | .name'\n"
"    alrctl monitor 'profile.*' 'alr.*'\n"
"    alrctl log-level debug\n"
"    alrctl call iap.get '{\"id\": 3}'\n"
"    alrctl profile add --aor sip:alice@example.org --user alice \\\n"
"        --password-prompt --snap laptop --auto\n"
"    pass show sip/alice | alrctl profile set 3 --password-stdin\n"
"    alrctl profile enable --until-registered 3\n"
"    alrctl profile export --with-passwords /root/profiles.txt\n"
"    alrctl backup /var/backups/alrd-$(date +%%F).db\n"
"    alrctl alr control 3 --ask\n",
	       CTL_DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("alrctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'alrctl --help' for more information.\n", stderr);
	return EX_USAGE;
}

/* The exit status for a failed library call, after saying why. */
static int report_failure(int r, const struct alr_error *e)
{
	if (e->message[0])
		errorf("%s", e->message);
	else
		errorf("%s", strerror(-r));

	switch (r) {
	case -ETIMEDOUT:
		return EX_TEMPFAIL;
	case -ECONNRESET:
	case -EPIPE:
		/* closed on us, possibly saying why first */
		return e->code == ALR_ERR_BUSY ? EX_TEMPFAIL : EX_UNAVAILABLE;
	case -EPROTO:
		break;
	default:
		return EX_SOFTWARE;
	}

	switch (e->code) {
	case 0:
		return EX_PROTOCOL;       /* not an error object: garbage */
	case ALR_ERR_PERMISSION:
		return EX_NOPERM;
	case ALR_ERR_INVALID_PARAMS:
	case ALR_ERR_NOT_FOUND:
	case ALR_ERR_TOO_LARGE:
		/* too large: what we sent, an import file most likely */
		return EX_DATAERR;
	case ALR_ERR_CONFIG:
		return EX_CONFIG;
	case ALR_ERR_BUSY:
		return EX_TEMPFAIL;
	default:
		return EX_SOFTWARE;
	}
}

static int ctl_connect(struct ctl *ctl)
{
	const char *path = ctl->socket ? ctl->socket : alr_client_default_socket();
	int r;

	r = alr_client_connect(path, &ctl->client);
	if (r == 0)
		return EX_OK;
	switch (r) {
	case -ENOENT:
	case -ECONNREFUSED:
	case -ENOTDIR:
		errorf("cannot connect to %s: %s (is alrd running? use -s or $%s)",
		       path, strerror(-r), ALR_SOCKET_ENV);
		return EX_UNAVAILABLE;
	case -EACCES:
	case -EPERM:
		errorf("cannot connect to %s: %s (the socket's mode and group, "
		       "socket-mode and socket-group in alrd.conf, decide who may)",
		       path, strerror(-r));
		return EX_NOPERM;
	default:
		errorf("cannot connect to %s: %s", path, strerror(-r));
		return EX_UNAVAILABLE;
	}
}

/* Call @method (taking @params), connecting first if need be; on failure
 * say why and return the exit status.  Connecting only here lets every
 * command check its arguments first: a usage error is reported as such
 * even when alrd is not running.  With @optional, an error answer (a
 * method an older alrd lacks) is no failure: *ret_result stays NULL and
 * EX_OK is returned; only a broken connection is reported. */
static int call(struct ctl *ctl, const char *method, struct json_object *params,
		struct json_object **ret_result, bool optional)
{
	struct alr_error e;
	int r;

	if (ret_result)
		*ret_result = NULL;
	if (!ctl->client) {
		int status = ctl_connect(ctl);

		if (status != EX_OK) {
			json_object_put(params);
			return status;
		}
	}
	r = alr_client_call(ctl->client, method, params, ctl->timeout_ms,
			    ret_result, &e);
	if (optional && r == -EPROTO && e.code != 0)
		return EX_OK;
	if (r < 0)
		return report_failure(r, &e);
	return EX_OK;
}

static int ctl_call(struct ctl *ctl, const char *method,
		    struct json_object *params, struct json_object **ret_result)
{
	return call(ctl, method, params, ret_result, false);
}

static int ctl_call_optional(struct ctl *ctl, const char *method,
			     struct json_object *params,
			     struct json_object **ret_result)
{
	return call(ctl, method, params, ret_result, true);
}

/* One line, as the daemon sent it (NULL prints "null"). */
static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* --- reading the daemon's objects, tolerating anything missing --- */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string)
	       ? json_object_get_string(v) : NULL;
}

static bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_boolean) &&
	       json_object_get_boolean(v);
}

/* Any scalar as text: strings as they are, null as "-". */
static const char *jtext(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	if (!v)
		return "-";
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? "yes" : "no";
	return json_object_get_string(v);
}

/* An integer member; false when there is none. */
static bool jint64(struct json_object *o, const char *key, int64_t *ret)
{
	struct json_object *v = jget(o, key);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

/* --- aligned tables --- */

struct table {
	size_t ncols;
	size_t ncells;           /* the header's included */
	char **cells;            /* row after row, the header first */
	size_t cap;
};

static void table_add(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void table_init(struct table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->cap = ncols * 8;
	t->cells = calloc(t->cap, sizeof(char *));
	if (!t->cells)
		oom();
	for (size_t i = 0; i < ncols; i++)
		table_add(t, "%s", headers[i]);
}

/* Add a cell to the current row; a new row starts after ncols cells. */
static void table_add(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (t->ncells == t->cap) {
		char **p = realloc(t->cells, 2 * t->cap * sizeof(char *));

		if (!p)
			oom();
		t->cells = p;
		t->cap *= 2;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	t->cells[t->ncells++] = s;
}

static void table_print(struct table *t, const char *indent)
{
	size_t ncells = t->ncells;
	size_t width[16] = { 0 };

	for (size_t i = 0; i < ncells; i++) {
		size_t col = i % t->ncols, len = strlen(t->cells[i]);

		if (col < 16 && len > width[col])
			width[col] = len;
	}
	for (size_t i = 0; i < ncells; i++) {
		size_t col = i % t->ncols;
		bool last = col == t->ncols - 1 || i == ncells - 1;

		if (col == 0)
			fputs(indent, stdout);
		if (last)
			printf("%s\n", t->cells[i]);
		else
			printf("%-*s  ", (int)width[col], t->cells[i]);
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* --- IAPs --- */

static const char *iap_state(struct json_object *iap)
{
	return jbool(iap, "available") ? "up" : "down";
}

static const char *iap_reason(struct json_object *iap)
{
	const char *reason = jstr(iap, "reason");

	return reason ? reason : "-";
}

static bool addr_text(struct json_object *a, char *buf, size_t size)
{
	const char *addr = jstr(a, "address");
	struct json_object *prefix = jget(a, "prefix");

	if (!addr)
		return false;
	if (prefix)
		snprintf(buf, size, "%s/%d", addr, json_object_get_int(prefix));
	else
		snprintf(buf, size, "%s", addr);
	return true;
}

/* The usable addresses, comma-separated, or "-"; the caller frees it. */
static char *iap_usable_addresses(struct json_object *iap)
{
	struct json_object *addrs = jget(iap, "addresses");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	bool first = true;

	if (!f)
		return NULL;
	if (addrs && json_object_is_type(addrs, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(addrs); i++) {
			struct json_object *a = json_object_array_get_idx(addrs, i);
			char buf[128];

			if (!jbool(a, "usable") || !addr_text(a, buf, sizeof(buf)))
				continue;
			fprintf(f, "%s%s", first ? "" : ",", buf);
			first = false;
		}
	}
	if (first)
		fputs("-", f);
	fclose(f);
	return out;
}

static const char *iap_default_route(struct json_object *iap)
{
	struct json_object *dr = jget(iap, "default_route");
	bool v4 = jbool(dr, "ipv4"), v6 = jbool(dr, "ipv6");

	return v4 && v6 ? "ipv4,ipv6" : v4 ? "ipv4" : v6 ? "ipv6" : "-";
}

/* The NetworkManager columns: "-" for an IAP without a connection (the
 * daemon then knows nothing about SSID, signal or metering). */
static const char *iap_ssid(struct json_object *iap)
{
	const char *ssid = jstr(jget(iap, "nm"), "ssid");

	return ssid && *ssid ? ssid : "-";
}

static void iap_signal(struct json_object *iap, char *buf, size_t size)
{
	int64_t strength;

	if (jint64(jget(iap, "nm"), "strength", &strength))
		snprintf(buf, size, "%" PRId64 "%%", strength);
	else
		snprintf(buf, size, "-");
}

static const char *iap_metered(struct json_object *iap)
{
	struct json_object *nm = jget(iap, "nm");

	if (!nm || !json_object_is_type(jget(nm, "metered"), json_type_boolean))
		return "-";
	return jbool(nm, "metered") ? "yes" : "no";
}

static void print_iap_table(struct json_object *iaps, bool full, const char *indent)
{
	static const char *const short_headers[] = {
		"ID", "NAME", "KIND", "STATE", "REASON",
	};
	static const char *const headers[] = {
		"ID", "NAME", "INTERFACE", "KIND", "STATE", "REASON", "SSID", "SIGNAL",
		"METERED", "ADDRESSES", "DEFAULT ROUTE",
	};
	struct table t;

	if (full)
		table_init(&t, sizeof(headers) / sizeof(headers[0]), headers);
	else
		table_init(&t, sizeof(short_headers) / sizeof(short_headers[0]),
			   short_headers);
	for (size_t i = 0; iaps && i < json_object_array_length(iaps); i++) {
		struct json_object *iap = json_object_array_get_idx(iaps, i);

		table_add(&t, "%s", jtext(iap, "id"));
		table_add(&t, "%s", jtext(iap, "name"));
		if (full) {
			const char *ifname = jstr(iap, "interface");

			table_add(&t, "%s", ifname && *ifname ? ifname : "-");
		}
		table_add(&t, "%s", jtext(iap, "kind"));
		table_add(&t, "%s", iap_state(iap));
		table_add(&t, "%s", iap_reason(iap));
		if (full) {
			char *addrs = iap_usable_addresses(iap);
			char signal[24];

			iap_signal(iap, signal, sizeof(signal));
			table_add(&t, "%s", iap_ssid(iap));
			table_add(&t, "%s", signal);
			table_add(&t, "%s", iap_metered(iap));
			table_add(&t, "%s", addrs ? addrs : "-");
			free(addrs);
			table_add(&t, "%s", iap_default_route(iap));
		}
	}
	table_print(&t, indent);
	table_free(&t);
}

static struct json_object *result_array(struct json_object *result, const char *key)
{
	struct json_object *a = jget(result, key);

	return a && json_object_is_type(a, json_type_array) ? a : NULL;
}

/* --- commands --- */

static void format_uptime(double secs, char *buf, size_t size)
{
	unsigned long s = secs > 0 ? (unsigned long)secs : 0;
	unsigned long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

	s %= 60;
	if (d)
		snprintf(buf, size, "%lud %luh %02lum", d, h, m);
	else if (h)
		snprintf(buf, size, "%luh %02lum %02lus", h, m, s);
	else if (m)
		snprintf(buf, size, "%lum %02lus", m, s);
	else
		snprintf(buf, size, "%lus", s);
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *info = NULL, *list = NULL, *iaps, *caller, *nl;
	struct json_object *uptime;
	char up[64];
	int status;

	status = ctl_call(ctl, "daemon.info", NULL, &info);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(info);
		json_object_put(info);
		return EX_OK;
	}
	status = ctl_call(ctl, "iap.list", NULL, &list);
	if (status != EX_OK) {
		json_object_put(info);
		return status;
	}
	iaps = result_array(list, "iaps");

	uptime = jget(info, "uptime");
	format_uptime(uptime ? json_object_get_double(uptime) : 0, up, sizeof(up));
	printf("version:    %s\n", jtext(info, "version"));
	printf("pid:        %s\n", jtext(info, "pid"));
	printf("uptime:     %s\n", up);
	printf("socket:     %s\n", jtext(info, "socket"));
	printf("config:     %s\n", jtext(info, "config_file"));
	printf("state dir:  %s\n", jtext(info, "state_dir"));
	printf("log level:  %s\n", jtext(info, "log_level"));
	printf("clients:    %s\n", jtext(info, "clients"));
	caller = jget(info, "caller");
	if (caller)
		printf("you:        uid %s, %s\n", jtext(caller, "uid"),
		       jbool(caller, "can_control") ? "may control" : "read only");
	nl = jget(info, "netlink");
	if (nl)
		printf("netlink:    %s messages, %s snapshots, %s resyncs\n",
		       jtext(nl, "messages"), jtext(nl, "snapshots"),
		       jtext(nl, "resyncs"));
	if (iaps) {
		size_t n = json_object_array_length(iaps), up_count = 0;

		for (size_t i = 0; i < n; i++)
			if (jbool(json_object_array_get_idx(iaps, i), "available"))
				up_count++;
		printf("IAPs:       %zu (%zu up)\n", n, up_count);
		if (n > 0) {
			putchar('\n');
			print_iap_table(iaps, false, "    ");
		}
	} else {
		printf("IAPs:       %s\n", jtext(info, "iaps"));
	}
	json_object_put(info);
	json_object_put(list);
	return EX_OK;
}

static int cmd_iap_list(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *list = NULL;
	int status;

	status = ctl_call(ctl, "iap.list", NULL, &list);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(list);
	else
		print_iap_table(result_array(list, "iaps"), true, "");
	json_object_put(list);
	return EX_OK;
}

/* --- iap show: every field, flattened to "a.b: value" --- */

struct kv {
	char *key;
	char *value;
};

struct kvlist {
	struct kv *v;
	size_t n, cap;
};

static void kv_add(struct kvlist *l, const char *key, const char *value)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		struct kv *p = realloc(l->v, cap * sizeof(*p));

		if (!p)
			oom();
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].key = strdup(key);
	l->v[l->n].value = strdup(value);
	if (!l->v[l->n].key || !l->v[l->n].value)
		oom();
	l->n++;
}

static void kv_flatten(struct kvlist *l, const char *prefix, struct json_object *o)
{
	json_object_object_foreach(o, key, val) {
		char name[256];

		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (!strcmp(name, "addresses"))
			continue;          /* listed below, one per line */
		switch (json_object_get_type(val)) {
		case json_type_object: {
			char sub[258];

			snprintf(sub, sizeof(sub), "%s.", name);
			kv_flatten(l, sub, val);
			break;
		}
		case json_type_null:
			kv_add(l, name, "-");
			break;
		case json_type_boolean:
			kv_add(l, name, json_object_get_boolean(val) ? "yes" : "no");
			break;
		case json_type_array: {
			/* arrays of strings as a list, anything else as JSON */
			char *out = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&out, &len);

			if (!f)
				break;
			for (size_t i = 0; i < json_object_array_length(val); i++) {
				struct json_object *e = json_object_array_get_idx(val, i);

				fprintf(f, "%s%s", i ? ", " : "",
					json_object_is_type(e, json_type_string)
					? json_object_get_string(e)
					: json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
			}
			fclose(f);
			kv_add(l, name, out && *out ? out : "-");
			free(out);
			break;
		}
		case json_type_string:
		case json_type_int:
		case json_type_double:
			kv_add(l, name, json_object_get_string(val));
			break;
		}
	}
}

/* "key: value" lines, the values aligned; frees the list. */
static void kv_print(struct kvlist *l)
{
	size_t width = 0;

	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i].key) > width)
			width = strlen(l->v[i].key);
	for (size_t i = 0; i < l->n; i++) {
		printf("%s:%*s %s\n", l->v[i].key,
		       (int)(width - strlen(l->v[i].key)), "", l->v[i].value);
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void print_addresses(struct json_object *addrs)
{
	static const char *const headers[] = {
		"ADDRESS", "FAMILY", "SCOPE", "USABLE", "FLAGS",
	};
	struct table t;

	table_init(&t, 5, headers);
	for (size_t i = 0; i < json_object_array_length(addrs); i++) {
		struct json_object *a = json_object_array_get_idx(addrs, i);
		struct json_object *flags = jget(a, "flags");
		char buf[128];
		char *out = NULL;
		size_t len = 0;
		FILE *f;

		if (!addr_text(a, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "-");
		table_add(&t, "%s", buf);
		table_add(&t, "%s", jtext(a, "family"));
		table_add(&t, "%s", jtext(a, "scope"));
		table_add(&t, "%s", jbool(a, "usable") ? "yes" : "no");
		f = open_memstream(&out, &len);
		if (f) {
			for (size_t j = 0; flags && json_object_is_type(flags, json_type_array) &&
			     j < json_object_array_length(flags); j++)
				fprintf(f, "%s%s", j ? "," : "",
					json_object_get_string(json_object_array_get_idx(flags, j)));
			fclose(f);
		}
		table_add(&t, "%s", out && *out ? out : "-");
		free(out);
	}
	table_print(&t, "    ");
	table_free(&t);
}

static int cmd_iap_show(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL, *iap, *addrs;
	struct kvlist l = { 0 };
	const char *arg = argv[0];
	size_t width = 0;
	char *end;
	long id;
	int status;

	errno = 0;
	id = strtol(arg, &end, 10);
	if (*arg >= '0' && *arg <= '9' && !*end && (errno || id > INT_MAX))
		return usage_error("IAP id out of range: %s", arg);
	params = json_object_new_object();
	if (*arg >= '0' && *arg <= '9' && !*end) {
		json_object_object_add(params, "id", json_object_new_int((int)id));
	} else {
		json_object_object_add(params, "name", json_object_new_string(arg));
	}
	status = ctl_call(ctl, "iap.get", params, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(result);
		json_object_put(result);
		return EX_OK;
	}

	iap = jget(result, "iap");
	kv_flatten(&l, "", iap);
	for (size_t i = 0; i < l.n; i++)
		if (strlen(l.v[i].key) > width)
			width = strlen(l.v[i].key);
	kv_print(&l);
	addrs = jget(iap, "addresses");
	if (addrs && json_object_is_type(addrs, json_type_array)) {
		size_t n = json_object_array_length(addrs);

		printf("addresses:%*s %zu\n", width > 9 ? (int)(width - 9) : 0, "", n);
		if (n > 0)
			print_addresses(addrs);
	}
	json_object_put(result);
	return EX_OK;
}

static int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL;
	int status;

	status = ctl_call(ctl, "daemon.reload", NULL, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		puts("configuration reloaded");
	json_object_put(result);
	return EX_OK;
}

static int cmd_log_level(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL;
	int status;

	params = json_object_new_object();
	json_object_object_add(params, "level", json_object_new_string(argv[0]));
	status = ctl_call(ctl, "daemon.set-log-level", params, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		printf("log level: %s (was %s)\n", jtext(result, "level"),
		       jtext(result, "previous"));
	json_object_put(result);
	return EX_OK;
}

static int cmd_call(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params = NULL, *result = NULL;
	int status;

	if (argc > 1) {
		enum json_tokener_error jerr;

		params = json_tokener_parse_verbose(argv[1], &jerr);
		if (!params && jerr != json_tokener_success)
			return usage_error("PARAMS is not valid JSON: %s",
					   json_tokener_error_desc(jerr));
	}
	status = ctl_call(ctl, argv[0], params, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		puts(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(result);
	return EX_OK;
}

/* --- small helpers --- */

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* A profile, SNAP or IAP id: digits only. */
static int parse_id(const char *s, const char *what, int64_t *ret)
{
	char *end;
	long long v;

	if (!is_number(s))
		return usage_error("%s must be a number, not '%s'", what, s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return usage_error("%s out of range: %s", what, s);
	*ret = v;
	return EX_OK;
}

static struct json_object *new_object(void)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		oom();
	return o;
}

/* {"KEY": ID} */
static struct json_object *id_params(const char *key, int64_t id)
{
	struct json_object *p = new_object();

	json_object_object_add(p, key, json_object_new_int64(id));
	return p;
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Read one line from @fd into @buf (without its "\n" or "\r\n"), a byte at
 * a time: nothing after the line is consumed, and no copy of a password
 * stays behind in a stdio buffer.  With @sfd >= 0, gives up when @sfd (a
 * signalfd) becomes readable.  Returns the length; -ENODATA at the end of
 * the input before any byte; -EMSGSIZE when the line does not fit; -EINTR
 * for a signal; or another negative errno.
 */
static ssize_t read_line_fd(int fd, int sfd, char *buf, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		char c;

		if (sfd >= 0) {
			struct pollfd pfd[2] = {
				{ .fd = fd, .events = POLLIN },
				{ .fd = sfd, .events = POLLIN },
			};

			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (pfd[1].revents)
				return -EINTR;
		}
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (len == 0)
				return -ENODATA;
			break;
		}
		if (c == '\n')
			break;
		if (len + 1 >= size)
			return -EMSGSIZE;
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* --- events --- */

static void print_time(struct json_object *params)
{
	struct json_object *t = jget(params, "time");
	struct timespec ts;
	struct tm tm;
	time_t sec;
	long ms;

	if (t && (json_object_is_type(t, json_type_double) ||
		  json_object_is_type(t, json_type_int))) {
		/* when the daemon decided, not when we read it */
		double d = json_object_get_double(t);

		sec = (time_t)d;
		ms = (long)((d - (double)sec) * 1000);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		sec = ts.tv_sec;
		ms = ts.tv_nsec / 1000000;
	}
	if (ms < 0 || ms > 999)
		ms = 0;
	localtime_r(&sec, &tm);
	printf("%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

/* A string shown bare when it is one plain word, else as a JSON string. */
static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
			return true;
	return false;
}

static void put_value(FILE *f, struct json_object *v)
{
	if (json_object_is_type(v, json_type_string) &&
	    !needs_quotes(json_object_get_string(v)))
		fputs(json_object_get_string(v), f);
	else
		fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE), f);
}

/* An object stands for itself by its id and name (or AOR): 7 (HomeNet). */
static void put_ref(FILE *f, struct json_object *v)
{
	struct json_object *id = jget(v, "id");
	const char *name;

	if (!json_object_is_type(v, json_type_object) || !id) {
		put_value(f, v);
		return;
	}
	put_value(f, id);
	name = jstr(v, "name");
	if (!name)
		name = jstr(v, "aor");
	if (name)
		fprintf(f, " (%s)", name);
}

/*
 * The fields of an event a person looks for, as NAME=VALUE: which profile,
 * SNAP and IAP it is about, and why.  Events alrctl does not know yet show
 * sensibly as long as they use the protocol's usual member names; an event
 * with none of them is shown as its JSON.
 */
static char *event_summary(const char *method, struct json_object *params)
{
	static const struct {
		const char *key;
		const char *label;      /* NULL: "profile" for profile.*, else "id" */
	} fields[] = {
		{ "profile", "profile" },
		{ "id",      NULL },
		{ "snap",    "snap" },
		{ "iap",     "iap" },
		{ "iap_id",  "iap" },
		{ "from",    "from" },
		{ "to",      "to" },
		{ "contact", "contact" },
		{ "expires", "expires" },
		{ "reason",  "reason" },
		{ "code",    "code" },
		{ "message", "message" },
	};
	bool is_profile_event = !strncmp(method, "profile.", 8);
	struct json_object *error = jget(params, "error");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const char *sep = "";

	if (!f)
		oom();
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct json_object *v = jget(params, fields[i].key);
		const char *label = fields[i].label;

		if (!v)
			continue;          /* absent or null */
		if (!label)
			label = is_profile_event ? "profile" : "id";
		fprintf(f, "%s%s=", sep, label);
		put_ref(f, v);
		sep = " ";
		/* a profile object: its registration state too */
		if (!strcmp(fields[i].key, "profile") &&
		    jstr(jget(v, "state"), "registration"))
			fprintf(f, " state=%s", jstr(jget(v, "state"), "registration"));
	}
	/* an error object: {code, message} */
	if (error && json_object_is_type(error, json_type_object)) {
		if (jget(error, "code")) {
			fprintf(f, "%scode=", sep);
			put_value(f, jget(error, "code"));
			sep = " ";
		}
		if (jget(error, "message")) {
			fprintf(f, "%smessage=", sep);
			put_value(f, jget(error, "message"));
			sep = " ";
		}
	} else if (error) {
		fprintf(f, "%serror=", sep);
		put_value(f, error);
		sep = " ";
	}
	if (!*sep && params)
		put_value(f, params);
	fclose(f);
	if (!out)
		oom();
	return out;
}

static void print_event(struct ctl *ctl, const char *method,
			struct json_object *params)
{
	struct json_object *iap = jget(params, "iap");

	if (ctl->json) {
		struct json_object *ev = new_object();

		json_object_object_add(ev, "jsonrpc", json_object_new_string("2.0"));
		json_object_object_add(ev, "method", json_object_new_string(method));
		if (params)
			json_object_object_add(ev, "params", json_object_get(params));
		print_json(ev);
		json_object_put(ev);
	} else if (!strncmp(method, "iap.", 4) && iap &&
		   json_object_is_type(iap, json_type_object)) {
		const char *reason = jstr(iap, "reason");

		int64_t other;

		print_time(params);
		printf(" %-11s %s %s %s %s%s%s%s", method, jtext(iap, "id"),
		       jtext(iap, "name"), jtext(iap, "kind"),
		       jbool(iap, "available") ? "available" : "unavailable",
		       reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
		/* An identity switch (interface <-> NetworkManager connection):
		 * the other IAP of the pair. */
		if (jint64(iap, "replaces", &other))
			printf(" replaces=%" PRId64, other);
		if (jint64(iap, "replaced_by", &other))
			printf(" replaced_by=%" PRId64, other);
		putchar('\n');
	} else {
		char *summary = event_summary(method, params);

		print_time(params);
		printf(" %-11s%s%s\n", method, *summary ? " " : "", summary);
		free(summary);
	}
	if (fflush(stdout) != 0 && ctl->status == EX_OK) {
		ctl->status = EX_IOERR;
		ctl->stop = true;
	}
}

/* The profile an event is about: "profile" (an id or a profile object),
 * else "id" (profile.* events). */
static bool event_is_about(struct json_object *params, int64_t id)
{
	struct json_object *v = jget(params, "profile");
	int64_t got;

	if (v && json_object_is_type(v, json_type_object))
		return jint64(v, "id", &got) && got == id;
	if (v)
		return json_object_is_type(v, json_type_int) &&
		       json_object_get_int64(v) == id;
	return jint64(params, "id", &got) && got == id;
}

/* Signals arrive as readable data on ctl->sfd, so that SIGINT between a
 * check and poll() cannot be lost. */
static int ctl_watch_signals(struct ctl *ctl)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (ctl->sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		errorf("cannot watch signals: %s", strerror(errno));
		return EX_OSERR;
	}
	return EX_OK;
}

/* Deliver events until SIGINT or SIGTERM (then ctl->status, normally 0),
 * a callback stops, or the connection ends (69, or 76 for garbage). */
static int ctl_follow(struct ctl *ctl)
{
	struct pollfd pfd[2];
	int r;

	pfd[0].fd = alr_client_fd(ctl->client);
	pfd[0].events = POLLIN;
	pfd[1].fd = ctl->sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		/* the first round delivers the events that came along with
		 * earlier answers: they do not make the fd readable */
		r = alr_client_dispatch(ctl->client);
		if (ctl->stop || ctl->status != EX_OK)
			break;
		if (r < 0) {
			if (r == -ECONNRESET)
				errorf("alrd closed the connection");
			else if (r == -EPROTO)
				errorf("alrd sent something that is not its protocol");
			else
				errorf("connection to alrd lost: %s", strerror(-r));
			ctl->status = r == -EPROTO ? EX_PROTOCOL : EX_UNAVAILABLE;
			break;
		}
		do {
			r = poll(pfd, 2, -1);
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			errorf("poll: %s", strerror(errno));
			ctl->status = EX_OSERR;
			break;
		}
		if (pfd[1].revents)
			break;            /* SIGINT or SIGTERM: a normal end */
	}
	return ctl->status;
}

/* Connect, watch signals, take events with @cb, subscribe to @topics. */
static int ctl_start_following(struct ctl *ctl, const char *const *topics,
			       alr_event_cb cb)
{
	struct alr_error e;
	int status, r;

	status = ctl->client ? EX_OK : ctl_connect(ctl);
	if (status != EX_OK)
		return status;
	status = ctl_watch_signals(ctl);
	if (status != EX_OK)
		return status;
	alr_client_set_event_handler(ctl->client, cb, ctl);
	r = alr_client_subscribe(ctl->client, topics, ctl->timeout_ms, &e);
	if (r < 0)
		return report_failure(r, &e);
	return EX_OK;
}

/* --- monitor --- */

static void monitor_event_cb(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;

	if (!ctl->stop)
		print_event(ctl, method, params);
}

static int cmd_monitor(struct ctl *ctl, int argc, char **argv)
{
	static const char *const all[] = { "*", NULL };
	/* argv is NULL-terminated, as main()'s is */
	const char *const *topics = argc > 0 ? (const char *const *)argv : all;
	int status;

	status = ctl_start_following(ctl, topics, monitor_event_cb);
	if (status != EX_OK)
		return status;
	return ctl_follow(ctl);
}

/* --- showing profiles and SNAPs: "a.b: value" lines --- */

static void show_flatten(struct kvlist *l, const char *prefix,
			 struct json_object *o, bool profile);

/* Text of an export-format value (docs/profiles.md): bare, or a JSON
 * string when blanks at either end, quotes or brackets would be lost. */
static bool export_needs_quotes(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
	    s[len - 1] == '\t' || s[0] == '"' || s[0] == '[')
		return true;
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* Extension parameters as the export format writes them: one line each,
 * "params.NAME: TYPE VALUE" (or params.#KEY). */
static void kv_params(struct kvlist *l, const char *name, struct json_object *params)
{
	size_t n = json_object_array_length(params);

	if (n == 0) {
		kv_add(l, name, "-");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(params, i);
		struct json_object *v = jget(p, "value");
		const char *pname = jstr(p, "name"), *type = jstr(p, "type");
		const char *text;
		char key[1088], *value;      /* name (< 512) and more */
		int64_t num;

		if (pname)
			snprintf(key, sizeof(key), "%s.%s", name, pname);
		else if (jint64(p, "key", &num))
			snprintf(key, sizeof(key), "%s.#%" PRId64, name, num);
		else
			snprintf(key, sizeof(key), "%s[%zu]", name, i);
		if (json_object_is_type(v, json_type_string) &&
		    !export_needs_quotes(json_object_get_string(v)))
			text = json_object_get_string(v);
		else
			text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
		if (asprintf(&value, "%s%s%s", type ? type : "", type ? " " : "", text) < 0)
			oom();
		kv_add(l, key, value);
		free(value);
	}
}

static void show_value(struct kvlist *l, const char *name, struct json_object *val,
		       bool profile)
{
	switch (json_object_get_type(val)) {
	case json_type_null:
		kv_add(l, name, "-");
		break;
	case json_type_boolean:
		kv_add(l, name, json_object_get_boolean(val) ? "yes" : "no");
		break;
	case json_type_int:
	case json_type_double:
	case json_type_string:
		kv_add(l, name, json_object_get_string(val));
		break;
	case json_type_object: {
		char sub[520];

		if (json_object_object_length(val) == 0) {
			kv_add(l, name, "-");
			break;
		}
		snprintf(sub, sizeof(sub), "%s.", name);
		show_flatten(l, sub, val, profile);
		break;
	}
	case json_type_array: {
		size_t n = json_object_array_length(val);
		bool numbers = true;

		if (n == 0) {
			kv_add(l, name, "-");
			break;
		}
		for (size_t i = 0; i < n; i++) {
			enum json_type t = json_object_get_type(json_object_array_get_idx(val, i));

			if (t != json_type_int && t != json_type_double &&
			    t != json_type_boolean)
				numbers = false;
		}
		if (numbers) {
			/* ids, a ranking: one line */
			char *out = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&out, &len);

			if (!f)
				oom();
			for (size_t i = 0; i < n; i++)
				fprintf(f, "%s%s", i ? ", " : "",
					json_object_get_string(json_object_array_get_idx(val, i)));
			fclose(f);
			if (!out)
				oom();
			kv_add(l, name, out);
			free(out);
			break;
		}
		/* strings may hold anything, commas included: one line each */
		for (size_t i = 0; i < n; i++) {
			char item[520];

			snprintf(item, sizeof(item), "%s[%zu]", name, i);
			show_value(l, item, json_object_array_get_idx(val, i), profile);
		}
		break;
	}
	}
}

/* Every member of @o, in alrd's order.  In a profile, server passwords
 * show only whether one is set, and extension parameters as TYPE VALUE. */
static void show_flatten(struct kvlist *l, const char *prefix,
			 struct json_object *o, bool profile)
{
	json_object_object_foreach(o, key, val) {
		char name[512];

		if (!strcmp(key, "password_set") && *prefix) {
			snprintf(name, sizeof(name), "%spassword", prefix);
			kv_add(l, name, jbool(o, key) ? "(set)" : "(not set)");
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", prefix, key);
		if (!strcmp(key, "password")) {
			/* alrd never sends one; should it, it is not shown */
			kv_add(l, name, val ? "(set)" : "(not set)");
			continue;
		}
		if (profile && !strcmp(key, "params") &&
		    json_object_is_type(val, json_type_array)) {
			kv_params(l, name, val);
			continue;
		}
		show_value(l, name, val, profile);
	}
}

/* --- profiles --- */

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

	status = ctl_call(ctl, "profile.list", NULL, &list);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(list);
		json_object_put(list);
		return EX_OK;
	}
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
	/* errors below: a message does not fit a column */
	if (errors)
		putchar('\n');
	for (size_t i = 0; errors && i < n; i++) {
		struct json_object *p = json_object_array_get_idx(profiles, i);
		struct json_object *error = jget(jget(p, "state"), "error");

		if (error)
			printf("profile %s: %s (%s)\n", jtext(p, "id"),
			       jtext(error, "message"), jtext(error, "code"));
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
	status = ctl_call(ctl, "profile.get", id_params("id", id), &result);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(result);
	} else {
		show_flatten(&l, "", jget(result, "profile"), true);
		kv_print(&l);
	}
	json_object_put(result);
	return EX_OK;
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

static int edit_password_source(struct ctl *ctl, enum password_source src)
{
	if (ctl->password != PASSWORD_KEEP && ctl->password != src)
		return usage_error("--password-stdin, --password-prompt and "
				   "--no-password exclude each other");
	ctl->password = src;
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
		/* never echo what follows: it is the password */
		return usage_error("--password is refused: on the command line a "
				   "password is visible to every user (ps, "
				   "/proc/PID/cmdline) and stays in the shell's "
				   "history; use --password-stdin or --password-prompt");
	case OPT_PASSWORD_STDIN:
		return edit_password_source(ctl, PASSWORD_STDIN);
	case OPT_PASSWORD_PROMPT:
		return edit_password_source(ctl, PASSWORD_PROMPT);
	case OPT_NO_PASSWORD:
		return edit_password_source(ctl, PASSWORD_REMOVE);
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

/*
 * Read @path ("-": standard input) whole, for a request.  Text only: a NUL
 * byte would end the string alrd receives.  The caller wipes and frees
 * *ret (an import file may hold passwords).
 */
static int read_input_file(const char *path, char **ret, size_t *ret_len)
{
	bool is_stdin = !strcmp(path, "-");
	const char *name = is_stdin ? "standard input" : path;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	int fd;

	if (!buf)
		oom();
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		errorf("cannot open %s: %s", path, strerror(errno));
		free(buf);
		return EX_NOINPUT;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *p;

			if (cap >= INPUT_FILE_MAX) {
				errorf("%s is larger than %d bytes", name, INPUT_FILE_MAX);
				explicit_bzero(buf, len);
				free(buf);
				if (!is_stdin)
					close(fd);
				return EX_DATAERR;
			}
			p = malloc(2 * cap);
			if (!p)
				oom();
			/* no realloc: the old buffer is wiped before it goes */
			memcpy(p, buf, len);
			explicit_bzero(buf, len);
			free(buf);
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errorf("cannot read %s: %s", name, strerror(errno));
			explicit_bzero(buf, len);
			free(buf);
			if (!is_stdin)
				close(fd);
			return EX_NOINPUT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!is_stdin)
		close(fd);
	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		errorf("%s holds a NUL byte: not a text file", name);
		explicit_bzero(buf, len);
		free(buf);
		return EX_DATAERR;
	}
	*ret = buf;
	*ret_len = len;
	return EX_OK;
}

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
static int prompt_password(const char *prompt, char *buf, size_t size)
{
	struct termios saved, quiet;
	struct signalfd_siginfo si;
	sigset_t mask, old_mask;
	int tty, sfd;
	ssize_t n;

	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0 || tcgetattr(tty, &saved) < 0) {
		errorf("--password-prompt needs a terminal: /dev/tty: %s "
		       "(--password-stdin reads a pipe)", strerror(errno));
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

static int read_password(struct ctl *ctl, const char *prompt, char *buf, size_t size)
{
	ssize_t n;
	int status;

	switch (ctl->password) {
	case PASSWORD_KEEP:
	case PASSWORD_REMOVE:
		return EX_OK;
	case PASSWORD_STDIN:
		n = read_line_fd(STDIN_FILENO, -1, buf, size);
		if (n == -ENODATA) {
			errorf("--password-stdin: standard input is empty");
			return EX_DATAERR;
		}
		if (n == -EMSGSIZE) {
			explicit_bzero(buf, size);
			errorf("--password-stdin: the password is longer than %d bytes",
			       LINE_MAX_INPUT - 1);
			return EX_DATAERR;
		}
		if (n < 0) {
			errorf("--password-stdin: %s", strerror((int)-n));
			return EX_NOINPUT;
		}
		break;
	case PASSWORD_PROMPT:
		status = prompt_password(prompt, buf, size);
		if (status != EX_OK)
			return status;
		break;
	}
	if (!buf[0]) {
		errorf("the password is empty (--no-password removes a password)");
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
static void wipe_passwords(struct json_object *profile)
{
	static const char *const servers[] = { "registrar", "outbound_proxy" };

	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		struct json_object *pw = jget(jget(profile, servers[i]), "password");

		if (pw && json_object_is_type(pw, json_type_string))
			explicit_bzero((char *)json_object_get_string(pw),
				       (size_t)json_object_get_string_len(pw));
	}
}

/*
 * The profile object of add and set: --from-json, the options over it,
 * where it registers, the password.  Everything that needs no daemon is
 * checked before anything that does; @prompt is for --password-prompt.
 */
static int profile_build(struct ctl *ctl, const char *prompt,
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

	status = read_password(ctl, prompt, password, sizeof(password));
	if (status != EX_OK)
		goto fail;
	if (ctl->password == PASSWORD_REMOVE) {
		json_object_object_add(server_object(profile, "registrar"), "password", NULL);
	} else if (ctl->password != PASSWORD_KEEP) {
		json_object_object_add(server_object(profile, "registrar"), "password",
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

/* Send a request holding @profile, then wipe its passwords. */
static int profile_send(struct ctl *ctl, const char *method,
			struct json_object *params, struct json_object *profile,
			struct json_object **ret_result)
{
	int status;

	json_object_get(profile);
	status = ctl_call(ctl, method, params, ret_result);
	wipe_passwords(profile);
	json_object_put(profile);
	return status;
}

static int cmd_profile_add(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *profile = NULL, *params, *result = NULL, *p;
	char prompt[1200];
	const char *aor = jstr(ctl->edit, "aor");
	int status;

	if (aor)
		snprintf(prompt, sizeof(prompt), "Password for %s: ", aor);
	else
		snprintf(prompt, sizeof(prompt), "Password: ");
	status = profile_build(ctl, prompt, &profile);
	if (status != EX_OK)
		return status;
	params = new_object();
	json_object_object_add(params, "profile", profile);
	status = profile_send(ctl, "profile.create", params, profile, &result);
	if (status != EX_OK)
		return status;
	p = jget(result, "profile");
	if (ctl->json)
		print_json(result);
	else
		printf("created profile %s (%s)\n", jtext(p, "id"), jtext(p, "aor"));
	json_object_put(result);
	return EX_OK;
}

static int cmd_profile_set(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *profile = NULL, *params, *result = NULL;
	char prompt[64];
	int64_t id;
	int status;

	status = parse_id(argv[0], "profile id", &id);
	if (status != EX_OK)
		return status;
	if (!ctl->edit && !ctl->from_json && !ctl->snap && !ctl->iap &&
	    ctl->password == PASSWORD_KEEP)
		return usage_error("nothing to change: give at least one profile option");
	snprintf(prompt, sizeof(prompt), "Password for profile %" PRId64 ": ", id);
	status = profile_build(ctl, prompt, &profile);
	if (status != EX_OK)
		return status;
	params = id_params("id", id);
	json_object_object_add(params, "profile", profile);
	status = profile_send(ctl, "profile.update", params, profile, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
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
	status = ctl_call(ctl, method, id_params("id", id), &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else if (verb)
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
	if (fflush(stdout) != 0) {
		ctl->status = EX_IOERR;
		ctl->stop = true;
	}
}

/* The use ends with the connection; these end it from the other side. */
static bool profile_gone(struct ctl *ctl, const char *method)
{
	if (!strcmp(method, "profile.destroyed"))
		errorf("profile %" PRId64 " was deleted", ctl->target);
	else if (!strcmp(method, "profile.forcibly-disabled"))
		errorf("profile %" PRId64 " was disabled by force: every use of it ended",
		       ctl->target);
	else
		return false;
	ctl->status = EX_UNAVAILABLE;
	ctl->stop = true;
	return true;
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

/* --- profile export and import --- */

static const struct option export_options[] = {
	{ "with-passwords", no_argument, NULL, OPT_WITH_PASSWORDS },
	{ "passwords",      no_argument, NULL, OPT_WITH_PASSWORDS },
	{ NULL, 0, NULL, 0 },
};

static int export_option(struct ctl *ctl, int opt, const char *arg)
{
	ctl->with_passwords = true;
	return EX_OK;
}

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
	status = ctl_call(ctl, "profile.import", params, &result);
	explicit_bzero((char *)json_object_get_string(text_obj),
		       (size_t)json_object_get_string_len(text_obj));
	json_object_put(text_obj);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(result);
		json_object_put(result);
		return EX_OK;
	}
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

/* --- the store --- */

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
	status = ctl_call(ctl, method, params, &result);
	if (status == EX_OK) {
		struct json_object *secrets;

		if (ctl->json)
			print_json(result);
		else if (!strcmp(method, "store.backup"))
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

/* --- SNAPs --- */

static void format_ms(int64_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms % 3600000 == 0)
		snprintf(buf, size, "%" PRId64 "h", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, size, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%" PRId64 "s", ms / 1000);
	else
		snprintf(buf, size, "%" PRId64 "ms", ms);
}

/* A setting of a SNAP, a member of the SNAP or of its "settings". */
static struct json_object *snap_setting(struct json_object *snap, const char *key)
{
	struct json_object *v = jget(snap, key);

	return v ? v : jget(jget(snap, "settings"), key);
}

/* A duration: a string as alrd wrote it ("2s"), or a number, of
 * milliseconds under KEY_ms, else of seconds under KEY. */
static void snap_duration(struct json_object *snap, const char *key,
			  char *buf, size_t size)
{
	struct json_object *v;
	char ms_key[64];

	snprintf(ms_key, sizeof(ms_key), "%s_ms", key);
	v = snap_setting(snap, ms_key);
	if (v && json_object_is_type(v, json_type_int)) {
		format_ms(json_object_get_int64(v), buf, size);
		return;
	}
	v = snap_setting(snap, key);
	if (v && json_object_is_type(v, json_type_string))
		snprintf(buf, size, "%s", json_object_get_string(v));
	else if (v && (json_object_is_type(v, json_type_int) ||
		       json_object_is_type(v, json_type_double)))
		format_ms((int64_t)(json_object_get_double(v) * 1000 + 0.5), buf, size);
	else
		snprintf(buf, size, "-");
}

static const char *snap_text(struct json_object *snap, const char *key)
{
	struct json_object *v = snap_setting(snap, key);

	return v ? json_object_get_string(v) : "-";
}

/* The ranking, best first: IAP ids (or IAP objects) as "7,3". */
static char *snap_ranking(struct json_object *snap)
{
	struct json_object *ranking = jget(snap, "ranking");
	size_t n = ranking && json_object_is_type(ranking, json_type_array)
		   ? json_object_array_length(ranking) : 0;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		oom();
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(ranking, i);

		if (json_object_is_type(e, json_type_object))
			e = jget(e, "id");
		fprintf(f, "%s%s", i ? "," : "", e ? json_object_get_string(e) : "?");
	}
	if (n == 0)
		fputs("-", f);
	fclose(f);
	if (!out)
		oom();
	return out;
}

static int cmd_snap_list(struct ctl *ctl, int argc, char **argv)
{
	static const char *const headers[] = {
		"ID", "NAME", "MIGRATION", "STABLE", "TIMEOUT/ON-TIMEOUT", "RULES", "RANKING",
	};
	struct json_object *list = NULL, *snaps;
	struct table t;
	int status;

	status = ctl_call(ctl, "snap.list", NULL, &list);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(list);
		json_object_put(list);
		return EX_OK;
	}
	snaps = result_array(list, "snaps");
	table_init(&t, 7, headers);
	for (size_t i = 0; snaps && i < json_object_array_length(snaps); i++) {
		struct json_object *s = json_object_array_get_idx(snaps, i);
		struct json_object *rules = jget(s, "rules");
		char stable[32], timeout[32], *ranking = snap_ranking(s);

		snap_duration(s, "stable_time", stable, sizeof(stable));
		snap_duration(s, "approval_timeout", timeout, sizeof(timeout));
		table_add(&t, "%s", jtext(s, "id"));
		table_add(&t, "%s", jtext(s, "name"));
		table_add(&t, "%s", snap_text(s, "migration"));
		table_add(&t, "%s", stable);
		table_add(&t, "%s/%s", timeout, snap_text(s, "on_timeout"));
		if (rules && json_object_is_type(rules, json_type_array))
			table_add(&t, "%zu", json_object_array_length(rules));
		else
			table_add(&t, "-");
		table_add(&t, "%s", ranking);
		free(ranking);
	}
	table_print(&t, "");
	table_free(&t);
	json_object_put(list);
	return EX_OK;
}

static int cmd_snap_show(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params, *result = NULL;
	struct kvlist l = { 0 };
	int64_t id;
	int status;

	if (is_number(argv[0])) {
		status = parse_id(argv[0], "SNAP id", &id);
		if (status != EX_OK)
			return status;
		params = id_params("id", id);
	} else {
		params = new_object();
		json_object_object_add(params, "name", json_object_new_string(argv[0]));
	}
	status = ctl_call(ctl, "snap.get", params, &result);
	if (status != EX_OK)
		return status;
	if (ctl->json) {
		print_json(result);
	} else {
		show_flatten(&l, "", jget(result, "snap"), false);
		kv_print(&l);
	}
	json_object_put(result);
	return EX_OK;
}

/* --- ALR control --- */

static const struct option control_options[] = {
	{ "allow",    no_argument, NULL, OPT_ALLOW },
	{ "deny",     no_argument, NULL, OPT_DENY },
	{ "disallow", no_argument, NULL, OPT_DENY },
	{ "ask",      no_argument, NULL, OPT_ASK },
	{ "refresh",  no_argument, NULL, OPT_REFRESH },
	{ NULL, 0, NULL, 0 },
};

static int control_option(struct ctl *ctl, int opt, const char *arg)
{
	enum answer a = opt == OPT_ALLOW ? ANSWER_ALLOW :
			opt == OPT_DENY ? ANSWER_DENY : ANSWER_ASK;

	if (opt == OPT_REFRESH) {
		ctl->refresh = true;
		return EX_OK;
	}
	if (ctl->answer != ANSWER_NONE && ctl->answer != a)
		return usage_error("--allow, --deny and --ask exclude each other");
	ctl->answer = a;
	return EX_OK;
}

/* --ask: "y" or "yes" allows; anything else, or the end of the input,
 * refuses.  -EINTR when SIGINT or SIGTERM came first. */
static int ask_allow(struct ctl *ctl, int64_t iap, const char *name)
{
	char line[LINE_MAX_INPUT], *prompt;
	ssize_t n;
	int len;

	len = asprintf(&prompt, "allow migration of profile %" PRId64 " to IAP %"
		       PRId64 "%s%s%s? [y/N] ", ctl->target, iap,
		       name ? " (" : "", name ? name : "", name ? ")" : "");
	if (len < 0)
		oom();
	fflush(stdout);
	if (!write_all(ctl->tty, prompt, (size_t)len)) {
		free(prompt);
		return 0;
	}
	free(prompt);
	n = read_line_fd(ctl->tty, ctl->sfd, line, sizeof(line));
	if (n == -EINTR) {
		(void)!write_all(ctl->tty, "\n", 1);
		return -EINTR;
	}
	return n > 0 && (!strcasecmp(line, "y") || !strcasecmp(line, "yes"));
}

/* alr.iap-available {profile, snap, iap}: the IAP is an id or an IAP
 * object. */
static void control_answer(struct ctl *ctl, struct json_object *params)
{
	struct json_object *iap = jget(params, "iap"), *got = NULL, *p;
	const char *method, *name = NULL;
	struct alr_error e;
	bool allow = false;
	int64_t iap_id;
	int r;

	if (json_object_is_type(iap, json_type_object)) {
		name = jstr(iap, "name");
		iap = jget(iap, "id");
	}
	if (!iap || !json_object_is_type(iap, json_type_int)) {
		errorf("alr.iap-available without an IAP id: not answered");
		return;
	}
	iap_id = json_object_get_int64(iap);
	switch (ctl->answer) {
	case ANSWER_NONE:
		return;
	case ANSWER_ALLOW:
		allow = true;
		break;
	case ANSWER_DENY:
		allow = false;
		break;
	case ANSWER_ASK:
		/* a name helps the person who decides */
		if (!name &&
		    alr_client_call(ctl->client, "iap.get", id_params("id", iap_id),
				    ctl->timeout_ms, &got, NULL) == 0)
			name = jstr(jget(got, "iap"), "name");
		r = ask_allow(ctl, iap_id, name);
		json_object_put(got);
		if (r < 0) {
			/* SIGINT at the prompt: leave without answering */
			ctl->stop = true;
			return;
		}
		allow = r > 0;
		break;
	}
	method = allow ? "alr.allow" : "alr.disallow";
	p = id_params("profile", ctl->target);
	json_object_object_add(p, "iap", json_object_new_int64(iap_id));
	r = alr_client_call(ctl->client, method, p, ctl->timeout_ms, NULL, &e);
	if (r == -EPROTO && e.code != 0) {
		/* the offer may have been replaced or have timed out: go on */
		errorf("%s", e.message);
		return;
	}
	if (r < 0) {
		ctl->status = report_failure(r, &e);
		ctl->stop = true;
		return;
	}
	if (!ctl->json) {
		print_time(NULL);
		printf(" %-11s profile=%" PRId64 " iap=%" PRId64 "\n", method,
		       ctl->target, iap_id);
	}
	if (fflush(stdout) != 0) {
		ctl->status = EX_IOERR;
		ctl->stop = true;
	}
}

static void control_event_cb(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;

	if (ctl->stop || !event_is_about(params, ctl->target))
		return;
	print_event(ctl, method, params);
	if (profile_gone(ctl, method))
		return;
	if (!strcmp(method, "alr.iap-available"))
		control_answer(ctl, params);
}

static int cmd_alr_control(struct ctl *ctl, int argc, char **argv)
{
	static const char *const topics[] = { "alr.*", "profile.*", NULL };
	static const char *const what[] = {
		[ANSWER_NONE] = "", [ANSWER_ALLOW] = "allowing every migration",
		[ANSWER_DENY] = "refusing every migration",
		[ANSWER_ASK] = "asking on the terminal",
	};
	struct json_object *result = NULL;
	int status;

	status = parse_id(argv[0], "profile id", &ctl->target);
	if (status != EX_OK)
		return status;
	if (ctl->answer == ANSWER_NONE)
		return usage_error("alr control needs --allow, --deny or --ask");
	if (ctl->answer == ANSWER_ASK) {
		ctl->tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (ctl->tty < 0)
			return usage_error("--ask needs a terminal: /dev/tty: %s",
					   strerror(errno));
	}
	status = ctl_start_following(ctl, topics, control_event_cb);
	if (status != EX_OK)
		return status;
	status = ctl_call(ctl, "alr.control", id_params("profile", ctl->target), &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		printf("controlling profile %" PRId64 ": %s; until interrupted\n",
		       ctl->target, what[ctl->answer]);
	json_object_put(result);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	if (ctl->refresh) {
		/* alrd takes a refresh only from a controller when the profile
		 * has any: this is where alrctl is one */
		struct alr_error e;
		int r = alr_client_call(ctl->client, "alr.refresh",
					id_params("profile", ctl->target),
					ctl->timeout_ms, NULL, &e);

		if (r == -EPROTO && e.code != 0)
			errorf("%s", e.message);    /* not enabled, say: go on */
		else if (r < 0)
			return report_failure(r, &e);
	}
	return ctl_follow(ctl);
}

static int cmd_alr_refresh(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *result = NULL;
	int64_t id;
	int status;

	status = parse_id(argv[0], "profile id", &id);
	if (status != EX_OK)
		return status;
	status = ctl_call(ctl, "alr.refresh", id_params("profile", id), &result);
	if (status != EX_OK)
		return status;
	if (ctl->json)
		print_json(result);
	else
		printf("refreshed profile %" PRId64 ": IAPs refused or failed before "
		       "may be offered again\n", id);
	json_object_put(result);
	return EX_OK;
}

/* --- main --- */

static const struct option global_options[] = {
	{ "socket",  required_argument, NULL, 's' },
	{ "json",    no_argument,       NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help",    no_argument,       NULL, 'h' },
	{ "version", no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct command {
	const char *name;
	const char *sub;          /* second word, or NULL */
	int min_args, max_args;   /* after the command words; -1: any */
	const char *args;         /* for the usage message */
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const struct option *options;   /* the command's own, or NULL */
	int (*option)(struct ctl *ctl, int opt, const char *arg);
};

static const struct command commands[] = {
	{ "status",    NULL,   0, 0,  "",                 cmd_status, NULL, NULL },
	{ "iap",       "list", 0, 0,  "",                 cmd_iap_list, NULL, NULL },
	{ "iap",       "show", 1, 1,  " ID|NAME",         cmd_iap_show, NULL, NULL },
	{ "monitor",   NULL,   0, -1, " [TOPIC...]",      cmd_monitor, NULL, NULL },
	{ "reload",    NULL,   0, 0,  "",                 cmd_reload, NULL, NULL },
	{ "log-level", NULL,   1, 1,  " LEVEL",           cmd_log_level, NULL, NULL },
	{ "call",      NULL,   1, 2,  " METHOD [PARAMS]", cmd_call, NULL, NULL },
	{ "profile", "list",   0, 0, "", cmd_profile_list, NULL, NULL },
	{ "profile", "show",   1, 1, " ID", cmd_profile_show, NULL, NULL },
	{ "profile", "add",    0, 0, " [PROFILE OPTIONS]", cmd_profile_add,
	  edit_options, edit_option },
	{ "profile", "set",    1, 1, " ID [PROFILE OPTIONS]", cmd_profile_set,
	  edit_options, edit_option },
	{ "profile", "rm",     1, 1, " ID", cmd_profile_rm, NULL, NULL },
	{ "profile", "enable", 1, 1, " [--until-registered] ID", cmd_profile_enable,
	  enable_options, enable_option },
	{ "profile", "disable", 1, 1, " ID", cmd_profile_disable, NULL, NULL },
	{ "profile", "force-disable", 1, 1, " ID", cmd_profile_force_disable, NULL, NULL },
	{ "profile", "default", 1, 1, " ID", cmd_profile_default, NULL, NULL },
	{ "profile", "export", 0, 1, " [--with-passwords] [FILE]", cmd_profile_export,
	  export_options, export_option },
	{ "profile", "import", 1, 1, " FILE|-", cmd_profile_import, NULL, NULL },
	{ "backup",  NULL,     1, 1, " [--with-passwords] PATH", cmd_backup,
	  export_options, export_option },
	{ "restore", NULL,     1, 1, " PATH", cmd_restore, NULL, NULL },
	{ "snap",    "list",   0, 0, "", cmd_snap_list, NULL, NULL },
	{ "snap",    "show",   1, 1, " ID|NAME", cmd_snap_show, NULL, NULL },
	{ "alr",     "control", 1, 1, " PROFILE --allow|--deny|--ask [--refresh]",
	  cmd_alr_control,
	  control_options, control_option },
	{ "alr",     "refresh", 1, 1, " PROFILE", cmd_alr_refresh, NULL, NULL },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(int argc, char **argv, int *ret_words)
{
	bool known_name = false;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		const struct command *cmd = &commands[i];

		if (strcmp(argv[0], cmd->name) != 0)
			continue;
		known_name = true;
		if (!cmd->sub) {
			*ret_words = 1;
			return cmd;
		}
		if (argc > 1 && !strcmp(argv[1], cmd->sub)) {
			*ret_words = 2;
			return cmd;
		}
	}
	*ret_words = known_name ? 1 : 0;
	return NULL;
}

/* "list, show, ..." for a usage message. */
static void subcommands(const char *name, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < N_COMMANDS && len < size; i++)
		if (!strcmp(commands[i].name, name) && commands[i].sub)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len ? ", " : "", commands[i].sub);
}

static int parse_timeout(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > INT_MAX)
		return -EINVAL;
	*ret = v == 0 ? -1 : (int)v;
	return 0;
}

/* An option as the user wrote it, without any "=VALUE": the value may be
 * a password given where none is accepted. */
static const char *option_name(const char *arg)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(arg, "="), arg);
	return buf;
}

/*
 * getopt over @argv with the global options and @cmd's own.  Before the
 * command (@cmd NULL) it stops at the first word that is not an option;
 * after it, options and arguments may mix.  Returns EX_OK with optind at
 * the first argument, or an exit status; *ret_done after --help and
 * --version.
 */
static int parse_options(struct ctl *ctl, int argc, char **argv,
			 const struct command *cmd, bool *ret_done)
{
	struct option all[64];
	size_t n = 0;
	int c, status;

	for (size_t i = 0; global_options[i].name; i++)
		all[n++] = global_options[i];
	for (size_t i = 0; cmd && cmd->options && cmd->options[i].name; i++)
		if (n < sizeof(all) / sizeof(all[0]) - 1)
			all[n++] = cmd->options[i];
	memset(&all[n], 0, sizeof(all[n]));

	/* our own messages, prefixed "alrctl: " whatever argv[0] is */
	opterr = 0;
	while ((c = getopt_long(argc, argv, cmd ? ":s:jt:h" : "+:s:jt:h", all,
				NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("empty socket path");
			ctl->socket = optarg;
			break;
		case 'j':
			ctl->json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &ctl->timeout_ms) < 0)
				return usage_error("invalid timeout '%s': milliseconds, "
						   "0 for ever", optarg);
			break;
		case 'h':
			print_help();
			*ret_done = true;
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case OPT_VERSION:
			puts("alrctl " ALR_VERSION);
			*ret_done = true;
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case ':':
			return usage_error("option '%s' needs an argument",
					   option_name(argv[optind - 1]));
		case '?':
			if (strncmp(argv[optind - 1], "--", 2) != 0)
				return usage_error("unknown option '-%c'", optopt);
			/* glibc: optopt is the option's value when a value was
			 * given to an option that takes none */
			if (optopt)
				return usage_error("option '%s' takes no value",
						   option_name(argv[optind - 1]));
			return usage_error("invalid option '%s'%s",
					   option_name(argv[optind - 1]),
					   cmd && cmd->options ? "" :
					   cmd ? " (this command has no options of its own)" : "");
		default:
			if (!cmd || !cmd->option)
				return usage_error("invalid option '%s'",
						   option_name(argv[optind - 1]));
			status = cmd->option(ctl, c, optarg);
			if (status != EX_OK)
				return status;
			break;
		}
	}
	return EX_OK;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {
		.timeout_ms = DEFAULT_TIMEOUT_MS, .status = EX_OK,
		.sfd = -1, .tty = -1,
	};
	const struct command *cmd;
	bool done = false;
	int words, nargs, status, sub_argc;
	char **sub_argv;

	/* global options before the command */
	status = parse_options(&ctl, argc, argv, NULL, &done);
	if (status != EX_OK || done)
		return status;
	if (optind >= argc)
		return usage_error("no command given; usage: alrctl [OPTIONS] COMMAND [ARGUMENTS]");

	cmd = find_command(argc - optind, argv + optind, &words);
	if (!cmd) {
		char subs[256];

		if (words == 1 && optind + 1 < argc && argv[optind + 1][0] != '-')
			return usage_error("unknown command '%s %s'", argv[optind],
					   argv[optind + 1]);
		if (words == 1) {
			subcommands(argv[optind], subs, sizeof(subs));
			return usage_error("'%s' needs a subcommand (%s)", argv[optind], subs);
		}
		return usage_error("unknown command '%s'", argv[optind]);
	}

	/* the command's options and the global ones, among its arguments;
	 * the last command word stands in for argv[0] */
	sub_argv = argv + optind + words - 1;
	sub_argc = argc - optind - words + 1;
	optind = 0;                /* glibc: start afresh */
	status = parse_options(&ctl, sub_argc, sub_argv, cmd, &done);
	if (status != EX_OK || done)
		goto out;
	nargs = sub_argc - optind;
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		status = usage_error("wrong number of arguments; usage: alrctl %s%s%s%s%s",
				     cmd->name, cmd->sub ? " " : "",
				     cmd->sub ? cmd->sub : "", cmd->args,
				     cmd->option == edit_option && ctl.json
				     ? "\n(-j, --json asks for JSON output; --from-json "
				       "FILE reads a profile)" : "");
		goto out;
	}

	status = cmd->run(&ctl, nargs, sub_argv + optind);

	if ((fflush(stdout) != 0 || ferror(stdout)) && status == EX_OK) {
		errorf("cannot write the output: %s", strerror(errno));
		status = EX_IOERR;
	}
out:
	alr_client_free(ctl.client);
	json_object_put(ctl.edit);
	if (ctl.sfd >= 0)
		close(ctl.sfd);
	if (ctl.tty >= 0)
		close(ctl.tty);
	return status;
}
