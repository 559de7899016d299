/*
 * hub_private: the hub's connection and the hub itself, shared by hub.c
 * (requests, the fan-out, timers, the drain) and accept.c (taking
 * connections).  Nothing outside src/hub/ includes it.
 */
#ifndef SSE_HUB_PRIVATE_H
#define SSE_HUB_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "channels.h"
#include "endpoint.h"
#include "fcgi_wire.h"
#include "hub.h"
#include "loop.h"
#include "machine.h"
#include "queue.h"
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

struct hub {
	struct endpoint *ep;
	const struct config *cfg;
	struct feed *feed;
	struct loop *loop;
	struct loop_watch listen, wake;
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
	char readbuf[HUB_READ_CHUNK];
};

/* What a connection is watched for besides writability. */
#define HUB_READABLE (EPOLLIN | EPOLLRDHUP)

/* Watches the listening socket (on) or stops (off): accept.c. */
void hub_accepting(struct hub *h, bool on);
/* What the streams counted, added to DATABASE.metrics (hub.c). */
void hub_hand_on_counts(struct hub *h);
/* A new connection on fd, asking, watched; false when it could not be
 * (the caller closes fd): hub.c. */
bool hub_conn_new(struct hub *h, int fd, bool overflow);

#endif
