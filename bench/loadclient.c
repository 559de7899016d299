/*
 * loadclient: the sse-cgi load generator and delivery checker.
 *
 * One process, one thread, one epoll loop.  It opens N event streams
 * (HTTP/1.1 GET, like a browser's EventSource), posts M chat messages at R
 * per second on its own keep-alive connections, and checks, for every
 * (listener, message) pair, that the message arrived exactly once and in id
 * order, and how long it took from writing the POST to reading the event.
 *
 * Every message's text carries the run tag, its sequence number and the
 * CLOCK_MONOTONIC time at which its POST was written:
 *
 *     run=<tag> seq=<k> t=<ns>
 *
 * so a listener computes the latency from the event alone (same machine,
 * same clock), and events of other runs or of the channel's history are
 * recognised and ignored.
 *
 * Parsing follows the browser: the HTTP response is read with or without
 * chunked transfer-encoding (Apache chunks a CGI response that has no
 * Content-Length), and the body with the WHATWG event-stream rules (lines
 * end with CRLF, LF or CR; `:` comments; id/event/data/retry fields; a blank
 * line dispatches; an event with no data is not dispatched; the last event
 * id survives reconnects).  When a stream ends, the listener reconnects with
 * Last-Event-ID after the server's `retry:` delay (or --reconnect-delay).  A
 * non-200 answer or another content type ends the listener for good, as it
 * would end an EventSource.
 *
 * Phases: opening (until every listener got its first frame, or
 * --open-timeout), warmup, posting, drain (until every expected delivery
 * arrived, or --drain), hold (streams stay open, idle, for the sampler), done.
 * --status-file names a file that holds the current phase.  --timeout caps
 * the whole run; SIGINT/SIGTERM end it early.  Both still write the report.
 *
 * With -n 0 and -r 0 it is the POST throughput bench: K connections post
 * back to back (closed loop) until M posts or --post-duration.
 *
 * Output: one JSON object (stdout or --json FILE); a summary on stderr.
 * --detail adds per_listener ([delivered, lost, duplicates, out_of_order,
 * connects, first_byte_ms] per listener) and per_message ([HTTP status, id,
 * listeners reached, best and worst latency ms] per message).
 * Only loopback (127.0.0.0/8) URLs are accepted.
 *
 * Other servers (bench/vps.sh compares with nginx + nchan): --post-raw posts
 * the message text itself as a text/plain body (nchan's HTTP publisher
 * broadcasts the body as the event data) instead of sse-cgi's JSON.  Event
 * ids of the form `<time>:<tag>` (nchan's) are read as time * 10^6 + tag,
 * so the id order and the 201's id checks work for them too (the 201's id
 * is taken from `"id":` or from nchan's `"last_message_id":`); loss,
 * duplicates and latency never depend on ids, only on the seq in the data.
 * With --post-raw a 202 (nchan: stored, the channel has no subscriber
 * yet) counts as a 201.
 *
 * A slow client among the others: --stalled K opens K more streams when
 * the listeners are open, sends their GET and never reads them; the report
 * says how many the server ended and how many bytes waited for them.
 * --pad C adds C filler characters to every message's text (up to 1900),
 * so that a stalled stream's buffers fill within a short run.
 *
 * Many connections: the client raises its RLIMIT_NOFILE to N + posters + 64
 * (the hard limit too when it may).  --sources K spreads the listeners'
 * source addresses over 127.0.0.2 .. 127.0.0.(K+1) (bind with
 * IP_BIND_ADDRESS_NO_PORT before connect, so the port is picked at connect
 * time per 4-tuple): each source address has its own ~28,000 ephemeral
 * ports, so N streams plus the TIME_WAIT of earlier runs never run out.
 * Default: one source per 5,000 listeners past the first 5,000.
 *
 * Several fronts (bench/cluster.sh: two web servers on one Redis):
 * --url-stream and --url-post may each be given up to MAX_FRONTS times.
 * Listener i streams from the (i mod S)-th stream URL, poster j posts to
 * the (j mod P)-th post URL, as a load balancer would spread them; all
 * share one channel and one delivery check, and the report adds a
 * "fronts" array (per stream URL: listeners, delivered, lost, duplicates,
 * out of order, latency) when there is more than one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

typedef int64_t ns_t;
#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

#define LINE_LIMIT (1 << 20)      /* longest SSE line kept whole */
#define DATA_LIMIT (1 << 20)      /* largest event data kept whole */
#define MAX_LISTENERS 20000
#define MAX_MESSAGES 1000000
#define MAX_CELLS 50000000LL      /* N * M */
#define PAD_MAX 1900              /* --pad: the text stays under 2000 characters */
#define STALLED_MAX 100           /* --stalled */
#define STALLED_RCVBUF 16384      /* a stalled stream's receive buffer */
#define STALLED_QUIET_MS 3000     /* at the end, silence that means "open" */
#define STALLED_CHECK_S 30        /* at the end, the most spent checking */
#define MAX_FRONTS 8              /* --url-stream, --url-post given this often */
#define DEFAULT_RETRY_MS 3000     /* what browsers use before any retry: */

static ns_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ns_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadclient: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* --- growable buffer ---------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

/* Appends; false (and nothing appended) past limit or out of memory. */
static bool buf_add(struct buf *b, const char *s, size_t n, size_t limit)
{
	if (b->len + n + 1 > limit)
		return false;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL)
			return false;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

/* --- HTTP/1.1 response parser ------------------------------------------- */

enum hstate {
	H_HEAD, H_CHUNK_SIZE, H_CHUNK_DATA, H_CHUNK_END, H_TRAILER,
	H_LEN, H_EOF_BODY, H_DONE, H_ERROR
};

struct hresp {
	enum hstate st;
	int status;
	bool chunked, close, event_stream;
	long long clen, left;
	size_t hlen, llen;
	char head[8192];
	char line[256];
};

typedef void (*body_fn)(void *ctx, const char *p, size_t n);

static void hresp_reset(struct hresp *h)
{
	h->st = H_HEAD;
	h->status = 0;
	h->chunked = h->close = h->event_stream = false;
	h->clen = -1;
	h->left = 0;
	h->hlen = h->llen = 0;
}

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool parse_head(struct hresp *h)
{
	int maj, min, code;
	if (sscanf(h->head, "HTTP/%d.%d %d", &maj, &min, &code) != 3)
		return false;
	h->status = code;
	h->close = maj == 1 && min == 0;
	char *save = NULL;
	char *line = strtok_r(h->head, "\r\n", &save);   /* the status line */
	while ((line = strtok_r(NULL, "\r\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		const char *v = skip_ws(colon + 1);
		if (strcasecmp(line, "transfer-encoding") == 0 && strcasestr(v, "chunked"))
			h->chunked = true;
		else if (strcasecmp(line, "content-length") == 0)
			h->clen = strtoll(v, NULL, 10);
		else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "close"))
			h->close = true;
		else if (strcasecmp(line, "connection") == 0 && strcasestr(v, "keep-alive"))
			h->close = false;
		else if (strcasecmp(line, "content-type") == 0 &&
		         strncasecmp(v, "text/event-stream", 17) == 0)
			h->event_stream = true;
	}
	if (code / 100 == 1 || code == 204 || code == 304) {
		h->st = code / 100 == 1 ? H_ERROR : H_DONE;  /* we never ask for 1xx */
	} else if (h->chunked) {
		h->st = H_CHUNK_SIZE;
	} else if (h->clen >= 0) {
		h->left = h->clen;
		h->st = h->clen == 0 ? H_DONE : H_LEN;
	} else {
		h->st = H_EOF_BODY;
		h->close = true;
	}
	return true;
}

/* Handles one line of chunk framing (without its line ending). */
static void chunk_line(struct hresp *h)
{
	h->line[h->llen] = '\0';
	if (h->llen > 0 && h->line[h->llen - 1] == '\r')
		h->line[--h->llen] = '\0';
	switch (h->st) {
	case H_CHUNK_SIZE: {
		char *end;
		errno = 0;
		long long size = strtoll(h->line, &end, 16);
		if (end == h->line || errno != 0 || size < 0 ||
		    (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')) {
			h->st = H_ERROR;
		} else if (size == 0) {
			h->st = H_TRAILER;
		} else {
			h->left = size;
			h->st = H_CHUNK_DATA;
		}
		break;
	}
	case H_CHUNK_END:
		h->st = h->llen == 0 ? H_CHUNK_SIZE : H_ERROR;
		break;
	case H_TRAILER:
		if (h->llen == 0)
			h->st = H_DONE;
		break;
	default:
		break;
	}
	h->llen = 0;
}

/* Feeds received bytes; body bytes go to fn.  Returns the bytes consumed. */
static size_t hresp_feed(struct hresp *h, const char *p, size_t n,
                         body_fn fn, void *ctx)
{
	size_t i = 0;
	while (i < n && h->st != H_DONE && h->st != H_ERROR) {
		switch (h->st) {
		case H_HEAD: {
			char c = p[i++];
			if (h->hlen + 2 > sizeof(h->head)) {
				h->st = H_ERROR;
				break;
			}
			h->head[h->hlen++] = c;
			h->head[h->hlen] = '\0';
			if (c == '\n' && ((h->hlen >= 2 && h->head[h->hlen - 2] == '\n') ||
			                  (h->hlen >= 4 && memcmp(h->head + h->hlen - 4, "\r\n\r\n", 4) == 0)))
				if (!parse_head(h))
					h->st = H_ERROR;
			break;
		}
		case H_CHUNK_SIZE:
		case H_CHUNK_END:
		case H_TRAILER: {
			char c = p[i++];
			if (c == '\n')
				chunk_line(h);
			else if (h->llen + 2 < sizeof(h->line))
				h->line[h->llen++] = c;
			else
				h->st = H_ERROR;
			break;
		}
		case H_CHUNK_DATA:
		case H_LEN: {
			size_t take = n - i;
			if ((long long)take > h->left)
				take = (size_t)h->left;
			fn(ctx, p + i, take);
			i += take;
			h->left -= (long long)take;
			if (h->left == 0)
				h->st = h->st == H_CHUNK_DATA ? H_CHUNK_END : H_DONE;
			break;
		}
		case H_EOF_BODY:
			fn(ctx, p + i, n - i);
			i = n;
			break;
		default:
			break;
		}
	}
	return i;
}

/* --- URLs ---------------------------------------------------------------- */

struct url {
	struct sockaddr_in addr;
	char host[128];      /* the Host header */
	char path[2048];     /* path and query */
};

static void parse_url(const char *s, struct url *u)
{
	if (strncmp(s, "http://", 7) != 0)
		die("only http:// URLs: %s", s);
	const char *h = s + 7;
	const char *slash = strchr(h, '/');
	size_t hl = slash ? (size_t)(slash - h) : strlen(h);
	if (hl == 0 || hl >= sizeof(u->host))
		die("bad host in %s", s);
	memcpy(u->host, h, hl);
	u->host[hl] = '\0';
	snprintf(u->path, sizeof(u->path), "%s", slash ? slash : "/");
	char name[128];
	snprintf(name, sizeof(name), "%s", u->host);
	int port = 80;
	char *colon = strrchr(name, ':');
	if (colon != NULL) {
		*colon = '\0';
		port = atoi(colon + 1);
		if (port <= 0 || port > 65535)
			die("bad port in %s", s);
	}
	if (strcmp(name, "localhost") == 0)
		strcpy(name, "127.0.0.1");
	memset(&u->addr, 0, sizeof(u->addr));
	u->addr.sin_family = AF_INET;
	u->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, name, &u->addr.sin_addr) != 1)
		die("need a numeric IPv4 loopback address: %s", s);
	if ((ntohl(u->addr.sin_addr.s_addr) >> 24) != 127)
		die("refusing a non-loopback address: %s", s);
}

/* Sets (or adds) channel=C in the query of path. */
static void set_channel(char *path, size_t cap, const char *channel)
{
	char out[4096];
	char *q = strchr(path, '?');
	if (q == NULL) {
		if (snprintf(out, sizeof(out), "%s?channel=%s", path, channel) >= (int)sizeof(out))
			die("URL too long: %s", path);
	} else {
		size_t n = (size_t)(q - path) + 1;
		memcpy(out, path, n);
		out[n] = '\0';
		bool done = false, first = true;
		char query[2048];
		snprintf(query, sizeof(query), "%s", q + 1);
		char *save = NULL;
		for (char *kv = strtok_r(query, "&", &save); kv; kv = strtok_r(NULL, "&", &save)) {
			size_t len = strlen(out);
			if (strncmp(kv, "channel=", 8) == 0) {
				snprintf(out + len, sizeof(out) - len, "%schannel=%s", first ? "" : "&", channel);
				done = true;
			} else {
				snprintf(out + len, sizeof(out) - len, "%s%s", first ? "" : "&", kv);
			}
			first = false;
		}
		if (!done) {
			size_t len = strlen(out);
			snprintf(out + len, sizeof(out) - len, "%schannel=%s", first ? "" : "&", channel);
		}
	}
	if (snprintf(path, cap, "%s", out) >= (int)cap)
		die("URL too long: %s", out);
}

/* The channel= value in a URL's query, or NULL. */
static const char *url_channel(const char *path, char *out, size_t cap)
{
	const char *q = strchr(path, '?');
	for (const char *p = q; p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, "channel=", 8) == 0) {
			size_t n = strcspn(p + 9, "&#");
			if (n == 0 || n >= cap)
				return NULL;
			memcpy(out, p + 9, n);
			out[n] = '\0';
			return out;
		}
	}
	return NULL;
}

/* --- state --------------------------------------------------------------- */

enum conn_state { C_IDLE_NOCONN, C_CONNECTING, C_SENDING, C_RECEIVING, C_IDLE, C_FAILED };

/* The first member of everything registered with epoll. */
enum tag_kind { K_LISTENER, K_POSTER, K_TIMER };

struct listener {
	enum tag_kind kind;
	int idx, fd;
	enum conn_state st;
	struct hresp h;
	/* event-stream parser */
	struct buf line, data;
	char event[64];
	bool last_cr, id_in_event, line_over, data_over;
	int bom;                /* 0..3 matched, 4 = done */
	char id_buf[32];        /* last event ID buffer (WHATWG) */
	char last_id[32];       /* last event ID string, sent on reconnect */
	long long max_id;
	long retry_ms;
	/* connection bookkeeping */
	ns_t t_connect, reconnect_at;
	bool first_byte, ready, counted_cfb;
	char out[3072];
	size_t outlen, outoff;
	unsigned connects;
	unsigned dups, ooo;     /* this listener's share of the totals */
	ns_t cfb;               /* first connect to first byte, 0 none */
};

struct poster {
	enum tag_kind kind;
	int fd;
	enum conn_state st;
	struct hresp h;
	int seq;                /* the post in flight, -1 none */
	int front;              /* which --url-post */
	bool reused;
	unsigned requests;      /* on this connection */
	ns_t t_send;
	char out[4096];           /* room for a padded JSON body */
	size_t outlen, outoff;
	char body[256];
	size_t blen;
};

struct stats {
	ns_t *v;
	size_t n, cap;
};

static void stats_add(struct stats *s, ns_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		ns_t *p = realloc(s->v, cap * sizeof(*p));
		if (p == NULL)
			return;
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int cmp_ns(const void *a, const void *b)
{
	ns_t x = *(const ns_t *)a, y = *(const ns_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in ms. */
static double pct_ms(const struct stats *s, double q)
{
	if (s->n == 0)
		return -1;
	size_t k = (size_t)(q * (double)s->n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > s->n)
		k = s->n;
	return (double)s->v[k - 1] / 1e6;
}

static double mean_ms(const struct stats *s)
{
	if (s->n == 0)
		return -1;
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += (double)s->v[i];
	return sum / (double)s->n / 1e6;
}

enum phase { P_OPENING, P_WARMUP, P_POSTING, P_DRAIN, P_HOLD, P_DONE };
static const char *phase_names[] = { "opening", "warmup", "posting", "drain", "hold", "done" };

static struct {
	/* options */
	struct url stream_url[MAX_FRONTS], post_url[MAX_FRONTS];
	char url_stream_arg[MAX_FRONTS][2048], url_post_arg[MAX_FRONTS][2048];
	int n_stream_urls, n_post_urls;
	char channel[80], user[40];
	int n, m, posters;
	double rate;
	long warmup_ms, drain_ms, open_timeout_s, reconnect_delay_ms, ramp_ms;
	double timeout_s, hold_s, post_duration_s;
	const char *json_path, *status_path;
	bool quiet, detail, post_raw;
	int sources;            /* source addresses for listeners, 0: 127.0.0.1 */
	int pad;                /* --pad: filler characters in each message */
	int stalled;            /* --stalled: streams opened and never read */
	/* run */
	char tag[17];
	int ep, timer_fd;
	enum tag_kind timer_kind;
	enum phase phase;
	ns_t t_start, t_open_done, t_post_start, t_post_end, phase_end;
	ns_t next_reconnect;
	bool timed_out, interrupted;
	struct listener *ls;
	struct poster *ps;
	int n_ready, n_failed, n_failed_unready;
	/* deliveries: lat[l * m + seq] = latency (ns), 0 when not received */
	ns_t *lat;
	long long *seen_id;     /* [seq] first id any listener saw, 0 none */
	long long *post_id;     /* [seq] id from the 201, 0 none */
	int *post_status;       /* [seq] HTTP status, 0 unanswered, -1 transport error */
	unsigned char *post_tries; /* [seq] times written */
	ns_t *post_sched;       /* [seq] when it was due */
	long long delivered, duplicates, out_of_order, foreign, resets, other_events;
	long long id_mismatch, comments, keepalives, frames, oversize, bad_seq;
	long long late_after_drain;
	int stalled_fd[STALLED_MAX];
	int stalled_open, stalled_ended;   /* at the report */
	long long stalled_bytes;
	/* listener connection counters */
	long long reconnects, stream_ends, conn_errors, proto_errors, http_status[6];
	long long wrong_type;
	struct stats cfb, cfb_re;
	/* posting */
	int next_seq, pending, retry_q[64], n_retry_q, resolved, ok_posts;
	long long post_retries, post_conn_errors, post_status_class[6];
	ns_t max_lag;
	struct stats post_rtt;
} R;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void set_phase(enum phase p)
{
	R.phase = p;
	if (R.status_path == NULL)
		return;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", R.status_path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%s\n", phase_names[p]);
	fclose(f);
	rename(tmp, R.status_path);
}

static void ep_ctl(int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };
	if (epoll_ctl(R.ep, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL) {
		perror("loadclient: epoll_ctl");
		exit(2);
	}
}

/* Starts a non-blocking connect; -1 on immediate failure. */
static int start_connect(const struct url *u, void *ptr, int source)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (source > 0) {
		/* 127.0.0.(1 + source), port chosen at connect() */
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)source);
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0 ||
		    bind(fd, (const struct sockaddr *)&src, sizeof(src)) != 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *)&u->addr, sizeof(u->addr)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	ep_ctl(EPOLL_CTL_ADD, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, ptr);
	return fd;
}

/* Writes what is left of out; 1 done, 0 would block, -1 error. */
static int flush_out(int fd, const char *out, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t w = send(fd, out + *off, len - *off, MSG_NOSIGNAL);
		if (w > 0) {
			*off += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return 0;
		} else {
			return -1;
		}
	}
	return 1;
}

/* --- listeners ------------------------------------------------------------ */

static void listener_connect(struct listener *L);

static void schedule_reconnect(struct listener *L, ns_t delay)
{
	L->st = C_IDLE_NOCONN;
	L->reconnect_at = now_ns() + delay;
	if (R.next_reconnect == 0 || L->reconnect_at < R.next_reconnect)
		R.next_reconnect = L->reconnect_at;
}

static void listener_close(struct listener *L)
{
	if (L->fd >= 0) {
		ep_ctl(EPOLL_CTL_DEL, L->fd, 0, NULL);
		close(L->fd);
	}
	L->fd = -1;
}

static ns_t reconnect_delay(const struct listener *L)
{
	if (R.reconnect_delay_ms >= 0)
		return (ns_t)R.reconnect_delay_ms * NS_PER_MS;
	return (ns_t)L->retry_ms * NS_PER_MS;
}

/* The listener is done for good (as an EventSource after a bad answer). */
static void listener_fail(struct listener *L)
{
	listener_close(L);
	L->st = C_FAILED;
	R.n_failed++;
	if (!L->ready)
		R.n_failed_unready++;
}

static void on_message(struct listener *L, const char *data, size_t dlen, ns_t t,
                       bool has_id, long long id)
{
	const char *p = memmem(data, dlen, "run=", 4);
	if (p == NULL) {
		R.foreign++;
		return;
	}
	char tag[17];
	long long seq, sent;
	if (sscanf(p, "run=%16[0-9a-f] seq=%lld t=%lld", tag, &seq, &sent) != 3 ||
	    strcmp(tag, R.tag) != 0) {
		R.foreign++;
		return;
	}
	if (seq < 0 || seq >= R.m) {
		R.bad_seq++;
		return;
	}
	if (has_id) {
		if (R.seen_id[seq] == 0)
			R.seen_id[seq] = id;
		else if (R.seen_id[seq] != id)
			R.id_mismatch++;
	}
	ns_t *cell = &R.lat[(size_t)L->idx * (size_t)R.m + (size_t)seq];
	if (*cell != 0) {
		R.duplicates++;
		L->dups++;
		return;
	}
	ns_t lat = t - (ns_t)sent;
	*cell = lat > 0 ? lat : 1;
	R.delivered++;
	if (R.phase == P_HOLD)
		R.late_after_drain++;
}

/* An event id as a number: sse-cgi's decimal id, or nchan's <time>:<tag>
 * as time * 10^6 + tag (tags count messages within one second). */
static long long parse_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end == ':') {
		long long tag = strtoll(end + 1, NULL, 10);
		v = v * 1000000 + (tag >= 0 && tag < 1000000 ? tag : 999999);
	}
	return v;
}

/* A blank line: dispatch the event (WHATWG "dispatch the event"). */
static void sse_dispatch(struct listener *L, ns_t t)
{
	memcpy(L->last_id, L->id_buf, sizeof(L->last_id));
	R.frames++;
	if (!L->ready) {
		L->ready = true;
		R.n_ready++;
	}
	if (L->data.len == 0 && !L->data_over) {
		L->event[0] = '\0';
		L->id_in_event = false;
		return;
	}
	if (L->data_over) {
		R.oversize++;
	} else {
		L->data.len--;               /* the last LF */
		L->data.p[L->data.len] = '\0';
		const char *type = L->event[0] ? L->event : "message";
		bool has_id = L->id_in_event;
		long long id = has_id ? parse_id(L->id_buf) : 0;
		if (has_id) {
			if (id <= L->max_id) {
				R.out_of_order++;
				L->ooo++;
			} else
				L->max_id = id;
		}
		if (strcmp(type, "message") == 0)
			on_message(L, L->data.p, L->data.len, t, has_id, id);
		else if (strcmp(type, "reset") == 0)
			R.resets++;
		else
			R.other_events++;
	}
	L->data.len = 0;
	L->data_over = false;
	L->event[0] = '\0';
	L->id_in_event = false;
}

static void sse_line(struct listener *L, ns_t t)
{
	const char *line = L->line.p ? L->line.p : "";
	size_t len = L->line.len;
	if (L->line_over) {
		R.oversize++;
		L->line_over = false;
		return;
	}
	if (len == 0) {
		sse_dispatch(L, t);
		return;
	}
	if (line[0] == ':') {
		R.comments++;
		if (len >= 11 && memcmp(line, ": keepalive", 11) == 0)
			R.keepalives++;
		return;
	}
	const char *colon = memchr(line, ':', len);
	size_t flen = colon ? (size_t)(colon - line) : len;
	const char *value = colon ? colon + 1 : line + len;
	if (colon && *value == ' ')
		value++;
	size_t vlen = (size_t)(line + len - value);
	if (flen == 4 && memcmp(line, "data", 4) == 0) {
		if (!buf_add(&L->data, value, vlen, DATA_LIMIT) ||
		    !buf_add(&L->data, "\n", 1, DATA_LIMIT))
			L->data_over = true;
	} else if (flen == 5 && memcmp(line, "event", 5) == 0) {
		size_t n = vlen < sizeof(L->event) - 1 ? vlen : sizeof(L->event) - 1;
		memcpy(L->event, value, n);
		L->event[n] = '\0';
	} else if (flen == 2 && memcmp(line, "id", 2) == 0) {
		if (memchr(value, '\0', vlen) == NULL) {
			size_t n = vlen < sizeof(L->id_buf) - 1 ? vlen : sizeof(L->id_buf) - 1;
			memcpy(L->id_buf, value, n);
			L->id_buf[n] = '\0';
			L->id_in_event = true;
		}
	} else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
		bool digits = vlen > 0 && vlen < 10;
		for (size_t i = 0; i < vlen && digits; i++)
			digits = isdigit((unsigned char)value[i]) != 0;
		if (digits)
			L->retry_ms = strtol(value, NULL, 10);
	}
	/* other fields are ignored */
}

static ns_t feed_time;   /* when the bytes being fed were read */

static void sse_feed(void *ctx, const char *p, size_t n)
{
	static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };
	struct listener *L = ctx;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (L->bom < 4) {
			if (L->bom < 3 && c == bom[L->bom]) {
				if (++L->bom == 3)
					L->bom = 4;
				continue;
			}
			for (int j = 0; j < L->bom; j++)
				buf_add(&L->line, (const char *)&bom[j], 1, LINE_LIMIT);
			L->bom = 4;
		}
		if (c == '\n' && L->last_cr) {
			L->last_cr = false;
			continue;
		}
		L->last_cr = false;
		if (c == '\r' || c == '\n') {
			L->last_cr = c == '\r';
			sse_line(L, feed_time);
			L->line.len = 0;
			continue;
		}
		/* the run up to the next line ending in one go */
		size_t j = i + 1;
		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		if (!buf_add(&L->line, p + i, j - i, LINE_LIMIT))
			L->line_over = true;
		i = j - 1;
	}
}

/* The GET an EventSource sends, into out; its length, 0 when it does not
 * fit.  last_id "" sends no Last-Event-ID. */
static size_t stream_request(char *out, size_t cap, const struct url *u,
                             const char *last_id, const char *agent)
{
	char lei[64] = "";
	if (last_id[0] != '\0')
		snprintf(lei, sizeof(lei), "Last-Event-ID: %s\r\n", last_id);
	int n = snprintf(out, cap,
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
	                 "Cache-Control: no-cache\r\nUser-Agent: %s\r\n%s\r\n",
	                 u->path, u->host, agent, lei);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void listener_connect(struct listener *L)
{
	hresp_reset(&L->h);
	L->line.len = 0;
	L->data.len = 0;
	L->event[0] = '\0';
	L->last_cr = L->id_in_event = L->line_over = L->data_over = false;
	L->bom = 0;
	memcpy(L->id_buf, L->last_id, sizeof(L->id_buf));
	L->first_byte = false;
	const struct url *u = &R.stream_url[L->idx % R.n_stream_urls];
	L->outlen = stream_request(L->out, sizeof(L->out), u, L->last_id,
	                           "sse-cgi-loadclient");
	L->outoff = 0;
	L->t_connect = now_ns();
	L->connects++;
	if (L->connects > 1)
		R.reconnects++;
	L->fd = start_connect(u, L, R.sources > 0 ? 1 + L->idx % R.sources : 0);
	if (L->fd < 0) {
		R.conn_errors++;
		schedule_reconnect(L, (ns_t)(L->retry_ms > 1000 ? L->retry_ms : 1000) * NS_PER_MS);
		return;
	}
	L->st = C_CONNECTING;
}

/* The stream ended or broke: reconnect like a browser. */
static void listener_ended(struct listener *L, bool error)
{
	listener_close(L);
	if (error)
		R.conn_errors++;
	else
		R.stream_ends++;
	ns_t d = reconnect_delay(L);
	if (error && d < NS_PER_S)
		d = NS_PER_S;
	schedule_reconnect(L, d);
}

static void listener_event(struct listener *L, uint32_t ev)
{
	if (L->st == C_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(L->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			listener_ended(L, true);
			return;
		}
		L->st = C_SENDING;
	}
	if (L->st == C_SENDING) {
		int r = flush_out(L->fd, L->out, L->outlen, &L->outoff);
		if (r < 0) {
			listener_ended(L, true);
			return;
		}
		if (r == 0)
			return;
		L->st = C_RECEIVING;
		ep_ctl(EPOLL_CTL_MOD, L->fd, EPOLLIN | EPOLLRDHUP, L);
	}
	if (L->st != C_RECEIVING || !(ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	char buf[16384];
	for (int rounds = 0; rounds < 8; rounds++) {
		ssize_t n = recv(L->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF: a Connection: close stream ends here; else it broke */
			bool clean = n == 0 && (L->h.st == H_EOF_BODY || L->h.st == H_DONE);
			listener_ended(L, !clean);
			return;
		}
		feed_time = now_ns();
		if (!L->first_byte) {
			L->first_byte = true;
			ns_t d = feed_time - L->t_connect;
			if (!L->counted_cfb) {
				L->counted_cfb = true;
				L->cfb = d;
				stats_add(&R.cfb, d);
			} else {
				stats_add(&R.cfb_re, d);
			}
		}
		size_t off = 0;
		while (off < (size_t)n) {
			enum hstate before = L->h.st;
			off += hresp_feed(&L->h, buf + off, (size_t)n - off, sse_feed, L);
			if (before == H_HEAD && L->h.st != H_HEAD && L->h.st != H_ERROR) {
				int cls = L->h.status / 100;
				R.http_status[cls >= 1 && cls <= 5 ? cls : 0]++;
				if (L->h.status != 200) {
					listener_fail(L);
					return;
				}
				if (!L->h.event_stream) {
					R.wrong_type++;
					listener_fail(L);
					return;
				}
			}
			if (L->h.st == H_ERROR) {
				R.proto_errors++;
				listener_ended(L, true);
				return;
			}
			if (L->h.st == H_DONE) {
				listener_ended(L, false);  /* the end of a chunked stream */
				return;
			}
		}
	}
}

/* --- posters -------------------------------------------------------------- */

static void poster_body(void *ctx, const char *p, size_t n)
{
	struct poster *P = ctx;
	size_t room = sizeof(P->body) - 1 - P->blen;
	if (n > room)
		n = room;
	memcpy(P->body + P->blen, p, n);
	P->blen += n;
	P->body[P->blen] = '\0';
}

static void poster_close(struct poster *P)
{
	if (P->fd >= 0) {
		ep_ctl(EPOLL_CTL_DEL, P->fd, 0, NULL);
		close(P->fd);
	}
	P->fd = -1;
	P->st = C_IDLE_NOCONN;
}

static void post_resolve(int seq, int status)
{
	R.post_status[seq] = status;
	R.resolved++;
	if (status == 201)
		R.ok_posts++;
}

/* Builds and starts writing the POST for seq (connecting first if needed). */
static void poster_send(struct poster *P, int seq)
{
	P->seq = seq;
	P->outlen = P->outoff = 0;    /* built when the connection is writable */
	P->blen = 0;
	P->body[0] = '\0';
	hresp_reset(&P->h);
	if (P->fd < 0) {
		P->fd = start_connect(&R.post_url[P->front], P, 0);
		P->reused = false;
		P->requests = 0;
		if (P->fd < 0) {
			R.post_conn_errors++;
			post_resolve(seq, -1);
			P->seq = -1;
			return;
		}
		P->st = C_CONNECTING;
		return;   /* the request is built once connected: t is the send time */
	}
	P->reused = true;
	P->st = C_SENDING;
	ep_ctl(EPOLL_CTL_MOD, P->fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, P);
}

static void poster_build(struct poster *P)
{
	char json[512 + PAD_MAX], pad[PAD_MAX + 8] = "";
	P->t_send = now_ns();
	if (R.pad > 0) {   /* " pad=xxx...": after the fields on_message reads */
		memcpy(pad, " pad=", 5);
		memset(pad + 5, 'x', (size_t)R.pad);
		pad[5 + R.pad] = '\0';
	}
	int jn;
	if (R.post_raw)
		jn = snprintf(json, sizeof(json), "run=%s seq=%d t=%lld%s", R.tag, P->seq,
		              (long long)P->t_send, pad);
	else
		jn = snprintf(json, sizeof(json),
		              "{\"channel\":\"%s\",\"user\":\"%s\",\"text\":\"run=%s seq=%d t=%lld%s\"}",
		              R.channel, R.user, R.tag, P->seq, (long long)P->t_send, pad);
	int n = snprintf(P->out, sizeof(P->out),
	                 "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
	                 "Accept: application/json\r\nUser-Agent: sse-cgi-loadclient\r\n"
	                 "Content-Length: %d\r\n\r\n%s",
	                 R.post_url[P->front].path, R.post_url[P->front].host,
	                 R.post_raw ? "text/plain" : "application/json", jn, json);
	P->outlen = (size_t)n;
	P->outoff = 0;
	if (R.post_tries[P->seq] < 255)
		R.post_tries[P->seq]++;
	ns_t lag = P->t_send - R.post_sched[P->seq];
	if (R.rate > 0 && lag > R.max_lag)      /* closed loop: no schedule */
		R.max_lag = lag;
}

/* The connection broke mid-request. */
static void poster_broken(struct poster *P)
{
	int seq = P->seq;
	bool nothing_back = P->h.st == H_HEAD && P->h.hlen == 0;
	bool retry = seq >= 0 && P->reused && nothing_back && R.post_tries[seq] < 2;
	poster_close(P);
	P->seq = -1;
	R.post_conn_errors++;
	if (seq < 0)
		return;
	/* A reused keep-alive connection the server had just closed: the
	 * request never reached the handler; send it once more (fresh). */
	if (retry && R.n_retry_q < (int)(sizeof(R.retry_q) / sizeof(R.retry_q[0]))) {
		R.retry_q[R.n_retry_q++] = seq;
		R.post_retries++;
		return;
	}
	post_resolve(seq, -1);
}

static void poster_event(struct poster *P, uint32_t ev)
{
	if (P->st == C_IDLE) {
		/* the server closed an idle keep-alive connection */
		if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			poster_close(P);
		return;
	}
	if (P->st == C_CONNECTING && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(P->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			poster_broken(P);
			return;
		}
		P->st = C_SENDING;
	}
	if (P->st == C_SENDING) {
		if (P->outlen == 0)
			poster_build(P);
		int r = flush_out(P->fd, P->out, P->outlen, &P->outoff);
		if (r < 0) {
			poster_broken(P);
			return;
		}
		if (r == 0)
			return;
		P->st = C_RECEIVING;
		ep_ctl(EPOLL_CTL_MOD, P->fd, EPOLLIN | EPOLLRDHUP, P);
		return;
	}
	if (P->st != C_RECEIVING)
		return;
	char buf[4096];
	for (;;) {
		ssize_t n = recv(P->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n > 0)
			hresp_feed(&P->h, buf, (size_t)n, poster_body, P);
		if (n == 0 && P->h.st == H_EOF_BODY)
			P->h.st = H_DONE;
		if (P->h.st == H_DONE) {
			int seq = P->seq;
			int cls = P->h.status / 100;
			R.post_status_class[cls >= 1 && cls <= 5 ? cls : 0]++;
			stats_add(&R.post_rtt, now_ns() - P->t_send);
			/* nchan's publisher answers 202 when the channel has no
			 * subscriber yet: the message is stored all the same */
			int status = R.post_raw && P->h.status == 202 ? 201 : P->h.status;
			if (status == 201) {
				const char *id = strstr(P->body, "\"id\":");
				const char *nid = strstr(P->body, "\"last_message_id\": \"");
				R.post_id[seq] = id ? parse_id(id + 5) : nid ? parse_id(nid + 20) : 0;
			}
			post_resolve(seq, status);
			P->seq = -1;
			P->requests++;
			if (P->h.close || n == 0) {
				poster_close(P);
			} else {
				P->st = C_IDLE;
				ep_ctl(EPOLL_CTL_MOD, P->fd, EPOLLIN | EPOLLRDHUP, P);
			}
			return;
		}
		if (n <= 0 || P->h.st == H_ERROR) {
			poster_broken(P);
			return;
		}
	}
}

/* Hands due posts to free connections. */
static void dispatch_posts(void)
{
	if (R.phase != P_POSTING)
		return;
	for (int i = 0; i < R.posters; i++) {
		struct poster *P = &R.ps[i];
		if (P->st != C_IDLE && P->st != C_IDLE_NOCONN)
			continue;
		int seq;
		if (R.n_retry_q > 0) {
			seq = R.retry_q[--R.n_retry_q];
		} else if (R.pending > 0 && R.next_seq < R.m) {
			seq = R.next_seq++;
			R.pending--;
		} else {
			return;
		}
		poster_send(P, seq);
		if (P->st == C_SENDING)
			poster_event(P, EPOLLOUT);
	}
}

/* --- report ------------------------------------------------------------------ */

static void json_stats(FILE *f, const char *name, struct stats *s, bool comma)
{
	qsort(s->v, s->n, sizeof(ns_t), cmp_ns);
	fprintf(f, "\"%s\":{\"count\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	        "\"max\":%.3f,\"mean\":%.3f}%s",
	        name, s->n, pct_ms(s, 0.50), pct_ms(s, 0.90), pct_ms(s, 0.99),
	        pct_ms(s, 1.0), mean_ms(s), comma ? "," : "");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/*
 * --stalled: streams that send their GET and never read a byte, as a frozen
 * tab or a dead network would.  Blocking sockets outside the epoll loop,
 * opened when the listeners are; the server must end them (its buffer for
 * them fills) without the listeners' latency changing.
 */
static void open_stalled(void)
{
	char req[3072];
	size_t n = stream_request(req, sizeof(req), &R.stream_url[0], "",
	                          "sse-cgi-loadclient stalled");
	/* A small receive buffer, fixed (no autotuning), so that what waits
	 * for the stalled stream reaches the server's limit within a short run;
	 * on loopback an autotuned one held the whole run's 825 KB. */
	int rcvbuf = STALLED_RCVBUF;
	for (int i = 0; i < R.stalled; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (fd < 0 || connect(fd, (const struct sockaddr *)&R.stream_url[0].addr,
		                      sizeof(R.stream_url[0].addr)) != 0 ||
		    n == 0 || write(fd, req, n) != (ssize_t)n)
			die("a stalled stream could not be opened: %s", strerror(errno));
		R.stalled_fd[i] = fd;
	}
}

/* A stalled stream's body: only its end matters (bytes count as read). */
static void ignore_body(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
}

/*
 * At the end: which stalled streams did the server end?  Behind a proxy
 * the end arrives after everything the proxy still holds for the stream
 * (megabytes in its socket's send buffer), so each is read through the
 * response parser until its response is over (the last chunk of a chunked
 * body, while the connection stays open for another request; its length;
 * EOF; or a reset), or until STALLED_QUIET_MS pass without a byte (still
 * open).  STALLED_CHECK_S bounds the whole check.
 */
static void check_stalled(void)
{
	static char buf[65536];
	static struct hresp h;
	ns_t deadline = now_ns() + (ns_t)STALLED_CHECK_S * NS_PER_S;
	for (int i = 0; i < R.stalled; i++) {
		int fd = R.stalled_fd[i];
		bool ended = false;
		hresp_reset(&h);
		while (!ended) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			if (now_ns() >= deadline || poll(&pfd, 1, STALLED_QUIET_MS) == 0)
				break;   /* quiet: still open */
			ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (got > 0) {
				R.stalled_bytes += got;
				hresp_feed(&h, buf, (size_t)got, ignore_body, NULL);
				ended = h.st == H_DONE;
			} else if (got == 0 || (errno != EINTR && errno != EAGAIN &&
			                        errno != EWOULDBLOCK)) {
				ended = true;   /* EOF, or a reset */
			}
		}
		if (ended)
			R.stalled_ended++;
		else
			R.stalled_open++;
		close(fd);
	}
}

/* "fronts": the delivery counted per stream URL (listener i on front
 * i mod S), for --url-stream given more than once. */
static void report_fronts(FILE *f)
{
	fprintf(f, ",\"fronts\":[");
	for (int fr = 0; fr < R.n_stream_urls; fr++) {
		struct stats lat = { 0 };
		long long expected = 0, lost = 0, dups = 0, ooo = 0;
		int listeners = 0, opened = 0;
		for (int l = fr; l < R.n; l += R.n_stream_urls) {
			listeners++;
			opened += R.ls[l].ready;
			dups += R.ls[l].dups;
			ooo += R.ls[l].ooo;
			for (int s = 0; s < R.m; s++) {
				if (R.post_status[s] != 201)
					continue;
				expected++;
				ns_t v = R.lat[(size_t)l * (size_t)R.m + (size_t)s];
				if (v != 0)
					stats_add(&lat, v);
				else
					lost++;
			}
		}
		fprintf(f, "%s{\"url_stream\":", fr ? "," : "");
		json_str(f, R.url_stream_arg[fr]);
		fprintf(f, ",\"listeners\":%d,\"opened\":%d,\"expected\":%lld,\"delivered\":%zu,"
		        "\"lost\":%lld,\"duplicates\":%lld,\"out_of_order\":%lld,",
		        listeners, opened, expected, lat.n, lost, dups, ooo);
		json_stats(f, "latency_ms", &lat, false);
		fprintf(f, "}");
		free(lat.v);
	}
	fprintf(f, "]");
}

static void report(void)
{
	ns_t t_end = now_ns();
	struct stats lat = { 0 };
	long long expected = 0, lost = 0, lost_unopened = 0;
	for (int s = 0; s < R.m; s++) {
		if (R.post_status[s] != 201)
			continue;
		for (int l = 0; l < R.n; l++) {
			expected++;
			ns_t v = R.lat[(size_t)l * (size_t)R.m + (size_t)s];
			if (v != 0) {
				stats_add(&lat, v);
			} else {
				lost++;
				if (R.ls[l].connects == 0 || !R.ls[l].ready)
					lost_unopened++;
			}
		}
	}
	long long delivered_unconfirmed = 0, id_vs_post = 0;
	for (int s = 0; s < R.m; s++) {
		if (R.post_status[s] != 201) {
			for (int l = 0; l < R.n; l++)
				if (R.lat[(size_t)l * (size_t)R.m + (size_t)s] != 0)
					delivered_unconfirmed++;
		} else if (R.seen_id[s] != 0 && R.post_id[s] != 0 && R.seen_id[s] != R.post_id[s]) {
			id_vs_post++;
		}
	}
	int sent = 0, failed = 0, transport = 0;
	for (int s = 0; s < R.m; s++) {
		if (R.post_status[s] != 0)
			sent++;
		if (R.post_status[s] != 0 && R.post_status[s] != 201)
			failed++;
		if (R.post_status[s] == -1)
			transport++;
	}
	double post_span = R.t_post_end > R.t_post_start ? (double)(R.t_post_end - R.t_post_start) / 1e9 : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;

	FILE *f = stdout;
	if (R.json_path != NULL && strcmp(R.json_path, "-") != 0) {
		f = fopen(R.json_path, "w");
		if (f == NULL) {
			perror(R.json_path);
			f = stdout;
		}
	}
	fprintf(f, "{\"tool\":\"loadclient\",\"run\":\"%s\",", R.tag);
	fprintf(f, "\"config\":{\"url_stream\":");
	json_str(f, R.url_stream_arg[0]);
	fprintf(f, ",\"url_post\":");
	json_str(f, R.url_post_arg[0]);
	fprintf(f, ",\"url_streams\":[");
	for (int i = 0; i < R.n_stream_urls; i++) {
		fprintf(f, "%s", i ? "," : "");
		json_str(f, R.url_stream_arg[i]);
	}
	fprintf(f, "],\"url_posts\":[");
	for (int i = 0; i < R.n_post_urls; i++) {
		fprintf(f, "%s", i ? "," : "");
		json_str(f, R.url_post_arg[i]);
	}
	fprintf(f, "]");
	fprintf(f, ",\"channel\":\"%s\","
	        "\"n\":%d,\"m\":%d,\"rate\":%.3f,\"posters\":%d,\"warmup_ms\":%ld,\"drain_ms\":%ld,"
	        "\"hold_s\":%.1f,\"timeout_s\":%.1f,\"reconnect_delay_ms\":%ld},",
	        R.channel, R.n, R.m, R.rate, R.posters,
	        R.warmup_ms, R.drain_ms, R.hold_s, R.timeout_s, R.reconnect_delay_ms);
	fprintf(f, "\"timed_out\":%s,\"interrupted\":%s,\"phase_reached\":\"%s\",\"elapsed_s\":%.3f,",
	        R.timed_out ? "true" : "false", R.interrupted ? "true" : "false",
	        phase_names[R.phase], (double)(t_end - R.t_start) / 1e9);
	fprintf(f, "\"listeners\":{\"requested\":%d,\"opened\":%d,\"failed\":%d,"
	        "\"open_all_ms\":%.1f,",
	        R.n, R.n_ready, R.n_failed,
	        R.t_open_done ? (double)(R.t_open_done - R.t_start) / 1e6 : -1.0);
	json_stats(f, "connect_to_first_byte_ms", &R.cfb, true);
	json_stats(f, "reconnect_to_first_byte_ms", &R.cfb_re, true);
	fprintf(f, "\"reconnects\":%lld,\"stream_ends\":%lld,\"conn_errors\":%lld,"
	        "\"proto_errors\":%lld,\"wrong_content_type\":%lld,"
	        "\"http_status\":{\"2xx\":%lld,\"3xx\":%lld,\"4xx\":%lld,\"5xx\":%lld,\"other\":%lld},"
	        "\"frames\":%lld,\"comments\":%lld,\"keepalives\":%lld,\"resets\":%lld,"
	        "\"other_events\":%lld,\"foreign_messages\":%lld,\"oversize\":%lld},",
	        R.reconnects, R.stream_ends, R.conn_errors, R.proto_errors, R.wrong_type,
	        R.http_status[2], R.http_status[3], R.http_status[4], R.http_status[5],
	        R.http_status[0] + R.http_status[1], R.frames, R.comments, R.keepalives,
	        R.resets, R.other_events, R.foreign, R.oversize);
	fprintf(f, "\"posts\":{\"requested\":%d,\"sent\":%d,\"ok\":%d,\"failed\":%d,"
	        "\"status\":{\"2xx\":%lld,\"3xx\":%lld,\"4xx\":%lld,\"5xx\":%lld,\"transport\":%d},"
	        "\"retries\":%lld,\"conn_errors\":%lld,\"span_s\":%.3f,\"ok_per_s\":%.1f,"
	        "\"max_send_lag_ms\":%.1f,",
	        R.m, sent, R.ok_posts, failed, R.post_status_class[2], R.post_status_class[3],
	        R.post_status_class[4], R.post_status_class[5], transport,
	        R.post_retries, R.post_conn_errors, post_span,
	        post_span > 0 ? R.ok_posts / post_span : 0.0, (double)R.max_lag / 1e6);
	json_stats(f, "response_ms", &R.post_rtt, false);
	fprintf(f, "},");
	fprintf(f, "\"delivery\":{\"expected\":%lld,\"delivered\":%lld,\"lost\":%lld,"
	        "\"lost_on_unopened_listeners\":%lld,\"duplicates\":%lld,\"out_of_order\":%lld,"
	        "\"id_mismatch\":%lld,\"id_differs_from_201\":%lld,\"delivered_unconfirmed\":%lld,"
	        "\"late_after_drain\":%lld,\"bad_seq\":%lld,",
	        expected, (long long)lat.n, lost, lost_unopened, R.duplicates, R.out_of_order,
	        R.id_mismatch, id_vs_post, delivered_unconfirmed, R.late_after_drain, R.bad_seq);
	struct stats lat_copy = lat;
	json_stats(f, "latency_ms", &lat_copy, false);
	fprintf(f, "},\"client\":{\"cpu_s\":%.3f,\"max_rss_kib\":%ld}", cpu, ru.ru_maxrss);
	if (R.n_stream_urls > 1)
		report_fronts(f);
	fprintf(f, ",\"stalled\":{\"count\":%d,\"ended\":%d,\"open\":%d,\"bytes\":%lld,\"pad\":%d}",
	        R.stalled, R.stalled_ended, R.stalled_open, R.stalled_bytes, R.pad);
	if (R.detail) {
		/* [delivered, lost, duplicates, out_of_order, connects, first_byte_ms] */
		fprintf(f, ",\"per_listener\":[");
		for (int l = 0; l < R.n; l++) {
			int got = 0, miss = 0;
			for (int s = 0; s < R.m; s++) {
				if (R.post_status[s] != 201)
					continue;
				if (R.lat[(size_t)l * (size_t)R.m + (size_t)s] != 0)
					got++;
				else
					miss++;
			}
			struct listener *L = &R.ls[l];
			fprintf(f, "%s[%d,%d,%u,%u,%u,%.3f]", l ? "," : "", got, miss, L->dups,
			        L->ooo, L->connects, L->cfb ? (double)L->cfb / 1e6 : -1.0);
		}
		/* [status, id, listeners reached, min and max latency ms] */
		fprintf(f, "],\"per_message\":[");
		for (int s = 0; s < R.m; s++) {
			int reached = 0;
			ns_t best = 0, worst = 0;
			for (int l = 0; l < R.n; l++) {
				ns_t v = R.lat[(size_t)l * (size_t)R.m + (size_t)s];
				if (v != 0) {
					reached++;
					if (v > worst)
						worst = v;
					if (best == 0 || v < best)
						best = v;
				}
			}
			fprintf(f, "%s[%d,%lld,%d,%.3f,%.3f]", s ? "," : "", R.post_status[s],
			        R.post_id[s], reached, (double)best / 1e6, (double)worst / 1e6);
		}
		fprintf(f, "]");
	}
	fprintf(f, "}\n");
	if (f != stdout)
		fclose(f);

	if (!R.quiet) {
		fprintf(stderr,
		        "loadclient run %s: %s%s\n"
		        "  listeners  %d/%d opened (%d failed) in %.0f ms; first byte p50 %.1f ms, p99 %.1f ms, max %.1f ms\n"
		        "             %lld reconnects, %lld stream ends, %lld connection errors, %lld resets\n"
		        "  posts      %d/%d ok (%d failed) in %.2f s = %.1f/s; response p50 %.1f ms, p99 %.1f ms; max lag %.1f ms\n"
		        "  delivery   %lld/%lld delivered, %lld lost, %lld duplicates, %lld out of order\n"
		        "  latency    p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		        R.tag, R.timed_out ? "TIMED OUT in phase " : "finished",
		        R.timed_out ? phase_names[R.phase] : "",
		        R.n_ready, R.n, R.n_failed,
		        R.t_open_done ? (double)(R.t_open_done - R.t_start) / 1e6 : -1.0,
		        pct_ms(&R.cfb, 0.5), pct_ms(&R.cfb, 0.99), pct_ms(&R.cfb, 1.0),
		        R.reconnects, R.stream_ends, R.conn_errors, R.resets,
		        R.ok_posts, R.m, failed, post_span,
		        post_span > 0 ? R.ok_posts / post_span : 0.0,
		        pct_ms(&R.post_rtt, 0.5), pct_ms(&R.post_rtt, 0.99), (double)R.max_lag / 1e6,
		        (long long)lat.n, expected, lost, R.duplicates, R.out_of_order,
		        pct_ms(&lat, 0.5), pct_ms(&lat, 0.9), pct_ms(&lat, 0.99), pct_ms(&lat, 1.0));
		if (R.stalled > 0)
			fprintf(stderr, "  stalled    %d never read: at the end %d had ended, %d were still"
			        " open; they got %lld bytes\n",
			        R.stalled, R.stalled_ended, R.stalled_open, R.stalled_bytes);
	}
	free(lat.v);
}

/* --- main loop ------------------------------------------------------------- */

static long long expected_deliveries(void)
{
	return (long long)R.ok_posts * R.n;
}

static void start_posting(void)
{
	set_phase(P_POSTING);
	R.t_post_start = now_ns();
	if (R.rate > 0) {
		ns_t period = (ns_t)(1e9 / R.rate);
		for (int s = 0; s < R.m; s++)
			R.post_sched[s] = R.t_post_start + (ns_t)s * period;
		R.pending = R.m > 0 ? 1 : 0;      /* the first one now */
		struct itimerspec its = {
			.it_interval = { (time_t)(period / NS_PER_S), (long)(period % NS_PER_S) },
			.it_value = { (time_t)(period / NS_PER_S), (long)(period % NS_PER_S) },
		};
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
		timerfd_settime(R.timer_fd, 0, &its, NULL);
	} else {
		for (int s = 0; s < R.m; s++)
			R.post_sched[s] = R.t_post_start;
		R.pending = R.m;                  /* closed loop: all due */
	}
	dispatch_posts();
}

static void stop_posting_timer(void)
{
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	timerfd_settime(R.timer_fd, 0, &off, NULL);
}

static void advance_phases(ns_t now)
{
	switch (R.phase) {
	case P_OPENING:
		if (R.n_ready + R.n_failed_unready >= R.n || now >= R.phase_end) {
			R.t_open_done = now;
			open_stalled();
			set_phase(P_WARMUP);
			R.phase_end = now + (ns_t)R.warmup_ms * NS_PER_MS;
		}
		break;
	case P_WARMUP:
		if (now >= R.phase_end) {
			start_posting();
			R.phase_end = R.post_duration_s > 0 ? now + (ns_t)(R.post_duration_s * 1e9) : 0;
		}
		break;
	case P_POSTING: {
		bool all_sent = R.next_seq >= R.m && R.n_retry_q == 0;
		bool out_of_time = R.phase_end != 0 && now >= R.phase_end;
		if (out_of_time && !all_sent) {
			R.pending = 0;           /* stop sending; wait for those in flight */
			R.next_seq = R.m;
			R.n_retry_q = 0;
			all_sent = true;
		}
		int in_flight = 0;
		for (int i = 0; i < R.posters; i++)
			in_flight += R.ps[i].seq >= 0;
		if (all_sent && in_flight == 0) {
			stop_posting_timer();
			R.t_post_end = now;
			set_phase(P_DRAIN);
			R.phase_end = now + (ns_t)R.drain_ms * NS_PER_MS;
		}
		break;
	}
	case P_DRAIN:
		if (R.delivered >= expected_deliveries() || now >= R.phase_end) {
			set_phase(P_HOLD);
			R.phase_end = now + (ns_t)(R.hold_s * 1e9);
		}
		break;
	case P_HOLD:
		if (now >= R.phase_end)
			set_phase(P_DONE);
		break;
	case P_DONE:
		break;
	}
}

static void reconnect_due(ns_t now)
{
	if (R.next_reconnect == 0 || now < R.next_reconnect)
		return;
	R.next_reconnect = 0;
	for (int i = 0; i < R.n; i++) {
		struct listener *L = &R.ls[i];
		if (L->st != C_IDLE_NOCONN || L->reconnect_at == 0)
			continue;
		if (L->reconnect_at <= now) {
			L->reconnect_at = 0;
			listener_connect(L);
		} else if (R.next_reconnect == 0 || L->reconnect_at < R.next_reconnect) {
			R.next_reconnect = L->reconnect_at;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadclient --url-stream URL --url-post URL [-n LISTENERS] [-m MESSAGES]\n"
	        "                  [-r RATE/s (0: closed loop)] [-k POST_CONNECTIONS] [--channel C]\n"
	        "                  [--warmup MS] [--drain MS] [--hold S] [--open-timeout S]\n"
	        "                  [--timeout S] [--post-duration S] [--ramp MS]\n"
	        "                  [--reconnect-delay MS|retry] [--status-file F] [--json F]\n"
	        "                  [--detail] [--quiet] [--post-raw] [--sources K]\n"
	        "                  [--pad CHARS (0..1900)] [--stalled K (0..100)]\n"
	        "--url-stream and --url-post may be repeated (up to 8 fronts): listener i\n"
	        "streams from the (i mod S)-th, poster j posts to the (j mod P)-th.\n");
	exit(2);
}

static const char *need(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		/* root (CAP_SYS_RESOURCE) may raise the hard limit too */
		struct rlimit up = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
		fprintf(stderr, "loadclient: need %llu file descriptors, hard limit is %llu\n",
		        (unsigned long long)want, (unsigned long long)rl.rlim_max);
		exit(2);
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		perror("loadclient: setrlimit(RLIMIT_NOFILE)");
		exit(2);
	}
}

int main(int argc, char **argv)
{
	R.n = 10;
	R.m = 50;
	R.rate = 5;
	R.posters = 4;
	R.warmup_ms = 1000;
	R.drain_ms = 5000;
	R.open_timeout_s = 30;
	R.timeout_s = 120;
	R.reconnect_delay_ms = -1;    /* the server's retry: */
	snprintf(R.user, sizeof(R.user), "bench");
	const char *channel = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--url-stream") == 0) {
			if (R.n_stream_urls == MAX_FRONTS)
				die("at most %d --url-stream", MAX_FRONTS);
			snprintf(R.url_stream_arg[R.n_stream_urls++], sizeof(R.url_stream_arg[0]),
			         "%s", need(argc, argv, &i));
		} else if (strcmp(a, "--url-post") == 0) {
			if (R.n_post_urls == MAX_FRONTS)
				die("at most %d --url-post", MAX_FRONTS);
			snprintf(R.url_post_arg[R.n_post_urls++], sizeof(R.url_post_arg[0]),
			         "%s", need(argc, argv, &i));
		}
		else if (strcmp(a, "-n") == 0)
			R.n = atoi(need(argc, argv, &i));
		else if (strcmp(a, "-m") == 0)
			R.m = atoi(need(argc, argv, &i));
		else if (strcmp(a, "-r") == 0)
			R.rate = atof(need(argc, argv, &i));
		else if (strcmp(a, "-k") == 0 || strcmp(a, "--posters") == 0)
			R.posters = atoi(need(argc, argv, &i));
		else if (strcmp(a, "--channel") == 0)
			channel = need(argc, argv, &i);
		else if (strcmp(a, "--user") == 0)
			snprintf(R.user, sizeof(R.user), "%s", need(argc, argv, &i));
		else if (strcmp(a, "--warmup") == 0)
			R.warmup_ms = atol(need(argc, argv, &i));
		else if (strcmp(a, "--drain") == 0)
			R.drain_ms = atol(need(argc, argv, &i));
		else if (strcmp(a, "--hold") == 0)
			R.hold_s = atof(need(argc, argv, &i));
		else if (strcmp(a, "--open-timeout") == 0)
			R.open_timeout_s = atol(need(argc, argv, &i));
		else if (strcmp(a, "--timeout") == 0)
			R.timeout_s = atof(need(argc, argv, &i));
		else if (strcmp(a, "--post-duration") == 0)
			R.post_duration_s = atof(need(argc, argv, &i));
		else if (strcmp(a, "--ramp") == 0)
			R.ramp_ms = atol(need(argc, argv, &i));
		else if (strcmp(a, "--reconnect-delay") == 0) {
			const char *v = need(argc, argv, &i);
			R.reconnect_delay_ms = strcmp(v, "retry") == 0 ? -1 : atol(v);
		} else if (strcmp(a, "--status-file") == 0)
			R.status_path = need(argc, argv, &i);
		else if (strcmp(a, "--json") == 0)
			R.json_path = need(argc, argv, &i);
		else if (strcmp(a, "--quiet") == 0)
			R.quiet = true;
		else if (strcmp(a, "--detail") == 0)
			R.detail = true;
		else if (strcmp(a, "--post-raw") == 0)
			R.post_raw = true;
		else if (strcmp(a, "--sources") == 0)
			R.sources = atoi(need(argc, argv, &i));
		else if (strcmp(a, "--pad") == 0)
			R.pad = atoi(need(argc, argv, &i));
		else if (strcmp(a, "--stalled") == 0)
			R.stalled = atoi(need(argc, argv, &i));
		else
			usage();
	}
	if (R.detail && (long long)R.n * R.m > 2000000)
		die("%s", "--detail is for N x M up to 2000000");
	if (R.n < 0 || R.n > MAX_LISTENERS || R.m < 0 || R.m > MAX_MESSAGES ||
	    (long long)R.n * R.m > MAX_CELLS || R.rate < 0 || R.posters < 1 ||
	    R.posters > 1024 || R.timeout_s <= 0 || R.timeout_s > 3600 ||
	    R.hold_s < 0 || R.hold_s > 3600 || R.warmup_ms < 0 || R.drain_ms < 0)
		die("%s", "an option is out of range (see the usage)");
	if (R.n > 0 && R.n_stream_urls == 0)
		die("%s", "--url-stream is required with listeners");
	if (R.m > 0 && R.n_post_urls == 0)
		die("%s", "--url-post is required with messages");
	for (int i = 0; i < R.n_stream_urls; i++)
		parse_url(R.url_stream_arg[i], &R.stream_url[i]);
	for (int i = 0; i < R.n_post_urls; i++)
		parse_url(R.url_post_arg[i], &R.post_url[i]);
	char from_url[80];
	if (channel == NULL)
		channel = url_channel(R.stream_url[0].path, from_url, sizeof(from_url));
	if (channel == NULL)
		channel = "bench";
	for (const char *c = channel; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-')
			die("bad channel name: %s", channel);
	if (strlen(channel) > 64 || channel[0] == '\0')
		die("bad channel name: %s", channel);
	snprintf(R.channel, sizeof(R.channel), "%s", channel);
	for (int i = 0; i < R.n_stream_urls; i++)
		set_channel(R.stream_url[i].path, sizeof(R.stream_url[i].path), R.channel);

	if (R.pad < 0 || R.pad > PAD_MAX || R.stalled < 0 || R.stalled > STALLED_MAX ||
	    (R.stalled > 0 && R.n == 0))
		die("--pad is 0..%d, --stalled 0..%d (and needs listeners)", PAD_MAX, STALLED_MAX);
	if (R.sources < 0 || R.sources > 250)
		die("%s", "--sources is 0..250");
	if (R.sources == 0 && R.n > 5000)
		R.sources = (R.n + 4999) / 5000;
	raise_nofile((rlim_t)R.n + (rlim_t)R.posters + (rlim_t)R.stalled + 64);

	unsigned char rnd[8];
	FILE *ur = fopen("/dev/urandom", "rb");
	if (ur == NULL || fread(rnd, 1, sizeof(rnd), ur) != sizeof(rnd))
		die("%s", "cannot read /dev/urandom");
	fclose(ur);
	for (int i = 0; i < 8; i++)
		snprintf(R.tag + 2 * i, 3, "%02x", rnd[i]);

	R.ls = calloc((size_t)R.n + 1, sizeof(*R.ls));
	R.ps = calloc((size_t)R.posters, sizeof(*R.ps));
	R.lat = calloc((size_t)R.n * (size_t)R.m + 1, sizeof(ns_t));
	R.seen_id = calloc((size_t)R.m + 1, sizeof(long long));
	R.post_id = calloc((size_t)R.m + 1, sizeof(long long));
	R.post_status = calloc((size_t)R.m + 1, sizeof(int));
	R.post_sched = calloc((size_t)R.m + 1, sizeof(ns_t));
	R.post_tries = calloc((size_t)R.m + 1, 1);
	if (!R.post_tries || !R.ls || !R.ps || !R.lat || !R.seen_id || !R.post_id || !R.post_status || !R.post_sched)
		die("%s", "out of memory");

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	R.ep = epoll_create1(EPOLL_CLOEXEC);
	R.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (R.ep < 0 || R.timer_fd < 0)
		die("%s", "epoll/timerfd failed");
	R.timer_kind = K_TIMER;
	ep_ctl(EPOLL_CTL_ADD, R.timer_fd, EPOLLIN, &R.timer_kind);

	for (int i = 0; i < R.posters; i++) {
		R.ps[i].kind = K_POSTER;
		R.ps[i].fd = -1;
		R.ps[i].seq = -1;
		R.ps[i].st = C_IDLE_NOCONN;
		R.ps[i].front = i % (R.n_post_urls > 0 ? R.n_post_urls : 1);
	}
	R.t_start = now_ns();
	ns_t hard_deadline = R.t_start + (ns_t)(R.timeout_s * 1e9);
	set_phase(P_OPENING);
	R.phase_end = R.t_start + (ns_t)R.open_timeout_s * NS_PER_S;
	for (int i = 0; i < R.n; i++) {
		struct listener *L = &R.ls[i];
		L->kind = K_LISTENER;
		L->idx = i;
		L->fd = -1;
		L->retry_ms = DEFAULT_RETRY_MS;
		L->st = C_IDLE_NOCONN;
		if (R.ramp_ms > 0 && R.n > 1) {
			L->reconnect_at = R.t_start + (ns_t)R.ramp_ms * NS_PER_MS * i / (R.n - 1);
			if (R.next_reconnect == 0 || L->reconnect_at < R.next_reconnect)
				R.next_reconnect = L->reconnect_at;
		} else {
			listener_connect(L);
		}
	}

	struct epoll_event evs[256];
	while (R.phase != P_DONE) {
		ns_t now = now_ns();
		if (stop_flag) {
			R.interrupted = true;
			break;
		}
		if (now >= hard_deadline) {
			R.timed_out = true;
			break;
		}
		advance_phases(now);
		if (R.phase == P_DONE)
			break;
		reconnect_due(now);
		dispatch_posts();
		ns_t wake = hard_deadline;
		if (R.phase_end != 0 && R.phase_end < wake)
			wake = R.phase_end;
		if (R.next_reconnect != 0 && R.next_reconnect < wake)
			wake = R.next_reconnect;
		ns_t wait = wake - now;
		int timeout = wait <= 0 ? 0 : (int)((wait + NS_PER_MS - 1) / NS_PER_MS);
		if (R.phase == P_POSTING && timeout > 100)
			timeout = 100;    /* re-check in-flight posts regularly */
		int k = epoll_wait(R.ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout);
		if (k < 0 && errno != EINTR) {
			perror("loadclient: epoll_wait");
			break;
		}
		for (int i = 0; i < k; i++) {
			enum tag_kind *kind = evs[i].data.ptr;
			if (*kind == K_LISTENER) {
				listener_event((struct listener *)(void *)kind, evs[i].events);
			} else if (*kind == K_POSTER) {
				poster_event((struct poster *)(void *)kind, evs[i].events);
			} else {
				uint64_t exp = 0;
				if (read(R.timer_fd, &exp, sizeof(exp)) == (ssize_t)sizeof(exp)) {
					long long room = (long long)R.m - R.next_seq - R.pending;
					R.pending += (int)((long long)exp < room ? (long long)exp : room);
				}
			}
		}
	}
	for (int i = 0; i < R.n; i++)
		listener_close(&R.ls[i]);
	for (int i = 0; i < R.posters; i++)
		poster_close(&R.ps[i]);
	if (R.t_post_end == 0 && R.t_post_start != 0)
		R.t_post_end = now_ns();
	check_stalled();
	report();
	set_phase(P_DONE);
	int rc = R.timed_out || R.interrupted ? 3 : 0;
	return rc;
}
