/* The edge's listen addresses (see addr.h): pure, so that the
 * configuration parser (and its fuzzer) use it without the edge. */
#include "edge/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int edge_addr_parse(const char *s, struct sockaddr_storage *ret)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL;
	unsigned long p = EDGE_DEFAULT_PORT;
	size_t hlen;

	if (!s || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (end[1] == ':')
			port = end + 2;
	} else {
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':'))
			return -EINVAL;         /* IPv6 without brackets */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (port) {
		char *end;

		if (!*port || *port == '-' || *port == '+')
			return -EINVAL;
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || *end || p == 0 || p > 65535)
			return -EINVAL;
	}
	if (s[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ret;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
	}
	return 0;
}

bool edge_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

