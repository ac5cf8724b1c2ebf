/* base/log: the journal's fields when stderr is the journal
 * ($JOURNAL_STREAM), today's lines otherwise.  The journal's sender is
 * replaced by one that keeps the entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"

static char entry[4096];        /* the last entry, fields joined by '\n' */
static int sent;
static int send_result;

static int fake_send(const struct iovec *iov, int n)
{
	size_t len = 0;

	sent++;
	entry[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(entry + len, sizeof(entry) - len, "%.*s\n",
					(int)iov[i].iov_len, (const char *)iov[i].iov_base);
	return send_result;
}

static bool has_field(const char *field)
{
	char line[512];

	/* a whole line of the entry */
	snprintf(line, sizeof(line), "\n%s\n", field);
	return !strncmp(entry, line + 1, strlen(line + 1)) || strstr(entry, line) != NULL;
}

static void stderr_is_the_journal(bool yes)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (yes ? 0 : 1));
	setenv("JOURNAL_STREAM", v, 1);
}

static int setup(void **state)
{
	log_set_journal_sender(fake_send);
	log_set_level(LOG_DEBUG);
	sent = 0;
	send_result = 0;
	entry[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	log_close();
	log_set_journal_sender(NULL);
	unsetenv("JOURNAL_STREAM");
	return 0;
}

static void test_detection(void **state)
{
	static const struct {
		const char *value;       /* NULL: unset; "OK": stderr's own */
		enum log_target target;
		bool foreground;
		bool journal;
	} rows[] = {
		{ NULL, LOG_TARGET_STDERR, true, false },
		{ "OK", LOG_TARGET_STDERR, true, true },
		{ "OK", LOG_TARGET_AUTO, true, true },
		{ "OK", LOG_TARGET_AUTO, false, false },     /* syslog */
		{ "OK", LOG_TARGET_SYSLOG, true, false },
		{ "other", LOG_TARGET_STDERR, true, false },  /* not our stderr */
		{ "12", LOG_TARGET_STDERR, true, false },
		{ "1:2:3", LOG_TARGET_STDERR, true, false },
		{ "", LOG_TARGET_STDERR, true, false },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!rows[i].value)
			unsetenv("JOURNAL_STREAM");
		else if (!strcmp(rows[i].value, "OK"))
			stderr_is_the_journal(true);
		else if (!strcmp(rows[i].value, "other"))
			stderr_is_the_journal(false);
		else
			setenv("JOURNAL_STREAM", rows[i].value, 1);
		log_open("test", rows[i].target, rows[i].foreground);
		if (log_to_journal() != rows[i].journal)
			fail_msg("row %zu (%s): journal %d", i,
				 rows[i].value ? rows[i].value : "unset", log_to_journal());
		log_close();
	}
}

static void test_fields(void **state)
{
	int line;

	stderr_is_the_journal(true);
	log_open("test", LOG_TARGET_STDERR, true);
	assert_true(log_to_journal());

	line = __LINE__ + 1;
	log_profile(LOG_WARNING, 3, 7, "profile %u: %s", 3, "lost");
	assert_int_equal(sent, 1);
	assert_true(has_field("MESSAGE=profile 3: lost"));
	assert_true(has_field("PRIORITY=4"));
	assert_true(has_field("SYSLOG_IDENTIFIER=test"));
	assert_true(has_field("ALR_PROFILE=3"));
	assert_true(has_field("ALR_IAP=7"));
	assert_true(has_field("CODE_FUNC=test_fields"));
	{
		char want[32];

		snprintf(want, sizeof(want), "CODE_LINE=%d", line);
		assert_true(has_field(want));
	}
	assert_non_null(strstr(entry, "CODE_FILE="));
	assert_non_null(strstr(entry, "test-log.c\n"));
	assert_null(strstr(entry, "SIP_CALL_ID="));
	assert_null(strstr(entry, "ERRNO="));

	/* each level as its syslog number: journalctl -p warning shows 0..4 */
	log_err("e");
	assert_true(has_field("PRIORITY=3"));
	log_notice("n");
	assert_true(has_field("PRIORITY=5"));
	log_info("i");
	assert_true(has_field("PRIORITY=6"));
	assert_null(strstr(entry, "ALR_PROFILE="));
	log_debug("d");
	assert_true(has_field("PRIORITY=7"));

	/* an IAP alone, a Call-ID */
	log_iap(LOG_INFO, 12, "iap 12");
	assert_true(has_field("ALR_IAP=12"));
	assert_null(strstr(entry, "ALR_PROFILE="));
	log_call(LOG_INFO, 0, "a84b4c76e66710@pc33", "binding");
	assert_true(has_field("SIP_CALL_ID=a84b4c76e66710@pc33"));
	/* from the network: a line break would forge fields */
	log_call(LOG_INFO, 0, "x\nPRIORITY=0", "binding");
	assert_null(strstr(entry, "SIP_CALL_ID="));
	assert_null(strstr(entry, "PRIORITY=0"));

	/* log_errno: %m, ERRNO=, the error back, errno kept */
	errno = EAGAIN;
	assert_int_equal(log_errno(LOG_ERR, -ENOENT, "open: %m"), -ENOENT);
	assert_int_equal(errno, EAGAIN);
	assert_true(has_field("MESSAGE=open: No such file or directory"));
	assert_true(has_field("ERRNO=2"));

	/* below the level: nothing sent */
	sent = 0;
	log_set_level(LOG_NOTICE);
	log_info("quiet");
	log_profile(LOG_INFO, 1, 1, "quiet");
	log_debug("quiet");
	assert_int_equal(sent, 0);
	log_warning("loud");
	assert_int_equal(sent, 1);
}

/* Without the journal, or when the journal's socket refuses: lines on
 * stderr (today's format; "<N>" when stderr is the journal's stream). */
static void test_stderr_lines(void **state)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	char buf[1024] = "";
	size_t n;

	assert_non_null(f);
	assert_true(saved >= 0);

	stderr_is_the_journal(true);
	log_open("test", LOG_TARGET_STDERR, true);
	send_result = -ENOENT;
	dup2(fileno(f), STDERR_FILENO);
	log_warning("no socket");
	unsetenv("JOURNAL_STREAM");
	log_open("test", LOG_TARGET_STDERR, true);
	log_profile(LOG_NOTICE, 3, 0, "plain");
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(sent, 1);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_true(!strncmp(buf, "<4>no socket\n", 13));
	/* HH:MM:SS.uuuuuu test[PID] notice: plain */
	assert_non_null(strstr(buf + 13, " test["));
	assert_non_null(strstr(buf + 13, "] notice: plain\n"));
	assert_null(strstr(buf, "ALR_PROFILE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_detection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stderr_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
