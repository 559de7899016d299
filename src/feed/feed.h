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
 * The first engine is the SQLite file with its ring and watch
 * (feed_sqlite.c): ids are issued in commit order across all channels, so
 * it keeps one position for the whole process.  An engine whose ids are
 * per channel keeps per-channel positions instead: the sink's channels
 * carry their own `after` for that reason.
 *
 * Trade-off: the sink is asked for its channels (find, each) rather than
 * the feed keeping a registry, so the hub's channel list stays the one
 * registry and a per-process stream needs no allocation at all.
 *
 * Engines: the database string picks one in feed_new (engine.h, feed.c
 * only forwards).  The writers (post.fcgi, ssectl) store through
 * this interface too (feed_publish, feed_post_chat, ...), so neither knows
 * which engine holds the messages.
 */
#ifndef SSE_FEED_H
#define SSE_FEED_H

#include <stdbool.h>

#include "config.h"
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

/* What the caller of feed_ready_for is about to do with the database. */
enum feed_use {
	FEED_FOR_STREAMS,   /* read and wake; a missing database is created */
	FEED_FOR_WRITING,   /* store; a database that cannot be written is
	                     * refused before it is opened */
	FEED_EXISTING,      /* prune, stats: a missing database is an error */
};

/* True when database names a Redis server rather than a SQLite file. */
bool feed_is_redis(const char *database);

/*
 * A feed for the database (an absolute path, or a Redis URL: see
 * feed_is_redis); nothing is opened yet.  NULL: out of memory.
 */
struct feed *feed_new(const char *database, const char *log_name);
/* feed_new for the configured database, with what else the engine needs
 * from the configuration (redis_password_file). */
struct feed *feed_new_for(const struct config *cfg, const char *log_name);
void feed_free(struct feed *f);

/* "sqlite", "redis": the engine feed_new chose. */
const char *feed_engine(const struct feed *f);

/*
 * Opens the database when it is not open, or reopens it when the file at
 * the path was replaced or removed.  *reopened is true when another file
 * than the one before is now open (the streams of the old one must end).
 * A failure is logged; the status says what to tell the client.
 */
enum store_status feed_ready_for(struct feed *f, enum feed_use use,
                                 bool *reopened);

/* feed_ready_for(f, FEED_FOR_STREAMS, reopened). */
enum store_status feed_ready(struct feed *f, bool *reopened);

/* True once feed_ready succeeded (and no failure closed it since). */
bool feed_is_open(const struct feed *f);

/* The SQLite engine's open store (tests); NULL on another engine. */
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

/*
 * Changes whenever the feed closed its wake descriptor and opened another
 * (which may have the same number): a caller that registered the old one
 * (epoll) registers the new one.
 */
unsigned feed_wake_epoch(const struct feed *f);

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

/*
 * The sink follows a channel it did not follow before: an engine that
 * waits on a list of channels (Redis's XREAD) waits on the new list.
 */
void feed_followed(struct feed *f, const struct feed_sink *sink);

/*
 * The writers.  Each stores after feed_ready_for(f, FEED_FOR_WRITING or
 * FEED_FOR_STREAMS) and wakes the streams.  A failure is logged by the
 * engine, once (the Redis engine: once per outage), never with a Redis
 * password in it; the caller only turns the status into its answer.  A
 * failure stores nothing.
 */
/* One event; the channel is then pruned to `retention`. */
enum store_status feed_publish(struct feed *f, const char *channel,
                               const char *event, const char *data,
                               size_t len, long retention, long long *id);
/* One chat message (docs/PROTOCOL.md, "Chat messages"), rate-limited. */
enum store_status feed_post_chat(struct feed *f, const struct chat_post *p,
                                 long long *id);
/* Keeps the newest `keep` messages of every channel. */
enum store_status feed_prune_all(struct feed *f, long keep, long long *deleted);
/* Calls fn for every channel that holds messages, in name order. */
enum store_status feed_stats(struct feed *f, store_stats_fn fn, void *ctx);
/* One line about the open database for ssectl ("journal_mode wal"). */
void feed_describe(struct feed *f, char *out, size_t len);

#endif
