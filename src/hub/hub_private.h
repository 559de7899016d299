/*
 * hub_private: the hub's connection and the hub itself, shared by hub.c
 * (requests, the fan-out, timers, the drain), accept.c (taking
 * connections) and metrics.c (GET /metrics on metrics_listen).  Nothing outside src/hub/ includes it.
 */
#ifndef SSE_HUB_PRIVATE_H
#define SSE_HUB_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "channels.h"
#include "endpoint.h"
#include "fcgi_wire.h"
#include "hub.h"
#include "loop.h"
#include "machine.h"
#include "queue.h"
#include "scrape.h"
#include "tally.h"

enum conn_state {
	CONN_ASKING,   /* reading the request's records */
	CONN_LIVE,     /* a stream, on its channel's list */
	CONN_ENDING,   /* its end is written, not all of it has left yet */
	CONN_CLOSING,  /* all has left and our side is shut: the web server
	                * may still be sending the request's last records
	                * (Apache sends the empty STDIN apart, and a close
	                * before it arrives makes Apache answer 503), so the
	                * connection closes when it closes, or at a deadline */
};

struct hub;

/* One FastCGI connection: one request at a time, mostly one stream. */
struct conn {
	struct loop_watch watch;   /* first: the loop hands it back */
	struct hub *hub;
	enum conn_state state;
	bool overflow;             /* taken on the reserve descriptor */
	uint16_t id;               /* the FastCGI request id */
	struct fcgi_parser parser;
	struct follower link;      /* on its channel's list, or asking or ending */
	struct conn *next_dead;    /* closed this round */
	long long deadline;        /* ms: asking, ending or closing */
	struct queue queue;
	struct stream stream;      /* the machine: every rule of the stream */
};

/* A connection to the metrics socket: one scrape, then closed. */
struct scrape_conn {
	struct loop_watch watch;   /* first; fd -1: the place is free */
	struct hub *hub;
	long long deadline;        /* ms: asked and answered by then, or closed */
	size_t got;                /* bytes of head read */
	struct strbuf answer;      /* built once the head is in; empty before */
	size_t sent;               /* bytes of answer written */
	char head[SCRAPE_HEAD_MAX];
};

struct hub {
	struct endpoint *ep;
	const struct config *cfg;
	struct feed *feed;
	struct loop *loop;
	struct loop_watch listen, wake;
	unsigned wake_epoch;       /* feed_wake_epoch of wake.fd */
	int reserve_fd;
	bool accepting;            /* the listening socket is watched */
	long long next_look;       /* ms: the fallback look at the feed */
	struct channel asking;     /* connections that have not asked yet */
	struct channel ending;     /* ended, their last bytes still leaving */
	struct channels channels;
	long live, max_live;
	long open, max_open;       /* connections not closed yet, and room */
	bool overflowing;          /* an overflow connection is being answered */
	struct conn *dead;         /* closed this round, freed after it */
	long long now;             /* ms, at the start of this round's work */
	struct tally_streams counts;   /* what the streams counted since the
	                                * last hand-on (hub_hand_on_counts) */
	long long next_tally;      /* ms: the next hand-on */
	struct strbuf frame, records;  /* scratch: one event, its records */
	struct loop_watch metrics;     /* metrics_listen's socket (fd -1: off) */
	int metrics_fd;                /* the same, kept while not watched */
	struct scrape_conn scrapes[HUB_SCRAPES_MAX];
	char readbuf[HUB_READ_CHUNK];
};

/* What a connection is watched for besides writability. */
#define HUB_READABLE (EPOLLIN | EPOLLRDHUP)

/* Watches the listening socket (on) or stops (off): accept.c. */
void hub_accepting(struct hub *h, bool on);
/* metrics_listen (metrics.c): nothing open (first, so that a failed start
 * closes nothing it did not open), opened and watched (false: logged), the
 * scrapes past their deadline closed, everything closed. */
void hub_metrics_init(struct hub *h);
bool hub_metrics_open(struct hub *h);
void hub_metrics_tick(struct hub *h);
void hub_metrics_close(struct hub *h);
/* What the streams counted, added to DATABASE.metrics (hub.c). */
void hub_hand_on_counts(struct hub *h);
/* A new connection on fd, asking, watched; false when it could not be
 * (the caller closes fd): hub.c. */
bool hub_conn_new(struct hub *h, int fd, bool overflow);

/* The connection that follows by f. */
static inline struct conn *conn_of(struct follower *f)
{
	return (struct conn *)((char *)f - offsetof(struct conn, link));
}

/* conn.c: a connection's queue, its end and its close. */
void conn_close(struct hub *h, struct conn *c);     /* at once; freed later */
void conn_free_dead(struct hub *h);                 /* the round's closed */
void conn_flush(struct hub *h, struct conn *c);     /* writes what waits */
void conn_send(struct hub *h, struct conn *c, const void *data, size_t len);
bool conn_output(void *ctx, const char *data, size_t len);   /* the machine's */
void conn_end(struct hub *h, struct conn *c);       /* END_REQUEST, then close */
void conn_settle(struct hub *h, struct conn *c);    /* after a machine event */

#endif
