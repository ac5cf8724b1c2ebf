/* Logging to stderr, syslog or the systemd journal, with a level. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Our own CODE_FILE=, CODE_LINE=, CODE_FUNC=: the caller's, not log.c's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const target_names[] = {
	[LOG_TARGET_STDERR] = "stderr",
	[LOG_TARGET_SYSLOG] = "syslog",
	[LOG_TARGET_AUTO] = "auto",
};

static struct {
	int level;
	bool use_syslog;
	bool journal;               /* stderr is the journal: native protocol */
	const char *ident;
	log_journal_send_fn send;
} logger = { .level = LOG_INFO, .ident = "alrd", .send = sd_journal_sendv };

const char *log_level_to_str(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

int log_level_from_str(const char *s)
{
	/* Only the levels alrd uses are accepted in configuration. */
	for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
		if (strcasecmp(s, level_names[l]) == 0)
			return l;
	if (strcasecmp(s, "err") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -EINVAL;
}

const char *log_target_to_str(enum log_target t)
{
	if ((unsigned)t >= sizeof(target_names) / sizeof(target_names[0]))
		return "unknown";
	return target_names[t];
}

int log_target_from_str(const char *s)
{
	for (unsigned t = 0; t < sizeof(target_names) / sizeof(target_names[0]); t++)
		if (strcasecmp(s, target_names[t]) == 0)
			return (int)t;
	return -EINVAL;
}

/* systemd.exec(5): $JOURNAL_STREAM is "DEVICE:INODE" of the stream the
 * service manager connected stdout/stderr to.  Only when it is still our
 * stderr (not inherited by a process whose stderr was redirected since)
 * do we talk to the journal directly. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_open(const char *ident, enum log_target target, bool foreground)
{
	if (logger.use_syslog)
		closelog();
	logger.ident = ident;
	switch (target) {
	case LOG_TARGET_STDERR:
		logger.use_syslog = false;
		break;
	case LOG_TARGET_SYSLOG:
		logger.use_syslog = true;
		break;
	case LOG_TARGET_AUTO:
		logger.use_syslog = !foreground;
		break;
	}
	logger.journal = !logger.use_syslog && stderr_is_journal();
	if (logger.use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_close(void)
{
	if (logger.use_syslog)
		closelog();
	logger.use_syslog = false;
	logger.journal = false;
}

void log_set_level(int level)
{
	logger.level = level;
}

int log_get_level(void)
{
	return logger.level;
}

bool log_enabled(int level)
{
	return level <= logger.level;
}

bool log_to_journal(void)
{
	return logger.journal;
}

void log_set_journal_sender(log_journal_send_fn fn)
{
	logger.send = fn ? fn : sd_journal_sendv;
}

/* One journal entry: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, the place in
 * the code, ERRNO, and what the line is about.  0 or a negative errno. */
static int send_journal(int level, int error, const struct log_fields *f,
			const char *file, int line, const char *func, const char *msg)
{
	char prio[16], ident[64], cfile[256], cline[32], cfunc[128], err[32];
	char profile[32], iap[32], call[320];
	char *message;
	struct iovec iov[10];
	int n = 0, r;

	if (asprintf(&message, "MESSAGE=%s", msg) < 0)
		return -ENOMEM;
#define ADD(buf, ...) \
	do { \
		snprintf(buf, sizeof(buf), __VA_ARGS__); \
		iov[n++] = (struct iovec){ .iov_base = buf, .iov_len = strlen(buf) }; \
	} while (0)
	iov[n++] = (struct iovec){ .iov_base = message, .iov_len = strlen(message) };
	ADD(prio, "PRIORITY=%d", level);
	ADD(ident, "SYSLOG_IDENTIFIER=%s", logger.ident);
	ADD(cfile, "CODE_FILE=%s", file);
	ADD(cline, "CODE_LINE=%d", line);
	ADD(cfunc, "CODE_FUNC=%s", func);
	if (error)
		ADD(err, "ERRNO=%d", error);
	if (f && f->profile)
		ADD(profile, "ALR_PROFILE=%u", f->profile);
	if (f && f->iap)
		ADD(iap, "ALR_IAP=%u", f->iap);
	/* a Call-ID is the network's: no line breaks into the entry */
	if (f && f->call_id && !strpbrk(f->call_id, "\r\n"))
		ADD(call, "SIP_CALL_ID=%s", f->call_id);
#undef ADD
	r = logger.send(iov, n);
	free(message);
	return r;
}

int log_full(int level, int error, const struct log_fields *fields, const char *file,
	     int line, const char *func, const char *fmt, ...)
{
	int saved = errno;
	char buf[2048];
	va_list ap;

	if (error < 0)
		error = -error;
	if (!log_enabled(level))
		goto out;
	/* %m means strerror(error) for log_errno(), errno otherwise. */
	errno = error ? error : saved;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (logger.use_syslog) {
		syslog(level, "%s", buf);
		goto out;
	}
	if (logger.journal) {
		if (send_journal(level, error, fields, file, line, func, buf) >= 0)
			goto out;
		/* No native socket (a container without it): the stream
		 * still takes the kernel-style level prefix, and journald
		 * adds the time, name and pid itself. */
		fprintf(stderr, "<%d>%s\n", level, buf);
		goto out;
	}

	{
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%06ld %s[%d] %s: %s\n", stamp, ts.tv_nsec / 1000,
			logger.ident, (int)getpid(), log_level_to_str(level), buf);
	}
out:
	errno = saved;
	return -error;
}
