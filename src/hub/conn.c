/*
 * hub/conn: one FastCGI connection's life in the hub: what it owes the web
 * server (its queue, written without blocking), the end of its request
 * (the END_REQUEST record, then the close once all has left), a stream
 * whose client stopped reading, and the close, whose memory waits for the
 * end of the loop's round (a connection may still be on the round's list).
 * The requests, the fan-out and the timers that drive it are hub.c's.
 */
#include "hub_private.h"

#include <assert.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Closes at once; the memory goes at the end of the round. */
void conn_close(struct hub *h, struct conn *c)
{
	if (c->watch.fd < 0)
		return;
	if (c->state == CONN_LIVE) {
		stream_on_gone(&c->stream);   /* the web server went: its client */
		h->live--;
	}
	assert(h->live >= 0);
	channel_remove(&c->link);
	int fd = c->watch.fd;
	loop_remove(h->loop, &c->watch);
	close(fd);
	h->open--;
	assert(h->open >= 0);
	if (c->overflow) {
		h->overflowing = false;
		if (h->reserve_fd < 0)
			h->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		hub_accepting(h, true);
	}
	c->next_dead = h->dead;
	h->dead = c;
}

void conn_free_dead(struct hub *h)
{
	while (h->dead != NULL) {
		struct conn *c = h->dead;
		h->dead = c->next_dead;
		fcgi_parser_free(&c->parser);
		queue_free(&c->queue);
		stream_free(&c->stream);
		free(c);
	}
}

/* Writes what waits; an ending connection is shut once all of it left. */
void conn_flush(struct hub *h, struct conn *c)
{
	switch (queue_flush(&c->queue)) {
	case QUEUE_WAITING:
		loop_change(h->loop, &c->watch, HUB_READABLE | EPOLLOUT);
		return;
	case QUEUE_BROKEN:
	case QUEUE_OVER:
		conn_close(h, c);   /* the web server went away */
		return;
	case QUEUE_EMPTY:
		break;
	}
	loop_change(h->loop, &c->watch, HUB_READABLE);
	if (c->state == CONN_ENDING) {
		shutdown(c->watch.fd, SHUT_WR);   /* the web server reads our end */
		c->state = CONN_CLOSING;
	}
}

static void conn_end_behind(struct hub *h, struct conn *c);

/*
 * Sends whole records.  A live stream that would owe more than the
 * machine allows has a client that stopped reading (conn_end_behind); any
 * other connection that does is closed.
 */
void conn_send(struct hub *h, struct conn *c, const void *data, size_t len)
{
	if (c->watch.fd < 0 || len == 0)
		return;
	switch (queue_send(&c->queue, data, len, STREAM_BACKLOG_MAX)) {
	case QUEUE_EMPTY:
		return;
	case QUEUE_WAITING:
		loop_change(h->loop, &c->watch, HUB_READABLE | EPOLLOUT);
		return;
	case QUEUE_OVER:
		log_msg("events", "a stream's client stopped reading: %d KiB waiting;"
		        " ending it", STREAM_BACKLOG_MAX / 1024);
		if (c->state == CONN_LIVE && !stream_on_backlog(&c->stream,
		                                                queue_owed(&c->queue) + len))
			conn_end_behind(h, c);
		else
			conn_close(h, c);
		return;
	case QUEUE_BROKEN:
		conn_close(h, c);
		return;
	}
}

/* The machine's output: SSE bytes as this request's STDOUT records. */
bool conn_output(void *ctx, const char *data, size_t len)
{
	struct conn *c = ctx;
	struct strbuf rec = STRBUF_INIT;
	fcgi_write_stdout(&rec, c->id, data, len);
	if (!sb_failed(&rec))
		conn_send(c->hub, c, rec.data, rec.len);
	sb_free(&rec);
	return c->watch.fd >= 0;
}

/* Ends the request: its end record, then the close once all has left. */
void conn_end(struct hub *h, struct conn *c)
{
	if (c->watch.fd < 0 || c->state == CONN_ENDING || c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_LIVE)
		h->live--;
	channel_add(&h->ending, &c->link);
	c->state = CONN_ENDING;
	c->deadline = h->now + HUB_LINGER_MS;
	struct strbuf rec = STRBUF_INIT;
	fcgi_write_end_request(&rec, c->id, 0);
	conn_send(h, c, rec.data, rec.len);
	sb_free(&rec);
	if (c->watch.fd >= 0)
		conn_flush(h, c);
}

/* After any event of the machine: a stream it ended gets its end. */
void conn_settle(struct hub *h, struct conn *c)
{
	if (c->state == CONN_LIVE && !c->stream.live)
		conn_end(h, c);
}

/*
 * A live stream whose client stopped reading.  What waits is dropped
 * after the record being written (queue.h), the machine's end follows it
 * (retry, the reason), then END_REQUEST.  The connection stays until that
 * has left (when the client reads again) or the web server gives up on
 * its client (nginx's send_timeout, 60 s by default), at most
 * HUB_BEHIND_LINGER_MS.  The browser resumes by Last-Event-ID.
 */
static void conn_end_behind(struct hub *h, struct conn *c)
{
	queue_cut(&c->queue);
	stream_end(&c->stream, STREAM_END_BEHIND, STORE_OK);
	conn_settle(h, c);
	c->deadline = h->now + HUB_BEHIND_LINGER_MS;
}
