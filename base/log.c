/* Logging to stderr or syslog, with a level. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
	bool stderr_tty;
	const char *ident;
} logger = { .level = LOG_INFO, .ident = "alrd" };

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
	logger.stderr_tty = isatty(STDERR_FILENO);
	if (logger.use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_close(void)
{
	if (logger.use_syslog)
		closelog();
	logger.use_syslog = false;
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

static void log_vmsg(int level, int error, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void log_vmsg(int level, int error, const char *fmt, va_list ap)
{
	char buf[2048];

	if (!log_enabled(level))
		return;
	/* %m means strerror(error) for log_errno(), errno otherwise. */
	if (error)
		errno = error;
	vsnprintf(buf, sizeof(buf), fmt, ap);

	if (logger.use_syslog) {
		syslog(level, "%s", buf);
		return;
	}

	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%06ld %s[%d] %s: %s\n", stamp, ts.tv_nsec / 1000,
		logger.ident, (int)getpid(), log_level_to_str(level), buf);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

int log_errno(int level, int error, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vmsg(level, error < 0 ? -error : error, fmt, ap);
	va_end(ap);
	errno = saved;
	return error < 0 ? error : -error;
}
