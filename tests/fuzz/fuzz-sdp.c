/* libFuzzer target: arbitrary bytes as an SDP body (edge/sdp.c), as they
 * come from the network or a local application in an INVITE.  A body
 * sdp_read() accepts is rewritten with relay ports and two addresses of
 * the other families; the rewrite must succeed and read back with the
 * same streams, each active one with its new port.  Anything else --
 * a crash, a leak, a sanitizer report, a property broken -- is a finding. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t rtp[SDP_MAX_STREAMS] = { 30000, 30002, 30004, 30006,
						       30008, 30010, 30012, 30014 };
	static const uint16_t rtcp[SDP_MAX_STREAMS] = { 30001, 30003, 30005, 30007,
							30009, 30011, 30013, 30015 };
	struct sdp_info info, again;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	const struct sockaddr *addrs[] = { (struct sockaddr *)&a4, (struct sockaddr *)&a6 };
	const char *why = NULL;

	if (sdp_read((const char *)data, size, &info, &why) < 0) {
		if (!why)
			abort();        /* every refusal says why */
		return 0;
	}
	inet_pton(AF_INET, "10.0.0.2", &a4.sin_addr);
	inet_pton(AF_INET6, "2001:db8::2", &a6.sin6_addr);
	for (size_t k = 0; k < 2; k++) {
		struct sdp_rewrite rw = {
			.addr = addrs[k], .n_streams = info.n_streams,
			.rtp_ports = rtp, .rtcp_ports = rtcp,
		};
		char *out = NULL;
		size_t len = 0;

		if (sdp_rewrite((const char *)data, size, &rw, &out, &len, &why) < 0)
			abort();        /* what reads, rewrites */
		if (sdp_read(out, len, &again, &why) < 0 || again.n_streams != info.n_streams)
			abort();        /* what we write, we read back */
		for (size_t i = 0; i < info.n_streams; i++)
			if (again.streams[i].port != (info.streams[i].port ? rtp[i] : 0) ||
			    (again.streams[i].rtp.ss_family != AF_UNSPEC &&
			     again.streams[i].rtp.ss_family != addrs[k]->sa_family))
				abort();
		free(out);
	}
	return 0;
}
