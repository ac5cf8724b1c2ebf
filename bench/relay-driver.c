/* bench/relay-driver: alrd's RTP/RTCP relay (edge/relay.c, the code alrd
 * runs) alone on a libev loop, for bench/rtp-relay to measure against
 * rtpengine.  It reads commands on stdin, one per line, and answers each
 * with one line on stdout:
 *
 *   stream APP_HOST APP_PORT FAR_HOST FAR_PORT
 *       a relay for one stream: the application receives RTP on
 *       APP_HOST:APP_PORT (RTCP on + 1), the far end on FAR_HOST:FAR_PORT;
 *       answers "ok LOCAL_PORT NET_PORT" (where the application and the
 *       far end send) or "error REASON"
 *   stats
 *       "stats TO_NET_PACKETS TO_NET_DROPPED TO_APP_PACKETS TO_APP_DROPPED"
 *   quit (or end of input)
 *
 * Usage: relay-driver [--ports FIRST-LAST] [--local ADDR] [--net ADDR]
 *                     [--ifname NAME]
 * (defaults 30000-30999, 127.0.0.1, 127.0.0.2, lo). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "edge/relay.h"

#define MAX_RELAYS      4096

struct driver {
	struct ev_loop *loop;
	struct relay_pool *pool;
	struct sockaddr_storage local, net;
	const char *ifname;
	struct relay *relays[MAX_RELAYS];
	size_t n_relays;
	ev_io in;
	char buf[4096];
	size_t len;
};

static int parse_addr(const char *host, unsigned int port, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (port > 65535)
		return -EINVAL;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ret;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
	}
}

static void command(struct driver *d, char *line)
{
	char app_host[64], far_host[64];
	unsigned int app_port, far_port;

	if (sscanf(line, "stream %63s %u %63s %u", app_host, &app_port, far_host, &far_port) == 4) {
		struct sockaddr_storage app, app_rtcp, far, far_rtcp;
		struct relay *r;
		int k;

		if (parse_addr(app_host, app_port, &app) < 0 ||
		    parse_addr(app_host, app_port + 1, &app_rtcp) < 0 ||
		    parse_addr(far_host, far_port, &far) < 0 ||
		    parse_addr(far_host, far_port + 1, &far_rtcp) < 0) {
			printf("error bad address\n");
			return;
		}
		if (d->n_relays == MAX_RELAYS) {
			printf("error too many relays\n");
			return;
		}
		k = relay_new(d->pool, "bench", (struct sockaddr *)&d->local, d->ifname,
			      (struct sockaddr *)&d->net, &r);
		if (k < 0) {
			printf("error %s\n", strerror(-k));
			return;
		}
		relay_set_app(r, (struct sockaddr *)&app, (struct sockaddr *)&app_rtcp);
		relay_set_far(r, (struct sockaddr *)&far, (struct sockaddr *)&far_rtcp);
		d->relays[d->n_relays++] = r;
		printf("ok %u %u\n", relay_local_port(r), relay_net_port(r));
	} else if (strcmp(line, "stats") == 0) {
		struct relay_stats sum = { 0 }, st;

		for (size_t i = 0; i < d->n_relays; i++) {
			relay_get_stats(d->relays[i], &st);
			sum.to_net.packets += st.to_net.packets;
			sum.to_net.dropped += st.to_net.dropped;
			sum.to_app.packets += st.to_app.packets;
			sum.to_app.dropped += st.to_app.dropped;
		}
		printf("stats %ju %ju %ju %ju\n", (uintmax_t)sum.to_net.packets,
		       (uintmax_t)sum.to_net.dropped, (uintmax_t)sum.to_app.packets,
		       (uintmax_t)sum.to_app.dropped);
	} else if (strcmp(line, "quit") == 0) {
		ev_break(d->loop, EVBREAK_ALL);
		return;
	} else {
		printf("error unknown command\n");
	}
}

static void stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct driver *d = w->data;
	ssize_t n = read(0, d->buf + d->len, sizeof(d->buf) - 1 - d->len);
	char *nl;

	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	d->len += (size_t)n;
	d->buf[d->len] = '\0';
	while ((nl = strchr(d->buf, '\n'))) {
		*nl = '\0';
		command(d, d->buf);
		fflush(stdout);
		d->len -= (size_t)(nl + 1 - d->buf);
		memmove(d->buf, nl + 1, d->len + 1);
	}
	if (d->len == sizeof(d->buf) - 1)
		d->len = 0;     /* a line too long: dropped */
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ports", required_argument, NULL, 'p' },
		{ "local", required_argument, NULL, 'l' },
		{ "net", required_argument, NULL, 'n' },
		{ "ifname", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	static struct driver d;
	unsigned int lo = RELAY_DEFAULT_PORT_MIN, hi = RELAY_DEFAULT_PORT_MAX;
	const char *local = "127.0.0.1", *net = "127.0.0.2";
	int c;

	d.ifname = "lo";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (sscanf(optarg, "%u-%u", &lo, &hi) != 2 || hi > 65535) {
				fprintf(stderr, "relay-driver: --ports FIRST-LAST\n");
				return 2;
			}
			break;
		case 'l':
			local = optarg;
			break;
		case 'n':
			net = optarg;
			break;
		case 'i':
			d.ifname = *optarg ? optarg : NULL;
			break;
		default:
			return 2;
		}
	}
	log_open("relay-driver", LOG_TARGET_STDERR, true);
	log_set_level(LOG_WARNING);
	if (parse_addr(local, 0, &d.local) < 0 || parse_addr(net, 0, &d.net) < 0) {
		fprintf(stderr, "relay-driver: bad --local or --net address\n");
		return 2;
	}
	d.loop = ev_loop_new(EVFLAG_AUTO);
	d.pool = relay_pool_new(d.loop, (uint16_t)lo, (uint16_t)hi);
	if (!d.loop || !d.pool) {
		fprintf(stderr, "relay-driver: %s\n", strerror(errno));
		return 1;
	}
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	ev_io_init(&d.in, stdin_cb, 0, EV_READ);
	d.in.data = &d;
	ev_io_start(d.loop, &d.in);
	printf("ready\n");
	fflush(stdout);
	ev_run(d.loop, 0);
	for (size_t i = 0; i < d.n_relays; i++)
		relay_free(d.relays[i]);
	relay_pool_free(d.pool);
	ev_loop_destroy(d.loop);
	log_close();
	return 0;
}
