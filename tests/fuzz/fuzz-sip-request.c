/* libFuzzer target: arbitrary bytes arriving at alrd as SIP requests.
 *
 * Requests reach alrd over the UDP socket of an IAP or the TCP connection
 * it opened to a registrar (docs/sip.md: no listening TCP socket yet).
 * Both are set up as alrd does it, by a binding started over the IAP,
 * with a fake transport class in place of the sockets; then each input is
 * received the way each transport hands it up:
 *  - as datagrams: up to four parts separated by "\n=====\n", each one
 *    datagram from the registrar's address (empty and CRLF-only ones are
 *    dropped before the stack, as the UDP transport does);
 *  - as a stream on the TCP connection: the parts back to back, framed
 *    by sipframe_next() (RFC 3261 §18.3) as the TCP transport does.
 * From there the real path runs: libosip2's parser, the mandatory header
 * check, Via fix-up (received=, rport), NIST creation, the answer alrd
 * gives today (200 to OPTIONS, 501 to the rest, INVITE and ACK dropped)
 * and its retransmission for a repeated request.  Whatever alrd sends
 * back must be a response libosip2 can read again, 200 or 501: anything
 * else aborts, so that the fuzzer reports it.
 * tests/fuzz/corpus/sip-request/ holds the seeds. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ev.h>

#include "base/log.h"
#include "sip/binding.h"
#include "sip/sipframe.h"
#include "sip/stack.h"
#include "sip/transport.h"

#define MAX_INPUT 16384
#define SEPARATOR "\n=====\n"
#define MAX_PARTS 4
#define REGISTRAR "192.0.2.10"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct sip_stack *stack;
static struct sip_transport *udp_tp, *tcp_tp;

static const struct sip_transport_class fuzz_class;

static int fz_open(struct ev_loop *l, enum sip_proto proto,
		   const char *ifname, const struct sockaddr *local,
		   const struct sockaddr *remote,
		   const struct sip_transport_peer *peer,
		   const struct sip_transport_cbs *cbs, void *cb_data,
		   struct sip_transport **ret)
{
	struct sip_transport *tp = calloc(1, sizeof(*tp));
	struct sockaddr_in *sin = (struct sockaddr_in *)&tp->local;

	if (!tp)
		return -1;
	tp->cls = &fuzz_class;
	tp->proto = proto;
	snprintf(tp->ifname, sizeof(tp->ifname), "%s", ifname);
	memcpy(&tp->local, local, sizeof(struct sockaddr_in));
	sin->sin_port = htons(proto == SIP_PROTO_UDP ? 5062 : 40000);
	if (remote)
		memcpy(&tp->remote, remote, sizeof(struct sockaddr_in));
	if (proto == SIP_PROTO_UDP)
		udp_tp = tp;
	else
		tcp_tp = tp;
	*ret = tp;
	return 0;
}

/* What alrd sends: its REGISTERs, and its answers to the input, which
 * must be well-formed responses it meant to give. */
static int fz_send(struct sip_transport *tp, const struct sockaddr *dest,
		   const char *buf, size_t len)
{
	osip_message_t *m = NULL;

	if (osip_message_init(&m) != 0)
		return -1;
	if (osip_message_parse(m, buf, len) != 0) {
		fprintf(stderr, "alrd sent what it cannot parse:\n%.*s\n",
			(int)len, buf);
		abort();
	}
	/* The answers alrd gives to requests nobody takes (sip/stack.h):
	 * 200 OPTIONS, 480 INVITE, 481 CANCEL, 501 the rest. */
	if (MSG_IS_RESPONSE(m) && m->status_code != 200 && m->status_code != 480 &&
	    m->status_code != 481 && m->status_code != 501) {
		fprintf(stderr, "alrd answered %d\n", m->status_code);
		abort();
	}
	osip_message_free(m);
	return 0;
}

static void fz_close(struct sip_transport *tp)
{
	if (tp == udp_tp)
		udp_tp = NULL;
	if (tp == tcp_tp)
		tcp_tp = NULL;
	free(tp);
}

static const struct sip_transport_class fuzz_class = {
	.name = "fuzz",
	.open = fz_open,
	.send = fz_send,
	.close = fz_close,
};

static void setup(void)
{
	log_open("fuzz-sip-request", LOG_TARGET_STDERR, true);
	log_set_level(LOG_EMERG);
	loop = ev_loop_new(EVFLAG_AUTO);
	stack = loop ? sip_stack_new(loop) : NULL;
	if (!stack)
		abort();
	sip_stack_set_transport_class(stack, &fuzz_class);
}

static bool only_crlf(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n')
			return false;
	return true;
}

/* Hand one message up as a transport does: a copy of its own, NUL after
 * the end (both socket transports terminate what they pass). */
static void deliver(struct sip_transport *tp, const char *buf, size_t len,
		    const struct sockaddr *from)
{
	char *copy;

	if (!tp)
		return;
	copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	sip_stack_receive(stack, tp, copy, len, from);
	free(copy);
	sip_stack_run(stack);
}

static struct binding *start(const char *registrar, const char *user)
{
	const struct binding_config cfg = {
		.aor = "sip:alice@example.test",
		.registrar = registrar,
		.password = "secret",
		.expires = 600,
		.contact_user = user,
		.instance = "urn:uuid:00000000-0000-4000-8000-000000000001",
	};
	struct binding *b = binding_new(stack, &cfg);

	if (b)
		binding_start(b, "fz0", "192.0.2.1");
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char stream[MAX_INPUT];
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_port = htons(5060) };
	const char *in = (const char *)data;
	struct binding *bu, *bt;
	size_t start_at = 0, stream_len = 0;

	if (!stack)
		setup();
	if (size > MAX_INPUT)
		return 0;
	bu = start("sip:" REGISTRAR, "alice-udp");
	bt = start("sip:" REGISTRAR ";transport=tcp", "alice-tcp");
	sip_stack_run(stack);
	inet_pton(AF_INET, REGISTRAR, &from.sin_addr);

	/* Datagrams, and the stream they make back to back. */
	for (int part = 0; part < MAX_PARTS && start_at <= size; part++) {
		const char *sep = NULL;
		size_t end = size;

		for (size_t i = start_at; i + sizeof(SEPARATOR) - 1 <= size; i++)
			if (memcmp(in + i, SEPARATOR, sizeof(SEPARATOR) - 1) == 0) {
				sep = in + i;
				break;
			}
		if (sep)
			end = (size_t)(sep - in);
		if (end > start_at && !only_crlf(in + start_at, end - start_at))
			deliver(udp_tp, in + start_at, end - start_at,
				(struct sockaddr *)&from);
		memcpy(stream + stream_len, in + start_at, end - start_at);
		stream_len += end - start_at;
		if (!sep)
			break;
		start_at = end + sizeof(SEPARATOR) - 1;
	}

	for (size_t off = 0; off < stream_len && tcp_tp;) {
		size_t skip = 0;
		long n = sipframe_next(stream + off, stream_len - off,
				       SIPFRAME_MAX, &skip);

		if (n <= 0)
			break;  /* more needed, or the connection would close */
		deliver(tcp_tp, stream + off + skip, (size_t)n,
			(struct sockaddr *)&tcp_tp->remote);
		off += skip + (size_t)n;
	}

	binding_free(bu);
	binding_free(bt);
	/* Server transactions wait for Timer J; no input should see the
	 * previous one's. */
	sip_stack_drop_transactions(stack);
	return 0;
}
