/*
 * tally: the counters behind the Prometheus metrics (README.md, "Metrics"),
 * kept where every process of a site can add to them.
 *
 * On a shared host each post is a process of its own (CGI) or one of a few
 * (mod_fcgid), so a counter in memory dies with its process.  The counters
 * live in DATABASE.metrics instead: one page, mapped shared, each counter a
 * 64-bit word that a process adds to with one atomic instruction (no lock,
 * no write to SQLite, nothing a post waits for).  The kernel keeps the
 * mapping coherent between processes; the file only has to exist.  A
 * counter is lost only with the file (deleted, or another database put in
 * its place), which Prometheus reads as a counter reset.
 *
 * Counting never fails what is counted: a file that cannot be opened or
 * mapped is logged once per process, and the post goes on uncounted.
 *
 * Streams are counted by the stream machine into a struct tally_streams in
 * memory (plain additions: a hub adds for thousands of streams per
 * message), which its driver hands to the file: the per-process driver
 * after each look, into the mapping it keeps for the stream's life; the
 * hub once a tick (hub.c), mapping the file anew each time, so a deleted
 * file is followed within a second.
 */
#ifndef SSE_TALLY_H
#define SSE_TALLY_H

#include <stdbool.h>
#include <stdint.h>

#include "strbuf.h"

/* Why a post was refused: its status, as a label value. */
enum tally_refusal {
	TALLY_BAD_REQUEST,    /* 400 */
	TALLY_ORIGIN,         /* 403 */
	TALLY_METHOD,         /* 405 */
	TALLY_LENGTH,         /* 411 */
	TALLY_TOO_LARGE,      /* 413 */
	TALLY_CONTENT_TYPE,   /* 415 */
	TALLY_RATE_LIMIT,     /* 429 */
	TALLY_UNAVAILABLE,    /* 503 */
	TALLY_TOKEN,          /* 401 or 403 for a token (tally_refused_token) */
	TALLY_REFUSALS
};

/* How a stream ended, as the label value of sse_stream_ends_total. */
enum tally_end {
	TALLY_END_CLIENT_GONE,   /* its client or the web server went away */
	TALLY_END_LIFETIME,      /* lifetime_s was up (every one-shot of
	                          * lifetime_s = 0 too) */
	TALLY_END_STALLED,       /* its client stopped reading (the hub) */
	TALLY_END_OVER_CAP,      /* served one-shot: max_streams,
	                          * listen_max_streams or the open-file limit */
	TALLY_END_SHUTDOWN,      /* the server is stopping */
	TALLY_END_PROBLEM,       /* configuration, database or feed failed, or
	                          * the database was replaced */
	TALLY_END_POLL,          /* a poll=1 answer: one-shot on request */
	TALLY_ENDS
};

/* What streams did since their driver last handed it to the file. */
struct tally_streams {
	uint64_t live;               /* streams that went live */
	uint64_t ends[TALLY_ENDS];   /* streams answered, by how they ended */
	uint64_t deliveries;         /* messages written to a stream */
};

/* The commit-time histogram's upper bounds, in seconds (a writer waits up
 * to 3 s for the lock: STORE_BUSY_TIMEOUT_MS, so the last is above it). */
#define TALLY_COMMIT_BOUNDS 12

/* Everything counted so far, as read from the file. */
struct tally {
	uint64_t messages_stored;
	uint64_t posts_refused[TALLY_REFUSALS];
	uint64_t commit_buckets[TALLY_COMMIT_BOUNDS + 1];   /* the last: above all */
	uint64_t commit_sum_us;
	struct tally_streams streams;
};

/* One message stored (post or ssectl publish); its commit took commit_us. */
void tally_stored(const char *database, long long commit_us);

/* One post refused with this status (one not in enum tally_refusal: none). */
void tally_refused(const char *database, int status);
/* One post refused for its token, or for the lack of one (401, 403). */
void tally_refused_token(const char *database);

/* The counter file of a database, mapped for adding (opaque). */
struct tally_file;

/*
 * Maps DATABASE.metrics for adding, creating it when missing; NULL when it
 * cannot be (logged once per process: counting stops, the caller goes on).
 */
struct tally_file *tally_attach(const char *database);
void tally_detach(struct tally_file *f);

/* Adds what c counted to the file (f may be NULL: nothing), and zeroes c. */
void tally_add_streams(struct tally_file *f, struct tally_streams *c);

/* The label value of an end reason ("client_gone", ...). */
const char *tally_end_name(enum tally_end why);

/*
 * The counters of database into out: all zero when there is no file yet.
 * False (errno set, out zeroed) when it exists and cannot be read or is
 * not ours.
 */
bool tally_read(const char *database, struct tally *out);

/*
 * The counters in Prometheus's text format; streams_open >= 0 adds
 * sse_streams_open{mode} with that value (the caller counts live streams
 * from live state: the slots, "process", or the hub's own, "listen").
 */
void tally_put_prometheus(struct strbuf *out, const struct tally *t,
                          long streams_open, const char *mode);

#endif
