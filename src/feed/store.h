/*
 * store: the message table in one SQLite file.
 *
 * SQLite does the hard parts: WAL lets streams read while a post writes,
 * busy_timeout queues writers, AUTOINCREMENT guarantees ids are never reused
 * (so "strictly increasing per database" survives pruning), PRAGMA
 * data_version tells a stream cheaply whether anything was committed since
 * its last look, and json_object builds chat messages with correct escaping.
 *
 * Schema (user_version 1):
 *   messages(id, channel, event, data, created)  index (channel, id): "channel
 *     C after id N" and "newest H of channel C" are range scans.
 *   channels(name, pruned_upto)  the highest id of the channel ever pruned:
 *     a client whose resume point is below it missed something for good,
 *     which is what the gap signal (`event: reset`) reports.
 *   post_log(addr, at)  one row per accepted post in the last minute, for the
 *     per-address rate limit shared by every process.
 *
 * Each read that a stream makes (resume check plus rows) runs in one read
 * transaction, so the gap decision and the rows it returns agree even while
 * posts and prunes run concurrently.  Every write is one IMMEDIATE
 * transaction with synchronous=FULL: a message is durable when its post
 * answers 201.
 */
#ifndef SSE_STORE_H
#define SSE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

#define STORE_SCHEMA_VERSION 1
#define STORE_BUSY_TIMEOUT_MS 3000   /* a post waits this long for the lock */
#define STORE_READ_BATCH 200         /* rows per read transaction */
#define STORE_RATE_WINDOW_S 60       /* rate_limit counts posts per minute */
#define STORE_CACHE_PAGES_SQL "64"   /* page cache cap: 64 pages = 256 KiB */
#define STORE_ERROR_MAX 256          /* a failure's text, for the log */

enum store_status {
	STORE_OK = 0,
	STORE_BUSY,         /* locked past busy_timeout */
	STORE_READONLY,     /* file or folder not writable */
	STORE_FULL,         /* disk or quota full */
	STORE_UNAVAILABLE,  /* missing, unreadable, not a database, I/O error */
	STORE_RATE_LIMITED, /* the address posted rate_limit times this minute */
	STORE_ERROR,        /* anything else: see the log */
};

enum store_resume {
	RESUME_OK,          /* rows follow the resume point */
	RESUME_GAP,         /* a message after the resume point was pruned */
	RESUME_UNKNOWN_ID,  /* the resume point is above every id ever issued */
};

/*
 * Opaque: the connection, its prepared statements and the file's identity
 * are this module's business.  Other modules see the operations below, so
 * nothing outside store.c depends on SQLite's API.  Three read-only
 * answers leave it: store_error (for the log), and store_path with
 * store_identity, which together name the database's ring (ring.h) for
 * the writers' publish.c and the streams.
 */
struct store;

/* What a stream's read produced besides the rows. */
struct store_read_result {
	enum store_resume resume;
	long long oldest;    /* oldest retained id of the channel, 0 if none */
	long long reset_id;  /* the id to put on a reset event */
	long long next_after;/* where the next read continues */
	size_t rows;
	bool more;           /* a full batch: read again at once */
};

/* Called for each row, oldest first; return false to stop early. */
typedef bool (*store_row_fn)(void *ctx, long long id, const char *event,
                             const char *data, size_t len);

/* Process-wide SQLite settings; call first in main, before any store_open. */
void store_process_init(void);

/*
 * Opens (creating file and schema when allowed) and prepares statements.
 * On success *out is a store to give back with store_close; on failure
 * *out is NULL and error says what failed and why.
 */
enum store_status store_open(const char *path, bool create, struct store **out,
                             char *error, size_t errlen);
/* Closes and frees; NULL is fine. */
void store_close(struct store *st);
const char *store_status_text(enum store_status status);

/* The last failure on this store, for the log ("" when none). */
const char *store_error(const struct store *st);

/* The path the store was opened with. */
const char *store_path(const struct store *st);

/*
 * The database's name in the ring (ring.h): device, inode and birth time in
 * one word; 0 when the filesystem keeps no birth time (then no ring).
 */
uint64_t store_identity(const struct store *st);

/* How long a write waits for the lock (STORE_BUSY_TIMEOUT_MS by default). */
void store_set_busy_timeout(struct store *st, int ms);

/* The journal mode in effect ("wal", "delete", ...), in out. */
void store_journal_mode(struct store *st, char *out, size_t outlen);

/* One channel's figures, for ssectl stats. */
struct store_channel_stats {
	const char *channel;
	long long messages, oldest, newest;
};
typedef void (*store_stats_fn)(void *ctx, const struct store_channel_stats *c);

/* Calls fn for every channel that holds messages, in name order. */
enum store_status store_stats(struct store *st, store_stats_fn fn, void *ctx);

/* True when the file at st->path is still the one opened. */
bool store_same_file(const struct store *st);

/* Changes whenever another connection commits; cheap, no table access. */
enum store_status store_data_version(struct store *st, long long *version);

/*
 * A stream's read.  after < 0 means a newcomer: the newest `history` rows.
 * Otherwise rows with id > after, unless the resume point is in a gap or
 * unknown, in which case res->resume says so and the rows are the newest
 * `history` (what a newcomer gets).
 */
enum store_status store_read(struct store *st, const char *channel,
                             long long after, long history,
                             store_row_fn fn, void *ctx,
                             struct store_read_result *res);

/*
 * Appends one event and prunes the channel to `retention`.  Only stores:
 * waking the streams is publish.c's part.
 */
enum store_status store_publish(struct store *st, const char *channel,
                                const char *event, const char *data,
                                size_t len, long retention, long long *id);

/*
 * A chat message (docs/PROTOCOL.md, "Chat messages"), rate-limited per
 * address.  On success `data` receives the JSON that was stored, which the
 * streams are handed (publish.c); it may fail to fit in memory (sb_failed)
 * without failing the post: the streams then read it from SQLite.
 */
struct chat_post {
	const char *channel;
	const char *user;
	const char *text;
	const char *addr;     /* client address for the rate limit */
	long rate_limit;      /* posts per minute per address, 0 = off */
	long retention;
	bool signed_user;     /* user is a token's name: "signed": true */
};
enum store_status store_post_chat(struct store *st, const struct chat_post *p,
                                  long long *id, struct strbuf *data);

/* Keeps the newest `keep` messages of every channel; count of deleted rows. */
enum store_status store_prune_all(struct store *st, long keep, long long *deleted);

#endif
