/*
 * Who owns the socket a local datagram or connection came from: the
 * kernel's socket table, asked over NETLINK_SOCK_DIAG (inet_diag_req_v2,
 * one exact lookup by the 4-tuple, no dump), answers with the owner's uid
 * (idiag_uid).  It is how the edge knows which user a local REGISTER is
 * from, as SO_PEERCRED tells the control socket (docs/edge.md).
 *
 * The kernel answers a sock_diag request while sendmsg() runs, so the
 * reply is there when recv() is called: nothing waits.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * The uid owning the @proto (IPPROTO_UDP or IPPROTO_TCP) socket whose
 * local address is @peer, talking to (or, for unconnected UDP, able to
 * receive from) @ours.  Both of the same family (AF_INET, AF_INET6).
 * 0, or -ENOENT (no such socket in this network namespace: not local, or
 * gone), -EAFNOSUPPORT, or the netlink socket's error.
 */
int sockdiag_owner_uid(int proto, const struct sockaddr *peer, const struct sockaddr *ours,
		       uid_t *ret_uid);
