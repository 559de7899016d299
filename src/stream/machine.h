/*
 * machine: one text/event-stream response as a state machine with no I/O.
 *
 * Every delivery rule of docs/PROTOCOL.md lives here once: the plan (live,
 * one-shot, over the cap, a poll, a configuration or database problem,
 * HEAD, the format=html page, a private channel refused: 401 or 403, by
 * auth/gate.h), the first frame and the hello event, history and resume
 * with the reset event, live messages exactly once and in order,
 * keepalives, a lifetime with jitter, and every
 * way a stream ends.  Two drivers run it: the per-process driver
 * (stream/process.c: one blocking stream, CGI or libfcgi) and the hub
 * (hub/hub.c: thousands of streams in one epoll loop).  A driver turns
 * what happened into an event (start, news, a tick, the client gone, a
 * slow reader, shutdown, the database replaced) and writes what the
 * machine hands its output function; the machine never touches a socket,
 * a clock or a random source: the driver passes `now` and a random word.
 *
 * It reads the feed (feed.h) for history and resume: those reads are part
 * of the rules (a reset precedes its rows).  Live messages come to it from
 * the driver, which pulled them once for all its streams.
 *
 * It counts what the metrics need (tally.h): a stream that went live, how
 * each stream answered ended (once, whichever way it ended first), and
 * each message written, into counters in memory that its driver supplies
 * and hands on; the counting is here so both drivers count alike.
 *
 * Whatever goes wrong on the server side is answered 200 with a `retry:`
 * and a comment naming the problem, then the end: any other status would
 * make the browser's EventSource give up for good.  That is exactly what
 * a private channel refused wants (401, 403): retrying cannot help until
 * the visitor signs in again.  A refusal is the one thing the machine
 * logs (a line per refused request: the channel and why, never the token),
 * so that both drivers log it the same way.  A stream on a token ends
 * when the token expires (its lifetime is cut to exp), and its reconnect
 * meets the gate again.
 */
#ifndef SSE_MACHINE_H
#define SSE_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "feed.h"
#include "message.h"
#include "request.h"
#include "sse.h"
#include "strbuf.h"
#include "tally.h"
#include "token.h"

/* The retry sent to a stream turned away by a limit: longer, at most 30 s. */
#define STREAM_OVERFLOW_RETRY_MAX_MS 30000
#define STREAM_OVERFLOW_RETRY_FACTOR 4
/* The first frame is at least this long (padded; see stream_put_hello). */
#define STREAM_FIRST_FRAME_MIN 128
/* Output is handed to the driver once this many bytes wait. */
#define STREAM_WRITE_BATCH 65536
/* A stream owing its client more than this has stopped reading. */
#define STREAM_BACKLOG_MAX (256 * 1024)
/* The comment written when nothing was written for keepalive_s. */
#define STREAM_KEEPALIVE ": keepalive\n"

/* The response headers of every stream, CGI style ("Status: 200 OK" first). */
extern const char stream_headers[];
/* The response headers of the page for visitors without script (format=html). */
extern const char stream_page_headers[];

/* Why the driver cannot give the stream a live slot. */
enum stream_room {
	STREAM_ROOM,            /* a live stream may start */
	STREAM_CAPPED,          /* all `cap` live streams are in use */
	STREAM_AT_FILE_LIMIT,   /* the process has no descriptor to spare */
};

/* What the driver knows when a parsed request arrives. */
struct stream_request {
	const char *channel;
	long long resume;             /* STREAM_NO_RESUME (request.h): a newcomer */
	bool head;                    /* HEAD: the headers only */
	bool config_broken;           /* the configuration did not load */
	enum store_status feed;       /* feed_ready's answer (unused for HEAD) */
	enum stream_room room;
	long cap;                     /* the cap the room was measured against */
	bool headers;                 /* write the HTTP headers (not ssectl) */
	/* Who asks (gate.h): a private channel needs a token covering it. */
	bool trusted;                 /* the owner's own tool (ssectl tail) */
	const struct token_keys *keys;
	const char *authorization;    /* HTTP_AUTHORIZATION, or NULL */
	const char *cookie;           /* HTTP_COOKIE, or NULL */
	long long epoch_s;            /* the wall clock, for token times */
	bool poll;                    /* poll=1: one-shot, whatever the config */
	bool hello;                   /* hello=1: the `hello` event after the first frame */
	bool html;                    /* format=html: the page of recent messages */
};

/* Why a stream ends early, each with its own words to the client. */
enum stream_end {
	STREAM_END_REPLACED,    /* the database file was replaced */
	STREAM_END_SHUTDOWN,    /* the server is stopping */
	STREAM_END_BEHIND,      /* its client stopped reading */
	STREAM_END_FAILED,      /* the feed failed */
};

/* Hands bytes to the driver; false when the client is gone. */
typedef bool (*stream_output_fn)(void *ctx, const char *data, size_t len);

struct stream {
	const struct config *cfg;
	struct tally_streams *counts;   /* NULL: not counted (ssectl tail) */
	stream_output_fn output;
	void *output_ctx;
	char channel[SSE_NAME_MAX + 1];
	long long after;         /* the last id sent or passed over */
	bool live;               /* false once ended (or never live) */
	long long deadline;      /* ms: the end of its lifetime */
	long long last_write;    /* ms */
	struct strbuf out;       /* bytes not handed to the driver yet */
	bool started;            /* answered (a stream_start that was not HEAD) */
	bool ended;              /* started, and its end is known (and counted) */
	enum tally_end end;      /* how it ended, once ended */
};

/*
 * A stream with nothing started; output is called with every byte, and
 * what it does is added to *counts (NULL: nothing is counted; several
 * streams may share one).
 */
void stream_init(struct stream *s, const struct config *cfg,
                 struct tally_streams *counts, stream_output_fn output,
                 void *ctx);
void stream_free(struct stream *s);

/*
 * Whether the request may become a live stream, so that the driver should
 * measure it against the cap (take a slot): not HEAD, a poll, the page, or
 * with lifetime_s = 0, which are all answered at once.
 */
bool stream_may_live(const struct stream_request *req, const struct config *cfg);

/*
 * A request arrives: headers, the first frame, history or what follows
 * the resume point, then live or the end.  The feed is read only when
 * req->feed is STORE_OK.  Returns s->live.
 */
bool stream_start(struct stream *s, const struct stream_request *req,
                  struct feed *feed, long long now, unsigned random_word);

/*
 * A live message of its channel (the driver pulled it): framed and handed
 * on when the stream has not had it.  False once the stream ended.
 */
bool stream_on_message(struct stream *s, const struct message *m, long long now);

/*
 * The same decision for a driver that frames a message once for many
 * streams: true when this stream should get id (and it now has it).
 */
bool stream_take(struct stream *s, long long id, long long now);

/* Hands on what stream_on_message batched; false once the stream ended. */
bool stream_flush(struct stream *s);

/* Messages after s->after were pruned unsent: a reset, then the newest. */
bool stream_on_lost(struct stream *s, struct feed *feed, long long now);

/* Time passed: a keepalive when quiet, the end at the lifetime. */
bool stream_on_tick(struct stream *s, long long now);

/* When the stream next needs a tick (ms), if it is live. */
long long stream_next_tick(const struct stream *s);

/* The driver owes the client this many bytes: false when past the bound
 * (the stream is over; the driver ends it with STREAM_END_BEHIND). */
bool stream_on_backlog(struct stream *s, size_t owed);

/* Ends with a reason the client is told (retry, a comment); failure
 * names the feed's status for STREAM_END_FAILED. */
void stream_end(struct stream *s, enum stream_end why,
                enum store_status failure);

/* The end a pull calls for (STREAM_END_FAILED and the rest: see above);
 * false when the pull calls for none. */
bool stream_end_of_pull(enum feed_pull pulled, enum stream_end *why);

/* The client or the web server went away: ends, nothing to write. */
void stream_on_gone(struct stream *s);

/* The first frame: retry and a comment, padded (mod_deflate; see .c). */
void stream_put_hello(struct strbuf *out, long retry, const char *comment);

/* A lifetime in ms between 0.8 and 1.0 of lifetime_s, from a random word. */
long long stream_lifetime_ms(long lifetime_s, unsigned random_word);

/* The retry sent to a stream over a limit. */
long stream_overflow_retry(long retry_ms);

#endif
