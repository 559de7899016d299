/* stream: see stream.h for the loop and why it never answers an error. */
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "platform.h"
#include "ring.h"
#include "slots.h"
#include "sse.h"
#include "watch.h"

const char stream_headers[] =
	"Status: 200 OK\r\n"
	"Content-Type: text/event-stream; charset=utf-8\r\n"
	"Cache-Control: no-cache, no-transform\r\n"
	"X-Accel-Buffering: no\r\n"
	"\r\n";

long stream_overflow_retry(long retry_ms)
{
	long r = retry_ms * STREAM_OVERFLOW_RETRY_FACTOR;
	return r > STREAM_OVERFLOW_RETRY_MAX_MS ? STREAM_OVERFLOW_RETRY_MAX_MS : r;
}

long long stream_lifetime_ms(long lifetime_s, unsigned random_word)
{
	long long full = (long long)lifetime_s * 1000;
	long long span = full / 5;               /* the top fifth */
	return full - (span > 0 ? (long long)(random_word % (span + 1)) : 0);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned stream_random_word(void)
{
#if SSE_HAVE_GETRANDOM
	unsigned w;
	if (getrandom(&w, sizeof(w), GRND_NONBLOCK) == (ssize_t)sizeof(w))
		return w;
#endif
	return (unsigned)getpid() * 2654435761u ^ (unsigned)now_ms();
}

/* Row callback: one event per stored message. */
static bool frame_row(void *ctx, long long id, const char *event,
                      const char *data, size_t len)
{
	sse_event(ctx, id, event, data, len);
	return true;
}

/* The reset event: the gap signal of docs/PROTOCOL.md. */
static void frame_reset(struct strbuf *out, const struct store_read_result *res)
{
	char data[96];
	snprintf(data, sizeof(data), "{\"reason\":\"%s\",\"oldest\":%lld}",
	         res->resume == RESUME_GAP ? "gap" : "unknown-id", res->oldest);
	sse_event(out, res->reset_id, "reset", data, strlen(data));
}

/*
 * One stream's state, from its first read to its end: what it serves, how
 * far it got, and how it waits.  The steps below take it as one piece.
 */
struct live {
	struct request *req;
	const struct config *cfg;
	struct store *st;
	const char *channel;
	long long after;          /* the last id sent or passed over */
	long long version;        /* data_version at the last SQLite look */
	bool wrote;               /* this round wrote something */
	struct watch watch;       /* the writers' wake (watch.h) */
	struct ring ring;         /* the newest messages (ring.h) */
	union ring_copy *copy;    /* one page for ring_get, allocated once */
};

enum store_status stream_put_news(struct store *st, const char *channel,
                                  long history, long long *after,
                                  struct strbuf *out, bool *more)
{
	/* The reset frame must precede the rows: frame them separately. */
	struct strbuf rows = STRBUF_INIT;
	struct store_read_result res;
	enum store_status s = store_read(st, channel, *after, history, frame_row,
	                                 &rows, &res);
	if (s == STORE_OK) {
		if (res.resume != RESUME_OK)
			frame_reset(out, &res);
		sb_append(out, rows.data, rows.len);
		*after = res.next_after;
	}
	*more = s == STORE_OK && res.more;
	sb_free(&rows);
	return s;
}

/*
 * Reads everything after l->after (batch by batch), frames it and writes
 * it.  Returns false when the client is gone or the database failed (then
 * a comment naming the problem has been written).
 */
static bool send_new(struct live *l)
{
	struct strbuf out = STRBUF_INIT;
	bool ok = true, more;
	do {
		sb_reset(&out);
		enum store_status s = stream_put_news(l->st, l->channel,
		                                      l->cfg->history, &l->after,
		                                      &out, &more);
		if (s != STORE_OK) {
			log_msg("events", "%s: %s", store_path(l->st), store_error(l->st));
			sb_reset(&out);
			sse_comment(&out, store_status_text(s));
			req_write(l->req, out.data, out.len);
			ok = false;
			break;
		}
		if (out.len > 0 && (sb_failed(&out) || !req_write(l->req, out.data, out.len))) {
			ok = false;
			break;
		}
		l->wrote = l->wrote || out.len > 0;
	} while (more);
	sb_free(&out);
	return ok;
}

void stream_put_hello(struct strbuf *out, long retry, const char *comment)
{
	size_t start = out->len;
	sse_retry(out, retry);
	sse_comment(out, comment);
	size_t len = out->len - start;
	if (len + 4 < STREAM_FIRST_FRAME_MIN) {
		size_t pad = STREAM_FIRST_FRAME_MIN - len - 3;
		sb_puts(out, ": ");
		for (size_t i = 0; i < pad - 1; i++)
			sb_putc(out, ' ');
		sb_putc(out, '\n');
	}
	sse_end_frame(out);
}

static bool send_hello(struct request *req, long retry, const char *comment)
{
	struct strbuf out = STRBUF_INIT;
	stream_put_hello(&out, retry, comment);
	bool ok = !sb_failed(&out) && req_write(req, out.data, out.len);
	sb_free(&out);
	return ok;
}

/*
 * Takes the messages after l->after from the ring, framing this channel's
 * into out, until the ring has no more or out holds a batch.  Returns the
 * ring's last answer: RING_NOT_YET once everything committed was taken,
 * RING_OK when the batch is full.
 */
static enum ring_result take_from_ring(struct live *l, struct strbuf *out)
{
	while (out->len < STREAM_WRITE_BATCH) {
		enum ring_result r = ring_get(&l->ring, l->after + 1, l->copy);
		if (r != RING_OK)
			return r;
		const struct ring_slot *m = &l->copy->slot;
		if (strcmp(m->channel, l->channel) == 0)
			sse_event(out, m->id, m->event, m->data, m->len);
		l->after = m->id;
	}
	return RING_OK;
}

/* What a look at the ring ended with, for the loop. */
enum look { LOOK_DONE, LOOK_ASK_STORE, LOOK_REPLACED, LOOK_GONE };

static enum look look_in_ring(struct live *l)
{
	if (l->copy == NULL)
		return LOOK_ASK_STORE;
	ring_open_again(&l->ring, store_path(l->st));
	struct strbuf out = STRBUF_INIT;
	enum ring_result r;
	bool ok = true;
	do {
		sb_reset(&out);
		r = take_from_ring(l, &out);
		if (out.len > 0) {
			ok = !sb_failed(&out) && req_write(l->req, out.data, out.len);
			l->wrote = true;
		}
	} while (ok && r == RING_OK);
	sb_free(&out);
	if (!ok)
		return LOOK_GONE;
	return r == RING_NOT_YET ? LOOK_DONE
	     : r == RING_REPLACED ? LOOK_REPLACED : LOOK_ASK_STORE;
}

/*
 * Reads SQLite when data_version moved (always when forced: the ring said
 * to).  *changed tells whether it moved.  False when the client is gone or
 * the database failed.
 */
static bool look_in_store(struct live *l, bool force, bool *changed)
{
	long long v;
	*changed = false;
	if (store_data_version(l->st, &v) != STORE_OK)
		return false;
	if (v == l->version && !force)
		return true;
	l->version = v;
	*changed = true;
	return send_new(l);
}

/* What one round of the loop decided. */
enum round { ROUND_GO_ON, ROUND_END };

/*
 * One look for new messages after a wake (or a quiet timeout): the ring
 * first, SQLite when the ring cannot answer for sure or the wait timed out.
 */
static enum round look_for_news(struct live *l, enum wait_result woke)
{
	bool ask_store = woke == WAIT_TIMEOUT, force = false, changed = false;
	if (woke == WAIT_WOKEN) {
		long long before = l->after;
		enum look look = look_in_ring(l);
		if (look == LOOK_GONE)
			return ROUND_END;
		if (look == LOOK_REPLACED) {
			send_hello(l->req, l->cfg->retry_ms, "database was replaced");
			return ROUND_END;
		}
		/*
		 * Woken, yet nothing new in the ring: a writer that could
		 * not copy (disk full, lock timeout) or only pruned.  The
		 * cheap data_version question decides whether to read.
		 */
		force = look == LOOK_ASK_STORE;
		ask_store = force || l->after == before;
	}
	if (!ask_store)
		return ROUND_GO_ON;
	if (!look_in_store(l, force, &changed))
		return ROUND_END;
	if (!changed && !store_same_file(l->st)) {
		/* Deleted or replaced: reconnecting reopens the new file. */
		send_hello(l->req, l->cfg->retry_ms, "database was replaced");
		return ROUND_END;
	}
	return ROUND_GO_ON;
}

/* The live part: wait, look for changes, keep alive, until the end. */
static void stream_live(struct live *l)
{
	long long start = now_ms();
	long long deadline = start + stream_lifetime_ms(l->cfg->lifetime_s, stream_random_word());
	long long last_write = start;
	long long keepalive_ms = (long long)l->cfg->keepalive_s * 1000;
	l->copy = malloc(sizeof(*l->copy));   /* one page, once */
	watch_open(&l->watch, store_path(l->st));
	ring_open(&l->ring, store_path(l->st), store_identity(l->st));
	/* A first look closes the window between the first read and the watch. */
	enum wait_result woke = WAIT_WOKEN;
	while (now_ms() < deadline) {   /* then the browser reconnects */
		l->wrote = false;
		if (look_for_news(l, woke) == ROUND_END)
			break;
		if (l->wrote)
			last_write = now_ms();
		if (now_ms() - last_write >= keepalive_ms) {
			if (!req_write(l->req, STREAM_KEEPALIVE, sizeof(STREAM_KEEPALIVE) - 1))
				break;
			last_write = now_ms();
		}
		long long now = now_ms();
		long long wait = l->watch.fd >= 0 ? WATCH_FALLBACK_MS
		                                  : l->cfg->poll_interval_ms;
		if (last_write + keepalive_ms - now < wait)
			wait = last_write + keepalive_ms - now;
		if (deadline - now < wait)
			wait = deadline - now;
		woke = req_wait(l->req, wait < 0 ? 0 : (int)wait, l->watch.fd);
		if (woke == WAIT_GONE)
			break;
		if (woke == WAIT_WOKEN)
			watch_drain(&l->watch);
	}
	free(l->copy);
	ring_close(&l->ring);
	watch_close(&l->watch);
}

long stream_one_shot_hello(enum stream_one_shot why, long cap, long retry_ms,
                           char *hello, size_t len)
{
	long retry = why == STREAM_POLLING ? retry_ms : stream_overflow_retry(retry_ms);
	switch (why) {
	case STREAM_POLLING:
		snprintf(hello, len, "one-shot: polling every %ld ms", retry);
		break;
	case STREAM_CAPPED:
		snprintf(hello, len, "all %ld live streams are in use:"
		         " one-shot, polling every %ld ms", cap, retry);
		break;
	case STREAM_AT_FILE_LIMIT:
		snprintf(hello, len, "the server is at its open-file limit:"
		         " one-shot, polling every %ld ms", retry);
		break;
	}
	return retry;
}

void stream_run(struct request *req, const struct config *cfg,
                struct store *st, const struct stream_plan *plan)
{
	if (req_write(req, stream_headers, strlen(stream_headers)) && !plan->head)
		stream_body(req, cfg, st, plan);
}

void stream_body(struct request *req, const struct config *cfg,
                 struct store *st, const struct stream_plan *plan)
{
	if (plan->problem != NULL) {
		send_hello(req, cfg->retry_ms, plan->problem);
		return;
	}
	struct slot slot = { -1, -1 };
	bool capped = false;
	if (cfg->max_streams > 0 && cfg->lifetime_s > 0)
		capped = slot_acquire(cfg->database, cfg->max_streams, &slot) != SLOT_TAKEN;
	char hello[128] = "live";
	long retry = cfg->retry_ms;
	if (capped || cfg->lifetime_s == 0)
		retry = stream_one_shot_hello(capped ? STREAM_CAPPED : STREAM_POLLING,
		                              cfg->max_streams, cfg->retry_ms,
		                              hello, sizeof(hello));
	struct live l = {
		.req = req, .cfg = cfg, .st = st, .channel = plan->channel,
		.after = plan->resume,
	};
	/*
	 * The version is sampled before the first read: a post committed
	 * between the two then still changes it, and is not missed.
	 */
	bool live = !capped && cfg->lifetime_s > 0 &&
	            store_data_version(st, &l.version) == STORE_OK;
	if (send_hello(req, retry, hello) && send_new(&l) && live)
		stream_live(&l);
	slot_release(&slot);
}
