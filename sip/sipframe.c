/* Stream framing (RFC 3261 §18.3).
 *
 * libosip2 parses a message it is given whole; on a stream someone has to
 * find where each one ends.  That takes the end of the header block and
 * the Content-Length value (long or compact form "l", RFC 3261 §7.3.3),
 * nothing more: the message itself is parsed by libosip2 afterwards. */
#include "sip/sipframe.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool name_is(const char *p, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

/* Content-Length in the header block [p, end); -1 if none, -EBADMSG. */
static long content_length(const char *p, const char *end, size_t max)
{
	long found = -1;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q = p, *name;
		size_t n;

		if (!eol)
			eol = end;
		/* header-name HCOLON: token, optional whitespace, ':' */
		name = q;
		while (q < eol && *q != ':' && *q != ' ' && *q != '\t')
			q++;
		n = (size_t)(q - name);
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q == ':' && n > 0 && *name != ' ' &&
		    *name != '\t' &&
		    (name_is(name, n, "Content-Length") || name_is(name, n, "l"))) {
			long v = 0;
			bool digits = false;

			for (q++; q < eol && (*q == ' ' || *q == '\t'); q++)
				;
			for (; q < eol && *q >= '0' && *q <= '9'; q++) {
				v = v * 10 + (*q - '0');
				digits = true;
				if ((size_t)v > max)
					return -EMSGSIZE;
			}
			while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (!digits || q != eol)
				return -EBADMSG;
			if (found >= 0 && found != v)
				return -EBADMSG;
			found = v;
		}
		p = eol + 1;
	}
	return found;
}

long sipframe_next(const char *buf, size_t len, size_t max, size_t *ret_skip)
{
	size_t skip = 0, head;
	const char *start, *end = NULL;
	long body;

	if (!buf || !ret_skip)
		return -EINVAL;
	while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
		skip++;
	*ret_skip = skip;
	start = buf + skip;
	len -= skip;
	for (size_t i = 0; i + 3 < len; i++)
		if (start[i] == '\r' && start[i + 1] == '\n' &&
		    start[i + 2] == '\r' && start[i + 3] == '\n') {
			end = start + i + 4;
			break;
		}
	if (!end)
		return len >= max ? -EMSGSIZE : 0;
	head = (size_t)(end - start);
	if (head > max)
		return -EMSGSIZE;
	body = content_length(start, end - 2, max);
	if (body < -1)
		return body;
	/* RFC 3261 §18.3: mandatory on streams; without it, no body. */
	if (body < 0)
		body = 0;
	if (head + (size_t)body > max)
		return -EMSGSIZE;
	if (len < head + (size_t)body)
		return 0;
	return (long)(head + (size_t)body);
}
