/*
 * stream: one text/event-stream response, from the headers to the end.
 *
 * The loop sleeps in poll() on the connection (so a gone client or a stop
 * signal wakes it at once) and on the database's notify file (watch.h).
 * Woken, it takes the new messages from the shared ring (ring.h) without
 * touching SQLite, and reads SQLite only when the ring cannot answer for
 * sure.  Without a wake it asks SQLite one cheap question, PRAGMA
 * data_version, every poll_interval_ms (every WATCH_FALLBACK_MS when
 * inotify works), and reads the channel only when the answer changes.  A
 * batch of waiting messages goes out in one write.  It writes a keepalive comment
 * when nothing was written for keepalive_s, and ends after its lifetime, a
 * random point between 0.8 and 1.0 of lifetime_s so that listeners who came
 * together do not all reconnect together.
 *
 * Whatever goes wrong on this side is answered 200 with a `retry:` and a
 * comment naming the problem, then the end: any other status would make the
 * browser's EventSource give up for good (docs/PROTOCOL.md).
 */
#ifndef SSE_STREAM_H
#define SSE_STREAM_H

#include <stdbool.h>

#include "config.h"
#include "request.h"
#include "strbuf.h"
#include "store.h"
#include "transport.h"

#define STREAM_OVERFLOW_RETRY_MAX_MS 30000  /* the protocol: at most 30 s */
#define STREAM_OVERFLOW_RETRY_FACTOR 4      /* slower polling when over cap */
/* The first frame is at least this long (padded; see send_hello). */
#define STREAM_FIRST_FRAME_MIN 128
/* Frames taken from the ring are written once this many bytes wait. */
#define STREAM_WRITE_BATCH 65536

struct stream_plan {
	const char *channel;
	long long resume;      /* STREAM_NO_RESUME: a newcomer, gets history */
	bool head;             /* HEAD: the headers only */
	const char *problem;   /* not NULL: answer retry + this comment, end */
};

/* Serves the stream; st is an open store unless plan->problem is set. */
void stream_run(struct request *req, const struct config *cfg,
                struct store *st, const struct stream_plan *plan);

/* The frames of a stream without the HTTP headers (ssectl tail). */
void stream_body(struct request *req, const struct config *cfg,
                 struct store *st, const struct stream_plan *plan);

/* The response headers of every stream, CGI style ("Status: 200 OK" first). */
extern const char stream_headers[];

/*
 * The first frame: retry and a comment, so the browser's `open` fires at
 * once.  Padded with a blank comment line to STREAM_FIRST_FRAME_MIN bytes:
 * mod_deflate, when a host enables it for a whole site, holds an answer
 * (headers included) until it has seen more than 68 bytes of body, before
 * it even checks no-gzip (see scripts/NOTES-apache.md).
 */
void stream_put_hello(struct strbuf *out, long retry, const char *comment);

/*
 * One read of what follows *after on the channel (at most STORE_READ_BATCH
 * rows; a newcomer, STREAM_NO_RESUME, gets the newest `history`), framed
 * into out, a reset event first when the resume point was in a gap or
 * unknown.  Moves *after past what was read; *more when a full batch was
 * read and more may follow at once.
 */
enum store_status stream_put_news(struct store *st, const char *channel,
                                  long history, long long *after,
                                  struct strbuf *out, bool *more);

/* The retry sent to a stream over the cap: longer, at most 30 s. */
long stream_overflow_retry(long retry_ms);

/* The comment written when nothing was written for keepalive_s. */
#define STREAM_KEEPALIVE ": keepalive\n"

/* Why a stream is answered one-shot rather than kept live. */
enum stream_one_shot {
	STREAM_POLLING,         /* lifetime_s = 0: every answer is one-shot */
	STREAM_CAPPED,          /* all `cap` live streams are in use */
	STREAM_AT_FILE_LIMIT,   /* the process has no descriptor to spare */
};

/*
 * The first frame's comment of a one-shot answer, into hello; returns the
 * retry to send with it (stream_overflow_retry when a limit turned it
 * away).  One wording for both modes, per process and --listen.
 */
long stream_one_shot_hello(enum stream_one_shot why, long cap, long retry_ms,
                           char *hello, size_t len);

/* A random word for the lifetime's jitter (getrandom, else pid and clock). */
unsigned stream_random_word(void);

/* A lifetime in ms between 0.8 and 1.0 of lifetime_s, from a random word. */
long long stream_lifetime_ms(long lifetime_s, unsigned random_word);

#endif
