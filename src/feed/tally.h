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
	TALLY_REFUSALS
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
};

/* One message stored (post or ssectl publish); its commit took commit_us. */
void tally_stored(const char *database, long long commit_us);

/* One post refused with this status (one not in enum tally_refusal: none). */
void tally_refused(const char *database, int status);

/*
 * The counters of database into out: all zero when there is no file yet.
 * False (errno set, out zeroed) when it exists and cannot be read or is
 * not ours.
 */
bool tally_read(const char *database, struct tally *out);

/*
 * The counters in Prometheus's text format; streams_open >= 0 adds
 * sse_streams_open{mode} with that value (the caller counts live streams:
 * the slots, or the hub's own).
 */
void tally_put_prometheus(struct strbuf *out, const struct tally *t,
                          long streams_open, const char *mode);

#endif
