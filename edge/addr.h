/* The addresses the SIP edge listens on ([edge] listen, docs/edge.md):
 * parsing and the loopback rule.  Pure: no sockets. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#define EDGE_DEFAULT_PORT       5062

/* "127.0.0.1:5062", "[::1]:5062", "127.0.0.1" (port EDGE_DEFAULT_PORT):
 * an IP literal, never a name.  0 or -EINVAL. */
int edge_addr_parse(const char *s, struct sockaddr_storage *ret);
/* 127.0.0.0/8 or ::1 (or ::ffff:127.x). */
bool edge_addr_is_loopback(const struct sockaddr *sa);
