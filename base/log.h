/*
 * Logging: one place decides the level and the target (stderr, syslog, or
 * the systemd journal when stderr is the journal).
 *
 * Every log call carries its place in the code (CODE_FILE=, CODE_LINE=,
 * CODE_FUNC= in the journal), and may carry what it is about: the profile
 * (ALR_PROFILE=), the IAP (ALR_IAP=) and the SIP dialog (SIP_CALL_ID=)
 * through log_profile(), log_iap() and log_call(), so that
 * `journalctl ALR_PROFILE=3` shows one profile's story.  Elsewhere the
 * fields are not printed: the message names its objects itself.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

struct iovec;

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_AUTO,      /* stderr when in the foreground, else syslog */
};

/* What a log line is about; 0 and NULL: not known here. */
struct log_fields {
	unsigned int profile;           /* ALR_PROFILE= */
	unsigned int iap;               /* ALR_IAP= */
	const char *call_id;            /* SIP_CALL_ID= */
};

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
const char *log_level_to_str(int level);
int log_level_from_str(const char *s);          /* -EINVAL if unknown */
const char *log_target_to_str(enum log_target t);
int log_target_from_str(const char *s);         /* -EINVAL if unknown */

/*
 * With LOG_TARGET_STDERR (or AUTO in the foreground), the journal's native
 * protocol is used when stderr is the journal: $JOURNAL_STREAM names
 * stderr's device and inode (systemd.exec(5)), as under a unit with
 * StandardError=journal.  Otherwise stderr gets "HH:MM:SS.uuuuuu
 * IDENT[PID] LEVEL: MESSAGE" lines.
 */
void log_open(const char *ident, enum log_target target, bool foreground);
void log_set_level(int level);
int log_get_level(void);
void log_close(void);
bool log_enabled(int level);
/* Whether lines go to the journal's native protocol. */
bool log_to_journal(void);

/* The journal's sender, sd_journal_sendv(); a test puts its own. */
typedef int (*log_journal_send_fn)(const struct iovec *iov, int n);
void log_set_journal_sender(log_journal_send_fn fn);

/*
 * Log @fmt at @level from @file:@line (@func), with @fields (may be NULL).
 * %m prints strerror(@error) when @error is not 0 (either sign), else
 * strerror(errno).  Returns -|@error|, so that
 *   return log_errno(LOG_ERR, r, "cannot open %s: %m", path);
 * logs and returns the error.  errno is kept.
 */
int log_full(int level, int error, const struct log_fields *fields, const char *file,
	     int line, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

#define log_msg(level, ...) \
	log_full((level), 0, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_errno(level, error, ...) \
	log_full((level), (error), NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...)   do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* A line about profile @profile (over IAP @iap, 0 if none), about IAP
 * @iap, or about the SIP dialog @call_id (of profile @profile, 0 if not
 * known). */
#define log_profile(level, profile_id, iap_id, ...) \
	do { \
		if (log_enabled(level)) \
			log_full((level), 0, &(const struct log_fields){ \
					.profile = (profile_id), .iap = (iap_id) }, \
				 __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
#define log_iap(level, iap_id, ...) log_profile(level, 0, iap_id, __VA_ARGS__)
#define log_call(level, profile_id, call, ...) \
	do { \
		if (log_enabled(level)) \
			log_full((level), 0, &(const struct log_fields){ \
					.profile = (profile_id), .call_id = (call) }, \
				 __FILE__, __LINE__, __func__, __VA_ARGS__); \
	} while (0)
