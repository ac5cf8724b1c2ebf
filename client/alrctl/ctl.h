/*
 * alrctl's shared state and helpers: struct ctl, the command table's
 * types, the connection and its calls, reading the daemon's JSON, and
 * printing aligned text.  Each noun's file (status.c, iap.c, profile.c,
 * ...) exports its commands as a struct command_family; main.c gathers the
 * families into the one table that dispatch, the help and the shell
 * completion are made from.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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

/* getopt_long values: the global options' single letters and OPT_VERSION;
 * --with-passwords, which two nouns take; then each noun numbers its own
 * options from OPT_COMMAND on (one command's options never meet
 * another's). */
enum {
	OPT_VERSION = 0x100,
	OPT_WITH_PASSWORDS,      /* profile export, backup */
	OPT_COMMAND = 0x200,
};

struct ctl {
	const char *socket;
	bool json;
	bool terse;              /* -t */
	const char *fields;      /* -f, or NULL */
	int timeout_ms;          /* -1: for ever */
	struct alr_client *client;

	/* commands that follow events: monitor, profile enable, alr control */
	int status;              /* exit status decided inside a callback */
	bool stop;               /* a callback ended the loop */
	int sfd;                 /* signalfd for SIGINT and SIGTERM, or -1 */
	int64_t target;          /* the profile followed */
	bool announced;          /* --until-registered: said it */
	int tty;                 /* alr control --ask: /dev/tty, or -1 */

	/* profile add and set (profile.c) */
	struct json_object *edit;      /* profile members given as options */
	const char *from_json;
	const char *snap, *iap;
	enum password_source password;
	enum password_source local_password;    /* the edge's (docs/edge.md) */
	bool contact_params_cleared, headers_cleared, local_users_cleared;
	/* profile export, backup */
	bool with_passwords;
	/* profile enable */
	bool until_registered;
	/* alr control (alr.c) */
	enum answer answer;
	bool refresh;
};

/* --- the command table --- */

/* What a command's words after its name are, for the shell completion. */
enum command_args {
	ARGS_NONE,               /* nothing to offer */
	ARGS_FILE,               /* file names */
	ARGS_WORDS,              /* the words of struct command.words */
	ARGS_COMMANDS,           /* alrctl's own commands (help) */
};

/* An entry gives the first six members in order, the others by name. */
struct command {
	const char *name;
	const char *sub;          /* second word, or NULL */
	int min_args, max_args;   /* after the command words; -1: any */
	const char *args;         /* for the help and the usage message */
	int (*run)(struct ctl *ctl, int argc, char **argv);
	const char *help;         /* the help's paragraph: lines ending "\n" */
	const struct option *options;   /* the command's own, or NULL */
	int (*option)(struct ctl *ctl, int opt, const char *arg);
	/* Said after the usage message when -j was given: a command with an
	 * option that -j or --json may have been meant for. */
	const char *json_note;
	/* the completion: what the arguments are, and which of the
	 * command's options take a file name (blank-separated) */
	enum command_args complete;
	const char *words;
	const char *file_options;
	/* -f: the columns of its table, blank-separated as in the header
	 * (a blank inside a header is '-'); "" for the keys of "key: value"
	 * lines (checked against the answer); NULL: no fields, -f refused */
	const char *fields;
};

/* One noun's commands, in the order of the help. */
struct command_family {
	const char *caption;      /* the help's heading over them */
	const struct command *commands;
	size_t n_commands;
	/* a section of the help after COMMANDS (PROFILE OPTIONS), or NULL */
	const char *options_help;
};

/* main.c: every family, in the order of the help; NULL-terminated. */
extern const struct command_family *const ctl_families[];
extern const struct option ctl_global_options[];

extern const struct command_family status_family;
extern const struct command_family iap_family;
extern const struct command_family monitor_family;
extern const struct command_family daemon_family;
extern const struct command_family profile_family;
extern const struct command_family export_family;
extern const struct command_family store_family;
extern const struct command_family snap_family;
extern const struct command_family call_family;
extern const struct command_family alr_family;
extern const struct command_family completion_family;
extern const struct command_family help_family;

/* --with-passwords (also spelt --passwords): profile export and backup */
extern const struct option with_passwords_options[];
int with_passwords_option(struct ctl *ctl, int opt, const char *arg);

/* --- messages and the connection --- */

/* How errors and tables are printed: set from the command line once. */
struct ctl_output {
	bool json_errors;        /* -j: errors as JSON objects on stderr */
	bool terse;              /* -t: tables and key: value lines for scripts */
	const char *fields;      /* -f FIELDS, comma-separated, or NULL */
};
extern struct ctl_output ctl_output;

/* The candidate of @cands (@n of them) closest to @word by edit distance,
 * when close enough to be a typo of it; NULL otherwise. */
const char *ctl_suggest(const char *word, const char *const *cands, size_t n);
/* ", did you mean 'X'?" for a message, or "" */
const char *ctl_did_you_mean(const char *suggestion, char *buf, size_t size);
/* Check -f's field names against @known (blank-separated); EX_OK or a
 * usage error naming the unknown one. */
int ctl_check_fields(const char *fields, const char *known, const char *what);

void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oom(void) __attribute__((noreturn));
/* Say what is wrong with the command line; returns EX_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The exit status for a failed library call, after saying why. */
int report_failure(int r, const struct alr_error *e);
int ctl_connect(struct ctl *ctl);
/* Call @method (taking @params), connecting first if need be; on failure
 * say why and return the exit status. */
int ctl_call(struct ctl *ctl, const char *method, struct json_object *params,
	     struct json_object **ret_result);
/* The same, but an error answer (a method an older alrd lacks) leaves
 * *ret_result NULL and returns EX_OK. */
int ctl_call_optional(struct ctl *ctl, const char *method,
		      struct json_object *params, struct json_object **ret_result);
/* The same for a command that shows the result: with -j it is printed
 * as it came, on one line, and *ret_result is NULL. */
int ctl_call_show(struct ctl *ctl, const char *method,
		  struct json_object *params, struct json_object **ret_result);
/* Close what the command left open. */
void ctl_done(struct ctl *ctl);

/* --- reading the daemon's objects, tolerating anything missing --- */

struct json_object *jget(struct json_object *o, const char *key);
const char *jstr(struct json_object *o, const char *key);
bool jbool(struct json_object *o, const char *key);
/* Any scalar as text: strings as they are, null as "-". */
const char *jtext(struct json_object *o, const char *key);
/* An integer member; false when there is none. */
bool jint64(struct json_object *o, const char *key, int64_t *ret);
/* The array member @key of a result, or NULL. */
struct json_object *result_array(struct json_object *result, const char *key);

bool is_number(const char *s);
/* A profile, SNAP or IAP id: digits only. */
int parse_id(const char *s, const char *what, int64_t *ret);
struct json_object *new_object(void);
/* {"KEY": ID} */
struct json_object *id_params(const char *key, int64_t id);

/* --- input --- */

bool write_all(int fd, const char *data, size_t len);
ssize_t read_line_fd(int fd, int sfd, char *buf, size_t size);
int read_input_file(const char *path, char **ret, size_t *ret_len);

/* --- output --- */

/* One line, as the daemon sent it (NULL prints "null"). */
void print_json(struct json_object *o);

struct table {
	size_t ncols;
	size_t ncells;           /* the header's included */
	char **cells;            /* row after row, the header first */
	size_t cap;
};

void table_init(struct table *t, size_t ncols, const char *const *headers);
/* Add a cell to the current row; a new row starts after ncols cells. */
void table_add(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* With -f only the named columns, in that order; with -t without the
 * header and the alignment, the cells joined by ':' (':' and '\' escaped
 * with '\', as nmcli -t does). */
void table_print(struct table *t, const char *indent);
/* A cell for -t: ':' and '\' escaped; the caller frees it. */
char *terse_escape(const char *s);
void table_free(struct table *t);

/* "key: value" lines, the values aligned */
struct kv {
	char *key;
	char *value;
};

struct kvlist {
	struct kv *v;
	size_t n, cap;
};

void kv_add(struct kvlist *l, const char *key, const char *value);
/* A scalar: null as "-", booleans as yes and no, numbers and strings as
 * they are; false, adding nothing, for an object or an array. */
bool kv_add_scalar(struct kvlist *l, const char *key, struct json_object *val);
/* Print the lines and free the list.  With -f only the keys named (or
 * under a name: "registrar" selects registrar.*); with -t as KEY:VALUE,
 * ':' and '\' escaped.  A field that matches no key is an error: EX_USAGE
 * after saying so, else EX_OK. */
int kv_print(struct kvlist *l);
/* Every member of @o, in alrd's order, as "a.b: value" (profile show,
 * snap show).  In a profile, server passwords show only whether one is
 * set, and extension parameters as TYPE VALUE. */
void show_flatten(struct kvlist *l, const char *prefix, struct json_object *o,
		  bool profile);
