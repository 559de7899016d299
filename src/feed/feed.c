/*
 * feed: see feed.h.  This file only picks the engine (engine.h) from the
 * database string and forwards each call to it; the rules of reading,
 * waking and storing are the engines' own.
 */
#include "feed.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "dburl.h"
#include "engine.h"
#include "tally.h"

bool feed_is_redis(const char *database)
{
	return dburl_is_redis(database);
}

/* Every operation of an engine is set: a NULL would crash far from here. */
static void check_ops(const struct feed_ops *o)
{
	assert(o->name && o->free && o->ready && o->is_open && o->read &&
	       o->listen && o->wake_fd && o->wake_drain && o->look_ms &&
	       o->pull && o->follow_first && o->followed && o->publish &&
	       o->post_chat && o->prune_all && o->stats && o->describe);
	(void)o;
}

struct feed *feed_new(const char *database, const char *log_name)
{
	struct feed *f = feed_is_redis(database)
	               ? feed_redis_new(database, log_name)
	               : feed_sqlite_new(database, log_name);
	if (f != NULL)
		snprintf(f->database, sizeof(f->database), "%s", database);
	if (f != NULL)
		check_ops(f->ops);
	return f;
}

struct feed *feed_new_for(const struct config *cfg, const char *log_name)
{
	struct feed *f = feed_new(cfg->database, log_name);
	if (f != NULL && feed_is_redis(cfg->database))
		feed_redis_password_file(f, cfg->redis_password_file);
	return f;
}

void feed_free(struct feed *f)
{
	if (f != NULL)
		f->ops->free(f);
}

const char *feed_engine(const struct feed *f)
{
	return f->ops->name;
}

enum store_status feed_ready_for(struct feed *f, enum feed_use use,
                                 bool *reopened)
{
	*reopened = false;
	return f->ops->ready(f, use, reopened);
}

enum store_status feed_ready(struct feed *f, bool *reopened)
{
	return feed_ready_for(f, FEED_FOR_STREAMS, reopened);
}

bool feed_is_open(const struct feed *f)
{
	return f->ops->is_open(f);
}

enum store_status feed_read(struct feed *f, const char *channel,
                            long long after, long history, feed_fn fn,
                            void *ctx, feed_read_result *res)
{
	assert(feed_is_open(f));
	enum store_status s = f->ops->read(f, channel, after, history, fn, ctx,
	                                   res);
	if (s != STORE_OK)
		f->failure = s;
	return s;
}

enum store_status feed_failure(const struct feed *f)
{
	return f->failure;
}

void feed_listen(struct feed *f)
{
	f->ops->listen(f);
}

int feed_wake_fd(const struct feed *f)
{
	return f->ops->wake_fd(f);
}

unsigned feed_wake_epoch(const struct feed *f)
{
	return f->wake_epoch;
}

void feed_wake_drain(struct feed *f)
{
	f->ops->wake_drain(f);
}

long feed_look_ms(const struct feed *f, long poll_interval_ms)
{
	return f->ops->look_ms(f, poll_interval_ms);
}

enum feed_pull feed_pull(struct feed *f, bool woken, const struct feed_sink *sink)
{
	return f->ops->pull(f, woken, sink);
}

void feed_follow_first(struct feed *f, long long after)
{
	f->ops->follow_first(f, after);
}

void feed_followed(struct feed *f, const struct feed_sink *sink)
{
	f->ops->followed(f, sink);
}

void feed_offer(const struct feed_sink *sink, struct feed_channel *ch,
                const struct message *m)
{
	if (ch == NULL || m->id <= ch->after)
		return;
	sink->deliver(sink->ctx, ch, m);
	ch->after = m->id;
}

/* feed_catch_up's read, row by row. */
struct catch_up {
	const struct feed_sink *sink;
	struct feed_channel *ch;
};

static bool on_row(void *ctx, const struct message *m)
{
	struct catch_up *c = ctx;
	feed_offer(c->sink, c->ch, m);
	return true;
}

/*
 * A read asks for no history (0): in a gap the read would hand over the
 * newest rows, and streams given those would resume past the gap without
 * hearing of it.  The sink's lost() has each stream read for itself.
 */
bool feed_catch_up(struct feed *f, const struct feed_sink *sink,
                   struct feed_channel *ch)
{
	struct catch_up c = { sink, ch };
	feed_read_result res;
	do {
		if (feed_read(f, ch->name, ch->after, 0, on_row, &c, &res) != STORE_OK)
			return false;
		if (res.resume != RESUME_OK) {
			ch->after = res.next_after;
			sink->lost(sink->ctx, ch);
			return true;
		}
		if (res.next_after > ch->after)
			ch->after = res.next_after;
	} while (res.more);
	return true;
}

/*
 * A stored message is counted here, once for every engine, after the
 * engine has woken the streams (so no stream waits for the count); its
 * time is the engine's whole store: SQLite's transaction, lock wait
 * included, and the ring's copy, or Redis's script and its round trip.
 */
static enum store_status counted(const struct feed *f, enum store_status s,
                                 long long t0)
{
	if (s == STORE_OK)
		tally_stored(f->database, clock_now_us() - t0);
	return s;
}

enum store_status feed_publish(struct feed *f, const char *channel,
                               const char *event, const char *data,
                               size_t len, long retention, long long *id)
{
	assert(feed_is_open(f));
	long long t0 = clock_now_us();
	return counted(f, f->ops->publish(f, channel, event, data, len,
	                                  retention, id), t0);
}

enum store_status feed_post_chat(struct feed *f, const struct chat_post *p,
                                 long long *id)
{
	assert(feed_is_open(f));
	long long t0 = clock_now_us();
	return counted(f, f->ops->post_chat(f, p, id), t0);
}

enum store_status feed_prune_all(struct feed *f, long keep, long long *deleted)
{
	assert(feed_is_open(f));
	*deleted = 0;
	return f->ops->prune_all(f, keep, deleted);
}

enum store_status feed_stats(struct feed *f, store_stats_fn fn, void *ctx)
{
	assert(feed_is_open(f));
	return f->ops->stats(f, fn, ctx);
}

void feed_describe(struct feed *f, char *out, size_t len)
{
	assert(feed_is_open(f));
	f->ops->describe(f, out, len);
}

