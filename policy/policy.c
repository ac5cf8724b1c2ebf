/*
 * SNAP policy files (docs/policy.md): inih reads the lines, this file
 * checks every key and the SNAP as a whole, and reports the first problem
 * of a file with its line.
 *
 * Debian's inih tells the handler neither the line number nor where a
 * section starts (INI_HANDLER_LINENO and INI_CALL_HANDLER_ON_NEW_SECTION
 * are compile-time options, off in its build), yet a SNAP has several
 * [rule] sections of the same name and every message must name a line.
 * So we hand inih the lines ourselves (ini_parse_stream) and count them,
 * and a section header - a line whose first non-blank character is '[' -
 * reaches inih as "[LINE:name]": each [rule] becomes a section of its own
 * that carries the line of its header.  The rest of the grammar (comments,
 * "key = value", quotes are ours) stays inih's.
 *
 * Over 1,200 lines: the grammar of every key of docs/policy.md, each
 * with the message a person can act on, and the checks of a SNAP as a
 * whole; they are one file format.
 */
#include "policy/policy.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

#define MS_PER_S        1000u
#define MS_PER_M        (60u * MS_PER_S)
#define MS_PER_H        (60u * MS_PER_M)

/* Built-in settings of a SNAP file that does not state them. */
#define DEFAULT_STABLE_TIME_MS          (2 * MS_PER_S)
#define DEFAULT_APPROVAL_TIMEOUT_MS     (10 * MS_PER_S)
#define DEFAULT_MAX_MIGRATIONS          3u
#define DEFAULT_MIGRATION_WINDOW_MS     (60 * MS_PER_S)
#define DEFAULT_SIGNAL_HYSTERESIS       10u

static const char *const metered_names[_POLICY_METERED_MAX] = {
	[POLICY_METERED_ANY] = "any",
	[POLICY_METERED_YES] = "yes",
	[POLICY_METERED_NO] = "no",
};

static const char *const on_timeout_names[_POLICY_ON_TIMEOUT_MAX] = {
	[POLICY_ON_TIMEOUT_ALLOW] = "allow",
	[POLICY_ON_TIMEOUT_DISALLOW] = "disallow",
};

static const char *const migration_names[_POLICY_MIGRATION_MAX] = {
	[POLICY_MIGRATION_MAKE_BEFORE_BREAK] = "make-before-break",
	[POLICY_MIGRATION_BREAK_BEFORE_MAKE] = "break-before-make",
};

static const char *const calls_names[_POLICY_CALLS_MAX] = {
	[POLICY_CALLS_MIGRATE] = "migrate",
	[POLICY_CALLS_DEFER] = "defer",
};

static int from_str(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *policy_metered_to_str(enum policy_metered m)
{
	return (unsigned)m < _POLICY_METERED_MAX ? metered_names[m] : "unknown";
}

int policy_metered_from_str(const char *s)
{
	return from_str(metered_names, _POLICY_METERED_MAX, s);
}

const char *policy_on_timeout_to_str(enum policy_on_timeout t)
{
	return (unsigned)t < _POLICY_ON_TIMEOUT_MAX ? on_timeout_names[t] : "unknown";
}

int policy_on_timeout_from_str(const char *s)
{
	return from_str(on_timeout_names, _POLICY_ON_TIMEOUT_MAX, s);
}

const char *policy_migration_to_str(enum policy_migration m)
{
	return (unsigned)m < _POLICY_MIGRATION_MAX ? migration_names[m] : "unknown";
}

int policy_migration_from_str(const char *s)
{
	return from_str(migration_names, _POLICY_MIGRATION_MAX, s);
}

const char *policy_calls_to_str(enum policy_calls c)
{
	return (unsigned)c < _POLICY_CALLS_MAX ? calls_names[c] : "unknown";
}

int policy_calls_from_str(const char *s)
{
	return from_str(calls_names, _POLICY_CALLS_MAX, s);
}

const char *policy_error_to_str(const struct policy_error *e, char *buf, size_t size)
{
	if (e->line > 0)
		snprintf(buf, size, "%s:%u: %s", e->file, e->line, e->problem);
	else
		snprintf(buf, size, "%s: %s", e->file, e->problem);
	return buf;
}

/* ---- SNAP objects ---- */

static void rule_clear(struct policy_rule *r)
{
	free(r->interface);
	free(r->connection);
	free(r->uuid);
	free(r->ssid);
}

struct policy_snap *policy_snap_free(struct policy_snap *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_rules; i++)
		rule_clear(&s->rules[i]);
	free(s->rules);
	free(s->name);
	free(s->file);
	free(s);
	return NULL;
}

static struct policy_snap *snap_new_with_defaults(void)
{
	struct policy_snap *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->stable_time_ms = DEFAULT_STABLE_TIME_MS;
	s->approval_timeout_ms = DEFAULT_APPROVAL_TIMEOUT_MS;
	s->on_timeout = POLICY_ON_TIMEOUT_ALLOW;
	s->migration = POLICY_MIGRATION_MAKE_BEFORE_BREAK;
	s->calls = POLICY_CALLS_MIGRATE;
	s->max_migrations = DEFAULT_MAX_MIGRATIONS;
	s->migration_window_ms = DEFAULT_MIGRATION_WINDOW_MS;
	s->bearers = POLICY_KINDS_ALL;
	return s;
}

/*
 * The built-in SNAP: every IAP, ethernet > wifi > cellular > other > vpn.
 * A VPN rides on another IAP and falls with it, so it is the last resort;
 * it is still a member because the default SNAP holds every IAP.
 */
struct policy_snap *policy_snap_new_default(void)
{
	static const enum iap_kind order[] = {
		IAP_KIND_ETHERNET, IAP_KIND_WIFI, IAP_KIND_CELLULAR,
		IAP_KIND_OTHER, IAP_KIND_VPN,
	};
	struct policy_snap *s = snap_new_with_defaults();

	_Static_assert(ARRAY_SIZE(order) == _IAP_KIND_MAX, "a kind is missing");
	if (!s)
		return NULL;
	s->id = POLICY_DEFAULT_ID;
	s->name = strdup(POLICY_DEFAULT_NAME);
	s->rules = calloc(ARRAY_SIZE(order), sizeof(*s->rules));
	if (!s->name || !s->rules)
		return policy_snap_free(s);
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		s->rules[i].priority = 10 * (unsigned int)(i + 1);
		s->rules[i].kinds = POLICY_KIND_BIT(order[i]);
		s->rules[i].min_signal = -1;
	}
	s->n_rules = ARRAY_SIZE(order);
	return s;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Same conditions (priority aside). */
static bool rule_matchers_equal(const struct policy_rule *a, const struct policy_rule *b)
{
	return a->kinds == b->kinds &&
	       str_eq(a->interface, b->interface) &&
	       str_eq(a->connection, b->connection) &&
	       str_eq(a->uuid, b->uuid) &&
	       str_eq(a->ssid, b->ssid) &&
	       a->metered == b->metered &&
	       a->min_signal == b->min_signal &&
	       a->signal_hysteresis == b->signal_hysteresis;
}

bool policy_rules_equal(const struct policy_snap *a, const struct policy_snap *b)
{
	if (a->n_rules != b->n_rules || a->bearers != b->bearers)
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (a->rules[i].priority != b->rules[i].priority ||
		    !rule_matchers_equal(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

bool policy_snap_equal(const struct policy_snap *a, const struct policy_snap *b)
{
	return a->id == b->id &&
	       str_eq(a->name, b->name) &&
	       a->stable_time_ms == b->stable_time_ms &&
	       a->approval_timeout_ms == b->approval_timeout_ms &&
	       a->on_timeout == b->on_timeout &&
	       a->migration == b->migration &&
	       a->calls == b->calls &&
	       a->max_migrations == b->max_migrations &&
	       a->migration_window_ms == b->migration_window_ms &&
	       policy_rules_equal(a, b);
}

/* ---- the parser ---- */

enum snap_section_key {
	SNAP_SECTION_ID,
	SNAP_SECTION_NAME,
	SNAP_SECTION_STABLE_TIME,
	SNAP_SECTION_APPROVAL_TIMEOUT,
	SNAP_SECTION_ON_TIMEOUT,
	SNAP_SECTION_MIGRATION,
	SNAP_SECTION_MAX_MIGRATIONS,
	SNAP_SECTION_CALLS,
	SNAP_SECTION_BEARER,
	_SNAP_SECTION_MAX,
};

static const char *const snap_section_keys[_SNAP_SECTION_MAX] = {
	[SNAP_SECTION_ID] = "id",
	[SNAP_SECTION_NAME] = "name",
	[SNAP_SECTION_STABLE_TIME] = "stable-time",
	[SNAP_SECTION_APPROVAL_TIMEOUT] = "approval-timeout",
	[SNAP_SECTION_ON_TIMEOUT] = "on-timeout",
	[SNAP_SECTION_MIGRATION] = "migration",
	[SNAP_SECTION_MAX_MIGRATIONS] = "max-migrations",
	[SNAP_SECTION_CALLS] = "calls",
	[SNAP_SECTION_BEARER] = "bearer",
};

enum rule_section_key {
	RULE_SECTION_PRIORITY,
	RULE_SECTION_KIND,
	RULE_SECTION_INTERFACE,
	RULE_SECTION_CONNECTION,
	RULE_SECTION_UUID,
	RULE_SECTION_SSID,
	RULE_SECTION_METERED,
	RULE_SECTION_MIN_SIGNAL,
	RULE_SECTION_SIGNAL_HYSTERESIS,
	_RULE_SECTION_MAX,
};

static const char *const rule_section_keys[_RULE_SECTION_MAX] = {
	[RULE_SECTION_PRIORITY] = "priority",
	[RULE_SECTION_KIND] = "kind",
	[RULE_SECTION_INTERFACE] = "interface",
	[RULE_SECTION_CONNECTION] = "connection",
	[RULE_SECTION_UUID] = "uuid",
	[RULE_SECTION_SSID] = "ssid",
	[RULE_SECTION_METERED] = "metered",
	[RULE_SECTION_MIN_SIGNAL] = "min-signal",
	[RULE_SECTION_SIGNAL_HYSTERESIS] = "signal-hysteresis",
};

#define KEY_BIT(k)      (1u << (unsigned)(k))
#define RULE_MATCHER_KEYS (KEY_BIT(RULE_SECTION_KIND) | KEY_BIT(RULE_SECTION_INTERFACE) | \
			   KEY_BIT(RULE_SECTION_CONNECTION) | KEY_BIT(RULE_SECTION_UUID) | \
			   KEY_BIT(RULE_SECTION_SSID))

/* Feeds inih one line at a time from memory (see the top of the file). */
struct line_reader {
	const char *buf;
	size_t len;
	size_t pos;
	unsigned int line;              /* of the line inih is working on */
	unsigned int header_line;       /* of the last section header */
	bool header_has_keys;
};

struct parse_ctx {
	struct line_reader rd;
	struct policy_snap *snap;

	bool failed;
	bool enomem;
	unsigned int fail_line;         /* where the problem is */
	unsigned int cb_fail_line;      /* the line inih reports for it */
	char problem[256];

	unsigned int snap_header;       /* line of [snap], 0: none yet */
	unsigned int snap_keys;         /* KEY_BIT()s seen in [snap] */
	size_t cap_rules;
	struct policy_rule *rule;       /* the open [rule], or NULL */
	unsigned int rule_keys;
};

static int fail_at(struct parse_ctx *p, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Keep the first problem only; inih's return value is sorted out after. */
static int fail_at(struct parse_ctx *p, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return 0;
	p->failed = true;
	p->fail_line = line;
	va_start(ap, fmt);
	vsnprintf(p->problem, sizeof(p->problem), fmt, ap);
	va_end(ap);
	return 0;
}

#define fail(p, ...) fail_at((p), (p)->rd.line, __VA_ARGS__)

static int fail_enomem(struct parse_ctx *p)
{
	p->enomem = true;
	return fail(p, "out of memory");
}

static char *policy_reader(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	struct line_reader *rd = &p->rd;
	const char *line, *nl;
	size_t len, prefix_len = 0;
	char prefix[16];

	if (p->failed || rd->pos >= rd->len)
		return NULL;
	line = rd->buf + rd->pos;
	nl = memchr(line, '\n', rd->len - rd->pos);
	len = nl ? (size_t)(nl - line) + 1 : rd->len - rd->pos;
	rd->pos += len;
	rd->line++;

	/* The buffer is not terminated: stay within the line.  Leading
	 * blanks go: inih would take an indented line for the continuation
	 * of the previous value, which SNAP files do not have, and people
	 * indent the keys of a section. */
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	while (len > 0 && (line[0] == ' ' || line[0] == '\t')) {
		line++;
		len--;
	}
	if (len > 0 && line[0] == '[') {
		if (rd->header_line && !rd->header_has_keys) {
			fail_at(p, rd->header_line, "empty section");
			return NULL;
		}
		rd->header_line = rd->line;
		rd->header_has_keys = false;
		prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "%u:", rd->line);
	}
	/* inih needs room for "\r\n\0" beyond the longest line. */
	if (num < 4 || len + prefix_len + 3 > (size_t)num) {
		fail(p, "line is longer than %d characters", num - 3 - (int)prefix_len);
		return NULL;
	}
	if (prefix_len) {
		str[0] = '[';
		memcpy(str + 1, prefix, prefix_len);
		memcpy(str + 1 + prefix_len, line + 1, len - 1);
		str[len + prefix_len] = '\0';
	} else {
		memcpy(str, line, len);
		str[len] = '\0';
	}
	return str;
}

static int parse_uint(struct parse_ctx *p, const char *key, const char *value,
		      unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)value[0]))
		return fail(p, "%s: '%s' is not a non-negative number", key, value);
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end != '\0')
		return fail(p, "%s: '%s' is not a number", key, value);
	if (v < min || v > max)
		return fail(p, "%s: %s is out of range (%lu..%lu)", key, value, min, max);
	*ret = v;
	return 1;
}

static const char *format_duration(unsigned int ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "0s");
	else if (ms % MS_PER_H == 0)
		snprintf(buf, size, "%uh", ms / MS_PER_H);
	else if (ms % MS_PER_M == 0)
		snprintf(buf, size, "%um", ms / MS_PER_M);
	else if (ms % MS_PER_S == 0)
		snprintf(buf, size, "%us", ms / MS_PER_S);
	else
		snprintf(buf, size, "%ums", ms);
	return buf;
}

/* "250ms", "2s", "5m", "1h"; a plain number is seconds. */
static int parse_duration(struct parse_ctx *p, const char *key, const char *value,
			  unsigned int min_ms, unsigned int max_ms, unsigned int *ret)
{
	static const struct {
		const char *suffix;
		unsigned int ms;
	} units[] = {
		{ "", MS_PER_S }, { "ms", 1 }, { "s", MS_PER_S },
		{ "m", MS_PER_M }, { "h", MS_PER_H },
	};
	char lo[32], hi[32];
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)value[0]))
		return fail(p, "%s: '%s' is not a duration (like 500ms, 2s, 5m, 1h)", key, value);
	errno = 0;
	v = strtoull(value, &end, 10);
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (errno || v > UINT32_MAX / units[i].ms ||
		    v * units[i].ms < min_ms || v * units[i].ms > max_ms)
			return fail(p, "%s: %s is out of range (%s..%s)", key, value,
				    format_duration(min_ms, lo, sizeof(lo)),
				    format_duration(max_ms, hi, sizeof(hi)));
		*ret = (unsigned int)(v * units[i].ms);
		return 1;
	}
	return fail(p, "%s: '%s' is not a duration (like 500ms, 2s, 5m, 1h)", key, value);
}

/* "any", or kinds separated by commas and/or blanks. */
static int parse_kinds(struct parse_ctx *p, const char *key, const char *value,
		       unsigned int *ret)
{
	unsigned int mask = 0;
	const char *s = value;

	if (strcmp(value, "any") == 0) {
		*ret = POLICY_KINDS_ALL;
		return 1;
	}
	for (;;) {
		char word[16];
		size_t n;
		int k;

		s += strspn(s, ", \t");
		if (!*s)
			break;
		n = strcspn(s, ", \t");
		if (n >= sizeof(word))
			return fail(p, "%s: '%.*s' is not one of any, ethernet, wifi, cellular, vpn, other",
				    key, (int)n, s);
		memcpy(word, s, n);
		word[n] = '\0';
		k = iap_kind_from_str(word);
		if (k < 0)
			return fail(p, "%s: '%s' is not one of any, ethernet, wifi, cellular, vpn, other",
				    key, word);
		if (mask & POLICY_KIND_BIT(k))
			return fail(p, "%s: '%s' is listed twice", key, word);
		mask |= POLICY_KIND_BIT(k);
		s += n;
	}
	if (!mask)
		return fail(p, "%s: no kind given", key);
	*ret = mask;
	return 1;
}

static void format_kinds(unsigned int mask, char *buf, size_t size)
{
	size_t len = 0;

	if (mask == POLICY_KINDS_ALL) {
		snprintf(buf, size, "any");
		return;
	}
	buf[0] = '\0';
	for (int k = 0; k < _IAP_KIND_MAX && len < size; k++)
		if (mask & POLICY_KIND_BIT(k))
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len ? ", " : "", iap_kind_to_str(k));
}

/* Surrounding double quotes keep leading and trailing blanks. */
static int unquote(struct parse_ctx *p, const char *key, const char *value,
		   char *out, size_t size)
{
	size_t len = strlen(value);

	if (value[0] == '"') {
		if (len < 2 || value[len - 1] != '"')
			return fail(p, "%s: unterminated quote", key);
		value++;
		len -= 2;
	}
	if (len == 0)
		return fail(p, "%s: empty value", key);
	if (len >= size)
		return fail(p, "%s: longer than %zu characters", key, size - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return fail(p, "%s: contains a control character", key);
	memcpy(out, value, len);
	out[len] = '\0';
	return 1;
}

static int set_str(struct parse_ctx *p, char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return fail_enomem(p);
	free(*dst);
	*dst = s;
	return 1;
}

static bool valid_name(const char *s)
{
	size_t len = strlen(s);
	bool digits_only = true;

	if (len == 0 || len > POLICY_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
		if (!isdigit((unsigned char)s[i]))
			digits_only = false;
	}
	/* A name that looks like a number would be ambiguous where alrctl
	 * accepts "id or name". */
	return !digits_only;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Length of the valid UTF-8 sequence at @s (at most @n bytes), 0 if none. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/*
 * An SSID as nmmon shows it (nm/nmmap.h): valid printable UTF-8 as is, a
 * backslash as "\\", any other byte as "\xNN".  The file may also write
 * "\xNN" for a byte nmmon shows as is (say "\x3b" for a ';' after a
 * blank, which inih would take for a comment); decoding every escape and
 * encoding again gives the one form nmmon uses, compared with strcmp().
 *
 * XXX nmmon also escapes non-ASCII characters GLib does not deem
 * printable (U+0085, U+200B, ...); we keep them, so such an SSID must be
 * written with \xNN escapes and still does not match.
 */
static int parse_ssid(struct parse_ctx *p, const char *key, const char *value,
		      char **dst)
{
	char text[POLICY_SSID_MAX * 4 + 8];
	unsigned char raw[POLICY_SSID_MAX];
	char out[POLICY_SSID_MAX * 4 + 1];
	size_t n = 0, o = 0;

	if (!unquote(p, key, value, text, sizeof(text)))
		return 0;
	for (const char *s = text; *s;) {
		int c;

		if (*s != '\\') {
			c = (unsigned char)*s++;
		} else if (s[1] == '\\') {
			c = '\\';
			s += 2;
		} else if (s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
			c = hexval(s[2]) * 16 + hexval(s[3]);
			s += 4;
		} else {
			return fail(p, "%s: unknown escape: write a backslash as \\\\ and a byte as \\xNN",
				    key);
		}
		if (n == sizeof(raw))
			return fail(p, "%s: longer than %d bytes", key, POLICY_SSID_MAX);
		raw[n++] = (unsigned char)c;
	}
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(raw + i, n - i);

		if (raw[i] == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
		} else if (l == 0 || (l == 1 && (raw[i] < 0x20 || raw[i] == 0x7f)) ||
			   (l == 2 && raw[i] == 0xc2 && raw[i + 1] < 0xa0)) {
			/* invalid, or a C0/C1 control: nmmon escapes it byte by byte */
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", raw[i]);
			i++;
		} else {
			memcpy(out + o, raw + i, l);
			o += l;
			i += l;
		}
	}
	out[o] = '\0';
	return set_str(p, dst, out);
}

static int parse_uuid(struct parse_ctx *p, const char *key, const char *value, char **dst)
{
	char u[37];

	if (strlen(value) != 36)
		return fail(p, "%s: '%s' is not a UUID (8-4-4-4-12 hex digits)", key, value);
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? value[i] != '-' : hexval(value[i]) < 0)
			return fail(p, "%s: '%s' is not a UUID (8-4-4-4-12 hex digits)", key, value);
		u[i] = (char)tolower((unsigned char)value[i]);
	}
	u[36] = '\0';
	return set_str(p, dst, u);
}

static int parse_pattern(struct parse_ctx *p, const char *key, const char *value,
			 char **dst)
{
	char buf[POLICY_PATTERN_MAX + 1];

	if (!unquote(p, key, value, buf, sizeof(buf)))
		return 0;
	return set_str(p, dst, buf);
}

static int key_index(const char *const *keys, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return i;
	return -1;
}

static int check_repeat(struct parse_ctx *p, unsigned int *seen, int k, const char *key,
			const char *section)
{
	if (*seen & KEY_BIT(k))
		return fail(p, "duplicate key '%s' in [%s]", key, section);
	*seen |= KEY_BIT(k);
	return 1;
}

static int handle_snap(struct parse_ctx *p, unsigned int header, const char *key,
		       const char *value)
{
	struct policy_snap *s = p->snap;
	unsigned long v;
	const char *slash;
	char count[16];
	int k, r;

	if (p->snap_header && p->snap_header != header)
		return fail_at(p, header, "a second [snap] section (the first is at line %u)",
			       p->snap_header);
	p->snap_header = header;
	k = key_index(snap_section_keys, _SNAP_SECTION_MAX, key);
	if (k < 0)
		return fail(p, "unknown key '%s' in [snap]", key);
	if (!check_repeat(p, &p->snap_keys, k, key, "snap"))
		return 0;

	switch ((enum snap_section_key)k) {
	case SNAP_SECTION_ID:
		if (strcmp(value, "0") == 0)
			return fail(p, "id: 0 is the built-in default SNAP; use %u..%u",
				    POLICY_ID_MIN, POLICY_ID_MAX);
		if (!parse_uint(p, key, value, POLICY_ID_MIN, POLICY_ID_MAX, &v))
			return 0;
		s->id = (unsigned int)v;
		s->id_line = p->rd.line;
		return 1;
	case SNAP_SECTION_NAME:
		if (strcmp(value, POLICY_DEFAULT_NAME) == 0)
			return fail(p, "name: '%s' is the built-in SNAP", value);
		if (!valid_name(value))
			return fail(p, "name: '%s' is not 1..%d letters, digits, '.', '_' or '-', "
				    "starting with a letter or digit and not all digits",
				    value, POLICY_NAME_MAX);
		s->name_line = p->rd.line;
		return set_str(p, &s->name, value);
	case SNAP_SECTION_STABLE_TIME:
		return parse_duration(p, key, value, 0, MS_PER_H, &s->stable_time_ms);
	case SNAP_SECTION_APPROVAL_TIMEOUT:
		return parse_duration(p, key, value, 100, MS_PER_H, &s->approval_timeout_ms);
	case SNAP_SECTION_ON_TIMEOUT:
		r = policy_on_timeout_from_str(value);
		if (r < 0)
			return fail(p, "on-timeout: '%s' is not one of allow, disallow", value);
		s->on_timeout = r;
		return 1;
	case SNAP_SECTION_MIGRATION:
		r = policy_migration_from_str(value);
		if (r < 0)
			return fail(p, "migration: '%s' is not one of make-before-break, break-before-make",
				    value);
		s->migration = r;
		return 1;
	case SNAP_SECTION_MAX_MIGRATIONS:
		if (strcmp(value, "unlimited") == 0) {
			s->max_migrations = POLICY_UNLIMITED;
			return 1;
		}
		slash = strchr(value, '/');
		if (!slash || (size_t)(slash - value) >= sizeof(count))
			return fail(p, "max-migrations: '%s' is not COUNT/WINDOW (like 3/60s) or unlimited",
				    value);
		memcpy(count, value, (size_t)(slash - value));
		count[slash - value] = '\0';
		if (!parse_uint(p, key, count, 1, 1000, &v) ||
		    !parse_duration(p, key, slash + 1, MS_PER_S, 24 * MS_PER_H,
				    &s->migration_window_ms))
			return 0;
		s->max_migrations = (unsigned int)v;
		return 1;
	case SNAP_SECTION_CALLS:
		r = policy_calls_from_str(value);
		if (r < 0)
			return fail(p, "calls: '%s' is not one of migrate, defer", value);
		s->calls = r;
		return 1;
	case SNAP_SECTION_BEARER:
		return parse_kinds(p, key, value, &s->bearers);
	case _SNAP_SECTION_MAX:
		break;
	}
	return fail(p, "unknown key '%s' in [snap]", key);
}

/* The checks that need the whole [rule]. */
static int finish_rule(struct parse_ctx *p)
{
	struct policy_rule *r = p->rule;
	unsigned int seen = p->rule_keys;

	p->rule = NULL;
	if (!(seen & KEY_BIT(RULE_SECTION_PRIORITY)))
		return fail_at(p, r->line, "[rule] has no priority");
	if (!(seen & RULE_MATCHER_KEYS) && r->metered == POLICY_METERED_ANY)
		return fail_at(p, r->line, "[rule] matches nothing: give kind (any for every IAP), "
			       "interface, connection, uuid, ssid or metered");
	if (r->ssid && r->kinds != POLICY_KIND_BIT(IAP_KIND_WIFI))
		return fail_at(p, r->line, "[rule] with ssid needs kind = wifi");
	if (r->min_signal >= 0 && r->kinds != POLICY_KIND_BIT(IAP_KIND_WIFI))
		return fail_at(p, r->line, "[rule] with min-signal needs kind = wifi "
			       "(only Wi-Fi has a signal strength)");
	if (seen & KEY_BIT(RULE_SECTION_SIGNAL_HYSTERESIS)) {
		if (r->min_signal < 0)
			return fail_at(p, r->line, "[rule] has signal-hysteresis without min-signal");
		if (r->signal_hysteresis > (unsigned int)r->min_signal)
			return fail_at(p, r->line, "[rule] signal-hysteresis %u is larger than min-signal %d",
				       r->signal_hysteresis, r->min_signal);
	} else if (r->min_signal >= 0) {
		r->signal_hysteresis = DEFAULT_SIGNAL_HYSTERESIS;
		if (r->signal_hysteresis > (unsigned int)r->min_signal)
			r->signal_hysteresis = (unsigned int)r->min_signal;
	}
	return 1;
}

static int open_rule(struct parse_ctx *p, unsigned int header)
{
	struct policy_snap *s = p->snap;
	struct policy_rule *r;

	if (s->n_rules == POLICY_MAX_RULES)
		return fail_at(p, header, "more than %d [rule] sections", POLICY_MAX_RULES);
	if (s->n_rules == p->cap_rules) {
		size_t cap = p->cap_rules ? p->cap_rules * 2 : 8;
		struct policy_rule *rules = realloc(s->rules, cap * sizeof(*rules));

		if (!rules)
			return fail_enomem(p);
		s->rules = rules;
		p->cap_rules = cap;
	}
	r = &s->rules[s->n_rules++];
	memset(r, 0, sizeof(*r));
	r->line = header;
	r->kinds = POLICY_KINDS_ALL;
	r->min_signal = -1;
	p->rule = r;
	p->rule_keys = 0;
	return 1;
}

static int handle_rule(struct parse_ctx *p, unsigned int header, const char *key,
		       const char *value)
{
	struct policy_rule *r;
	unsigned long v;
	int k, m;

	if (!p->rule || p->rule->line != header) {
		if (p->rule && !finish_rule(p))
			return 0;
		if (!open_rule(p, header))
			return 0;
	}
	r = p->rule;
	k = key_index(rule_section_keys, _RULE_SECTION_MAX, key);
	if (k < 0)
		return fail(p, "unknown key '%s' in [rule]", key);
	if (!check_repeat(p, &p->rule_keys, k, key, "rule"))
		return 0;

	switch ((enum rule_section_key)k) {
	case RULE_SECTION_PRIORITY:
		if (!parse_uint(p, key, value, 0, POLICY_PRIORITY_MAX, &v))
			return 0;
		r->priority = (unsigned int)v;
		return 1;
	case RULE_SECTION_KIND:
		return parse_kinds(p, key, value, &r->kinds);
	case RULE_SECTION_INTERFACE:
		return parse_pattern(p, key, value, &r->interface);
	case RULE_SECTION_CONNECTION:
		return parse_pattern(p, key, value, &r->connection);
	case RULE_SECTION_UUID:
		return parse_uuid(p, key, value, &r->uuid);
	case RULE_SECTION_SSID:
		return parse_ssid(p, key, value, &r->ssid);
	case RULE_SECTION_METERED:
		m = policy_metered_from_str(value);
		if (m < 0)
			return fail(p, "metered: '%s' is not one of any, yes, no", value);
		r->metered = m;
		return 1;
	case RULE_SECTION_MIN_SIGNAL:
		if (!parse_uint(p, key, value, 0, 100, &v))
			return 0;
		r->min_signal = (int)v;
		return 1;
	case RULE_SECTION_SIGNAL_HYSTERESIS:
		if (!parse_uint(p, key, value, 0, 100, &v))
			return 0;
		r->signal_hysteresis = (unsigned int)v;
		return 1;
	case _RULE_SECTION_MAX:
		break;
	}
	return fail(p, "unknown key '%s' in [rule]", key);
}

static int policy_ini_cb(void *user, const char *section, const char *key,
			 const char *value)
{
	struct parse_ctx *p = user;
	unsigned long header;
	char *end;
	int r;

	if (p->failed)
		return 0;
	/* key == NULL: a section header alone, if inih was built to say so */
	if (!key)
		return 1;
	if (!value)
		r = fail(p, "'%s' has no value", key);
	else if (!isdigit((unsigned char)section[0]))
		r = fail(p, "'%s' is outside any section", key);
	else {
		header = strtoul(section, &end, 10);
		if (*end != ':' || header == 0 || header > p->rd.line) {
			r = fail(p, "'%s' is outside any section", key);
		} else {
			section = end + 1;
			p->rd.header_has_keys = true;
			if (strcmp(section, "snap") == 0)
				r = handle_snap(p, (unsigned int)header, key, value);
			else if (strcmp(section, "rule") == 0)
				r = handle_rule(p, (unsigned int)header, key, value);
			else
				r = fail_at(p, (unsigned int)header,
					    "unknown section [%s]; expected [snap] or [rule]", section);
		}
	}
	if (!r)
		p->cb_fail_line = p->rd.line;
	return r;
}

static void sort_rules(struct policy_snap *s)
{
	/* Insertion sort: stable, and there are at most POLICY_MAX_RULES. */
	for (size_t i = 1; i < s->n_rules; i++) {
		struct policy_rule r = s->rules[i];
		size_t j = i;

		for (; j > 0 && s->rules[j - 1].priority > r.priority; j--)
			s->rules[j] = s->rules[j - 1];
		s->rules[j] = r;
	}
}

/* The checks that need the whole file. */
static int finish_snap(struct parse_ctx *p)
{
	struct policy_snap *s = p->snap;
	char kinds[64], bearer[64];

	if (p->rd.header_line && !p->rd.header_has_keys)
		return fail_at(p, p->rd.header_line, "empty section");
	if (p->rule && !finish_rule(p))
		return 0;
	if (!p->snap_header)
		return fail_at(p, 0, "no [snap] section");
	if (!(p->snap_keys & KEY_BIT(SNAP_SECTION_ID)))
		return fail_at(p, p->snap_header, "[snap] has no id");
	if (!(p->snap_keys & KEY_BIT(SNAP_SECTION_NAME)))
		return fail_at(p, p->snap_header, "[snap] has no name");
	if (s->n_rules == 0)
		return fail_at(p, 0, "no [rule] sections: the SNAP would hold no IAP");
	for (size_t i = 0; i < s->n_rules; i++) {
		const struct policy_rule *r = &s->rules[i];

		if (!(r->kinds & s->bearers)) {
			format_kinds(r->kinds, kinds, sizeof(kinds));
			format_kinds(s->bearers, bearer, sizeof(bearer));
			return fail_at(p, r->line, "[rule] can never match: kind %s is not in bearer = %s",
				       kinds, bearer);
		}
		for (size_t j = 0; j < i; j++)
			if (rule_matchers_equal(&s->rules[j], r))
				return fail_at(p, r->line, "[rule] matches the same IAPs as the [rule] at line %u",
					       s->rules[j].line);
	}
	sort_rules(s);
	return 1;
}

static void set_error(struct policy_error *e, const char *file, unsigned int line,
		      const char *problem)
{
	util_strlcpy(e->file, file, sizeof(e->file));
	e->line = line;
	util_strlcpy(e->problem, problem, sizeof(e->problem));
}

int policy_parse_string(const char *file, const char *text, size_t len,
			struct policy_snap **ret, struct policy_error *ret_error)
{
	struct parse_ctx p = { 0 };
	const char *nul;
	int r;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, file, sizeof(ret_error->file));
	if (len > POLICY_MAX_FILE_SIZE) {
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "larger than %d bytes", POLICY_MAX_FILE_SIZE);
		return -EFBIG;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		unsigned int line = 1;

		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		set_error(ret_error, file, line, "contains a NUL byte");
		return -EINVAL;
	}
	/* A UTF-8 byte order mark would hide a [snap] on the first line from
	 * policy_reader(). */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}

	p.rd.buf = text;
	p.rd.len = len;
	p.snap = snap_new_with_defaults();
	if (!p.snap || !(p.snap->file = strdup(file))) {
		policy_snap_free(p.snap);
		set_error(ret_error, file, 0, "out of memory");
		return -ENOMEM;
	}

	r = ini_parse_stream(policy_reader, &p, policy_ini_cb, &p);
	if (r > 0 && (unsigned int)r != p.cb_fail_line) {
		/* inih found a line it could not read before we found anything */
		set_error(ret_error, file, (unsigned int)r,
			  "syntax error: expected [section], key = value, or a comment");
		policy_snap_free(p.snap);
		return -EINVAL;
	}
	if (r < 0 && !p.failed) {
		p.enomem = true;
		fail_at(&p, 0, "out of memory");
	}
	if (!p.failed)
		finish_snap(&p);
	if (p.failed) {
		set_error(ret_error, file, p.fail_line, p.problem);
		policy_snap_free(p.snap);
		return p.enomem ? -ENOMEM : -EINVAL;
	}
	*ret = p.snap;
	return 0;
}

int policy_load_file(const char *path, struct policy_snap **ret,
		     struct policy_error *ret_error)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, path, sizeof(ret_error->file));

	/* O_NONBLOCK: a FIFO named *.conf must not hang the daemon.
	 * O_NOFOLLOW: alrd runs as root, and a link's target may be a file
	 * the one who made the link cannot read; its first line would come
	 * back in our error message.  Nothing of a file that is not a
	 * regular file of the directory's own is read, nor shown. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			snprintf(ret_error->problem, sizeof(ret_error->problem),
				 "a symbolic link; not followed");
		else
			snprintf(ret_error->problem, sizeof(ret_error->problem),
				 "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "cannot stat: %s", strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(ret_error->problem, sizeof(ret_error->problem), "not a regular file");
		goto out;
	}
	/* Whoever may write a SNAP decides where SIP registrations go: its
	 * owner as much as everybody (the rule of plugin files). */
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = -EPERM;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "belongs to uid %u, not to root or alrd's user; not loaded",
			 (unsigned)st.st_uid);
		goto out;
	}
	if (st.st_mode & S_IWOTH) {
		r = -EPERM;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "writable by every user; not loaded");
		goto out;
	}
	if (st.st_size > POLICY_MAX_FILE_SIZE) {
		r = -EFBIG;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "larger than %d bytes", POLICY_MAX_FILE_SIZE);
		goto out;
	}
	/* One byte more than allowed, to notice a file that grew meanwhile. */
	buf = malloc(POLICY_MAX_FILE_SIZE + 1);
	if (!buf) {
		r = -ENOMEM;
		snprintf(ret_error->problem, sizeof(ret_error->problem), "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, POLICY_MAX_FILE_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(ret_error->problem, sizeof(ret_error->problem),
				 "cannot read: %s", strerror(-r));
			goto out;
		}
		if (n == 0 || len + (size_t)n > POLICY_MAX_FILE_SIZE) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	r = policy_parse_string(path, buf, len, ret, ret_error);
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- printing ---- */

/* Quote a value inih would otherwise trim or take for a comment (";" after
 * the blank of " = "), or policy_parse_string() would unquote. */
static bool needs_quotes(const char *s)
{
	size_t len = strlen(s);

	return len == 0 || s[0] == '"' || s[0] == ';' || isspace((unsigned char)s[0]) ||
	       isspace((unsigned char)s[len - 1]);
}

static void print_str(FILE *f, const char *prefix, const char *key, const char *value)
{
	const char *q = needs_quotes(value) ? "\"" : "";

	fprintf(f, "%s%s = %s%s%s\n", prefix, key, q, value, q);
}

/* As print_str(), and a ';' after a blank (a comment to inih) as \x3b. */
static void print_ssid(FILE *f, const char *prefix, const char *value)
{
	const char *q = needs_quotes(value) ? "\"" : "";

	fprintf(f, "%sssid = %s", prefix, q);
	for (const char *s = value; *s; s++) {
		if (*s == ';' && s > value && (s[-1] == ' ' || s[-1] == '\t'))
			fputs("\\x3b", f);
		else
			fputc(*s, f);
	}
	fprintf(f, "%s\n", q);
}

static void print_snap(const struct policy_snap *s, FILE *f, const char *prefix)
{
	char a[32], b[32];

	fprintf(f, "%s[snap]\n", prefix);
	fprintf(f, "%sid = %u\n", prefix, s->id);
	fprintf(f, "%sname = %s\n", prefix, s->name);
	fprintf(f, "%sstable-time = %s\n", prefix, format_duration(s->stable_time_ms, a, sizeof(a)));
	fprintf(f, "%sapproval-timeout = %s\n", prefix,
		format_duration(s->approval_timeout_ms, a, sizeof(a)));
	fprintf(f, "%son-timeout = %s\n", prefix, policy_on_timeout_to_str(s->on_timeout));
	fprintf(f, "%smigration = %s\n", prefix, policy_migration_to_str(s->migration));
	if (s->max_migrations == POLICY_UNLIMITED)
		fprintf(f, "%smax-migrations = unlimited\n", prefix);
	else
		fprintf(f, "%smax-migrations = %u/%s\n", prefix, s->max_migrations,
			format_duration(s->migration_window_ms, a, sizeof(a)));
	fprintf(f, "%scalls = %s\n", prefix, policy_calls_to_str(s->calls));
	format_kinds(s->bearers, b, sizeof(b));
	fprintf(f, "%sbearer = %s\n", prefix, b);

	for (size_t i = 0; i < s->n_rules; i++) {
		const struct policy_rule *r = &s->rules[i];

		fprintf(f, "%s\n%s[rule]\n", *prefix ? "#" : "", prefix);
		fprintf(f, "%spriority = %u\n", prefix, r->priority);
		format_kinds(r->kinds, b, sizeof(b));
		fprintf(f, "%skind = %s\n", prefix, b);
		if (r->interface)
			print_str(f, prefix, "interface", r->interface);
		if (r->connection)
			print_str(f, prefix, "connection", r->connection);
		if (r->uuid)
			fprintf(f, "%suuid = %s\n", prefix, r->uuid);
		if (r->ssid)
			print_ssid(f, prefix, r->ssid);
		if (r->metered != POLICY_METERED_ANY)
			fprintf(f, "%smetered = %s\n", prefix, policy_metered_to_str(r->metered));
		if (r->min_signal >= 0) {
			fprintf(f, "%smin-signal = %d\n", prefix, r->min_signal);
			fprintf(f, "%ssignal-hysteresis = %u\n", prefix, r->signal_hysteresis);
		}
	}
}

void policy_snap_print(const struct policy_snap *s, FILE *f)
{
	if (s->id == POLICY_DEFAULT_ID) {
		fprintf(f, "# built-in SNAP %u (%s): every IAP; not a file, shown for reference\n",
			s->id, s->name);
		print_snap(s, f, "# ");
	} else {
		print_snap(s, f, "");
	}
}

/* ---- sets ---- */

struct policy_set {
	size_t n;
	size_t cap;
	struct policy_snap **snaps;
};

struct policy_set *policy_set_free(struct policy_set *set)
{
	if (!set)
		return NULL;
	for (size_t i = 0; i < set->n; i++)
		policy_snap_free(set->snaps[i]);
	free(set->snaps);
	free(set);
	return NULL;
}

struct policy_set *policy_set_new(void)
{
	struct policy_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->cap = 8;
	set->snaps = calloc(set->cap, sizeof(*set->snaps));
	if (!set->snaps)
		return policy_set_free(set);
	set->snaps[0] = policy_snap_new_default();
	if (!set->snaps[0])
		return policy_set_free(set);
	set->n = 1;
	return set;
}

size_t policy_set_count(const struct policy_set *set)
{
	return set->n;
}

const struct policy_snap *policy_set_at(const struct policy_set *set, size_t i)
{
	return i < set->n ? set->snaps[i] : NULL;
}

const struct policy_snap *policy_set_find_by_id(const struct policy_set *set, unsigned int id)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->snaps[i]->id == id)
			return set->snaps[i];
	return NULL;
}

const struct policy_snap *policy_set_find_by_name(const struct policy_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->snaps[i]->name, name) == 0)
			return set->snaps[i];
	return NULL;
}

static const char *snap_origin(const struct policy_snap *s)
{
	return s->file ? s->file : "(built in)";
}

int policy_set_add(struct policy_set *set, struct policy_snap *snap,
		   struct policy_error *ret_error)
{
	const struct policy_snap *other;

	memset(ret_error, 0, sizeof(*ret_error));
	util_strlcpy(ret_error->file, snap_origin(snap), sizeof(ret_error->file));
	other = policy_set_find_by_id(set, snap->id);
	if (other) {
		ret_error->line = snap->id_line;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "id %u is already used by %s", snap->id, snap_origin(other));
		policy_snap_free(snap);
		return -EEXIST;
	}
	other = policy_set_find_by_name(set, snap->name);
	if (other) {
		ret_error->line = snap->name_line;
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "name '%s' is already used by %s", snap->name, snap_origin(other));
		policy_snap_free(snap);
		return -EEXIST;
	}
	if (set->n > POLICY_MAX_SNAPS) {
		snprintf(ret_error->problem, sizeof(ret_error->problem),
			 "more than %d SNAPs; not loaded", POLICY_MAX_SNAPS);
		policy_snap_free(snap);
		return -E2BIG;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap * 2;
		struct policy_snap **snaps = realloc(set->snaps, cap * sizeof(*snaps));

		if (!snaps) {
			snprintf(ret_error->problem, sizeof(ret_error->problem), "out of memory");
			policy_snap_free(snap);
			return -ENOMEM;
		}
		set->snaps = snaps;
		set->cap = cap;
	}
	set->snaps[set->n++] = snap;
	return 0;
}

/* "*.conf", not hidden: editor backups (x.conf~, #x.conf#, .x.conf.swp)
 * and package leftovers (x.conf.dpkg-old) stay out. */
static int conf_filter(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return d->d_name[0] != '.' && len > 5 && strcmp(d->d_name + len - 5, ".conf") == 0;
}

/* Byte order, whatever the locale (alphasort() uses strcoll()). */
static int byte_order(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int policy_load_dir(const char *dir, struct policy_set **ret,
		    policy_error_cb cb, void *user_data)
{
	struct dirent **names = NULL;
	struct policy_set *set;
	int n, skipped = 0, r = 0;

	n = scandir(dir, &names, conf_filter, byte_order);
	if (n < 0 && errno != ENOENT)
		return -errno;
	set = policy_set_new();
	if (!set) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct policy_error e;
		struct policy_snap *snap = NULL;
		char path[PATH_MAX];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
		    sizeof(path)) {
			memset(&e, 0, sizeof(e));
			util_strlcpy(e.file, names[i]->d_name, sizeof(e.file));
			util_strlcpy(e.problem, "path too long", sizeof(e.problem));
			r = -ENAMETOOLONG;
		} else {
			r = policy_load_file(path, &snap, &e);
			if (r >= 0)
				r = policy_set_add(set, snap, &e);
		}
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			skipped++;
			if (cb)
				cb(&e, user_data);
		}
		r = 0;
	}
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r < 0) {
		/* Never a partial set: a reload keeps the old one. */
		policy_set_free(set);
		return r;
	}
	*ret = set;
	return skipped;
}

void policy_print(const struct policy_set *set, FILE *f)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct policy_snap *s = set->snaps[i];

		if (i)
			fprintf(f, "\n");
		if (s->file)
			fprintf(f, "# %s\n", s->file);
		policy_snap_print(s, f);
	}
}
