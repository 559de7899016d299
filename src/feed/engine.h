/*
 * engine: what an engine of the feed implements, for feed.c to dispatch to.
 *
 * feed.h is the one interface the drivers and the writers see; behind it
 * each engine (feed_sqlite.c: the SQLite file with its ring and watch;
 * feed_redis.c: one Redis stream per channel) is a struct that starts
 * with a struct feed, whose ops point at the engine's functions.  feed.c
 * picks the engine from the database string once, in feed_new, and then
 * only forwards: no engine knows the other, and nothing above feed.h
 * knows which one runs.
 *
 * Trade-off: a table of function pointers rather than a switch in each
 * call, so an engine is one file that fills one table, and a missing
 * operation is a NULL the compiler cannot catch: feed_new asserts every
 * entry is set.
 */
#ifndef SSE_ENGINE_H
#define SSE_ENGINE_H

#include <limits.h>

#include "feed.h"

struct feed_ops {
	const char *name;                 /* "sqlite", "redis": for stats */
	void (*free)(struct feed *f);
	enum store_status (*ready)(struct feed *f, enum feed_use use,
	                           bool *reopened);
	bool (*is_open)(const struct feed *f);
	enum store_status (*read)(struct feed *f, const char *channel,
	                          long long after, long history, feed_fn fn,
	                          void *ctx, feed_read_result *res);
	void (*listen)(struct feed *f);
	int (*wake_fd)(const struct feed *f);
	void (*wake_drain)(struct feed *f);
	long (*look_ms)(const struct feed *f, long poll_interval_ms);
	enum feed_pull (*pull)(struct feed *f, bool woken,
	                       const struct feed_sink *sink);
	void (*follow_first)(struct feed *f, long long after);
	void (*followed)(struct feed *f, const struct feed_sink *sink);
	/* The writers' side. */
	enum store_status (*publish)(struct feed *f, const char *channel,
	                             const char *event, const char *data,
	                             size_t len, long retention, long long *id);
	enum store_status (*post_chat)(struct feed *f, const struct chat_post *p,
	                               long long *id);
	enum store_status (*prune_all)(struct feed *f, long keep,
	                               long long *deleted);
	enum store_status (*stats)(struct feed *f, store_stats_fn fn, void *ctx);
	void (*describe)(struct feed *f, char *out, size_t len);
};

/* The part every engine's struct starts with. */
struct feed {
	const struct feed_ops *ops;
	const char *log_name;        /* "events", "ssectl": the log's component */
	enum store_status failure;   /* of the last failed read or pull */
	unsigned wake_epoch;         /* moved on by the engine: feed.h */
	char database[PATH_MAX];     /* as configured: the metrics' file (feed.c) */
};

/* Hands a message to its channel when followed and not had yet. */
void feed_offer(const struct feed_sink *sink, struct feed_channel *ch,
                const struct message *m);

/*
 * Reads channel ch after ch->after with feed_read, offering each row;
 * when the read says gap or unknown id, moves ch->after past it and has
 * the sink's streams resume by their own read (lost).  False when a read
 * failed (logged).
 */
bool feed_catch_up(struct feed *f, const struct feed_sink *sink,
                   struct feed_channel *ch);

/* The engines' constructors (NULL: out of memory). */
struct feed *feed_sqlite_new(const char *database, const char *log_name);
struct feed *feed_redis_new(const char *database, const char *log_name);
/* Where the Redis engine reads its password ("": none). */
void feed_redis_password_file(struct feed *f, const char *path);

#endif
