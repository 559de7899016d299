/*
 * feed: "the messages of channel C after id N, and wake me when there are
 * more": the one interface under both stream modes.
 *
 * The stream machine (stream/machine.h) reads history and resumes through
 * feed_read; the drivers sleep on feed_wake_fd and, woken or at the
 * fallback look, call feed_pull, which hands every new message of the
 * channels they follow to their sink.  Nothing above this interface knows
 * what holds the messages, so a second engine plugs in here without
 * touching the stream machine, the per-process driver or the hub.
 *
 * The first engine is the SQLite file with its ring and watch (store.h,
 * ring.h, watch.h): SQLite is the truth, the ring the fast path after a
 * wake, PRAGMA data_version the cheap question when the ring cannot answer
 * for sure.  Ids are issued in commit order across all channels, so this
 * engine keeps one position in the ring for the whole process and reads
 * SQLite per followed channel only when the ring cannot say.  An engine
 * whose ids are per channel would keep per-channel positions instead: the
 * sink's channels carry their own `after` for that reason.
 *
 * Trade-off: the sink is asked for its channels (find, each) rather than
 * the feed keeping a registry, so the hub's channel list stays the one
 * registry and a per-process stream needs no allocation at all.
 */
#ifndef SSE_FEED_H
#define SSE_FEED_H

#include <stdbool.h>

#include "message.h"
#include "store.h"

struct feed;

/* A channel someone follows: the caller owns it, the feed moves `after`. */
struct feed_channel {
	const char *name;
	long long after;          /* the last id handed on (or passed over) */
};

/* Where feed_pull hands what it finds; every member is required. */
struct feed_sink {
	void *ctx;
	/* The followed channel of that name, or NULL. */
	struct feed_channel *(*find)(void *ctx, const char *name);
	/* Calls fn for every followed channel (fn may not change the set). */
	void (*each)(void *ctx, void (*fn)(void *arg, struct feed_channel *ch),
	             void *arg);
	/* A new message of ch, id above ch->after (the feed then moves it). */
	void (*deliver)(void *ctx, struct feed_channel *ch, const struct message *m);
	/* Messages of ch after ch->after were pruned before they were handed
	 * on: its streams must resume by their own read (a reset). */
	void (*lost)(void *ctx, struct feed_channel *ch);
};

/* What one pull found besides messages. */
enum feed_pull {
	FEED_PULLED,     /* all new messages were handed on (maybe none) */
	FEED_REPLACED,   /* the database was replaced: its streams must end */
	FEED_FAILED,     /* a read failed (logged): its streams must end */
};

/* A read's answer besides its messages (store.h's, by another name). */
typedef struct store_read_result feed_read_result;

/* Called for each message, oldest first; false stops the read. */
typedef bool (*feed_fn)(void *ctx, const struct message *m);

/* A feed for the database at path (absolute); nothing is opened yet. */
struct feed *feed_new(const char *database, const char *log_name);
void feed_free(struct feed *f);

/*
 * Opens the database when it is not open, or reopens it when the file at
 * the path was replaced or removed.  *reopened is true when another file
 * than the one before is now open (the streams of the old one must end).
 * A failure is logged; the status says what to tell the client.
 */
enum store_status feed_ready(struct feed *f, bool *reopened);

/* The open store (after feed_ready), for the writers; NULL if none. */
struct store *feed_store(struct feed *f);

/*
 * One read of channel after id `after` (at most STORE_READ_BATCH rows): a
 * newcomer (after < 0) gets the newest `history`; a resume point in a gap
 * or unknown is said in res->resume and answered with the newest
 * `history`, as store_read does.
 */
enum store_status feed_read(struct feed *f, const char *channel,
                            long long after, long history, feed_fn fn,
                            void *ctx, feed_read_result *res);

/*
 * Starts waking: the wake (watch.h) and the ring (ring.h) are opened once
 * and kept; the position that tells "something was committed since" is
 * taken now, so call it before the first feed_read of a stream: a post
 * committed between the two then still counts as news.
 */
void feed_listen(struct feed *f);

/* The descriptor to poll for news (-1: none, look every feed_look_ms). */
int feed_wake_fd(const struct feed *f);

/* Consumes the wake after feed_wake_fd was readable. */
void feed_wake_drain(struct feed *f);

/* How long to sleep at most between looks, when nothing wakes the feed. */
long feed_look_ms(const struct feed *f, long poll_interval_ms);

/*
 * After a wake (woken) or the fallback look (not woken): hands every new
 * message of the sink's channels to it, in id order per channel.  The
 * first channel followed (from nobody) starts the engine's position at
 * its `after`: call feed_follow_first then.
 */
enum feed_pull feed_pull(struct feed *f, bool woken, const struct feed_sink *sink);

/* Why the last FEED_FAILED pull failed (a status for the client). */
enum store_status feed_failure(const struct feed *f);

/* The position of a pull that follows from nobody starts at `after`. */
void feed_follow_first(struct feed *f, long long after);

#endif
