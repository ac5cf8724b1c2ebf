/* Logging: one place decides the level and the target (stderr or syslog). */
#pragma once

#include <stdbool.h>
#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_AUTO,      /* stderr when in the foreground, else syslog */
};

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
const char *log_level_to_str(int level);
int log_level_from_str(const char *s);          /* -EINVAL if unknown */
const char *log_target_to_str(enum log_target t);
int log_target_from_str(const char *s);         /* -EINVAL if unknown */

void log_open(const char *ident, enum log_target target, bool foreground);
void log_set_level(int level);
int log_get_level(void);
void log_close(void);
bool log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log and return the (negative) error, so that a caller can
 *   return log_errno(LOG_ERR, r, "cannot open %s: %m", path);
 * %m prints strerror(-error). */
int log_errno(int level, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...)   do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
