/*
 * alrctl completion bash: a bash completion script made from the table of
 * commands (ctl_families[]), so that it knows every command, subcommand
 * and option alrctl does, and no other.
 *
 * The script stands alone (no bash-completion helpers needed): it finds
 * the command words after the global options, then offers the nouns, a
 * noun's subcommands, the options (the command's and the global ones),
 * file names for the options and arguments that take one, or the words a
 * command's argument is one of (log-level's levels).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "ctl.h"

/* An option as the user types it: "-s" or "--socket". */
static void put_option(FILE *f, const struct option *o, const char **sep)
{
	if (o->flag == NULL && o->val > ' ' && o->val < 0x7f) {
		fprintf(f, "%s-%c", *sep, o->val);
		*sep = " ";
	}
	fprintf(f, "%s--%s", *sep, o->name);
	*sep = " ";
}

/* The options of @opts, blank-separated: those taking a value
 * (@with_value) or all.  An option with an optional value is left out:
 * the one there is (--password) exists only to be refused. */
static void put_options(FILE *f, const struct option *opts, bool with_value)
{
	const char *sep = "";

	for (size_t i = 0; opts && opts[i].name; i++) {
		if (opts[i].has_arg == optional_argument)
			continue;
		if (with_value && opts[i].has_arg != required_argument)
			continue;
		put_option(f, &opts[i], &sep);
	}
}

/* Whether command @i of family @f is the first of its name: a noun is
 * offered once, however many subcommands it has. */
static bool is_first_of_name(size_t f, size_t i)
{
	const char *name = ctl_families[f]->commands[i].name;

	for (size_t g = 0; g <= f; g++)
		for (size_t j = 0; j < ctl_families[g]->n_commands; j++) {
			if (g == f && j == i)
				return true;
			if (!strcmp(ctl_families[g]->commands[j].name, name))
				return false;
		}
	return true;
}

/* Every command of the table, in order, as @cmd.  "continue" goes to the
 * next; "break" would not leave the loop. */
#define FOREACH_COMMAND(f, i, cmd) \
	for (size_t f = 0; ctl_families[f]; f++) \
		for (size_t i = 0; i < ctl_families[f]->n_commands; i++) \
			for (const struct command *cmd = &ctl_families[f]->commands[i]; \
			     cmd; cmd = NULL)

static void print_bash(FILE *f)
{
	const char *sep = "";

	fputs("# bash completion for alrctl, generated from its table of commands\n"
	      "# by 'alrctl completion bash'.  Source it, or install it as\n"
	      "# /usr/share/bash-completion/completions/alrctl.\n"
	      "\n"
	      "# The subcommands of noun $1, blank-separated.\n"
	      "_alrctl_subcommands()\n"
	      "{\n"
	      "\tcase $1 in\n", f);
	FOREACH_COMMAND(fi, i, cmd) {
		if (!cmd->sub || !is_first_of_name(fi, i))
			continue;
		fprintf(f, "\t%s) echo '", cmd->name);
		sep = "";
		FOREACH_COMMAND(gi, j, other)
			if (other->sub && !strcmp(other->name, cmd->name)) {
				fprintf(f, "%s%s", sep, other->sub);
				sep = " ";
			}
		fputs("' ;;\n", f);
	}
	fputs("\tesac\n"
	      "}\n"
	      "\n"
	      "_alrctl()\n"
	      "{\n"
	      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev= word noun= cmd= i\n"
	      "\tlocal opts= argopts= fileopts= args= words= fields=\n"
	      "\tlocal gopts='", f);
	put_options(f, ctl_global_options, false);
	fputs("'\n\tlocal gargopts='", f);
	put_options(f, ctl_global_options, true);
	/* the socket is the one global option that names a file */
	fputs("'\n\tlocal gfileopts='-s --socket'\n"
	      "\tlocal nouns='", f);
	sep = "";
	FOREACH_COMMAND(fi, i, cmd)
		if (is_first_of_name(fi, i)) {
			fprintf(f, "%s%s", sep, cmd->name);
			sep = " ";
		}
	fputs("'\n"
	      "\n"
	      "\t((COMP_CWORD > 1)) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	      "\t# the command's words: the first word that is not a global\n"
	      "\t# option (nor its value), and the next when it has subcommands\n"
	      "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	      "\t\tword=${COMP_WORDS[i]}\n"
	      "\t\tif [[ -n $cmd ]]; then\n"
	      "\t\t\tbreak\n"
	      "\t\telif [[ -n $noun ]]; then\n"
	      "\t\t\tcmd=\"$noun $word\"\n"
	      "\t\telif [[ $word == -* ]]; then\n"
	      "\t\t\t[[ \" $gargopts \" == *\" $word \"* ]] && ((i++))\n"
	      "\t\telse\n"
	      "\t\t\tnoun=$word\n"
	      "\t\t\t[[ -z $(_alrctl_subcommands \"$noun\") ]] && cmd=$noun\n"
	      "\t\tfi\n"
	      "\tdone\n"
	      "\n"
	      "\tcase $cmd in\n", f);
	FOREACH_COMMAND(fi, i, cmd) {
		fprintf(f, "\t'%s%s%s')", cmd->name, cmd->sub ? " " : "",
			cmd->sub ? cmd->sub : "");
		if (cmd->options) {
			fputs(" opts='", f);
			put_options(f, cmd->options, false);
			fputs("'; argopts='", f);
			put_options(f, cmd->options, true);
			fputs("';", f);
		}
		if (cmd->file_options)
			fprintf(f, " fileopts='%s';", cmd->file_options);
		switch (cmd->complete) {
		case ARGS_NONE:
			break;
		case ARGS_FILE:
			fputs(" args=file;", f);
			break;
		case ARGS_WORDS:
			fprintf(f, " args=words; words='%s';", cmd->words);
			break;
		case ARGS_COMMANDS:
			fputs(" args=commands;", f);
			break;
		}
		if (cmd->fields && *cmd->fields)
			fprintf(f, " fields='%s';", cmd->fields);
		/* "'status') ;;", "'restore') args=file;;" */
		fputs(cmd->options || cmd->file_options || cmd->complete != ARGS_NONE ||
		      (cmd->fields && *cmd->fields) ? ";\n" : " ;;\n", f);
	}
	fputs("\tesac\n"
	      "\n"
	      "\tCOMPREPLY=()\n"
	      "\tif [[ -n $prev && \" $gargopts $argopts \" == *\" $prev \"* ]]; then\n"
	      "\t\t# the value of an option\n"
	      "\t\tif [[ $prev == -f || $prev == --fields ]]; then\n"
	      "\t\t\t# FIELD,FIELD,...: complete the last one\n"
	      "\t\t\tlocal done_=${cur%${cur##*,}}\n"
	      "\t\t\tCOMPREPLY=($(compgen -P \"$done_\" -W \"$fields\" -- \"${cur##*,}\"))\n"
	      "\t\telif [[ \" $gfileopts $fileopts \" == *\" $prev \"* ]]; then\n"
	      "\t\t\tcompopt -o filenames 2>/dev/null\n"
	      "\t\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "\t\tfi\n"
	      "\telif [[ $cur == -* ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$opts $gopts\" -- \"$cur\"))\n"
	      "\telif [[ -z $noun ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$nouns\" -- \"$cur\"))\n"
	      "\telif [[ -z $cmd ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$(_alrctl_subcommands \"$noun\")\" -- \"$cur\"))\n"
	      "\telif [[ $args == file ]]; then\n"
	      "\t\tcompopt -o filenames 2>/dev/null\n"
	      "\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n"
	      "\telif [[ $args == words ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
	      "\telif [[ $args == commands && $prev == \"$noun\" ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$nouns\" -- \"$cur\"))\n"
	      "\telif [[ $args == commands ]]; then\n"
	      "\t\tCOMPREPLY=($(compgen -W \"$(_alrctl_subcommands \"$prev\")\" -- \"$cur\"))\n"
	      "\tfi\n"
	      "}\n"
	      "\n"
	      "complete -F _alrctl alrctl\n", f);
}

static int cmd_completion_bash(struct ctl *ctl, int argc, char **argv)
{
	print_bash(stdout);
	return EX_OK;
}

static const struct command commands[] = {
	{ "completion", "bash", 0, 0, "", cmd_completion_bash,
	  .help =
	  "Print a bash completion script for alrctl, made from the same\n"
	  "table of commands as this help (commands, options, -f's fields,\n"
	  "help's words).  Source it (source <(alrctl\n"
	  "completion bash)) or install it as\n"
	  "/usr/share/bash-completion/completions/alrctl.\n" },
};

const struct command_family completion_family = {
	.caption = "Shell completion",
	.commands = commands, .n_commands = ARRAY_SIZE(commands),
};
