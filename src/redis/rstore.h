/*
 * rstore: the messages in Redis, as store.h has them in SQLite.
 *
 * Key layout, per channel C (docs/PROTOCOL.md, "The Redis engine"):
 *
 *   sse:{C}:msgs    a Redis stream: one entry per message, entry id
 *                   "N-0" for message id N, fields e (the event name)
 *                   and d (the data)
 *   sse:{C}:seq     the last id issued in C (INCR): ids are per channel,
 *                   1, 2, 3, ..., and never reused, even after a prune
 *   sse:{C}:pruned  the highest id of C ever pruned: a resume point below
 *                   it missed something for good (the reset's "gap")
 *   sse:rate:{A}    a sorted set of address A's posts in the last minute
 *
 * The braces are Redis Cluster's hash tags: all keys of one channel hash
 * to one slot, so each script below touches one slot only.  The rate key
 * is in its own slot, which is why the rate check is a step of its own
 * before the append (rstore_rate, then rstore_publish; a failed append
 * gives the rate entry back).
 *
 * Each operation is one Lua script (EVAL): Redis runs a script alone, so
 * "take the next id, append, trim to retention, remember the cut" is one
 * atomic step: two posters on two machines can never reorder a channel,
 * and a reader sees either all of a post or none of it.  The read script
 * is the resume rule of store_read (gap, unknown id, history) on one
 * snapshot, for the same reason.
 *
 * Trade-off: EVAL sends the script text each time (a few hundred bytes)
 * rather than EVALSHA with a NOSCRIPT fallback; Redis caches the compiled
 * script by its hash either way, and there is no script cache to lose
 * when the server restarts.
 */
#ifndef SSE_RSTORE_H
#define SSE_RSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "feed.h"
#include "rconn.h"
#include "sse.h"

/* "sse:{" + a channel name + "}:pruned" and its NUL. */
#define RSTORE_KEY_MAX (SSE_NAME_MAX + 16)
#define RSTORE_ADDR_MAX 64            /* an address's length in a rate key */
#define RSTORE_SCAN_COUNT "500"       /* keys asked per SCAN step */

struct rkeys {
	char seq[RSTORE_KEY_MAX], msgs[RSTORE_KEY_MAX], pruned[RSTORE_KEY_MAX];
};

/* The keys of channel (a valid name: sse_valid_name). */
void rstore_keys(const char *channel, struct rkeys *k);

/* The channel of a msgs key, into out (SSE_NAME_MAX + 1); false if none. */
bool rstore_channel_of(const char *key, size_t len, char *out);

/* A stream entry ("N-0", [e, E, d, D]) as message parts; false if not ours. */
bool rstore_entry(const redisReply *entry, long long *id, const char **event,
                  const char **data, size_t *len);

/*
 * Appends one message and trims the channel to `retention`.  With chat,
 * data is a JSON object without its id ({"channel":...}) and the stored
 * data is {"id":N, then its members: the id is only known in the script.
 */
enum store_status rstore_publish(struct rconn *rc, const char *channel,
                                 const char *event, const char *data,
                                 size_t len, bool chat, long retention,
                                 long long *id);

/* store_read's rules on this layout (ids per channel). */
enum store_status rstore_read(struct rconn *rc, const char *channel,
                              long long after, long history, feed_fn fn,
                              void *ctx, feed_read_result *res);

/*
 * Counts a post of addr against limit per STORE_RATE_WINDOW_S, under the
 * entry token (unique per post).  *allowed false: over the limit.
 */
enum store_status rstore_rate(struct rconn *rc, const char *addr, long limit,
                              const char *token, bool *allowed);
/* Gives a counted post back (its append failed); failures are ignored. */
void rstore_rate_refund(struct rconn *rc, const char *addr, const char *token);

/* Keeps the newest keep messages of every channel. */
enum store_status rstore_prune_all(struct rconn *rc, long keep,
                                   long long *deleted);

/* Every channel holding messages, in name order. */
enum store_status rstore_stats(struct rconn *rc, store_stats_fn fn, void *ctx);

/* "redis 7.0.15": the server's version, for ssectl. */
void rstore_describe(struct rconn *rc, char *out, size_t len);

#endif
