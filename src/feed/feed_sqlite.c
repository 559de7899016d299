/*
 * feed_sqlite: the feed's first engine (engine.h), the SQLite file with
 * its ring and watch: SQLite is the truth (store.h), the ring the fast
 * path after a wake (ring.h), the watch the writers' wake (watch.h),
 * PRAGMA data_version the cheap question when the ring cannot say.  Ids
 * are issued in commit order across all channels, so this engine keeps
 * one position in the ring for the whole process and reads SQLite per
 * followed channel only when the ring cannot say.  Its writers commit
 * through store.h, then hand the message to the ring (publish.h).
 */
#include "engine.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "publish.h"
#include "ring.h"
#include "watch.h"

struct sqlite_feed {
	struct feed base;          /* first: engine.h */
	char *database;
	struct store *store;       /* NULL until opened */
	bool listening;            /* feed_listen was called */
	struct watch watch;        /* the writers' wake */
	struct ring ring;          /* the newest messages */
	union ring_copy *copy;     /* one page for ring_get, allocated once */
	long long after;           /* the ring position: the last id taken */
	long long version;         /* data_version at the last look */
};

static const struct feed_ops sqlite_ops;

static struct sqlite_feed *of(struct feed *f)
{
	assert(f->ops == &sqlite_ops);
	return (struct sqlite_feed *)f;
}

static const struct sqlite_feed *of_const(const struct feed *f)
{
	assert(f->ops == &sqlite_ops);
	return (const struct sqlite_feed *)f;
}

struct feed *feed_sqlite_new(const char *database, const char *log_name)
{
	struct sqlite_feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->base.ops = &sqlite_ops;
	f->base.log_name = log_name;
	f->database = strdup(database);
	f->watch.fd = -1;
	if (f->database == NULL) {
		free(f);
		return NULL;
	}
	return &f->base;
}

/* The wake and the ring belong to one file: both go when it goes. */
static void stop_listening(struct sqlite_feed *f)
{
	if (f->watch.fd >= 0)
		f->base.wake_epoch++;   /* its watchers forget the closed one */
	ring_close(&f->ring);
	watch_close(&f->watch);
	free(f->copy);
	f->copy = NULL;
}

static void sqlite_free(struct feed *base)
{
	struct sqlite_feed *f = of(base);
	stop_listening(f);
	store_close(f->store);
	free(f->database);
	free(f);
}

static void start_listening(struct sqlite_feed *f)
{
	assert(f->store != NULL);
	if (f->copy == NULL) {
		f->copy = malloc(sizeof(*f->copy));   /* one page, once */
		watch_open(&f->watch, f->database);
		f->base.wake_epoch++;
		ring_open(&f->ring, f->database, store_identity(f->store));
	}
	if (store_data_version(f->store, &f->version) != STORE_OK)
		f->version = -1;   /* the first look then reads */
}

/*
 * A writer refuses a read-only file before opening it: SQLite would create
 * -wal and -shm with the file's read-only mode, and they would stay so
 * after the owner fixed the file.
 */
static enum store_status refuse_read_only(struct sqlite_feed *f)
{
	if (access(f->database, W_OK) == 0 || errno == ENOENT)
		return STORE_OK;
	log_msg(f->base.log_name, "%s: not writable: %s", f->database,
	        strerror(errno));
	return STORE_READONLY;
}

static enum store_status sqlite_ready(struct feed *base, enum feed_use use,
                                      bool *reopened)
{
	struct sqlite_feed *f = of(base);
	if (use == FEED_FOR_WRITING && refuse_read_only(f) != STORE_OK)
		return STORE_READONLY;
	if (f->store != NULL && store_same_file(f->store))
		return STORE_OK;
	bool had = f->store != NULL;
	stop_listening(f);
	store_close(f->store);   /* replaced or removed: open the new one */
	f->store = NULL;
	char error[STORE_ERROR_MAX];
	enum store_status s = store_open(f->database, use != FEED_EXISTING,
	                                 &f->store, error, sizeof(error));
	if (s != STORE_OK) {
		log_msg(f->base.log_name, "%s: %s", f->database, error);
		return s;
	}
	*reopened = had;
	if (f->listening)
		start_listening(f);
	return STORE_OK;
}

static bool sqlite_is_open(const struct feed *base)
{
	return of_const(base)->store != NULL;
}

struct store *feed_store(struct feed *f)
{
	return f->ops == &sqlite_ops ? of(f)->store : NULL;
}

/* store_read's row, as a message of that channel. */
struct row_walk {
	const char *channel;
	feed_fn fn;
	void *ctx;
};

static bool on_row(void *ctx, long long id, const char *event,
                   const char *data, size_t len)
{
	struct row_walk *w = ctx;
	struct message m = { id, w->channel, event, data, len };
	return w->fn(w->ctx, &m);
}

static enum store_status sqlite_read(struct feed *base, const char *channel,
                                     long long after, long history,
                                     feed_fn fn, void *ctx,
                                     feed_read_result *res)
{
	struct sqlite_feed *f = of(base);
	assert(f->store != NULL);
	struct row_walk w = { channel, fn, ctx };
	enum store_status s = store_read(f->store, channel, after, history,
	                                 on_row, &w, res);
	if (s != STORE_OK)
		log_msg(f->base.log_name, "%s: %s", f->database,
		        store_error(f->store));
	return s;
}

static void sqlite_listen(struct feed *base)
{
	struct sqlite_feed *f = of(base);
	f->listening = true;
	if (f->store != NULL)
		start_listening(f);
}

static int sqlite_wake_fd(const struct feed *base)
{
	return of_const(base)->watch.fd;
}

static void sqlite_wake_drain(struct feed *base)
{
	watch_drain(&of(base)->watch);
}

static long sqlite_look_ms(const struct feed *base, long poll_interval_ms)
{
	return of_const(base)->watch.fd >= 0 ? WATCH_FALLBACK_MS
	                                     : poll_interval_ms;
}

static void sqlite_follow_first(struct feed *base, long long after)
{
	of(base)->after = after;
}

/* One position for all channels: a new channel changes nothing here. */
static void sqlite_followed(struct feed *base, const struct feed_sink *sink)
{
	(void)base, (void)sink;
}

/*
 * Takes what follows f->after from the ring, every channel's, until it
 * has no more.  RING_NOT_YET once everything committed was taken; any
 * other answer means the ring cannot say (ask SQLite) or the file was
 * replaced.
 */
static enum ring_result walk_ring(struct sqlite_feed *f,
                                  const struct feed_sink *sink)
{
	if (f->copy == NULL)
		return RING_ASK_STORE;
	/* Started before the first post, the reader found no ring yet. */
	ring_open_again(&f->ring, f->database);
	if (f->ring.map == NULL)
		return RING_ASK_STORE;
	for (;;) {
		enum ring_result r = ring_get(&f->ring, f->after + 1, f->copy);
		if (r != RING_OK)
			return r;
		const struct ring_slot *slot = &f->copy->slot;
		assert(slot->id == f->after + 1);
		struct message m = { slot->id, slot->channel, slot->event,
		                     slot->data, slot->len };
		feed_offer(sink, sink->find(sink->ctx, m.channel), &m);
		f->after = m.id;
	}
}

/* Each followed channel's read of SQLite, for read_store. */
struct store_walk {
	struct sqlite_feed *f;
	const struct feed_sink *sink;
	long long until;      /* the highest position read, over channels */
	bool failed;
};

static void read_channel(void *arg, struct feed_channel *ch)
{
	struct store_walk *w = arg;
	if (w->failed)
		return;
	w->failed = !feed_catch_up(&w->f->base, w->sink, ch);
	if (ch->after > w->until)
		w->until = ch->after;
}

/* What the ring could not answer: every followed channel from SQLite. */
static bool read_store(struct sqlite_feed *f, const struct feed_sink *sink)
{
	struct store_walk w = { f, sink, f->after, false };
	sink->each(sink->ctx, read_channel, &w);
	if (!w.failed && w.until > f->after)
		f->after = w.until;
	return !w.failed;
}

static enum feed_pull sqlite_pull(struct feed *base, bool woken,
                                  const struct feed_sink *sink)
{
	struct sqlite_feed *f = of(base);
	if (f->store == NULL)
		return FEED_PULLED;
	long long before = f->after;
	bool force = false;
	if (woken) {
		enum ring_result r = walk_ring(f, sink);
		if (r == RING_REPLACED)
			return FEED_REPLACED;
		/*
		 * RING_ASK_STORE: the ring cannot say for sure.  Woken with
		 * nothing new in the ring: a writer that could not copy (disk
		 * full, lock timeout) or only pruned; data_version decides.
		 */
		force = r == RING_ASK_STORE;
	}
	long long v;
	enum store_status s = store_data_version(f->store, &v);
	if (s != STORE_OK) {
		log_msg(f->base.log_name, "%s: %s", f->database,
		        store_error(f->store));
		f->base.failure = s;
		return FEED_FAILED;
	}
	bool changed = v != f->version;
	f->version = v;
	if ((force || (changed && f->after == before)) && !read_store(f, sink))
		return FEED_FAILED;
	/* Deleted or replaced: reconnecting reopens the new file. */
	if (!changed && !store_same_file(f->store))
		return FEED_REPLACED;
	return FEED_PULLED;
}

/* ---- the writers ------------------------------------------------------ */

/* A failed write, logged (a refusal by the rate limit is no failure). */
static enum store_status noted(struct sqlite_feed *f, enum store_status s)
{
	if (s != STORE_OK && s != STORE_RATE_LIMITED)
		log_msg(f->base.log_name, "%s: %s", f->database,
		        store_error(f->store));
	return s;
}

static enum store_status sqlite_publish(struct feed *base, const char *channel,
                                        const char *event, const char *data,
                                        size_t len, long retention,
                                        long long *id)
{
	struct sqlite_feed *f = of(base);
	return noted(f, publish_event(f->store, channel, event, data, len,
	                              retention, id));
}

static enum store_status sqlite_post_chat(struct feed *base,
                                          const struct chat_post *p,
                                          long long *id)
{
	struct sqlite_feed *f = of(base);
	return noted(f, publish_chat(f->store, p, id));
}

static enum store_status sqlite_prune_all(struct feed *base, long keep,
                                          long long *deleted)
{
	struct sqlite_feed *f = of(base);
	return noted(f, store_prune_all(f->store, keep, deleted));
}

static enum store_status sqlite_stats(struct feed *base, store_stats_fn fn,
                                      void *ctx)
{
	struct sqlite_feed *f = of(base);
	return noted(f, store_stats(f->store, fn, ctx));
}

static void sqlite_describe(struct feed *base, char *out, size_t len)
{
	char mode[16];
	store_journal_mode(of(base)->store, mode, sizeof(mode));
	snprintf(out, len, "journal_mode %s", mode);
}

static const struct feed_ops sqlite_ops = {
	.name = "sqlite",
	.free = sqlite_free,
	.ready = sqlite_ready,
	.is_open = sqlite_is_open,
	.read = sqlite_read,
	.listen = sqlite_listen,
	.wake_fd = sqlite_wake_fd,
	.wake_drain = sqlite_wake_drain,
	.look_ms = sqlite_look_ms,
	.pull = sqlite_pull,
	.follow_first = sqlite_follow_first,
	.followed = sqlite_followed,
	.publish = sqlite_publish,
	.post_chat = sqlite_post_chat,
	.prune_all = sqlite_prune_all,
	.stats = sqlite_stats,
	.describe = sqlite_describe,
};
