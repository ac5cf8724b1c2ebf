/*
 * alrctl: the command line face of alrd's control protocol, built on
 * libalr-client.  Human output is aligned plain text; -j prints the
 * daemon's JSON untouched, for scripts.
 *
 * This file holds the global options and the dispatch.  Each noun's
 * commands are in its own file (status.c, iap.c, profile.c, ...), which
 * exports them as a family; ctl_families[] below is the one table of
 * commands, from which the dispatch, the help, the usage messages and the
 * shell completion (completion.c) are made.
 *
 * Every command checks its whole command line before it connects, so that
 * a usage error is reported as such even when alrd is not running, and a
 * refused option (a password on the command line) never reaches alrd.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

/* The order of the help. */
const struct command_family *const ctl_families[] = {
	&status_family,
	&iap_family,
	&monitor_family,
	&daemon_family,
	&profile_family,
	&export_family,
	&store_family,
	&snap_family,
	&alr_family,
	&call_family,
	&help_family,
	&completion_family,
	NULL,
};

const struct option ctl_global_options[] = {
	{ "socket",  required_argument, NULL, 's' },
	{ "json",    no_argument,       NULL, 'j' },
	{ "terse",   no_argument,       NULL, 't' },
	{ "fields",  required_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 'w' },
	{ "help",    no_argument,       NULL, 'h' },
	{ "version", no_argument,       NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* --- the help: COMMANDS and the families' own sections from the table --- */

static const char help_head[] =
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
	"COMMANDS\n";

static void print_help_tail(void)
{
	printf(
	"OPTIONS\n"
	"    -s, --socket PATH\n"
	"        Talk to the alrd listening on PATH (default: $ALRD_SOCKET, else\n"
	"        %s).\n"
	"\n"
	"    -j, --json\n"
	"        Print the daemon's JSON result on one line instead of text;\n"
	"        commands that follow events print each event as one JSON object\n"
	"        per line.  Errors are JSON too: one object per error on standard\n"
	"        error, {\"error\": {\"message\": ..., \"code\": ...}} (code: alrd's\n"
	"        error code, when alrd refused; \"usage\": true for a bad command\n"
	"        line); the exit status is the same.\n"
	"\n"
	"    -t, --terse\n"
	"        For scripts, as nmcli -t: tables without header and alignment,\n"
	"        their cells separated by ':'; \"key: value\" lines (status, iap\n"
	"        show, profile show, snap show) as KEY:VALUE.  ':' and '\\' in a\n"
	"        value are escaped with '\\'.\n"
	"\n"
	"    -f, --fields FIELD[,FIELD...]\n"
	"        Show only these columns of a table, in this order (the header's\n"
	"        names, a blank as '-': ID,NAME,DEFAULT-ROUTE), or these keys of\n"
	"        \"key: value\" lines (a key, or a prefix of keys: registrar).\n"
	"        Case does not matter.  A field the command does not have is a\n"
	"        usage error.\n"
	"\n"
	"    -w, --timeout MS\n"
	"        Wait at most MS milliseconds for each answer (default %d; 0 waits\n"
	"        for ever).  Events are awaited for ever.\n"
	"\n"
	"    -h, --help\n"
	"        Print this help and exit; after a command, that command's help\n"
	"        (alrctl profile --help, alrctl profile add --help).\n"
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
	"    78  reload found an invalid configuration, or rejected a SNAP file\n"
	"        (EX_CONFIG)\n"
	"\n"
	"EXAMPLES\n"
	"    alrctl status\n"
	"    alrctl help profile\n"
	"    alrctl iap show wlan0\n"
	"    alrctl -t -f name,state iap list\n"
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

/* "    profile add [PROFILE OPTIONS]" and its help, indented. */
static void print_command_paragraph(const struct command *cmd)
{
	printf("    %s%s%s%s\n", cmd->name, cmd->sub ? " " : "",
	       cmd->sub ? cmd->sub : "", cmd->args);
	for (const char *line = cmd->help; *line; ) {
		size_t len = strcspn(line, "\n");

		printf("        %.*s\n", (int)len, line);
		line += len + (line[len] == '\n');
	}
	if (cmd->fields && *cmd->fields)
		printf("        Fields (-f): %s.\n", cmd->fields);
	putchar('\n');
}

static const char help_global_short[] =
	"GLOBAL OPTIONS\n"
	"    -s, --socket PATH; -j, --json; -t, --terse; -f, --fields FIELDS;\n"
	"    -w, --timeout MS; -h, --help.  'alrctl --help' says more, with the\n"
	"    exit statuses.\n";

/* @cmd is noun @name (and, when @sub is given, its command @sub). */
static bool command_is(const struct command *cmd, const char *name, const char *sub)
{
	return strcmp(cmd->name, name) == 0 &&
	       (!sub || (cmd->sub && strcmp(cmd->sub, sub) == 0));
}

/*
 * The help of one noun (alrctl help profile, alrctl profile --help), or of
 * one command when @sub is given: its usage, paragraph and options.
 */
static void print_noun_help(const char *name, const char *sub)
{
	const struct command_family *fam = NULL;

	printf("USAGE\n");
	for (size_t f = 0; ctl_families[f]; f++)
		for (size_t i = 0; i < ctl_families[f]->n_commands; i++) {
			const struct command *cmd = &ctl_families[f]->commands[i];

			if (!command_is(cmd, name, sub))
				continue;
			printf("    alrctl %s%s%s%s\n", cmd->name, cmd->sub ? " " : "",
			       cmd->sub ? cmd->sub : "", cmd->args);
		}
	printf("\nCOMMANDS\n");
	for (size_t f = 0; ctl_families[f]; f++)
		for (size_t i = 0; i < ctl_families[f]->n_commands; i++) {
			const struct command *cmd = &ctl_families[f]->commands[i];

			if (!command_is(cmd, name, sub))
				continue;
			print_command_paragraph(cmd);
			if (ctl_families[f]->options_help && cmd->options)
				fam = ctl_families[f];
		}
	if (fam)
		fputs(fam->options_help, stdout);
	fputs(help_global_short, stdout);
}

static void print_help(void)
{
	const char *caption = NULL;

	fputs(help_head, stdout);
	for (size_t f = 0; ctl_families[f]; f++) {
		const struct command_family *fam = ctl_families[f];

		if (!caption || strcmp(caption, fam->caption) != 0)
			printf("  %s\n", fam->caption);
		caption = fam->caption;
		for (size_t i = 0; i < fam->n_commands; i++)
			print_command_paragraph(&fam->commands[i]);
	}
	for (size_t f = 0; ctl_families[f]; f++)
		if (ctl_families[f]->options_help)
			fputs(ctl_families[f]->options_help, stdout);
	print_help_tail();
}

/* --- finding the command --- */

static const struct command *find_command(int argc, char **argv, int *ret_words)
{
	bool known_name = false;

	for (size_t f = 0; ctl_families[f]; f++) {
		for (size_t i = 0; i < ctl_families[f]->n_commands; i++) {
			const struct command *cmd = &ctl_families[f]->commands[i];

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
	}
	*ret_words = known_name ? 1 : 0;
	return NULL;
}

/* The nouns (@sub NULL) or @sub's subcommands, each once, for a
 * suggestion; returns how many. */
static size_t command_words(const char *noun, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t f = 0; ctl_families[f]; f++)
		for (size_t i = 0; i < ctl_families[f]->n_commands && n < max; i++) {
			const struct command *cmd = &ctl_families[f]->commands[i];
			const char *w = noun ? cmd->sub : cmd->name;
			bool seen = false;

			if (!w || (noun && strcmp(cmd->name, noun) != 0))
				continue;
			for (size_t k = 0; k < n && !seen; k++)
				seen = !strcmp(out[k], w);
			if (!seen)
				out[n++] = w;
		}
	return n;
}

/* "; did you mean 'status'?" for the unknown noun @word, or "" */
static const char *suggest_noun(const char *word, char *buf, size_t size)
{
	const char *cands[64];
	size_t n = command_words(NULL, cands, 64);

	return ctl_did_you_mean(ctl_suggest(word, cands, n), buf, size);
}

/* "; did you mean 'profile list'?" for the unknown subcommand @word */
static const char *suggest_sub(const char *noun, const char *word, char *buf, size_t size)
{
	const char *cands[64], *found;
	char both[128];
	size_t n = command_words(noun, cands, 64);

	found = ctl_suggest(word, cands, n);
	if (!found)
		return "";
	snprintf(both, sizeof(both), "%s %s", noun, found);
	return ctl_did_you_mean(both, buf, size);
}

/* "; did you mean '--json'?" for the unknown long option @arg */
static const char *suggest_option(const char *arg, const struct command *cmd,
				  char *buf, size_t size)
{
	const char *cands[128];
	char dashed[80], word[64];
	const char *found;
	size_t n = 0;

	for (size_t i = 0; ctl_global_options[i].name && n < 128; i++)
		cands[n++] = ctl_global_options[i].name;
	for (size_t i = 0; cmd && cmd->options && cmd->options[i].name && n < 128; i++)
		if (cmd->options[i].has_arg != optional_argument)
			cands[n++] = cmd->options[i].name;
	snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
	found = ctl_suggest(word, cands, n);
	if (!found)
		return "";
	snprintf(dashed, sizeof(dashed), "--%s", found);
	return ctl_did_you_mean(dashed, buf, size);
}

/* "list, show, ..." for a usage message. */
static void subcommands(const char *name, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t f = 0; ctl_families[f]; f++) {
		for (size_t i = 0; i < ctl_families[f]->n_commands && len < size; i++) {
			const struct command *cmd = &ctl_families[f]->commands[i];

			if (!strcmp(cmd->name, name) && cmd->sub)
				len += (size_t)snprintf(buf + len, size - len, "%s%s",
							len ? ", " : "", cmd->sub);
		}
	}
}

/* --- options --- */

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

	for (size_t i = 0; ctl_global_options[i].name; i++)
		all[n++] = ctl_global_options[i];
	for (size_t i = 0; cmd && cmd->options && cmd->options[i].name; i++)
		if (n < sizeof(all) / sizeof(all[0]) - 1)
			all[n++] = cmd->options[i];
	memset(&all[n], 0, sizeof(all[n]));

	/* our own messages, prefixed "alrctl: " whatever argv[0] is */
	opterr = 0;
	while ((c = getopt_long(argc, argv, cmd ? ":s:jtf:w:h" : "+:s:jtf:w:h", all,
				NULL)) != -1) {
		char hint[160];

		switch (c) {
		case 's':
			if (!*optarg)
				return usage_error("empty socket path");
			ctl->socket = optarg;
			break;
		case 'j':
			ctl->json = true;
			ctl_output.json_errors = true;
			break;
		case 't':
			ctl->terse = true;
			ctl_output.terse = true;
			break;
		case 'f':
			if (!*optarg || optarg[strspn(optarg, ",")] == '\0' ||
			    strstr(optarg, ",,") || optarg[strlen(optarg) - 1] == ',')
				return usage_error("-f needs field names separated by ','");
			ctl->fields = optarg;
			ctl_output.fields = optarg;
			break;
		case 'w':
			if (parse_timeout(optarg, &ctl->timeout_ms) < 0)
				return usage_error("invalid timeout '%s': milliseconds, "
						   "0 for ever", optarg);
			break;
		case 'h':
			if (cmd)
				print_noun_help(cmd->name, cmd->sub);
			else
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
			if (*suggest_option(argv[optind - 1], cmd, hint, sizeof(hint)))
				return usage_error("invalid option '%s'%s",
						   option_name(argv[optind - 1]), hint);
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

/* alrctl help [COMMAND [SUBCOMMAND]] */
static int cmd_help(struct ctl *ctl, int argc, char **argv)
{
	char hint[160];
	int words;

	if (argc == 0) {
		print_help();
		return EX_OK;
	}
	if (!find_command(argc, argv, &words) && words == 0)
		return usage_error("unknown command '%s'%s", argv[0],
				   suggest_noun(argv[0], hint, sizeof(hint)));
	if (argc == 2 && !find_command(argc, argv, &words))
		return usage_error("unknown command '%s %s'%s", argv[0], argv[1],
				   suggest_sub(argv[0], argv[1], hint, sizeof(hint)));
	print_noun_help(argv[0], argc == 2 ? argv[1] : NULL);
	return EX_OK;
}

static const struct command help_commands[] = {
	{ "help", NULL, 0, 2, " [COMMAND [SUBCOMMAND]]", cmd_help,
	  .complete = ARGS_COMMANDS,
	  .help =
	  "Print this help, or the help of one command: its usage, what it\n"
	  "does, its options and fields (alrctl help profile, alrctl help\n"
	  "profile add; the same as alrctl profile --help).\n" },
};

const struct command_family help_family = {
	.caption = "Help",
	.commands = help_commands, .n_commands = ARRAY_SIZE(help_commands),
};

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

	/* -j anywhere: the errors of the command line are JSON too */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "--json") ||
		    (argv[i][0] == '-' && argv[i][1] != '-' &&
		     strspn(argv[i] + 1, "jth") == strlen(argv[i] + 1) && strchr(argv[i], 'j')))
			ctl_output.json_errors = true;

	/* global options before the command */
	status = parse_options(&ctl, argc, argv, NULL, &done);
	if (status != EX_OK || done)
		return status;
	if (optind >= argc)
		return usage_error("no command given; usage: alrctl [OPTIONS] COMMAND [ARGUMENTS] "
				   "(alrctl help lists the commands)");

	cmd = find_command(argc - optind, argv + optind, &words);
	if (!cmd) {
		char subs[256], hint[160];

		/* alrctl profile --help: the noun's help */
		for (int i = optind + 1; words == 1 && i < argc; i++)
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				print_noun_help(argv[optind], NULL);
				return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
			}
		if (words == 1 && optind + 1 < argc && argv[optind + 1][0] != '-')
			return usage_error("unknown command '%s %s'%s", argv[optind],
					   argv[optind + 1],
					   suggest_sub(argv[optind], argv[optind + 1],
						       hint, sizeof(hint)));
		if (words == 1) {
			subcommands(argv[optind], subs, sizeof(subs));
			return usage_error("'%s' needs a subcommand (%s)", argv[optind], subs);
		}
		return usage_error("unknown command '%s'%s", argv[optind],
				   suggest_noun(argv[optind], hint, sizeof(hint)));
	}

	/* the command's options and the global ones, among its arguments;
	 * the last command word stands in for argv[0] */
	sub_argv = argv + optind + words - 1;
	sub_argc = argc - optind - words + 1;
	optind = 0;                /* glibc: start afresh */
	status = parse_options(&ctl, sub_argc, sub_argv, cmd, &done);
	if (status != EX_OK || done)
		goto out;
	if (ctl.fields && !cmd->fields) {
		status = usage_error("-f: '%s%s%s' shows no fields", cmd->name,
				     cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
		goto out;
	}
	if (ctl.fields && *cmd->fields) {
		char what[64];

		snprintf(what, sizeof(what), "%s%s%s", cmd->name, cmd->sub ? " " : "",
			 cmd->sub ? cmd->sub : "");
		status = ctl_check_fields(ctl.fields, cmd->fields, what);
		if (status != EX_OK)
			goto out;
	}
	nargs = sub_argc - optind;
	if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
		status = usage_error("wrong number of arguments; usage: alrctl %s%s%s%s%s",
				     cmd->name, cmd->sub ? " " : "",
				     cmd->sub ? cmd->sub : "", cmd->args,
				     cmd->json_note && ctl.json ? cmd->json_note : "");
		goto out;
	}

	status = cmd->run(&ctl, nargs, sub_argv + optind);

	if ((fflush(stdout) != 0 || ferror(stdout)) && status == EX_OK) {
		errorf("cannot write the output: %s", strerror(errno));
		status = EX_IOERR;
	}
out:
	ctl_done(&ctl);
	return status;
}
