/*
 * queue: what a hub connection owes its web server, as whole FastCGI
 * records, written without ever blocking.
 *
 * Bytes go straight to the socket when nothing waits, else behind what
 * waits; what the socket does not take stays here until it is writable.
 * The queue knows where whole records begin, so that a stream that must
 * be cut short (its client stopped reading) can drop what waits after the
 * record being written: half a record would break the FastCGI stream for
 * the web server, and the browser would see a broken response.
 *
 * No epoll here: the caller watches for writability when the queue says
 * QUEUE_WAITING.  Its tests need a socketpair at most.
 */
#ifndef SSE_QUEUE_H
#define SSE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct queue {
	int fd;
	struct strbuf backlog;     /* bytes the socket has not taken yet */
	size_t off;                /* how much of backlog has left */
	size_t bound;              /* in backlog: whole records from here on
	                            * (before it, the rest of one begun) */
};

enum queue_result {
	QUEUE_EMPTY,      /* everything has left */
	QUEUE_WAITING,    /* bytes wait: watch for writability */
	QUEUE_OVER,       /* refused: it would owe more than the bound */
	QUEUE_BROKEN,     /* the web server went away (or memory ran out) */
};

void queue_init(struct queue *q, int fd);
void queue_free(struct queue *q);

/* Bytes owed (waiting in the queue). */
size_t queue_owed(const struct queue *q);

/*
 * Sends whole records: at once when nothing waits, the rest behind what
 * waits.  QUEUE_OVER, with nothing taken, when what would wait passes max.
 */
enum queue_result queue_send(struct queue *q, const void *data, size_t len,
                             size_t max);

/* Writes what waits, as far as the socket takes it. */
enum queue_result queue_flush(struct queue *q);

/* Drops what waits after the record being written (see above). */
void queue_cut(struct queue *q);

#endif
