/* queue: see queue.h. */
#include "queue.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "fcgi_wire.h"

void queue_init(struct queue *q, int fd)
{
	q->fd = fd;
	q->backlog = (struct strbuf)STRBUF_INIT;
	q->off = 0;
	q->bound = 0;
}

void queue_free(struct queue *q)
{
	sb_free(&q->backlog);
}

size_t queue_owed(const struct queue *q)
{
	assert(q->off <= q->backlog.len);
	return q->backlog.len - q->off;
}

/* The first record boundary at or after `at` in data, walking whole
 * records from `from`, a boundary. */
static size_t record_boundary(const void *data, size_t from, size_t at)
{
	size_t pos = from;
	while (pos < at)
		pos += fcgi_record_size((const uint8_t *)data + pos);
	return pos;
}

/* One write, EINTR retried: bytes taken, 0 when it would block, -1 gone. */
static ssize_t write_some(int fd, const void *data, size_t len)
{
	ssize_t n;
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return n;
}

enum queue_result queue_send(struct queue *q, const void *data, size_t len,
                             size_t max)
{
	size_t sent = 0;
	if (queue_owed(q) == 0) {
		ssize_t n = write_some(q->fd, data, len);
		if (n < 0)
			return QUEUE_BROKEN;
		sent = (size_t)n;
		if (sent == len)
			return QUEUE_EMPTY;
	}
	if (queue_owed(q) + (len - sent) > max) {
		/* Part of a record left: the rest must follow, or the end can't. */
		if (sent > 0)
			return QUEUE_BROKEN;
		return QUEUE_OVER;
	}
	if (q->backlog.len == 0)   /* it may begin with the rest of a record */
		q->bound = record_boundary(data, 0, sent) - sent;
	sb_append(&q->backlog, (const char *)data + sent, len - sent);
	return sb_failed(&q->backlog) ? QUEUE_BROKEN : QUEUE_WAITING;
}

enum queue_result queue_flush(struct queue *q)
{
	while (queue_owed(q) > 0) {
		ssize_t n = write_some(q->fd, q->backlog.data + q->off, queue_owed(q));
		if (n < 0)
			return QUEUE_BROKEN;
		if (n == 0)
			return QUEUE_WAITING;
		q->off += (size_t)n;
	}
	sb_reset(&q->backlog);
	q->off = 0;
	q->bound = 0;
	return QUEUE_EMPTY;
}

void queue_cut(struct queue *q)
{
	size_t keep = record_boundary(q->backlog.data, q->bound, q->off);
	assert(keep >= q->off && keep <= q->backlog.len);
	sb_truncate(&q->backlog, keep);
	if (q->off == q->backlog.len) {
		sb_reset(&q->backlog);
		q->off = 0;
		q->bound = 0;
	}
}
