/* bench/rtp-load: RTP streams both ways between fake applications and
 * fake far ends, for bench/rtp-relay.  One process, one thread, so that
 * both ends of a path read the same clock: each datagram carries the
 * CLOCK_REALTIME it was sent at, and the receiving socket's kernel
 * timestamp (SO_TIMESTAMPNS, taken when the datagram reached it) minus
 * that is its one-way time -- the generator's own wakeups after the
 * arrival are not in it.
 *
 * Usage: rtp-load [--pps N] [--size BYTES] [--seconds S] [--warmup S]
 *                 STREAMS_FILE
 *
 * STREAMS_FILE has one line per stream:
 *   APP_HOST APP_PORT APP_DEST_HOST APP_DEST_PORT FAR_HOST FAR_PORT FAR_DEST_HOST FAR_DEST_PORT
 * the application's socket (bound to APP_HOST:APP_PORT) sends to
 * APP_DEST, the far end's to FAR_DEST: through a relay, or straight to
 * each other for the baseline.  Every stream sends --pps datagrams a
 * second each way (default 50, 20 ms G.711) of --size bytes (default 172:
 * a 12-byte RTP header and 160 bytes of payload), the sends of all
 * streams spread evenly over the period.
 *
 * Prints one JSON object: datagrams sent and received each way, how late
 * the sends were against the schedule, and the one-way time each way
 * (median, p90, p99, max, in microseconds) of the datagrams sent after
 * --warmup seconds (default 1). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS     2048
#define BATCH           64

enum dir { TO_FAR, TO_APP, N_DIRS };   /* sent by the app / by the far end */

struct stream {
	int fd[N_DIRS];                 /* fd[TO_FAR]: the app's socket (sends TO_FAR, receives TO_APP) */
	struct sockaddr_storage dest[N_DIRS];
	uint16_t seq[N_DIRS];
	uint32_t ts[N_DIRS];
};

struct samples {
	uint32_t *v;                    /* nanoseconds */
	size_t n, cap;
	uint64_t sent, received;
};

static struct stream streams[MAX_STREAMS];
static size_t n_streams;
static struct samples samples[N_DIRS];

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *host, const char *port, struct sockaddr_storage *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(port));
		return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ret;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(port));
		return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -1;
	}
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int open_socket(const struct sockaddr_storage *a)
{
	int one = 1, buf = 1 << 20;
	int fd = socket(a->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf)) < 0 ||
	    bind(fd, (const struct sockaddr *)a, addr_len(a)) < 0) {
		perror("rtp-load: socket");
		exit(1);
	}
	return fd;
}

static void record(enum dir d, uint64_t ns)
{
	struct samples *s = &samples[d];

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 65536;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			perror("rtp-load");
			exit(1);
		}
	}
	s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* Read what @fd has: datagrams of direction @d. */
static void drain(int fd, enum dir d, uint64_t warm_from)
{
	static uint8_t bufs[BATCH][2048];
	static char ctl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];

	for (;;) {
		int n;

		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
			msgs[i].msg_hdr = (struct msghdr){
				.msg_iov = &iov[i], .msg_iovlen = 1,
				.msg_control = ctl[i], .msg_controllen = sizeof(ctl[i]),
			};
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &msgs[i].msg_hdr;
			uint64_t tx, rx = 0;

			if (msgs[i].msg_len < 20)
				continue;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(c), sizeof(ts));
					rx = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
				}
			memcpy(&tx, bufs[i] + 12, sizeof(tx));
			samples[d].received++;
			if (rx && tx >= warm_from && rx >= tx)
				record(d, rx - tx);
		}
		if (n < BATCH)
			return;
	}
}

static void send_one(size_t i, enum dir d, uint8_t *pkt, size_t size)
{
	struct stream *s = &streams[i];
	uint64_t tx = now_ns(CLOCK_REALTIME);
	uint32_t ssrc = htonl((uint32_t)(2 * i + d));
	uint16_t seq = htons(s->seq[d]++);
	uint32_t ts = htonl(s->ts[d]);

	s->ts[d] += 160;
	pkt[0] = 0x80;                  /* RTP version 2 */
	pkt[1] = 0;                     /* PCMU */
	memcpy(pkt + 2, &seq, 2);
	memcpy(pkt + 4, &ts, 4);
	memcpy(pkt + 8, &ssrc, 4);
	memcpy(pkt + 12, &tx, 8);
	if (sendto(s->fd[d], pkt, size, 0, (struct sockaddr *)&s->dest[d], addr_len(&s->dest[d])) ==
	    (ssize_t)size)
		samples[d].sent++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void print_latency(const char *name, struct samples *s, const char *sep)
{
	printf("\"%s\": {\"n\": %zu", name, s->n);
	if (s->n) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
		printf(", \"median\": %.2f, \"p90\": %.2f, \"p99\": %.2f, \"max\": %.2f",
		       s->v[s->n / 2] / 1e3, s->v[s->n * 9 / 10] / 1e3, s->v[s->n * 99 / 100] / 1e3,
		       s->v[s->n - 1] / 1e3);
	}
	printf("}%s", sep);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pps", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "warmup", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 10, warmup = 1, pps = 50;
	size_t size = 172;
	uint8_t pkt[2048] = { 0 };
	char line[512];
	FILE *f;
	int ep, c;
	uint64_t start, end, interval, next, warm_from, lag_max = 0, lag_sum = 0, n_sends = 0;
	size_t slot = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pps = atof(optarg);
			break;
		case 's':
			size = (size_t)atoi(optarg);
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'w':
			warmup = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || size < 20 || size > sizeof(pkt) || pps <= 0 || seconds <= 0) {
		fprintf(stderr, "usage: rtp-load [--pps N] [--size 20..2048] [--seconds S] "
			"[--warmup S] STREAMS_FILE\n");
		return 2;
	}
	f = fopen(argv[optind], "r");
	if (!f) {
		perror(argv[optind]);
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	while (fgets(line, sizeof(line), f) && n_streams < MAX_STREAMS) {
		char w[8][64];
		struct sockaddr_storage bind_a[N_DIRS];
		struct stream *s = &streams[n_streams];

		if (sscanf(line, "%63s %63s %63s %63s %63s %63s %63s %63s", w[0], w[1], w[2], w[3],
			   w[4], w[5], w[6], w[7]) != 8)
			continue;
		if (parse_addr(w[0], w[1], &bind_a[TO_FAR]) < 0 ||
		    parse_addr(w[2], w[3], &s->dest[TO_FAR]) < 0 ||
		    parse_addr(w[4], w[5], &bind_a[TO_APP]) < 0 ||
		    parse_addr(w[6], w[7], &s->dest[TO_APP]) < 0) {
			fprintf(stderr, "rtp-load: bad line: %s", line);
			return 1;
		}
		for (int d = 0; d < N_DIRS; d++) {
			struct epoll_event ev = { .events = EPOLLIN };

			s->fd[d] = open_socket(&bind_a[d]);
			/* the app's socket receives TO_APP, the far end's TO_FAR */
			ev.data.u64 = (uint64_t)s->fd[d] << 1 | (uint64_t)(d == TO_FAR ? TO_APP : TO_FAR);
			epoll_ctl(ep, EPOLL_CTL_ADD, s->fd[d], &ev);
		}
		n_streams++;
	}
	fclose(f);
	if (!n_streams) {
		fprintf(stderr, "rtp-load: no streams\n");
		return 1;
	}
	memset(pkt, 0, sizeof(pkt));

	interval = (uint64_t)(1e9 / (pps * 2 * (double)n_streams));
	start = now_ns(CLOCK_MONOTONIC);
	end = start + (uint64_t)(seconds * 1e9);
	warm_from = now_ns(CLOCK_REALTIME) + (uint64_t)(warmup * 1e9);
	next = start;
	for (;;) {
		struct epoll_event evs[BATCH];
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		struct timespec timeout;
		int n;

		if (now >= end + 500000000ULL)  /* half a second to drain */
			break;
		while (next <= now && next < end) {
			uint64_t lag = now - next;

			lag_sum += lag;
			if (lag > lag_max)
				lag_max = lag;
			n_sends++;
			send_one(slot / 2 % n_streams, (enum dir)(slot % 2), pkt, size);
			slot++;
			next = start + (uint64_t)slot * interval;
		}
		now = now_ns(CLOCK_MONOTONIC);
		{
			uint64_t until = next < end ? next : end + 500000000ULL;
			uint64_t wait = until > now ? until - now : 0;

			timeout.tv_sec = (time_t)(wait / 1000000000ULL);
			timeout.tv_nsec = (long)(wait % 1000000000ULL);
		}
		n = epoll_pwait2(ep, evs, BATCH, &timeout, NULL);
		for (int i = 0; i < n; i++) {
			drain((int)(evs[i].data.u64 >> 1), (enum dir)(evs[i].data.u64 & 1), warm_from);
		}
	}
	printf("{\"streams\": %zu, \"pps\": %g, \"size\": %zu, \"seconds\": %g, ", n_streams, pps,
	       size, seconds);
	printf("\"sent\": {\"to_far\": %ju, \"to_app\": %ju}, ", (uintmax_t)samples[TO_FAR].sent,
	       (uintmax_t)samples[TO_APP].sent);
	printf("\"received\": {\"to_far\": %ju, \"to_app\": %ju}, ",
	       (uintmax_t)samples[TO_FAR].received, (uintmax_t)samples[TO_APP].received);
	printf("\"send_lag_us\": {\"mean\": %.2f, \"max\": %.2f}, ",
	       n_sends ? lag_sum / 1e3 / (double)n_sends : 0., lag_max / 1e3);
	printf("\"latency_us\": {");
	print_latency("to_far", &samples[TO_FAR], ", ");
	print_latency("to_app", &samples[TO_APP], "");
	printf("}}\n");
	return 0;
}
