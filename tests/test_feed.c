/*
 * test_feed: the feed's engine cases, one table, run against both
 * engines: the SQLite file and a real redis-server this program starts in
 * a temporary folder on a unix socket (redisutil.h).  Each row is a list
 * of steps (publish, post, prune, read, follow and pull, stats) with what
 * each must give; messages are named by labels, because the two engines
 * number them differently (SQLite: one sequence for all channels; Redis:
 * one per channel, docs/PROTOCOL.md, "The Redis engine").  "top" is the
 * highest id the engine counts for a channel's resume rule: the
 * database's for SQLite, the channel's for Redis.
 *
 *   build/tests/test_feed            every row on both engines
 *   SSE_TEST_ENGINES=sqlite          one engine only
 */
#include "redisutil.h"

#include "feed.h"
#include "sse.h"

#define MAX_STEPS 10
#define MAX_LABELS 256
#define PULL_WAIT_MS 3000        /* a wake arrives within this */
#define DEFAULT_RETENTION 1000
#define BURST 205                /* more than one read batch (200) */

enum engine { ENGINE_SQLITE, ENGINE_REDIS, ENGINE_COUNT };
static const char *const engine_names[] = { "sqlite", "redis" };

enum op {
	END,     /* the steps of a row stop here */
	PUB,     /* channel, label (also its data), n: retention (0: default) */
	BURST_OF, /* channel, label prefix: BURST messages l0, l1, ... */
	POST,    /* a chat post: channel, label (the text), addr, n: rate limit */
	PRUNE,   /* n: keep; want: the count deleted, as digits */
	READ,    /* channel, after, n: history; want, resume, oldest, reset */
	FOLLOW,  /* channel: the sink follows it from its top, listening */
	PULL,    /* want: the labels the wake hands over */
	STATS,   /* want: "channel count oldest newest; ..." in labels */
};

struct step {
	enum op op;
	const char *channel;
	const char *label;
	long n;
	const char *after;   /* "-": newcomer, "0", a label, "top", "top+N" */
	const char *want;    /* labels, space-separated, in order */
	enum store_resume resume;
	const char *oldest;  /* a label, or NULL: 0 */
	const char *reset;   /* a label L: id(L) - 1; "top"; NULL: not checked */
	const char *addr;
	enum store_status status;   /* POST */
	bool more;           /* READ: a full batch */
};

struct feed_case {
	const char *name;
	struct step steps[MAX_STEPS];
};

static const struct feed_case cases[] = {
	{ "ids increase, a read starts after its resume point", {
		{ PUB, "chat", "a", .n = 0 }, { PUB, "other", "b", .n = 0 }, { PUB, "chat", "c", .n = 0 },
		{ READ, "chat", .after = "0", .n = 50, .want = "a c" },
		{ READ, "chat", .after = "a", .n = 50, .want = "c" },
		{ READ, "chat", .after = "c", .n = 50, .want = "" },
		{ READ, "other", .after = "0", .n = 50, .want = "b" } } },
	{ "a newcomer gets the newest history", {
		{ PUB, "chat", "a", .n = 0 }, { PUB, "chat", "b", .n = 0 }, { PUB, "chat", "c", .n = 0 },
		{ PUB, "chat", "d", .n = 0 }, { PUB, "other", "e", .n = 0 },
		{ READ, "chat", .after = "-", .n = 3, .want = "b c d" },
		{ READ, "chat", .after = "-", .n = 0, .want = "" },
		{ READ, "empty", .after = "-", .n = 5, .want = "" } } },
	{ "a read is one batch at most", {
		{ BURST_OF, "chat", "m", .n = 0 },
		{ READ, "chat", .after = "0", .n = 50, .want = "m0 .. m199", .more = true },
		{ READ, "chat", .after = "m199", .n = 50, .want = "m200 .. m204" } } },
	{ "retention prunes, and a resume point before the cut is a gap", {
		{ PUB, "chat", "a", .n = 2 }, { PUB, "chat", "b", .n = 2 },
		{ PUB, "chat", "c", .n = 2 }, { PUB, "chat", "d", .n = 2 },
		{ READ, "chat", .after = "a", .n = 50, .want = "c d",
		  .resume = RESUME_GAP, .oldest = "c", .reset = "c" },
		{ READ, "chat", .after = "0", .n = 1, .want = "d",
		  .resume = RESUME_GAP, .oldest = "c", .reset = "d" },
		{ READ, "chat", .after = "b", .n = 50, .want = "c d" } } },
	{ "a resume point above every id is unknown", {
		{ PUB, "chat", "a", .n = 0 }, { PUB, "chat", "b", .n = 0 },
		{ READ, "chat", .after = "top+5", .n = 1, .want = "b",
		  .resume = RESUME_UNKNOWN_ID, .oldest = "a", .reset = "b" },
		{ READ, "chat", .after = "top", .n = 1, .want = "" },
		{ READ, "empty", .after = "top+1", .n = 5, .want = "",
		  .resume = RESUME_UNKNOWN_ID, .reset = "top" } } },
	{ "prune keeps the newest of every channel and records the gap", {
		{ PUB, "chat", "a", .n = 0 }, { PUB, "chat", "b", .n = 0 }, { PUB, "chat", "c", .n = 0 },
		{ PUB, "other", "d", .n = 0 },
		{ PRUNE, .n = 1, .want = "2" },
		{ READ, "chat", .after = "a", .n = 50, .want = "c",
		  .resume = RESUME_GAP, .oldest = "c", .reset = "c" },
		{ READ, "other", .after = "0", .n = 50, .want = "d" },
		{ PRUNE, .n = 0, .want = "2" },
		{ READ, "chat", .after = "b", .n = 50, .want = "",
		  .resume = RESUME_GAP, .reset = "top" },
		{ READ, "chat", .after = "c", .n = 50, .want = "" } } },
	{ "stats: count, oldest and newest per channel, in name order", {
		{ PUB, "zed", "a", .n = 0 }, { PUB, "chat", "b", .n = 0 }, { PUB, "chat", "c", .n = 0 },
		{ STATS, .want = "chat 2 b c; zed 1 a a" } } },
	{ "a chat post stores its JSON with its own id", {
		{ POST, "chat", "hi", .addr = "192.0.2.1" },
		{ READ, "chat", .after = "-", .n = 5, .want = "hi" } } },
	{ "a signed post says so last in its JSON, an unsigned one not at all", {
		{ POST, "chat", "signed-hi", .addr = "192.0.2.1" },
		{ POST, "chat", "plain", .addr = "192.0.2.1" },
		{ READ, "chat", .after = "-", .n = 5, .want = "signed-hi plain" } } },
	{ "the rate limit counts stored posts per address", {
		{ POST, "chat", "one", .addr = "192.0.2.1", .n = 1 },
		{ POST, "chat", "two", .addr = "192.0.2.1", .n = 1,
		  .status = STORE_RATE_LIMITED },
		{ POST, "other", "three", .addr = "192.0.2.2", .n = 1 },
		{ READ, "chat", .after = "0", .n = 5, .want = "one" } } },
	{ "the wake hands over the followed channel's new messages", {
		{ PUB, "chat", "old", .n = 0 },
		{ FOLLOW, "chat", .n = 0 },
		{ PUB, "chat", "a", .n = 0 }, { PUB, "other", "b", .n = 0 }, { PUB, "chat", "c", .n = 0 },
		{ PULL, .want = "a c" },
		{ PUB, "chat", "d", .n = 0 },
		{ PULL, .want = "d" } } },
};

/* ---- one run: a fresh database on one engine ------------------------------ */

struct label {
	const char *name;
	char own[16];        /* a burst's generated name */
	const char *channel;
	long long id;
};

struct run {
	enum engine engine;
	char dir[PATH_MAX];
	char db[PATH_MAX + 64];
	struct feed *feed;
	struct label labels[MAX_LABELS];
	size_t nlabels;
	long long top_any;               /* SQLite's top */
	struct feed_channel followed;
	char followed_name[SSE_NAME_MAX + 1];
	struct strbuf got;               /* labels the sink was handed */
	bool lost;
};

static struct tu_redis redis;        /* one server for the whole program */

static long long id_of(struct run *r, const char *name)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (strcmp(r->labels[i].name, name) == 0)
			return r->labels[i].id;
	fail_msg("no message labelled %s", name);
	return -1;
}

static const char *label_of(struct run *r, long long id, const char *channel)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (r->labels[i].id == id && strcmp(r->labels[i].channel, channel) == 0)
			return r->labels[i].name;
	return "?";
}

/* The highest id counted for channel's resume rule (see the top). */
static long long top(struct run *r, const char *channel)
{
	if (r->engine == ENGINE_SQLITE)
		return r->top_any;
	long long t = 0;
	for (size_t i = 0; i < r->nlabels; i++)
		if (strcmp(r->labels[i].channel, channel) == 0 && r->labels[i].id > t)
			t = r->labels[i].id;
	return t;
}

static long long resume_point(struct run *r, const char *channel,
                              const char *after)
{
	if (strcmp(after, "-") == 0)
		return -1;
	if (strcmp(after, "0") == 0)
		return 0;
	if (strncmp(after, "top", 3) == 0)
		return top(r, channel) + (after[3] == '+' ? atol(after + 4) : 0);
	return id_of(r, after);
}

static void remember(struct run *r, const char *name, const char *channel,
                     long long id)
{
	assert_true(r->nlabels < MAX_LABELS);
	struct label *l = &r->labels[r->nlabels++];
	snprintf(l->own, sizeof(l->own), "%s", name);
	l->name = l->own;
	l->channel = channel;
	l->id = id;
	if (id > r->top_any)
		r->top_any = id;
}

/* "m0 .. m199" in a want: the labels between, as a burst named them. */
static void expand(const char *want, struct strbuf *out)
{
	char prefix[16];
	int from, to;
	const char *dots = strstr(want, " .. ");
	if (dots != NULL && sscanf(want, "%15[a-z]%d .. %*[a-z]%d", prefix, &from, &to) == 3) {
		for (int i = from; i <= to; i++)
			sb_printf(out, "%s%s%d", i > from ? " " : "", prefix, i);
		return;
	}
	sb_puts(out, want);
}

static void check_labels(const char *what, const char *want, const struct strbuf *got)
{
	struct strbuf w = STRBUF_INIT;
	expand(want, &w);
	if (strcmp(sb_str(&w), sb_str(got)) != 0)
		fail_msg("%s: want [%.200s], got [%.200s]", what, sb_str(&w), sb_str(got));
	sb_free(&w);
}

/* ---- steps ----------------------------------------------------------------- */

static void publish(struct run *r, const char *channel, const char *label,
                    long retention)
{
	long long id;
	assert_int_equal(feed_publish(r->feed, channel, "message", label,
	                              strlen(label), retention ? retention
	                                                       : DEFAULT_RETENTION,
	                              &id), STORE_OK);
	remember(r, label, channel, id);
}

/* A post whose text (label) starts "signed" is posted as a token's name. */
static bool is_signed(const char *label)
{
	return strncmp(label, "signed", 6) == 0;
}

static void post(struct run *r, const struct step *s)
{
	struct chat_post p = { s->channel, "al", s->label, s->addr, s->n,
	                       DEFAULT_RETENTION, is_signed(s->label) };
	long long id = 0;
	assert_int_equal(feed_post_chat(r->feed, &p, &id), s->status);
	if (s->status == STORE_OK)
		remember(r, s->label, s->channel, id);
}

struct reading {
	struct run *r;
	const char *channel;
	struct strbuf labels;
};

/* A row's label: its data, or a chat post's text checked in its JSON. */
static bool on_row(void *ctx, const struct message *m)
{
	struct reading *rd = ctx;
	const char *label = label_of(rd->r, m->id, rd->channel);
	char json[256];
	snprintf(json, sizeof(json), "{\"id\":%lld,\"channel\":\"%s\",\"user\":\"al\","
	         "\"text\":\"%s\",\"time\":\"", m->id, rd->channel, label);
	bool as_stored = (m->len == strlen(label) && memcmp(m->data, label, m->len) == 0) ||
	                 (m->len > strlen(json) && memcmp(m->data, json, strlen(json)) == 0);
	static const char mark[] = ",\"signed\":true}";
	bool marked = m->len > strlen(mark) &&
	              memcmp(m->data + m->len - strlen(mark), mark, strlen(mark)) == 0;
	if (!as_stored || (m->len != strlen(label) && marked != is_signed(label)))
		fail_msg("id %lld of %s: data [%.*s] is not %s's", m->id, rd->channel,
		         (int)m->len, m->data, label);
	sb_printf(&rd->labels, "%s%s", rd->labels.len ? " " : "", label);
	return true;
}

static void read_step(struct run *r, const struct step *s)
{
	struct reading rd = { r, s->channel, STRBUF_INIT };
	feed_read_result res;
	long long after = resume_point(r, s->channel, s->after);
	assert_int_equal(feed_read(r->feed, s->channel, after, s->n, on_row, &rd,
	                           &res), STORE_OK);
	check_labels("rows", s->want, &rd.labels);
	assert_int_equal(res.resume, s->resume);
	assert_int_equal(res.more, s->more);
	assert_int_equal(res.oldest, s->oldest ? id_of(r, s->oldest) : 0);
	if (s->reset != NULL)
		assert_int_equal(res.reset_id, strcmp(s->reset, "top") == 0
		                 ? top(r, s->channel) : id_of(r, s->reset) - 1);
	/* Where the next read goes on: the last row of a full batch, else
	 * past everything counted. */
	if (!s->more)
		assert_int_equal(res.next_after, top(r, s->channel));
	sb_free(&rd.labels);
}

static void prune(struct run *r, const struct step *s)
{
	long long deleted = -1;
	assert_int_equal(feed_prune_all(r->feed, s->n, &deleted), STORE_OK);
	assert_int_equal(deleted, atoll(s->want));
}

static void stats_row(void *ctx, const struct store_channel_stats *c)
{
	struct reading *rd = ctx;
	sb_printf(&rd->labels, "%s%s %lld %s", rd->labels.len ? "; " : "",
	          c->channel, c->messages, label_of(rd->r, c->oldest, c->channel));
	sb_printf(&rd->labels, " %s", label_of(rd->r, c->newest, c->channel));
}

static void stats(struct run *r, const struct step *s)
{
	struct reading rd = { r, NULL, STRBUF_INIT };
	assert_int_equal(feed_stats(r->feed, stats_row, &rd), STORE_OK);
	check_labels("stats", s->want, &rd.labels);
	sb_free(&rd.labels);
}

/* The sink of one followed channel, as a per-process stream has it. */
static struct feed_channel *sink_find(void *ctx, const char *name)
{
	struct run *r = ctx;
	return strcmp(name, r->followed_name) == 0 ? &r->followed : NULL;
}

static void sink_each(void *ctx, void (*fn)(void *, struct feed_channel *), void *arg)
{
	fn(arg, &((struct run *)ctx)->followed);
}

static void sink_deliver(void *ctx, struct feed_channel *ch, const struct message *m)
{
	struct run *r = ctx;
	sb_printf(&r->got, "%s%s", r->got.len ? " " : "", label_of(r, m->id, ch->name));
}

static void sink_lost(void *ctx, struct feed_channel *ch)
{
	(void)ch;
	((struct run *)ctx)->lost = true;
}

static struct feed_sink sink_of(struct run *r)
{
	return (struct feed_sink){ r, sink_find, sink_each, sink_deliver, sink_lost };
}

static void follow(struct run *r, const struct step *s)
{
	snprintf(r->followed_name, sizeof(r->followed_name), "%s", s->channel);
	r->followed.name = r->followed_name;
	r->followed.after = top(r, s->channel);
	feed_listen(r->feed);
	feed_follow_first(r->feed, r->followed.after);
	struct feed_sink sink = sink_of(r);
	feed_followed(r->feed, &sink);
	assert_int_equal(feed_pull(r->feed, true, &sink), FEED_PULLED);
}

/* Waits on the wake until the wanted labels arrived (or the time is up). */
static void pull(struct run *r, const struct step *s)
{
	struct strbuf want = STRBUF_INIT;
	expand(s->want, &want);
	sb_reset(&r->got);
	struct feed_sink sink = sink_of(r);
	long long until = tu_now_ms() + PULL_WAIT_MS;
	while (strcmp(sb_str(&r->got), sb_str(&want)) != 0 && tu_now_ms() < until) {
		struct pollfd p = { feed_wake_fd(r->feed), POLLIN, 0 };
		assert_true(p.fd >= 0);
		bool woken = poll(&p, 1, (int)(until - tu_now_ms())) > 0;
		if (woken)
			feed_wake_drain(r->feed);
		assert_int_equal(feed_pull(r->feed, woken, &sink), FEED_PULLED);
	}
	check_labels("pulled", s->want, &r->got);
	assert_false(r->lost);
	sb_free(&want);
}

static void run_step(struct run *r, const struct step *s)
{
	char name[16];
	switch (s->op) {
	case END: break;
	case PUB: publish(r, s->channel, s->label, s->n); break;
	case BURST_OF:
		for (int i = 0; i < BURST; i++) {
			snprintf(name, sizeof(name), "%s%d", s->label, i);
			publish(r, s->channel, name, 0);
		}
		break;
	case POST: post(r, s); break;
	case PRUNE: prune(r, s); break;
	case READ: read_step(r, s); break;
	case FOLLOW: follow(r, s); break;
	case PULL: pull(r, s); break;
	case STATS: stats(r, s); break;
	}
}

/* ---- the table on both engines --------------------------------------------- */

struct pair {
	const struct feed_case *c;
	enum engine engine;
	char name[160];
};

static void fresh_database(struct run *r)
{
	tu_tempdir(r->dir, sizeof(r->dir));
	if (r->engine == ENGINE_SQLITE) {
		snprintf(r->db, sizeof(r->db), "%s/sse.db", r->dir);
		return;
	}
	redisReply *reply = tu_redis_command(&redis, "FLUSHALL");
	assert_non_null(reply);
	freeReplyObject(reply);
	snprintf(r->db, sizeof(r->db), "%s", redis.url);
}

static void test_pair(void **state)
{
	const struct pair *p = *state;
	struct run r = { .engine = p->engine, .got = STRBUF_INIT };
	fresh_database(&r);
	r.feed = feed_new(r.db, "test");
	assert_non_null(r.feed);
	assert_string_equal(feed_engine(r.feed), engine_names[p->engine]);
	bool reopened;
	assert_int_equal(feed_ready(r.feed, &reopened), STORE_OK);
	for (size_t i = 0; i < MAX_STEPS && p->c->steps[i].op != END; i++)
		run_step(&r, &p->c->steps[i]);
	feed_free(r.feed);
	sb_free(&r.got);
	tu_rmtree(r.dir);
}

static int start_redis(void **state)
{
	(void)state;
	tu_redis_start(&redis, false);
	return 0;
}

static int stop_redis(void **state)
{
	(void)state;
	tu_redis_finish(&redis);
	return 0;
}

static bool engine_wanted(enum engine e)
{
	const char *only = getenv("SSE_TEST_ENGINES");
	return only == NULL || strstr(only, engine_names[e]) != NULL;
}

int main(void)
{
	static struct pair pairs[ENGINE_COUNT * ARRAY_LEN(cases)];
	static struct CMUnitTest tests[ARRAY_LEN(pairs)];
	size_t n = 0;
	bool with_redis = false;
	for (int e = 0; e < ENGINE_COUNT; e++) {
		if (!engine_wanted((enum engine)e))
			continue;
		with_redis = with_redis || e == ENGINE_REDIS;
		for (size_t i = 0; i < ARRAY_LEN(cases); i++, n++) {
			pairs[n].c = &cases[i];
			pairs[n].engine = (enum engine)e;
			snprintf(pairs[n].name, sizeof(pairs[n].name), "%s: %s",
			         engine_names[e], cases[i].name);
			tests[n] = (struct CMUnitTest){ pairs[n].name, test_pair, NULL,
			                                NULL, &pairs[n] };
		}
	}
	store_process_init();
	return _cmocka_run_group_tests("feed engines", tests, n,
	                               with_redis ? start_redis : NULL,
	                               with_redis ? stop_redis : NULL);
}
