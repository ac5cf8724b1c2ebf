/* alrd: command line, configuration check, daemonizing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/daemon.h"
#include "base/log.h"
#include "policy/policy.h"

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    alrd - application-level roaming manager for SIP\n"
"\n"
"SYNOPSIS\n"
"    alrd [-f] [-c FILE] [--state-dir DIR] [--socket PATH] [--plugin-dir DIR]\n"
"         [-v] [--log-target T]\n"
"    alrd --check-config [-c FILE] [...]\n"
"    alrd --version | --help\n"
"\n"
"DESCRIPTION\n"
"    alrd watches the machine's network links, addresses and routes (netlink)\n"
"    and presents each usable network attachment as an IAP (Internet access\n"
"    point) with a stable id.  It keeps the SIP profiles of its store\n"
"    registered (RFC 3261 REGISTER, shaped by the profile agent plugins of\n"
"    the plugin directory) over the best available IAP, and deregisters\n"
"    them when it stops.  Applications observe and control it over a\n"
"    JSON-RPC 2.0 socket (see alrctl(1) and docs/protocol.md).\n"
"\n"
"    Settings come from built-in defaults, overridden by the configuration\n"
"    file, overridden by the command line.  SIGHUP reloads the file;\n"
"    SIGTERM and SIGINT stop the daemon in order: the profiles are\n"
"    deregistered first, for at most about 2 seconds; a second signal stops\n"
"    at once.\n"
"\n"
"OPTIONS\n"
"    -f, --foreground     stay in the foreground (use this under systemd);\n"
"                         logs go to stderr unless --log-target says otherwise\n"
"    -c, --config FILE    configuration file (default %s);\n"
"                         when given, it must exist\n"
"        --state-dir DIR  state directory: database and lock (default %s)\n"
"        --socket PATH    control socket (default %s)\n"
"        --plugin-dir DIR profile agent plugins (default %s)\n"
"    -n, --check-config   validate the configuration and the SNAP policies of\n"
"                         snap-dir, print them normalised, and exit 0 if\n"
"                         they are valid, 1 if not (a SNAP file that would\n"
"                         be skipped is named as FILE:LINE)\n"
"    -v, --verbose        log at debug level\n"
"        --log-target T   stderr, syslog or auto (default auto: stderr in the\n"
"                         foreground, syslog otherwise); stderr that is the\n"
"                         journal ($JOURNAL_STREAM) gets journal entries with\n"
"                         PRIORITY=, ALR_PROFILE=, ALR_IAP=, SIP_CALL_ID=\n"
"        --version        print the version and exit\n"
"    -h, --help           print this help and exit\n"
"\n"
"FILES\n"
"    %s   configuration (INI; see docs/configuration.md)\n"
"    %s/*.conf  SNAP policies (see docs/policy.md); SIGHUP reloads them\n"
"    STATE-DIR/alrd.db    IAP ids, profiles, registered contacts (SQLite)\n"
"    STATE-DIR/install-key  per-install key of the profiles' contact identities\n"
"    STATE-DIR/alrd.lock  held while alrd runs: one daemon per state directory\n"
"\n"
"EXIT STATUS\n"
"    0 on orderly shutdown or a valid --check-config; 1 when the configuration\n"
"    is invalid or start-up fails (the reason is logged); 2 on a usage error.\n",
		ALR_DEFAULT_CONFIG, ALR_DEFAULT_STATEDIR, ALR_DEFAULT_SOCKET,
		ALR_DEFAULT_PLUGIN_DIR, ALR_DEFAULT_CONFIG, ALR_DEFAULT_SNAP_DIR);
}

enum {
	OPT_STATE_DIR = 0x100,
	OPT_SOCKET,
	OPT_PLUGIN_DIR,
	OPT_VERSION,
	OPT_LOG_TARGET,
};

/* Fork into the background; the parent exits once the child reports that
 * start-up finished (status byte 0) or failed. */
static int daemonize(int *ret_notify_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		unsigned char status = 1;

		close(p[1]);
		if (read(p[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(p[0]);
	if (setsid() < 0)
		return -errno;
	*ret_notify_fd = p[1];
	return 0;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static void check_snap_error(const struct policy_error *e, void *ud)
{
	char buf[PATH_MAX + 300];
	int *skipped = ud;

	fprintf(stderr, "alrd: %s (file skipped)\n", policy_error_to_str(e, buf, sizeof(buf)));
	(*skipped)++;
}

/* --check-config: the configuration and the SNAP policies, normalised;
 * 1 when a SNAP file would be skipped. */
static int check_config(struct config *config)
{
	struct policy_set *set = NULL;
	int skipped = 0, r;

	config_print(config, stdout);
	r = policy_load_dir(config->snap_dir, &set, check_snap_error, &skipped);
	if (r < 0) {
		fprintf(stderr, "alrd: snap-dir %s: %s\n", config->snap_dir, strerror(-r));
		config_free(config);
		return 1;
	}
	printf("\n# SNAP policies from %s\n", config->snap_dir);
	policy_print(set, stdout);
	policy_set_free(set);
	config_free(config);
	return r > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR },
		{ "check-config", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "log-target", required_argument, NULL, OPT_LOG_TARGET },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon_options opts = {
		.overrides = { .log_level = -1, .log_target = -1 },
	};
	struct daemon d = { 0 };
	struct config_error ce;
	struct config *config;
	bool check = false;
	int notify_fd = -1;
	char buf[600];
	int c, r;

	while ((c = getopt_long(argc, argv, "fc:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			opts.foreground = true;
			break;
		case 'c':
			opts.config_file = optarg;
			opts.config_given = true;
			break;
		case OPT_STATE_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr, "alrd: --state-dir needs an absolute path\n");
				return 2;
			}
			opts.overrides.state_dir = optarg;
			break;
		case OPT_SOCKET:
			if (optarg[0] != '/' || strlen(optarg) > 107) {
				fprintf(stderr, "alrd: --socket needs an absolute path of at most 107 bytes\n");
				return 2;
			}
			opts.overrides.socket_path = optarg;
			break;
		case OPT_PLUGIN_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr, "alrd: --plugin-dir needs an absolute path\n");
				return 2;
			}
			opts.overrides.plugin_dir = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'v':
			opts.overrides.log_level = LOG_DEBUG;
			break;
		case OPT_LOG_TARGET:
			r = log_target_from_str(optarg);
			if (r < 0) {
				fprintf(stderr, "alrd: --log-target: '%s' is not one of stderr, syslog, auto\n",
					optarg);
				return 2;
			}
			opts.overrides.log_target = r;
			break;
		case OPT_VERSION:
			printf("alrd %s\n", ALR_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'alrd --help' for more information.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "alrd: unexpected argument '%s'\nTry 'alrd --help' for more information.\n",
			argv[optind]);
		return 2;
	}

	r = config_load(opts.config_file ? opts.config_file : ALR_DEFAULT_CONFIG,
			opts.config_given, &config, &ce);
	if (r < 0) {
		fprintf(stderr, "alrd: %s\n", config_error_to_str(&ce, buf, sizeof(buf)));
		return 1;
	}
	config_apply_overrides(config, &opts.overrides);
	if (check)
		return check_config(config);

	/* Until start-up is done, errors go to the terminal that started us,
	 * whatever the target; then the configured target takes over. */
	log_open("alrd", LOG_TARGET_STDERR, true);
	log_set_level(config->log_level);
	if (!opts.foreground) {
		r = daemonize(&notify_fd);
		if (r < 0) {
			log_errno(LOG_ERR, r, "cannot go to the background: %m");
			return 1;
		}
	}

	r = daemon_start(&d, config, &opts);
	if (r < 0) {
		daemon_stop(&d);
		return 1;
	}
	log_open("alrd", d.config->log_target, opts.foreground);
	if (notify_fd >= 0) {
		unsigned char ok = 0;

		detach_stdio();
		if (write(notify_fd, &ok, 1) != 1)
			log_debug("parent went away before start-up finished");
		close(notify_fd);
	}
	daemon_run(&d);
	daemon_stop(&d);
	log_close();
	return 0;
}
