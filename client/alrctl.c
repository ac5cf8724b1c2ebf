/*
 * alrctl: the command line face of alrd's control protocol, built on
 * libalr-client.  Human output is aligned plain text; -j prints the
 * daemon's JSON untouched, for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
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

struct ctl {
	const char *socket;
	bool json;
	int timeout_ms;          /* -1: for ever */
	struct alr_client *client;
	/* monitor */
	int status;              /* exit status decided inside a callback */
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
"    points: the network interfaces SIP can register over), follows their\n"
"    changes, and changes the daemon's log level or configuration.\n"
"\n"
"    Reading needs access to the socket; reload and log-level need root or\n"
"    membership in one of alrd's control groups (\"alrd\" by default).\n"
"\n"
"COMMANDS\n"
"    status\n"
"        The daemon's version, pid, uptime, socket, state directory, log\n"
"        level and clients, and a short table of its IAPs.\n"
"\n"
"    iap list\n"
"        One line per IAP: id, name, kind, state (up or down), the reason\n"
"        when down, the usable addresses, and the address families whose\n"
"        default route leaves through it.\n"
"\n"
"    iap show ID|NAME\n"
"        Every field of one IAP, one per line, then its addresses with\n"
"        their flags.  A number is taken as an id, anything else as a name.\n"
"\n"
"    monitor [TOPIC...]\n"
"        Follow events whose name matches one of the TOPICs (shell\n"
"        patterns such as 'iap.*'; default '*'), one line each: local time,\n"
"        event, IAP id, name, kind, availability and reason.  Runs until\n"
"        SIGINT or SIGTERM (exit status 0) or until alrd goes away (69).\n"
"\n"
"    reload\n"
"        Make alrd re-read its configuration file, as SIGHUP does.  An\n"
"        invalid file is reported (exit status 78) and the running\n"
"        configuration stays in force.\n"
"\n"
"    log-level LEVEL\n"
"        Set alrd's log level: error, warning, notice, info or debug.  It\n"
"        lasts until the next reload or restart.\n"
"\n"
"    call METHOD [PARAMS]\n"
"        Call any METHOD of the protocol with PARAMS, a JSON object, and\n"
"        print the result as JSON.  For scripts and debugging.\n"
"\n"
"OPTIONS\n"
"    -s, --socket PATH\n"
"        Talk to the alrd listening on PATH (default: $ALRD_SOCKET, else\n"
"        %s).\n"
"\n"
"    -j, --json\n"
"        Print the daemon's JSON result on one line instead of text;\n"
"        monitor prints each event as one JSON object per line.\n"
"\n"
"    -t, --timeout MS\n"
"        Wait at most MS milliseconds for each answer (default %d; 0 waits\n"
"        for ever).  monitor waits for events for ever.\n"
"\n"
"    -h, --help\n"
"        Print this help and exit.\n"
"\n"
"    --version\n"
"        Print the version and exit.\n"
"\n"
"ENVIRONMENT\n"
"    ALRD_SOCKET\n"
"        The control socket, when -s is not given.\n"
"\n"
"EXIT STATUS\n"
"    0   success; monitor stopped by SIGINT or SIGTERM\n"
"    64  bad command line (EX_USAGE)\n"
"    65  invalid parameters, or no such IAP (EX_DATAERR)\n"
"    69  alrd is not running, its socket is missing, or the connection was\n"
"        lost (EX_UNAVAILABLE)\n"
"    70  another error reported by alrd (EX_SOFTWARE)\n"
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
"    alrctl monitor 'iap.up' 'iap.down'\n"
"    alrctl log-level debug\n"
"    alrctl call iap.get '{\"id\": 3}'\n",
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
 * even when alrd is not running. */
static int ctl_call(struct ctl *ctl, const char *method,
		    struct json_object *params, struct json_object **ret_result)
{
	struct alr_error e;
	int r;

	if (!ctl->client) {
		int status = ctl_connect(ctl);

		if (status != EX_OK) {
			json_object_put(params);
			return status;
		}
	}
	r = alr_client_call(ctl->client, method, params, ctl->timeout_ms,
			    ret_result, &e);
	if (r < 0)
		return report_failure(r, &e);
	return EX_OK;
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
	if (!t->cells) {
		errorf("out of memory");
		exit(EX_OSERR);
	}
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

		if (!p) {
			errorf("out of memory");
			exit(EX_OSERR);
		}
		t->cells = p;
		t->cap *= 2;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errorf("out of memory");
		exit(EX_OSERR);
	}
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

static void print_iap_table(struct json_object *iaps, bool full, const char *indent)
{
	static const char *const headers[] = {
		"ID", "NAME", "KIND", "STATE", "REASON", "ADDRESSES", "DEFAULT ROUTE",
	};
	struct table t;
	size_t ncols = full ? 7 : 5;

	table_init(&t, ncols, headers);
	for (size_t i = 0; iaps && i < json_object_array_length(iaps); i++) {
		struct json_object *iap = json_object_array_get_idx(iaps, i);

		table_add(&t, "%s", jtext(iap, "id"));
		table_add(&t, "%s", jtext(iap, "name"));
		table_add(&t, "%s", jtext(iap, "kind"));
		table_add(&t, "%s", iap_state(iap));
		table_add(&t, "%s", iap_reason(iap));
		if (full) {
			char *addrs = iap_usable_addresses(iap);

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

		if (!p) {
			errorf("out of memory");
			exit(EX_OSERR);
		}
		l->v = p;
		l->cap = cap;
	}
	l->v[l->n].key = strdup(key);
	l->v[l->n].value = strdup(value);
	if (!l->v[l->n].key || !l->v[l->n].value) {
		errorf("out of memory");
		exit(EX_OSERR);
	}
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
	for (size_t i = 0; i < l.n; i++) {
		printf("%s:%*s %s\n", l.v[i].key,
		       (int)(width - strlen(l.v[i].key)), "", l.v[i].value);
		free(l.v[i].key);
		free(l.v[i].value);
	}
	free(l.v);
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

/* --- monitor --- */

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

static void monitor_event_cb(struct alr_client *client, const char *method,
			     struct json_object *params, void *user_data)
{
	struct ctl *ctl = user_data;
	struct json_object *iap = jget(params, "iap");

	if (ctl->json) {
		struct json_object *ev = json_object_new_object();

		json_object_object_add(ev, "jsonrpc", json_object_new_string("2.0"));
		json_object_object_add(ev, "method", json_object_new_string(method));
		if (params)
			json_object_object_add(ev, "params", json_object_get(params));
		print_json(ev);
		json_object_put(ev);
	} else if (iap) {
		const char *reason = jstr(iap, "reason");

		print_time(params);
		printf(" %-11s %s %s %s %s%s%s%s\n", method, jtext(iap, "id"),
		       jtext(iap, "name"), jtext(iap, "kind"),
		       jbool(iap, "available") ? "available" : "unavailable",
		       reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	} else {
		print_time(params);
		printf(" %-11s %s\n", method, params
		       ? json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
							JSON_C_TO_STRING_NOSLASHESCAPE)
		       : "");
	}
	if (fflush(stdout) != 0 && ctl->status == EX_OK)
		ctl->status = EX_IOERR;
}

static int cmd_monitor(struct ctl *ctl, int argc, char **argv)
{
	static const char *const all[] = { "*", NULL };
	const char *const *topics = argc > 0 ? (const char *const *)argv : all;
	struct pollfd pfd[2];
	struct alr_error e;
	sigset_t mask;
	int sfd, r;

	r = ctl_connect(ctl);
	if (r != EX_OK)
		return r;
	/* Signals arrive as readable data on sfd, so that SIGINT between a
	 * check and poll() cannot be lost. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		errorf("cannot watch signals: %s", strerror(errno));
		return EX_OSERR;
	}

	alr_client_set_event_handler(ctl->client, monitor_event_cb, ctl);
	/* argv is NULL-terminated, as main()'s is */
	r = alr_client_subscribe(ctl->client, topics, ctl->timeout_ms, &e);
	if (r < 0) {
		close(sfd);
		return report_failure(r, &e);
	}

	pfd[0].fd = alr_client_fd(ctl->client);
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		/* the first round delivers the events that came along with
		 * the subscribe answer: they do not make the fd readable */
		r = alr_client_dispatch(ctl->client);
		if (ctl->status != EX_OK)
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
	close(sfd);
	return ctl->status;
}

/* --- main --- */

enum {
	OPT_VERSION = 0x100,
};

static const struct option options[] = {
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
};

static const struct command commands[] = {
	{ "status",    NULL,   0, 0,  "",                 cmd_status },
	{ "iap",       "list", 0, 0,  "",                 cmd_iap_list },
	{ "iap",       "show", 1, 1,  " ID|NAME",         cmd_iap_show },
	{ "monitor",   NULL,   0, -1, " [TOPIC...]",      cmd_monitor },
	{ "reload",    NULL,   0, 0,  "",                 cmd_reload },
	{ "log-level", NULL,   1, 1,  " LEVEL",           cmd_log_level },
	{ "call",      NULL,   1, 2,  " METHOD [PARAMS]", cmd_call },
};

static const struct command *find_command(int argc, char **argv, int *ret_words)
{
	bool known_name = false;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
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

int main(int argc, char **argv)
{
	struct ctl ctl = { .timeout_ms = DEFAULT_TIMEOUT_MS, .status = EX_OK };
	const struct command *cmd;
	int c, words, nargs, status;

	/* our own messages, prefixed "alrctl: " whatever argv[0] is */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:jt:h", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("empty socket path");
			ctl.socket = optarg;
			break;
		case 'j':
			ctl.json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &ctl.timeout_ms) < 0)
				return usage_error("invalid timeout '%s': milliseconds, "
						   "0 for ever", optarg);
			break;
		case 'h':
			print_help();
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case OPT_VERSION:
			puts("alrctl " ALR_VERSION);
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		case ':':
			return usage_error("option '%s' needs an argument",
					   argv[optind - 1]);
		default:
			if (!strncmp(argv[optind - 1], "--", 2))
				return usage_error("invalid option '%s'", argv[optind - 1]);
			return usage_error("unknown option '-%c'", optopt);
		}
	}
	if (optind >= argc)
		return usage_error("no command given; usage: alrctl [OPTIONS] COMMAND [ARGUMENTS]");

	cmd = find_command(argc - optind, argv + optind, &words);
	if (!cmd) {
		if (words == 1 && optind + 1 < argc)
			return usage_error("unknown command '%s %s'", argv[optind],
					   argv[optind + 1]);
		if (words == 1)
			return usage_error("'%s' needs a subcommand (list, show)",
					   argv[optind]);
		return usage_error("unknown command '%s'", argv[optind]);
	}
	nargs = argc - optind - words;
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args))
		return usage_error("wrong number of arguments; usage: alrctl %s%s%s%s", cmd->name,
				   cmd->sub ? " " : "", cmd->sub ? cmd->sub : "",
				   cmd->args);

	status = cmd->run(&ctl, nargs, argv + optind + words);
	alr_client_free(ctl.client);

	if ((fflush(stdout) != 0 || ferror(stdout)) && status == EX_OK) {
		errorf("cannot write the output: %s", strerror(errno));
		status = EX_IOERR;
	}
	return status;
}
