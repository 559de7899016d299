/*
 * The stream machine (src/stream/machine.h) with no socket: each row is a
 * stream's whole life as events (a start, then ticks, messages, ends) and
 * what the client must read, in order, and what the life must leave in the
 * metrics' counters (went live, how it ended, messages written).  The feed
 * is the real one, on a SQLite file in a temp dir; time is whatever the
 * row says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "machine.h"
#include "publish.h"
#include "testutil.h"

enum ev_type { EV_NONE, EV_TICK, EV_MESSAGE, EV_END, EV_BACKLOG, EV_GONE, EV_LOST };

struct ev {
	enum ev_type type;
	long long at;          /* ms after the start */
	long long id;          /* EV_MESSAGE: an id; the data is "live<id>" */
	enum stream_end why;   /* EV_END */
	size_t owed;           /* EV_BACKLOG */
};

/* What the request differs in from a live newcomer of chat. */
struct ask {
	long long resume;              /* 0: a newcomer (STREAM_NO_RESUME) */
	bool head, no_headers, config_broken;
	enum store_status feed;
	enum stream_room room;
	long cap;
	bool poll;                     /* poll=1 */
};

struct row {
	const char *name;
	const char *conf;              /* config lines over the defaults */
	int messages;                  /* "m1".."mN" on chat before the start */
	int prune_to;                  /* then keep only this many (0: none) */
	struct ask ask;
	bool client_gone;              /* the output refuses every write */
	bool live_after_start;
	struct ev events[4];
	const char *want[6];           /* read in this order */
	const char *never;             /* must not be read */
	bool live_at_end;
	struct counted {
		int live;                  /* sse_streams_total */
		int end;                   /* the reason counted, or NO_END */
		int deliveries;            /* sse_deliveries_total */
	} counted;
};

/* Not ended (still live at the end of the row), or never started (HEAD). */
#define NO_END (-1)
#define COUNTED(live, end, deliveries) { live, end, deliveries }

#define NEWCOMER { 0, false, false, false, STORE_OK, STREAM_ROOM, 0, false }
#define RESUME(id) { id, false, false, false, STORE_OK, STREAM_ROOM, 0, false }
#define TICK(t) { EV_TICK, t, 0, 0, 0 }
#define MSG(t, id) { EV_MESSAGE, t, id, 0, 0 }
#define END(t, why) { EV_END, t, 0, why, 0 }
#define OWED(t, n) { EV_BACKLOG, t, 0, 0, n }
#define GONE(t) { EV_GONE, t, 0, 0, 0 }
#define LOST(t) { EV_LOST, t, 0, 0, 0 }
#define NONE { TICK(0) }

static const struct row rows[] = {
	{ "newcomer gets the newest history", "history = 2\n", 3, 0, NEWCOMER, false, true, NONE,
	  { "Status: 200 OK\r\n", "retry: 2000\n: live\n", "id: 2\ndata: m2\n\n",
	    "id: 3\ndata: m3\n\n" }, "data: m1\n", true,
	  COUNTED(1, NO_END, 2) },
	{ "resume sends what follows", "", 3, 0, RESUME(1), false, true, NONE,
	  { ": live\n", "id: 2\ndata: m2\n\n", "id: 3\ndata: m3\n\n" }, "data: m1\n", true,
	  COUNTED(1, NO_END, 2) },
	{ "a gap is reset, then history", "history = 1\n", 5, 2, RESUME(1), false, true, NONE,
	  { "event: reset\ndata: {\"reason\":\"gap\",\"oldest\":4}\n", "data: m5\n" },
	  "data: m4\n", true,
	  COUNTED(1, NO_END, 1) },
	{ "an unknown id is reset", "history = 1\n", 2, 0, RESUME(99), false, true, NONE,
	  { "event: reset\ndata: {\"reason\":\"unknown-id\"", "data: m2\n" }, NULL, true,
	  COUNTED(1, NO_END, 1) },
	{ "HEAD: the headers only", "", 1, 0, { 0, true, false, false, STORE_OK, STREAM_ROOM, 0, false },
	  false, false, NONE, { "Status: 200 OK\r\n" }, "retry:", false,
	  COUNTED(0, NO_END, 0) },
	{ "without headers (ssectl tail)", "", 1, 0,
	  { 0, false, true, false, STORE_OK, STREAM_ROOM, 0, false }, false, true, NONE,
	  { "retry: 2000\n", "data: m1\n" }, "Status:", true,
	  COUNTED(1, NO_END, 1) },
	{ "configuration problem", "", 1, 0, { 0, false, false, true, STORE_OK, STREAM_ROOM, 0, false },
	  false, false, NONE, { "retry: 2000\n: " CONFIG_PROBLEM "\n" }, "data: m1", false,
	  COUNTED(0, TALLY_END_PROBLEM, 0) },
	{ "database problem", "", 1, 0,
	  { 0, false, false, false, STORE_UNAVAILABLE, STREAM_ROOM, 0, false }, false, false, NONE,
	  { ": database is unavailable\n" }, "data: m1", false,
	  COUNTED(0, TALLY_END_PROBLEM, 0) },
	{ "over the cap: one-shot", "", 1, 0, { 0, false, false, false, STORE_OK, STREAM_CAPPED, 5, false },
	  false, false, NONE,
	  { "retry: 8000\n: all 5 live streams are in use: one-shot, polling every 8000 ms\n",
	    "data: m1\n" }, NULL, false,
	  COUNTED(0, TALLY_END_OVER_CAP, 1) },
	{ "at the file limit: one-shot", "", 0, 0,
	  { 0, false, false, false, STORE_OK, STREAM_AT_FILE_LIMIT, 0, false }, false, false, NONE,
	  { ": the server is at its open-file limit" }, NULL, false,
	  COUNTED(0, TALLY_END_OVER_CAP, 0) },
	{ "lifetime 0: polling", "lifetime_s = 0\n", 1, 0, NEWCOMER, false, false, NONE,
	  { ": one-shot: polling every 2000 ms\n", "data: m1\n" }, NULL, false,
	  COUNTED(0, TALLY_END_LIFETIME, 1) },
	{ "poll=1: one-shot whatever the config, counted as a poll", "", 1, 0,
	  { 0, false, false, false, STORE_OK, STREAM_ROOM, 0, true }, false, false, NONE,
	  { ": one-shot: polling every 2000 ms\n", "data: m1\n" }, NULL, false,
	  COUNTED(0, TALLY_END_POLL, 1) },
	{ "poll=1 over the cap: still a poll, at the page's own pace", "", 1, 0,
	  { 0, false, false, false, STORE_OK, STREAM_CAPPED, 5, true }, false, false, NONE,
	  { "retry: 2000\n: one-shot: polling every 2000 ms\n", "data: m1\n" }, NULL, false,
	  COUNTED(0, TALLY_END_POLL, 1) },
	{ "keepalive after keepalive_s of quiet, not before", "keepalive_s = 10\n", 0, 0,
	  NEWCOMER, false, true, { TICK(9999), TICK(10000) },
	  { ": live\n", ": keepalive\n" }, ": keepalive\n: keepalive", true,
	  COUNTED(1, NO_END, 0) },
	{ "a live message, once", "", 0, 0, NEWCOMER, false, true,
	  { MSG(5, 7), MSG(6, 7), MSG(7, 8) },
	  { "id: 7\ndata: live7\n\n", "id: 8\ndata: live8\n\n" }, "data: live7\n\nid: 7", true,
	  COUNTED(1, NO_END, 2) },
	{ "lifetime end: nothing more", "lifetime_s = 10\nkeepalive_s = 100\n", 0, 0, NEWCOMER,
	  false, true, { TICK(10000), MSG(10001, 9) }, { ": live\n" }, "live9", false,
	  COUNTED(1, TALLY_END_LIFETIME, 0) },
	{ "database replaced", "", 0, 0, NEWCOMER, false, true, { END(1, STREAM_END_REPLACED) },
	  { ": live\n", "retry: 2000\n: database was replaced\n" }, NULL, false,
	  COUNTED(1, TALLY_END_PROBLEM, 0) },
	{ "the feed failed", "", 0, 0, NEWCOMER, false, true, { END(1, STREAM_END_FAILED) },
	  { "retry: 2000\n: database is locked\n" }, NULL, false,
	  COUNTED(1, TALLY_END_PROBLEM, 0) },
	{ "shutdown", "", 0, 0, NEWCOMER, false, true, { END(1, STREAM_END_SHUTDOWN) },
	  { "retry: 2000\n: the server is restarting\n" }, NULL, false,
	  COUNTED(1, TALLY_END_SHUTDOWN, 0) },
	{ "a slow reader past the bound", "", 0, 0, NEWCOMER, false, true,
	  { OWED(1, STREAM_BACKLOG_MAX), OWED(2, STREAM_BACKLOG_MAX + 1),
	    END(3, STREAM_END_BEHIND) },
	  { ": this stream fell behind\n" }, NULL, false,
	  COUNTED(1, TALLY_END_STALLED, 0) },
	{ "the client goes", "", 0, 0, NEWCOMER, false, true, { GONE(1), MSG(2, 9) },
	  { ": live\n" }, "live9", false,
	  COUNTED(1, TALLY_END_CLIENT_GONE, 0) },
	{ "a client gone before the first frame", "", 1, 0, NEWCOMER, true, false, NONE,
	  { "" }, NULL, false,
	  COUNTED(0, TALLY_END_CLIENT_GONE, 0) },
	{ "a client gone during a one-shot over the cap: gone, not over the cap", "", 1, 0,
	  { 0, false, false, false, STORE_OK, STREAM_CAPPED, 5, false }, true, false, NONE,
	  { "" }, NULL, false,
	  COUNTED(0, TALLY_END_CLIENT_GONE, 0) },
	{ "an end after the client went is not counted again", "", 0, 0, NEWCOMER, false, true,
	  { GONE(1), END(2, STREAM_END_SHUTDOWN), END(3, STREAM_END_BEHIND) },
	  { ": live\n" }, NULL, false,
	  COUNTED(1, TALLY_END_CLIENT_GONE, 0) },
	{ "live messages and history are both deliveries", "history = 2\n", 2, 0, NEWCOMER,
	  false, true, { MSG(1, 3), MSG(2, 4), TICK(3) },
	  { "data: m1\n", "data: m2\n", "data: live3\n", "data: live4\n" }, NULL, true,
	  COUNTED(1, NO_END, 4) },
	{ "messages lost while behind: reset and history", "history = 1\n", 5, 2, RESUME(2),
	  false, true, { LOST(1) },
	  { "event: reset\ndata: {\"reason\":\"gap\"", "data: m5\n" }, NULL, true,
	  COUNTED(1, NO_END, 1) },
};

struct client {
	struct strbuf read;
	bool gone;
};

static bool client_output(void *ctx, const char *data, size_t len)
{
	struct client *c = ctx;
	if (c->gone)
		return false;
	sb_append(&c->read, data, len);
	return true;
}

static void run_event(struct stream *s, struct feed *feed, const struct ev *e,
                      long long start)
{
	long long now = start + e->at;
	char data[32];
	switch (e->type) {
	case EV_NONE:
		break;
	case EV_TICK:
		stream_on_tick(s, now);
		break;
	case EV_MESSAGE: {
		snprintf(data, sizeof(data), "live%lld", e->id);
		struct message m = { e->id, "chat", "message", data, strlen(data) };
		stream_on_message(s, &m, now);
		stream_flush(s);
		break;
	}
	case EV_END:
		stream_end(s, e->why, STORE_BUSY);
		break;
	case EV_BACKLOG:
		if (!stream_on_backlog(s, e->owed))
			assert_true(e->owed > STREAM_BACKLOG_MAX);
		else
			assert_true(e->owed <= STREAM_BACKLOG_MAX);
		break;
	case EV_GONE:
		stream_on_gone(s);
		break;
	case EV_LOST:
		stream_on_lost(s, feed, now);
		break;
	}
}

/* The counters the row's life left (nothing to check when not counting). */
static void check_counted(const struct row *r, const struct tally_streams *c)
{
	uint64_t ends = 0;
	for (size_t i = 0; i < TALLY_ENDS; i++)
		ends += c->ends[i];
	if (c->live != (uint64_t)r->counted.live ||
	    c->deliveries != (uint64_t)r->counted.deliveries)
		fail_msg("%s: counted live %llu, deliveries %llu; want %d, %d", r->name,
		         (unsigned long long)c->live, (unsigned long long)c->deliveries,
		         r->counted.live, r->counted.deliveries);
	if (r->counted.end == NO_END ? ends != 0
	                             : ends != 1 || c->ends[r->counted.end] != 1)
		fail_msg("%s: %llu ends counted, want %s once", r->name,
		         (unsigned long long)ends,
		         r->counted.end == NO_END ? "none" : tally_end_name(r->counted.end));
}

/*
 * A row's world: a fresh database in dir (made here, removed by the
 * caller), the configuration of its lines over the defaults, and the feed
 * on it, open.
 */
static struct feed *row_feed(char dir[256], const char *lines, struct config *cfg)
{
	char db[300], conf[600];
	tu_tempdir(dir, 256);
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	snprintf(conf, sizeof(conf), "database = %s\n%s", db, lines);
	config_defaults(cfg);
	char err[CONFIG_ERROR_MAX];
	assert_true(config_parse(cfg, conf, strlen(conf), "row", err, sizeof(err)));
	struct feed *feed = feed_new(db, "test");
	bool reopened;
	assert_int_equal(feed_ready(feed, &reopened), STORE_OK);
	return feed;
}

/* counting: the stream adds to counters (events.fcgi), or to none (tail). */
static void run_row(const struct row *r, bool counting)
{
	char dir[256];
	struct config cfg;
	struct feed *feed = row_feed(dir, r->conf, &cfg);
	for (int i = 1; i <= r->messages; i++) {
		char text[16];
		long long id;
		snprintf(text, sizeof(text), "m%d", i);
		assert_int_equal(publish_event(feed_store(feed), "chat", "message", text,
		                               strlen(text), 1000, &id), STORE_OK);
	}
	long long deleted;
	if (r->prune_to > 0)
		assert_int_equal(store_prune_all(feed_store(feed), r->prune_to, &deleted), STORE_OK);
	struct client c = { STRBUF_INIT, r->client_gone };
	struct stream s;
	struct tally_streams counts = { 0 };
	stream_init(&s, &cfg, counting ? &counts : NULL, client_output, &c);
	long long start = 1000000;
	/* random word 0: the lifetime is exactly lifetime_s */
	struct stream_request req = {
		.channel = "chat",
		.resume = r->ask.resume > 0 ? r->ask.resume : STREAM_NO_RESUME,
		.head = r->ask.head,
		.config_broken = r->ask.config_broken,
		.feed = r->ask.feed,
		.room = r->ask.room,
		.cap = r->ask.cap,
		.headers = !r->ask.no_headers,
		.poll = r->ask.poll,
	};
	bool live = stream_start(&s, &req, feed, start, 0);
	if (live != r->live_after_start)
		fail_msg("%s: live after start %d, read [%s]", r->name, live, sb_str(&c.read));
	for (size_t i = 0; i < ARRAY_LEN(r->events); i++)
		run_event(&s, feed, &r->events[i], start);
	const char *text = sb_str(&c.read);
	for (size_t i = 0; i < ARRAY_LEN(r->want) && r->want[i] != NULL; i++) {
		const char *at = strstr(text, r->want[i]);
		if (at == NULL)
			fail_msg("%s: [%s] not read after the earlier ones in [%s]", r->name,
			         r->want[i], sb_str(&c.read));
		text = at + strlen(r->want[i]);
	}
	if (r->never != NULL && strstr(sb_str(&c.read), r->never) != NULL)
		fail_msg("%s: [%s] was read: [%s]", r->name, r->never, sb_str(&c.read));
	if (s.live != r->live_at_end)
		fail_msg("%s: live at the end %d", r->name, s.live);
	if (s.ended != (r->counted.end != NO_END) ||
	    (s.ended && (int)s.end != r->counted.end))
		fail_msg("%s: ended %d by %s", r->name, s.ended,
		         s.ended ? tally_end_name(s.end) : "nothing");
	static const struct tally_streams none;
	if (counting)
		check_counted(r, &counts);
	else if (memcmp(&counts, &none, sizeof(none)) != 0)
		fail_msg("%s: counted without counters", r->name);
	stream_free(&s);
	sb_free(&c.read);
	feed_free(feed);
	tu_rmtree(dir);
}

static void test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		run_row(&rows[i], true);
		run_row(&rows[i], false);
	}
}

/* ---- private channels: the gate (gate.h) at the start ------------------ */

#define EPOCH 1700000000LL   /* the wall clock the driver hands over */
#define SECRET "0123456789abcdef0123456789abcdef"

struct private_row {
	const char *name;
	const char *claims;        /* signed into the token; NULL: none sent */
	const char *cookie;        /* the Cookie header as is, when no claims */
	bool bearer;               /* the token in Authorization, not a cookie */
	bool head, trusted, config_broken;
	const char *want[4];
	const char *never;
	bool live;
	long long lifetime;        /* ms from the start to the end, when live */
};

#define SUB(ch, exp) "{\"exp\":" #exp ",\"mercure\":{\"subscribe\":[\"" ch "\"]}}"
#define STATUS_401 "Status: 401 Unauthorized\r\n"
#define BEARER "WWW-Authenticate: Bearer realm=\"sse-cgi\""

static const struct private_row private_rows[] = {
	{ "no token: 401 with a challenge", NULL, NULL, false, false, false, false,
	  { STATUS_401, BEARER "\r\n", "{\"error\":\"this channel is private" },
	  "retry:", false, 0 },
	{ "HEAD without a token: the 401's headers", NULL, NULL, false, true, false, false,
	  { STATUS_401, "Content-Length: " }, "{", false, 0 },
	{ "a token for another channel: 403", SUB("user-42", 1700003600), NULL, false,
	  false, false, false,
	  { "Status: 403 Forbidden\r\n", BEARER ", error=\"insufficient_scope\"",
	    "does not let you follow" }, "retry:", false, 0 },
	{ "an expired token: 401", SUB("chat", 1699999990), NULL, false, false, false, false,
	  { STATUS_401, "error=\"invalid_token\"", "token has expired" }, "retry:", false, 0 },
	{ "a malformed cookie: 401", NULL, "sse_token=abc", false, false, false, false,
	  { STATUS_401, "three base64url parts" }, "retry:", false, 0 },
	{ "another cookie only: no token", NULL, "sse_tokenx=abc; other=1", false, false,
	  false, false, { STATUS_401, "no token was sent" }, NULL, false, 0 },
	{ "a token covering it: live until exp", SUB("chat", 1700000100), NULL, false,
	  false, false, false, { "Status: 200 OK\r\n", ": live\n", "data: m1\n" }, NULL,
	  true, 100000 },
	{ "every channel, far exp: live for the lifetime", SUB("*", 1800000000), NULL,
	  false, false, false, false, { ": live\n" }, NULL, true, 240000 },
	{ "in Authorization: Bearer", SUB("chat", 1800000000), NULL, true, false, false,
	  false, { ": live\n" }, NULL, true, 240000 },
	{ "the owner's tool (ssectl tail)", NULL, NULL, false, false, true, false,
	  { ": live\n", "data: m1\n" }, NULL, true, 240000 },
	{ "a broken configuration is answered first", NULL, NULL, false, false, false,
	  true, { "Status: 200 OK\r\n", ": " CONFIG_PROBLEM }, "401", false, 0 },
};

static void run_private(const struct private_row *r, const struct token_keys *keys)
{
	char dir[256];
	struct config cfg;
	struct feed *feed = row_feed(dir, "private_channels = staff chat\n", &cfg);
	long long id;
	assert_int_equal(publish_event(feed_store(feed), "chat", "message", "m1", 2,
	                               1000, &id), STORE_OK);
	struct strbuf header = STRBUF_INIT;
	if (r->claims != NULL) {
		sb_puts(&header, r->bearer ? "Bearer " : "a=1; sse_token=");
		assert_true(token_sign((const unsigned char *)SECRET, strlen(SECRET),
		                       r->claims, strlen(r->claims), &header));
	} else if (r->cookie != NULL) {
		sb_puts(&header, r->cookie);
	}
	struct client c = { STRBUF_INIT, false };
	struct stream s;
	stream_init(&s, &cfg, NULL, client_output, &c);
	long long start = 1000000;
	struct stream_request req = {
		.channel = "chat", .resume = STREAM_NO_RESUME, .head = r->head,
		.config_broken = r->config_broken, .feed = STORE_OK, .room = STREAM_ROOM,
		.headers = true, .trusted = r->trusted, .keys = keys,
		.authorization = r->bearer ? sb_str(&header) : NULL,
		.cookie = r->bearer ? NULL : sb_str(&header), .epoch_s = EPOCH,
	};
	bool live = stream_start(&s, &req, feed, start, 0);
	const char *text = sb_str(&c.read);
	for (size_t i = 0; i < ARRAY_LEN(r->want) && r->want[i] != NULL; i++) {
		const char *at = strstr(text, r->want[i]);
		if (at == NULL)
			fail_msg("%s: [%s] not read in order in [%s]", r->name, r->want[i],
			         sb_str(&c.read));
		text = at + strlen(r->want[i]);
	}
	if (r->never != NULL && strstr(sb_str(&c.read), r->never) != NULL)
		fail_msg("%s: [%s] was read: [%s]", r->name, r->never, sb_str(&c.read));
	if (live != r->live)
		fail_msg("%s: live %d", r->name, live);
	if (live && s.deadline - start != r->lifetime)
		fail_msg("%s: ends after %lld ms", r->name, s.deadline - start);
	if (live) {   /* at exp the stream ends: the reconnect meets the gate */
		assert_true(stream_on_tick(&s, s.deadline - 1));
		assert_false(stream_on_tick(&s, s.deadline));
	}
	stream_free(&s);
	sb_free(&c.read);
	sb_free(&header);
	feed_free(feed);
	tu_rmtree(dir);
}

static void test_private(void **state)
{
	(void)state;
	struct token_keys keys = { 0 };
	token_keys_add(&keys, SECRET, strlen(SECRET));
	for (size_t i = 0; i < ARRAY_LEN(private_rows); i++)
		run_private(&private_rows[i], &keys);
}

/* The first frame is padded to STREAM_FIRST_FRAME_MIN (mod_deflate). */
static void test_first_frame_padded(void **state)
{
	(void)state;
	struct strbuf out = STRBUF_INIT;
	stream_put_hello(&out, 3000, "live");
	assert_true(out.len >= STREAM_FIRST_FRAME_MIN);
	assert_memory_equal(out.data + out.len - 2, "\n\n", 2);
	sb_free(&out);
}

/* The lifetime's jitter stays within 0.8 and 1.0 of lifetime_s. */
static void test_lifetime_jitter(void **state)
{
	(void)state;
	static const struct { long s; unsigned word; long long want; } cases[] = {
		{ 100, 0, 100000 },
		{ 100, 20000, 80000 },
		{ 100, 20001, 100000 },
		{ 0, 12345, 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(stream_lifetime_ms(cases[i].s, cases[i].word), cases[i].want);
	assert_int_equal(stream_overflow_retry(3000), 12000);
	assert_int_equal(stream_overflow_retry(20000), STREAM_OVERFLOW_RETRY_MAX_MS);
}

int main(void)
{
	store_process_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_private),
		cmocka_unit_test(test_first_frame_padded),
		cmocka_unit_test(test_lifetime_jitter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
