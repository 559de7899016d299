/* machine: see machine.h; every rule of a stream, once, without I/O. */
#include "machine.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gate.h"
#include "html.h"
#include "http.h"
#include "log.h"

const char stream_headers[] =
	"Status: 200 OK\r\n"
	"Content-Type: text/event-stream; charset=utf-8\r\n"
	"Cache-Control: no-cache, no-transform\r\n"
	"X-Accel-Buffering: no\r\n"
	"\r\n";

/*
 * The page is a whole answer, not a stream.  Its policy lets it have its
 * own <style> and post its form to this site, and nothing else: no script,
 * no image, no frame, even if an escape were ever missed.
 */
const char stream_page_headers[] =
	"Status: 200 OK\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Cache-Control: no-store\r\n"
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline';"
	" form-action 'self'; base-uri 'none'; frame-ancestors 'self'\r\n"
	"X-Content-Type-Options: nosniff\r\n"
	"Referrer-Policy: same-origin\r\n"
	"\r\n";

long stream_overflow_retry(long retry_ms)
{
	long r = retry_ms * STREAM_OVERFLOW_RETRY_FACTOR;
	return r > STREAM_OVERFLOW_RETRY_MAX_MS ? STREAM_OVERFLOW_RETRY_MAX_MS : r;
}

long long stream_lifetime_ms(long lifetime_s, unsigned random_word)
{
	long long full = (long long)lifetime_s * 1000;
	long long span = full / 5;               /* the top fifth */
	return full - (span > 0 ? (long long)(random_word % (span + 1)) : 0);
}

/*
 * Padded with a blank comment line to STREAM_FIRST_FRAME_MIN bytes:
 * mod_deflate, when a host enables it for a whole site, holds an answer
 * (headers included) until it has seen more than 68 bytes of body, before
 * it even checks no-gzip (see scripts/NOTES-apache.md).
 */
void stream_put_hello(struct strbuf *out, long retry, const char *comment)
{
	size_t start = out->len;
	sse_retry(out, retry);
	sse_comment(out, comment);
	size_t len = out->len - start;
	if (len + 4 < STREAM_FIRST_FRAME_MIN) {
		size_t pad = STREAM_FIRST_FRAME_MIN - len - 3;
		sb_puts(out, ": ");
		for (size_t i = 0; i < pad - 1; i++)
			sb_putc(out, ' ');
		sb_putc(out, '\n');
	}
	sse_end_frame(out);
}

void stream_init(struct stream *s, const struct config *cfg,
                 struct tally_streams *counts, stream_output_fn output,
                 void *ctx)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->counts = counts;
	s->output = output;
	s->output_ctx = ctx;
	s->after = STREAM_NO_RESUME;
}

void stream_free(struct stream *s)
{
	/* Every started stream that is over was counted as ended. */
	assert(!s->started || s->live || s->ended);
	sb_free(&s->out);
}

/*
 * The stream's end, counted the first time only: the first reason is the
 * one that ended it (a client gone while the end of a shutdown is being
 * written ended by the shutdown).  Called before the stream's last bytes
 * are handed on, so that a write failing then does not count instead.
 */
static void count_end(struct stream *s, enum tally_end why)
{
	if (!s->started || s->ended)
		return;
	s->ended = true;
	s->end = why;
	if (s->counts != NULL)
		s->counts->ends[why]++;
}

/* Messages written to the stream (history, resume or live). */
static void count_deliveries(struct stream *s, uint64_t n)
{
	if (s->counts != NULL)
		s->counts->deliveries += n;
}

/* Hands what waits to the driver; a refusal means the client is gone. */
static bool flush(struct stream *s)
{
	bool ok = true;
	if (s->out.len > 0)
		ok = !sb_failed(&s->out) && s->output(s->output_ctx, s->out.data,
		                                      s->out.len);
	sb_reset(&s->out);
	if (!ok) {
		count_end(s, TALLY_END_CLIENT_GONE);
		s->live = false;
	}
	return ok;
}

/* The reset event: the gap signal of docs/PROTOCOL.md. */
static void put_reset(struct strbuf *out, const feed_read_result *res)
{
	char data[96];
	snprintf(data, sizeof(data), "{\"reason\":\"%s\",\"oldest\":%lld}",
	         res->resume == RESUME_GAP ? "gap" : "unknown-id", res->oldest);
	sse_event(out, res->reset_id, "reset", data, strlen(data));
}

/* A read's batch: its rows as events, and how many. */
struct rows {
	struct strbuf text;
	uint64_t n;
};

/* A read's row: one event, into the batch's rows. */
static bool put_row(void *ctx, const struct message *m)
{
	struct rows *rows = ctx;
	sse_event(&rows->text, m->id, m->event, m->data, m->len);
	rows->n++;
	return true;
}

/*
 * Everything after s->after (a newcomer: the newest `history`), batch by
 * batch (STORE_READ_BATCH rows), a reset first when the resume point is in
 * a gap or unknown: the read tells that only at its end, so a batch's rows
 * wait in a buffer of their own.  False when the client is gone or the
 * read failed (then a comment naming the problem was written).
 */
static bool put_news(struct stream *s, struct feed *feed)
{
	struct rows rows = { STRBUF_INIT, 0 };
	feed_read_result res;
	bool ok;
	do {
		sb_reset(&rows.text);
		rows.n = 0;
		enum store_status st = feed_read(feed, s->channel, s->after,
		                                 s->cfg->history, put_row, &rows, &res);
		if (st != STORE_OK) {
			count_end(s, TALLY_END_PROBLEM);
			sse_comment(&s->out, store_status_text(st));
			flush(s);
			ok = false;
			break;
		}
		if (res.resume != RESUME_OK)
			put_reset(&s->out, &res);
		sb_append(&s->out, rows.text.data, rows.text.len);
		if (sb_failed(&rows.text))
			sb_truncate(&s->out, 0), s->out.failed = true;
		assert(res.next_after >= s->after || res.resume != RESUME_OK);
		s->after = res.next_after;
		ok = flush(s);
		if (ok)
			count_deliveries(s, rows.n);
	} while (ok && res.more);
	sb_free(&rows.text);
	return ok;
}

/* Why a stream is answered one-shot, and what its first frame says. */
static long one_shot_hello(const struct stream_request *req, long retry_ms,
                           long lifetime_s, char *hello, size_t len)
{
	if (lifetime_s == 0 || req->poll) {
		snprintf(hello, len, "one-shot: polling every %ld ms", retry_ms);
		return retry_ms;
	}
	long retry = stream_overflow_retry(retry_ms);
	if (req->room == STREAM_CAPPED)
		snprintf(hello, len, "all %ld live streams are in use:"
		         " one-shot, polling every %ld ms", req->cap, retry);
	else
		snprintf(hello, len, "the server is at its open-file limit:"
		         " one-shot, polling every %ld ms", retry);
	return retry;
}

/*
 * The gate (gate.h) for a private channel: false after the 401 or 403
 * (headers only for HEAD) and its log line; else true, with *expires the
 * monotonic ms at which the token runs out (LLONG_MAX: no token, no exp).
 */
static bool admit(struct stream *s, const struct stream_request *req,
                  long long now, long long *expires)
{
	*expires = LLONG_MAX;
	if (req->trusted)
		return true;
	struct gate_verdict v;
	gate_subscribe(s->cfg, req->keys, req->channel, req->authorization,
	               req->cookie, req->epoch_s, &v);
	if (v.status == 0) {
		if (v.tokened && v.claims.has_exp)
			*expires = now + (v.claims.exp - req->epoch_s) * 1000;
		return true;
	}
	log_msg("events", "%d for channel %s: %s", v.status, req->channel,
	        v.reason);
	if (req->headers)
		http_put_error(&s->out, v.status, v.challenge, v.reason, req->head);
	flush(s);
	return false;
}

bool stream_may_live(const struct stream_request *req, const struct config *cfg)
{
	return !req->head && !req->poll && !req->html && cfg->lifetime_s > 0;
}

/* The transient problem a request is answered with, or NULL. */
static const char *problem_of(const struct stream_request *req)
{
	return req->config_broken ? CONFIG_PROBLEM
	     : req->feed != STORE_OK ? store_status_text(req->feed)
	     : NULL;
}

/*
 * The `hello` event (hello=1): the first frame fires no event, so a page
 * cannot tell that it arrived; this one it can, and a page that does not
 * get it within seconds knows that something on the way holds the stream.
 * No id: it must not move the browser's Last-Event-ID.
 */
static void put_hello_event(struct strbuf *out, const char *kind)
{
	sb_printf(out, "event: hello\ndata: %s\n\n", kind);
}

/* The page's rows, rendered one by one, to be shown newest first. */
struct page_rows {
	struct strbuf text;
	size_t *starts;        /* where each row begins in text */
	size_t n, cap;
	bool failed;
};

static bool put_page_row(void *ctx, const struct message *m)
{
	struct page_rows *r = ctx;
	if (strcmp(m->event, "message") != 0)
		return true;   /* what a chat page does not listen for */
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		size_t *grown = realloc(r->starts, cap * sizeof(*grown));
		if (grown == NULL) {
			r->failed = true;
			return true;
		}
		r->starts = grown;
		r->cap = cap;
	}
	r->starts[r->n++] = r->text.len;
	html_page_message(&r->text, m);
	return true;
}

/*
 * format=html: the newest `history` messages of the channel as a page,
 * newest first (it reloads itself and so always opens at its top), with
 * the plain form; a transient problem is said on the page, which tries
 * again when it reloads.  Never live.
 */
static void put_page(struct stream *s, const struct stream_request *req,
                     struct feed *feed)
{
	if (req->headers)
		sb_puts(&s->out, stream_page_headers);
	if (req->head) {
		flush(s);
		return;
	}
	html_page_start(&s->out, s->channel, html_refresh_s(s->cfg->retry_ms));
	const char *problem = problem_of(req);
	struct page_rows rows = { STRBUF_INIT, NULL, 0, 0, false };
	long long after = STREAM_NO_RESUME;
	feed_read_result res = { .more = problem == NULL };
	while (problem == NULL && res.more) {
		enum store_status st = feed_read(feed, s->channel, after,
		                                 s->cfg->history, put_page_row,
		                                 &rows, &res);
		if (st != STORE_OK)
			problem = store_status_text(st);
		after = res.next_after;
	}
	if (problem != NULL) {
		html_page_problem(&s->out, problem);
	} else {
		for (size_t i = rows.n; i-- > 0;) {
			size_t end = i + 1 < rows.n ? rows.starts[i + 1] : rows.text.len;
			sb_append(&s->out, rows.text.data + rows.starts[i],
			          end - rows.starts[i]);
		}
	}
	if (rows.failed || sb_failed(&rows.text))
		s->out.failed = true;
	html_page_end(&s->out, s->channel, problem == NULL && rows.n == 0);
	sb_free(&rows.text);
	free(rows.starts);
	flush(s);
}

bool stream_start(struct stream *s, const struct stream_request *req,
                  struct feed *feed, long long now, unsigned random_word)
{
	assert(!s->live && s->out.len == 0);
	const struct config *cfg = s->cfg;
	snprintf(s->channel, sizeof(s->channel), "%s", req->channel);
	s->after = req->resume;
	long long expires = LLONG_MAX;
	if (!req->config_broken && !admit(s, req, now, &expires))
		return false;
	if (req->html) {
		put_page(s, req, feed);
		return false;
	}
	if (req->headers)
		sb_puts(&s->out, stream_headers);
	if (req->head) {
		flush(s);
		return false;
	}
	s->started = true;
	const char *problem = problem_of(req);
	if (problem != NULL) {
		count_end(s, TALLY_END_PROBLEM);
		stream_put_hello(&s->out, cfg->retry_ms, problem);
		if (req->hello)
			put_hello_event(&s->out, "problem");
		flush(s);
		return false;
	}
	bool one_shot = !stream_may_live(req, cfg) || req->room != STREAM_ROOM;
	char hello[128] = "live";
	long retry = cfg->retry_ms;
	if (one_shot)
		retry = one_shot_hello(req, cfg->retry_ms, cfg->lifetime_s, hello,
		                       sizeof(hello));
	stream_put_hello(&s->out, retry, hello);
	if (req->hello)
		put_hello_event(&s->out, one_shot ? "one-shot" : "live");
	s->live = true;   /* until the client goes; flush clears it */
	if (!put_news(s, feed) || one_shot) {
		/* the same order as one_shot_hello's (a failed put_news counted) */
		count_end(s, req->poll ? TALLY_END_POLL
		           : cfg->lifetime_s == 0 ? TALLY_END_LIFETIME : TALLY_END_OVER_CAP);
		s->live = false;
		return false;
	}
	s->deadline = now + stream_lifetime_ms(cfg->lifetime_s, random_word);
	if (expires < s->deadline)
		s->deadline = expires;   /* the reconnect meets the gate again */
	s->last_write = now;
	if (s->counts != NULL)
		s->counts->live++;
	return s->live;
}

bool stream_take(struct stream *s, long long id, long long now)
{
	if (!s->live || id <= s->after)
		return false;
	s->after = id;
	s->last_write = now;
	/* A plain addition into the driver's counters: the hub makes one
	 * call per stream of a channel per message, and hands the sum on. */
	count_deliveries(s, 1);
	return true;
}

bool stream_on_message(struct stream *s, const struct message *m, long long now)
{
	if (stream_take(s, m->id, now)) {
		sse_event(&s->out, m->id, m->event, m->data, m->len);
		if (s->out.len >= STREAM_WRITE_BATCH)
			flush(s);
	}
	return s->live;
}

bool stream_flush(struct stream *s)
{
	return flush(s) && s->live;
}

bool stream_on_lost(struct stream *s, struct feed *feed, long long now)
{
	if (!s->live)
		return false;
	s->last_write = now;
	if (!put_news(s, feed))
		s->live = false;
	return s->live;
}

bool stream_on_tick(struct stream *s, long long now)
{
	if (!s->live)
		return false;
	if (now >= s->deadline) {   /* the browser reconnects */
		count_end(s, TALLY_END_LIFETIME);
		s->live = false;
		return false;
	}
	if (now - s->last_write >= (long long)s->cfg->keepalive_s * 1000) {
		sb_puts(&s->out, STREAM_KEEPALIVE);
		s->last_write = now;
		flush(s);
	}
	return s->live;
}

long long stream_next_tick(const struct stream *s)
{
	long long keepalive = s->last_write + (long long)s->cfg->keepalive_s * 1000;
	return keepalive < s->deadline ? keepalive : s->deadline;
}

bool stream_on_backlog(struct stream *s, size_t owed)
{
	return s->live && owed <= STREAM_BACKLOG_MAX;
}

static void end_saying(struct stream *s, const char *why)
{
	stream_put_hello(&s->out, s->cfg->retry_ms, why);
	flush(s);
	s->live = false;
}

void stream_end(struct stream *s, enum stream_end why,
                enum store_status failure)
{
	static const char *const words[] = {
		[STREAM_END_REPLACED] = "database was replaced",
		[STREAM_END_SHUTDOWN] = "the server is restarting",
		[STREAM_END_BEHIND] = "this stream fell behind",
	};
	static const enum tally_end counted[] = {
		[STREAM_END_REPLACED] = TALLY_END_PROBLEM,
		[STREAM_END_SHUTDOWN] = TALLY_END_SHUTDOWN,
		[STREAM_END_BEHIND] = TALLY_END_STALLED,
		[STREAM_END_FAILED] = TALLY_END_PROBLEM,
	};
	assert(why < sizeof(counted) / sizeof(counted[0]));
	count_end(s, counted[why]);
	if (why == STREAM_END_FAILED) {
		end_saying(s, store_status_text(failure));
		return;
	}
	assert(why < sizeof(words) / sizeof(words[0]) && words[why] != NULL);
	end_saying(s, words[why]);
}

bool stream_end_of_pull(enum feed_pull pulled, enum stream_end *why)
{
	*why = pulled == FEED_REPLACED ? STREAM_END_REPLACED : STREAM_END_FAILED;
	return pulled != FEED_PULLED;
}

void stream_on_gone(struct stream *s)
{
	count_end(s, TALLY_END_CLIENT_GONE);
	sb_reset(&s->out);
	s->live = false;
}
