/* libFuzzer target: arbitrary bytes into the response path of a binding.
 *
 * The real stack (libosip2 parser and NICT matching, the binding state
 * machine, digest authentication, expiry extraction, redirects) runs over
 * a fake transport that keeps what it is asked to send.  Each input is up
 * to four messages separated by "\n=====\n", received one after the other
 * while a REGISTER is outstanding.  So that mutated responses can still
 * match the transaction, the placeholders @BRANCH@, @CALLID@, @CSEQ@,
 * @FROMTAG@ and @CONTACT@ are replaced by the outstanding request's values
 * first (tests/fuzz/corpus/sip-response/ has real Kamailio responses
 * written that way).  The stream framer sees the raw input too. */
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
#include "tests/tools/contact-list.h"

#define MAX_INPUT 16384
#define SEPARATOR "\n=====\n"
#define MAX_PARTS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct sip_stack *stack;
static struct sip_transport *current_tp;
static char last_sent[65536];
static size_t last_len;

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
	sin->sin_port = htons(5062);
	if (remote)
		memcpy(&tp->remote, remote, sizeof(struct sockaddr_in));
	current_tp = tp;
	*ret = tp;
	return 0;
}

static int fz_send(struct sip_transport *tp, const struct sockaddr *dest,
		   const char *buf, size_t len)
{
	if (len >= sizeof(last_sent))
		len = sizeof(last_sent) - 1;
	memcpy(last_sent, buf, len);
	last_sent[len] = '\0';
	last_len = len;
	return 0;
}

static void fz_close(struct sip_transport *tp)
{
	if (tp == current_tp)
		current_tp = NULL;
	free(tp);
}

static const struct sip_transport_class fuzz_class = {
	.name = "fuzz",
	.open = fz_open,
	.send = fz_send,
	.close = fz_close,
};

struct placeholders {
	char branch[128];
	char call_id[160];
	char cseq[16];
	char from_tag[64];
	char contact[256];
};

/* The values of the request we sent last (our own bytes). */
static void extract(struct placeholders *ph)
{
	osip_message_t *m = NULL;
	osip_generic_param_t *p = NULL;
	osip_via_t *via;
	osip_contact_t *c = NULL;
	char *s = NULL;

	memset(ph, 0, sizeof(*ph));
	if (!last_len || osip_message_init(&m) != 0)
		return;
	if (osip_message_parse(m, last_sent, last_len) != 0)
		goto out;
	via = osip_list_get(&m->vias, 0);
	if (via && osip_via_param_get_byname(via, "branch", &p) == 0 && p &&
	    p->gvalue)
		snprintf(ph->branch, sizeof(ph->branch), "%s", p->gvalue);
	if (m->call_id && osip_call_id_to_str(m->call_id, &s) == 0) {
		snprintf(ph->call_id, sizeof(ph->call_id), "%s", s);
		osip_free(s);
		s = NULL;
	}
	if (m->cseq && m->cseq->number)
		snprintf(ph->cseq, sizeof(ph->cseq), "%s", m->cseq->number);
	p = NULL;
	if (m->from && osip_from_param_get_byname(m->from, "tag", &p) == 0 &&
	    p && p->gvalue)
		snprintf(ph->from_tag, sizeof(ph->from_tag), "%s", p->gvalue);
	if (osip_message_get_contact(m, 0, &c) >= 0 && c && c->url &&
	    osip_uri_to_str(c->url, &s) == 0) {
		snprintf(ph->contact, sizeof(ph->contact), "%s", s);
		osip_free(s);
	}
out:
	osip_message_free(m);
}

static size_t substitute(const char *in, size_t len, char *out, size_t size,
			 const struct placeholders *ph)
{
	static const char *const names[] = { "@BRANCH@", "@CALLID@", "@CSEQ@",
					     "@FROMTAG@", "@CONTACT@" };
	const char *values[] = { ph->branch, ph->call_id, ph->cseq,
				 ph->from_tag, ph->contact };
	size_t n = 0;

	for (size_t i = 0; i < len;) {
		const char *at = memchr(in + i, '@', len - i);
		size_t run = at ? (size_t)(at - (in + i)) : len - i;
		bool done = false;

		/* Up to the next '@' in one copy: a per-byte search of the
		 * names here was half of the target's time. */
		if (run > 0) {
			if (run > size - 1 - n)
				run = size - 1 - n;
			memcpy(out + n, in + i, run);
			n += run;
			i += run;
			if (n + 1 >= size)
				break;
			continue;
		}
		for (size_t k = 0; k < 5 && !done; k++) {
			size_t nl = strlen(names[k]), vl = strlen(values[k]);

			if (len - i >= nl && memcmp(in + i, names[k], nl) == 0 &&
			    n + vl < size) {
				memcpy(out + n, values[k], vl);
				n += vl;
				i += nl;
				done = true;
			}
		}
		if (done)
			continue;
		if (n + 1 >= size)
			break;
		out[n++] = in[i++];
	}
	out[n] = '\0';
	return n;
}

static void setup(void)
{
	log_open("fuzz-sip-response", LOG_TARGET_STDERR, true);
	log_set_level(LOG_EMERG);
	loop = ev_loop_new(EVFLAG_AUTO);
	stack = loop ? sip_stack_new(loop) : NULL;
	if (!stack)
		abort();
	sip_stack_set_transport_class(stack, &fuzz_class);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const params[] = { "+sip.ice" };
	static char buf[MAX_INPUT * 4 + 4096];
	static struct contact_list contacts;    /* the binding's */
	const struct binding_config cfg = {
		.aor = "sip:alice@example.test",
		.registrar = "sip:192.0.2.10",
		.password = "secret",
		.expires = 600,
		.contact_user = "alice-dev",
		.instance = "urn:uuid:00000000-0000-4000-8000-000000000001",
		.contact_params = params,
		.n_contact_params = 1,
	};
	struct sockaddr_in from = { .sin_family = AF_INET,
				    .sin_port = htons(5060) };
	const char *in = (const char *)data;
	struct binding *b;
	size_t skip, start = 0;

	if (!stack)
		setup();
	if (size > MAX_INPUT)
		return 0;
	sipframe_next(in, size, SIPFRAME_MAX, &skip);

	b = binding_new(stack, &cfg);
	if (!b)
		return 0;
	contacts.n = 0;
	binding_set_contacts(b, &contact_list_ops, &contacts);
	last_len = 0;
	binding_start(b, "fz0", "192.0.2.1");
	sip_stack_run(stack);
	inet_pton(AF_INET, "192.0.2.10", &from.sin_addr);

	for (int part = 0; part < MAX_PARTS && start <= size; part++) {
		const char *sep = NULL;
		struct placeholders ph;
		size_t end = size, n;

		for (size_t i = start; i + sizeof(SEPARATOR) - 1 <= size; i++)
			if (memcmp(in + i, SEPARATOR, sizeof(SEPARATOR) - 1) == 0) {
				sep = in + i;
				break;
			}
		if (sep)
			end = (size_t)(sep - in);
		extract(&ph);
		n = substitute(in + start, end - start, buf, sizeof(buf), &ph);
		if (current_tp)
			sip_stack_receive(stack, current_tp, buf, n,
					  (struct sockaddr *)&from);
		sip_stack_run(stack);
		if (!sep)
			break;
		start = end + sizeof(SEPARATOR) - 1;
	}
	binding_free(b);
	/* Server transactions (a request in the input) would wait for
	 * Timer J; no input should see the previous one's. */
	sip_stack_drop_transactions(stack);
	return 0;
}
