/* process: see process.h; the blocking driver of the stream machine. */
#include "process.h"

#include <string.h>

#include "clock.h"
#include "slots.h"
#include "tally.h"

/* The feed's sink for one stream: its channel is the only one followed. */
struct one {
	struct stream *s;
	struct feed *feed;
	struct feed_channel ch;
	long long now;
	struct tally_file *tally;   /* where the stream's counts go, or NULL */
};

/* What the machine counted since the last time, into DATABASE.metrics:
 * after each step, so a scrape sees a long stream's deliveries. */
static void hand_on_counts(struct one *o)
{
	if (o->s->counts != NULL)
		tally_add_streams(o->tally, o->s->counts);
}

static struct feed_channel *one_find(void *ctx, const char *name)
{
	struct one *o = ctx;
	return strcmp(o->ch.name, name) == 0 ? &o->ch : NULL;
}

static void one_each(void *ctx, void (*fn)(void *, struct feed_channel *),
                     void *arg)
{
	struct one *o = ctx;
	fn(arg, &o->ch);
}

static void one_deliver(void *ctx, struct feed_channel *ch,
                        const struct message *m)
{
	(void)ch;
	struct one *o = ctx;
	stream_on_message(o->s, m, o->now);
}

static void one_lost(void *ctx, struct feed_channel *ch)
{
	struct one *o = ctx;
	stream_on_lost(o->s, o->feed, o->now);
	ch->after = o->s->after;
}

static struct feed_sink one_sink(struct one *o)
{
	return (struct feed_sink){ o, one_find, one_each, one_deliver, one_lost };
}

/* One look for news, woken or at the fallback; false once it ended. */
static bool look(struct one *o, bool woken)
{
	o->now = clock_now_ms();
	o->ch.after = o->s->after;
	const struct feed_sink sink = one_sink(o);
	enum stream_end why;
	if (stream_end_of_pull(feed_pull(o->feed, woken, &sink), &why))
		stream_end(o->s, why, feed_failure(o->feed));
	return stream_flush(o->s);
}

/* The live part: wait, look, tick, until the machine says it ended. */
static void run_live(const struct stream_io *io, struct one *o,
                     long poll_interval_ms)
{
	struct stream *s = o->s;
	feed_follow_first(o->feed, s->after);
	/* As the hub does for a channel it did not follow: a FastCGI process
	 * may still wait on the channel of its last request (Redis's XREAD). */
	o->ch.after = s->after;
	const struct feed_sink sink = one_sink(o);
	feed_followed(o->feed, &sink);
	bool woken = true;   /* a first look closes the window since the read */
	while (look(o, woken) && stream_on_tick(s, clock_now_ms())) {
		hand_on_counts(o);
		long long now = clock_now_ms();
		long long wait = feed_look_ms(o->feed, poll_interval_ms);
		if (stream_next_tick(s) - now < wait)
			wait = stream_next_tick(s) - now;
		enum wait_result w = io->wait(io->ctx, wait < 0 ? 0 : (int)wait,
		                              feed_wake_fd(o->feed));
		if (w == WAIT_GONE) {
			if (transport_stopping())
				stream_end(s, STREAM_END_SHUTDOWN, STORE_OK);
			else
				stream_on_gone(s);
			return;
		}
		woken = w == WAIT_WOKEN;
		if (woken)
			feed_wake_drain(o->feed);
	}
}

void stream_process_run(const struct stream_io *io, const struct config *cfg,
                        struct feed *feed, struct stream_request req,
                        bool counted)
{
	struct slot slot = { -1, -1 };
	if (stream_may_live(&req, cfg) && cfg->max_streams > 0 &&
	    slot_acquire(cfg->database, cfg->max_streams, &slot) != SLOT_TAKEN) {
		req.room = STREAM_CAPPED;
		req.cap = cfg->max_streams;
	}
	counted = counted && !req.head;
	struct tally_streams counts = { 0 };
	struct stream s;
	stream_init(&s, cfg, counted ? &counts : NULL, io->write, io->ctx);
	struct one o = { &s, feed, { s.channel, 0 }, 0,
	                 counted ? tally_attach(cfg->database) : NULL };
	if (req.feed == STORE_OK && !req.head)
		feed_listen(feed);   /* before the first read: see feed.h */
	if (stream_start(&s, &req, feed, clock_now_ms(), clock_random_word())) {
		hand_on_counts(&o);   /* live now, not at its end */
		run_live(io, &o, cfg->poll_interval_ms);
	}
	hand_on_counts(&o);
	tally_detach(o.tally);
	stream_free(&s);
	slot_release(&slot);
}

static bool request_write(void *ctx, const char *data, size_t len)
{
	return req_write(ctx, data, len);
}

static enum wait_result request_wait(void *ctx, int timeout_ms, int wake_fd)
{
	return req_wait(ctx, timeout_ms, wake_fd);
}

struct stream_io stream_io_of_request(struct request *req)
{
	return (struct stream_io){ request_write, request_wait, req };
}
