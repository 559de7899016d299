/* feed: see feed.h; this file is its first engine, SQLite + ring + watch. */
#include "feed.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ring.h"
#include "watch.h"

struct feed {
	char *database;
	const char *log_name;      /* "events", "ssectl": the log's component */
	struct store *store;       /* NULL until opened */
	bool listening;            /* feed_listen was called */
	struct watch watch;        /* the writers' wake */
	struct ring ring;          /* the newest messages */
	union ring_copy *copy;     /* one page for ring_get, allocated once */
	long long after;           /* the ring position: the last id taken */
	long long version;         /* data_version at the last look */
	enum store_status failure; /* of the last failed read */
};

struct feed *feed_new(const char *database, const char *log_name)
{
	struct feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->database = strdup(database);
	f->log_name = log_name;
	f->watch.fd = -1;
	if (f->database == NULL) {
		free(f);
		return NULL;
	}
	return f;
}

/* The wake and the ring belong to one file: both go when it goes. */
static void stop_listening(struct feed *f)
{
	ring_close(&f->ring);
	watch_close(&f->watch);
	free(f->copy);
	f->copy = NULL;
}

void feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	stop_listening(f);
	store_close(f->store);
	free(f->database);
	free(f);
}

static void start_listening(struct feed *f)
{
	assert(f->store != NULL);
	if (f->copy == NULL) {
		f->copy = malloc(sizeof(*f->copy));   /* one page, once */
		watch_open(&f->watch, f->database);
		ring_open(&f->ring, f->database, store_identity(f->store));
	}
	if (store_data_version(f->store, &f->version) != STORE_OK)
		f->version = -1;   /* the first look then reads */
}

enum store_status feed_ready(struct feed *f, bool *reopened)
{
	*reopened = false;
	if (f->store != NULL && store_same_file(f->store))
		return STORE_OK;
	bool had = f->store != NULL;
	stop_listening(f);
	store_close(f->store);   /* replaced or removed: open the new one */
	f->store = NULL;
	char error[STORE_ERROR_MAX];
	enum store_status s = store_open(f->database, true, &f->store, error,
	                                 sizeof(error));
	if (s != STORE_OK) {
		log_msg(f->log_name, "%s: %s", f->database, error);
		return s;
	}
	*reopened = had;
	if (f->listening)
		start_listening(f);
	return STORE_OK;
}

struct store *feed_store(struct feed *f)
{
	return f->store;
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

enum store_status feed_read(struct feed *f, const char *channel,
                            long long after, long history, feed_fn fn,
                            void *ctx, feed_read_result *res)
{
	assert(f->store != NULL);
	struct row_walk w = { channel, fn, ctx };
	enum store_status s = store_read(f->store, channel, after, history,
	                                 on_row, &w, res);
	if (s != STORE_OK) {
		log_msg(f->log_name, "%s: %s", f->database, store_error(f->store));
		f->failure = s;
	}
	return s;
}

enum store_status feed_failure(const struct feed *f)
{
	return f->failure;
}

void feed_listen(struct feed *f)
{
	f->listening = true;
	if (f->store != NULL)
		start_listening(f);
}

int feed_wake_fd(const struct feed *f)
{
	return f->watch.fd;
}

void feed_wake_drain(struct feed *f)
{
	watch_drain(&f->watch);
}

long feed_look_ms(const struct feed *f, long poll_interval_ms)
{
	return f->watch.fd >= 0 ? WATCH_FALLBACK_MS : poll_interval_ms;
}

void feed_follow_first(struct feed *f, long long after)
{
	f->after = after;
}

/* Hands a message to its channel when followed and not had yet. */
static void offer(const struct feed_sink *sink, struct feed_channel *ch,
                  const struct message *m)
{
	if (ch == NULL || m->id <= ch->after)
		return;
	sink->deliver(sink->ctx, ch, m);
	ch->after = m->id;
}

/*
 * Takes what follows f->after from the ring, every channel's, until it
 * has no more.  RING_NOT_YET once everything committed was taken; any
 * other answer means the ring cannot say (ask SQLite) or the file was
 * replaced.
 */
static enum ring_result walk_ring(struct feed *f, const struct feed_sink *sink)
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
		offer(sink, sink->find(sink->ctx, m.channel), &m);
		f->after = m.id;
	}
}

/* One channel's read of SQLite, batch by batch, for each/read_store. */
struct store_walk {
	struct feed *f;
	const struct feed_sink *sink;
	struct feed_channel *ch;
	long long until;      /* the highest position read, over channels */
	bool failed;
};

static bool on_store_row(void *ctx, const struct message *m)
{
	struct store_walk *w = ctx;
	offer(w->sink, w->ch, m);
	return true;
}

/*
 * A read asks for no history (0): in a gap store_read would hand over the
 * newest rows, and streams given those would resume past the gap without
 * hearing of it.  The sink's lost() has each stream read for itself.
 */
static void read_channel(void *arg, struct feed_channel *ch)
{
	struct store_walk *w = arg;
	if (w->failed)
		return;
	w->ch = ch;
	feed_read_result res;
	do {
		if (feed_read(w->f, ch->name, ch->after, 0, on_store_row, w,
		              &res) != STORE_OK) {
			w->failed = true;
			return;
		}
		if (res.resume != RESUME_OK) {
			ch->after = res.next_after;
			w->sink->lost(w->sink->ctx, ch);
			break;
		}
		if (res.next_after > ch->after)
			ch->after = res.next_after;
	} while (res.more);
	if (ch->after > w->until)
		w->until = ch->after;
}

/* What the ring could not answer: every followed channel from SQLite. */
static bool read_store(struct feed *f, const struct feed_sink *sink)
{
	struct store_walk w = { f, sink, NULL, f->after, false };
	sink->each(sink->ctx, read_channel, &w);
	if (!w.failed && w.until > f->after)
		f->after = w.until;
	return !w.failed;
}

enum feed_pull feed_pull(struct feed *f, bool woken, const struct feed_sink *sink)
{
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
		log_msg(f->log_name, "%s: %s", f->database, store_error(f->store));
		f->failure = s;
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
