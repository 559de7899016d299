/*
 * feed_redis: the feed's second engine (engine.h): one Redis stream per
 * channel (rstore.h has the keys and the scripts), so that several web
 * machines share one set of channels.
 *
 * Two connections (rconn.h).  The command connection reads history and
 * stores, blocking, each command bounded (RCONN_COMMAND_MS).  The wake
 * connection holds one XREAD BLOCK over every followed channel, each from
 * its own `after` (ids are per channel here, unlike SQLite's), and its
 * socket is the feed's wake descriptor: a per-process stream polls it
 * beside its client, the hub watches it in its epoll loop, so one
 * connection serves all of a hub's channels and nothing polls Redis.  A
 * reply hands its entries to the sink and the XREAD is sent again at once;
 * since it names the last id each channel had, nothing stored between two
 * XREADs is missed.  When the hub follows a new channel, CLIENT UNBLOCK on
 * the command connection ends the pending XREAD, and the next one names
 * the new list; once ended, further new channels wait for that next XREAD
 * (sent when the loop takes the empty answer), so a burst of new channels
 * costs one XREAD per turn of the loop, not one per channel, each naming
 * them all.  XREAD's own BLOCK timeout (REDIS_WAKE_BLOCK_MS) makes a
 * silent server visible: no answer REDIS_REPLY_GRACE_MS after it is due
 * and the connection counts as broken.
 *
 * Failures: a connection that fails is closed, its streams end (the
 * machine sends retry: and "database is unavailable"), posts get 503; the
 * next use reconnects after a back-off that doubles from
 * REDIS_BACKOFF_MIN_MS to REDIS_BACKOFF_MAX_MS, and the outage is logged
 * once, when it starts.  Error answers of a working server (OOM, READONLY,
 * BUSY) are logged each time, like SQLite's.
 *
 * Trade-off: two connections per process, rather than one that would have
 * to give up its XREAD (and the wake) for every read a new stream makes.
 */
#include "engine.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dburl.h"
#include "log.h"
#include "rconn.h"
#include "rstore.h"

#define REDIS_WAKE_BLOCK_MS 5000     /* XREAD BLOCK: answered by then */
#define REDIS_REPLY_GRACE_MS 3000    /* later than that: the link is dead */
#define REDIS_BACKOFF_MIN_MS 250     /* the first wait before a reconnect */
#define REDIS_BACKOFF_MAX_MS 8000    /* the longest */
#define REDIS_ID_TEXT 24             /* a decimal long long and "-0" */

/* Whether the server answers, and when to try again if it does not. */
struct outage {
	bool down;
	long delay_ms;
	long long next_try;   /* ms */
};

struct redis_feed {
	struct feed base;           /* first: engine.h */
	char *setting;              /* the database setting: the URL */
	struct dburl url;
	const char *bad_url;        /* why the setting is no URL, or NULL */
	char *password_file;        /* NULL: none */
	struct rconn cmd, wake;
	long long wake_id;          /* the wake connection's CLIENT ID */
	bool wake_shown;            /* its socket was handed out (wake_fd) */
	bool listening;
	bool armed;                 /* an XREAD waits on the wake connection */
	bool ending;                /* CLIENT UNBLOCK ended it: its answer is due */
	long long armed_at;         /* ms */
	struct outage outage;
	unsigned long posts;        /* for the rate entries' tokens */
};

static const struct feed_ops redis_ops;

static struct redis_feed *of(struct feed *f)
{
	assert(f->ops == &redis_ops);
	return (struct redis_feed *)f;
}

static const struct redis_feed *of_const(const struct feed *f)
{
	assert(f->ops == &redis_ops);
	return (const struct redis_feed *)f;
}

struct feed *feed_redis_new(const char *database, const char *log_name)
{
	struct redis_feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->base.ops = &redis_ops;
	f->base.log_name = log_name;
	f->setting = strdup(database);
	if (f->setting == NULL) {
		free(f);
		return NULL;
	}
	/* config.c refuses a bad URL first; a caller that did not check
	 * finds out at the first feed_ready. */
	if (!dburl_parse(database, &f->url, &f->bad_url))
		assert(f->bad_url != NULL);
	return &f->base;
}

void feed_redis_password_file(struct feed *base, const char *path)
{
	struct redis_feed *f = of(base);
	free(f->password_file);
	f->password_file = path != NULL && path[0] ? strdup(path) : NULL;
}

static void redis_free(struct feed *base)
{
	struct redis_feed *f = of(base);
	rconn_close(&f->cmd);
	rconn_close(&f->wake);
	free(f->password_file);
	free(f->setting);
	free(f);
}

/* ---- failures ------------------------------------------------------------ */

/* A connection failed: logged when an outage starts, then a back-off. */
static enum store_status went_down(struct redis_feed *f, const char *why)
{
	if (!f->outage.down)
		log_msg(f->base.log_name, "%s: %s (unavailable: reconnecting with"
		        " back-off, not logged again until it answers)", f->setting,
		        why);
	struct outage *o = &f->outage;
	o->down = true;
	o->delay_ms = o->delay_ms == 0 ? REDIS_BACKOFF_MIN_MS
	            : o->delay_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS
	            : o->delay_ms * 2;
	o->next_try = clock_now_ms() + o->delay_ms;
	return STORE_UNAVAILABLE;
}

/* A command's failure: the connection's (an outage) or the server's. */
static enum store_status report(struct redis_feed *f, enum store_status s)
{
	if (s == STORE_OK || s == STORE_RATE_LIMITED)
		return s;
	if (!rconn_is_open(&f->cmd))
		return went_down(f, f->cmd.error);
	log_msg(f->base.log_name, "%s: %s", f->setting, f->cmd.error);
	return s;
}

/*
 * rconn closed the wake connection on a failure: its socket is gone at
 * once, so a new epoch now, or a hub that watched it would later
 * unregister the number, which a new client may have by then.  The pull
 * says the failure (pull_failed).
 */
static void wake_gone(struct redis_feed *f)
{
	assert(!rconn_is_open(&f->wake));
	if (f->wake_shown)
		f->base.wake_epoch++;
	f->wake_shown = false;
}

/* The wake connection goes, whatever it was waiting for. */
static void close_wake(struct redis_feed *f)
{
	rconn_close(&f->wake);
	f->armed = false;
	f->ending = false;
	wake_gone(f);
}

/* The wake connection goes; its streams end with the feed's failure. */
static enum feed_pull pull_failed(struct redis_feed *f, const char *why)
{
	char reason[STORE_ERROR_MAX];
	snprintf(reason, sizeof(reason), "%s", why);   /* why may be wake's */
	close_wake(f);
	went_down(f, reason);
	f->base.failure = STORE_UNAVAILABLE;
	return FEED_FAILED;
}

/* ---- opening ------------------------------------------------------------- */

/* Connects one connection unless the back-off says not yet. */
static enum store_status connect_one(struct redis_feed *f, struct rconn *rc)
{
	if (f->outage.down && clock_now_ms() < f->outage.next_try) {
		snprintf(rc->error, sizeof(rc->error), "waiting to reconnect");
		return STORE_UNAVAILABLE;
	}
	enum store_status s = rconn_open(rc, &f->url, f->password_file);
	if (s != STORE_OK)
		return went_down(f, rc->error);
	f->outage = (struct outage){ 0 };
	return STORE_OK;
}

static enum store_status redis_ready(struct feed *base, enum feed_use use,
                                     bool *reopened)
{
	(void)use;   /* a server: nothing to create, nothing read-only to spot */
	(void)reopened;   /* nor a file to be replaced */
	struct redis_feed *f = of(base);
	if (f->bad_url != NULL) {   /* config.c said so, without a password */
		log_msg(f->base.log_name, "database: %s", f->bad_url);
		return STORE_UNAVAILABLE;
	}
	/* Redis closes idle clients (its `timeout`), and a restart closes
	 * all: a request after that gets a new connection, not a failure. */
	if (rconn_closed_by_server(&f->cmd))
		rconn_close(&f->cmd);
	/* A wake connection that failed while no stream looked (a hub with
	 * none live), or an XREAD overdue past its grace, answered and left
	 * unread by a FastCGI process idle between two requests (Redis may
	 * have closed that connection since): it holds nothing a stream needs
	 * (the next XREAD names each channel from its own id), so it goes
	 * quietly and the next wait opens a new one.  A hub with live streams
	 * takes every answer at once, and its pull fails an XREAD that
	 * overdue before this could. */
	if (f->armed && (!rconn_is_open(&f->wake) ||
	                 clock_now_ms() - f->armed_at >
	                 REDIS_WAKE_BLOCK_MS + REDIS_REPLY_GRACE_MS))
		close_wake(f);
	return rconn_is_open(&f->cmd) ? STORE_OK : connect_one(f, &f->cmd);
}

static bool redis_is_open(const struct feed *base)
{
	return rconn_is_open(&of_const(base)->cmd);
}

static enum store_status redis_read(struct feed *base, const char *channel,
                                    long long after, long history,
                                    feed_fn fn, void *ctx,
                                    feed_read_result *res)
{
	struct redis_feed *f = of(base);
	if (!rconn_is_open(&f->cmd))
		return STORE_UNAVAILABLE;   /* its failure was logged */
	return report(f, rstore_read(&f->cmd, channel, after, history, fn, ctx,
	                             res));
}

/* ---- the wake -------------------------------------------------------------- */

static void redis_listen(struct feed *base)
{
	of(base)->listening = true;
}

static int redis_wake_fd(const struct feed *base)
{
	return rconn_fd(&of_const(base)->wake);
}

/* Reads what the wake connection has; false when it failed. */
static bool read_wake(struct redis_feed *f)
{
	if (rconn_read(&f->wake))
		return true;
	wake_gone(f);
	return false;
}

static void redis_wake_drain(struct feed *base)
{
	read_wake(of(base));
}

static long redis_look_ms(const struct feed *base, long poll_interval_ms)
{
	(void)base, (void)poll_interval_ms;
	return REDIS_WAKE_BLOCK_MS;   /* to notice an answer that never came */
}

static void redis_follow_first(struct feed *base, long long after)
{
	(void)base, (void)after;   /* positions are per channel: the sink's */
}

/* The wake connection, opened and made non-blocking, its id known. */
static bool open_wake(struct redis_feed *f)
{
	if (rconn_is_open(&f->wake))
		return true;
	if (connect_one(f, &f->wake) != STORE_OK)
		return false;
	const char *argv[] = { "CLIENT", "ID" };
	redisReply *r = rconn_call(&f->wake, 2, argv, NULL);
	bool ok = r != NULL && r->type == REDIS_REPLY_INTEGER;
	if (ok)
		f->wake_id = r->integer;
	if (r != NULL)
		freeReplyObject(r);
	if (!ok || !rconn_unblock(&f->wake)) {
		went_down(f, "CLIENT ID: no answer");
		close_wake(f);
		return false;
	}
	f->wake_shown = true;   /* a new socket: a new epoch */
	f->base.wake_epoch++;
	return true;
}

/* XREAD's arguments: the keys first, then each key's id, as it wants. */
struct xread {
	size_t n, cap;
	const char **argv;
	size_t *lens;
	char (*keys)[RSTORE_KEY_MAX];
	char (*ids)[REDIS_ID_TEXT];
	bool failed;
};

static void count_channel(void *arg, struct feed_channel *ch)
{
	(void)ch;
	((struct xread *)arg)->cap++;
}

static void add_channel(void *arg, struct feed_channel *ch)
{
	struct xread *x = arg;
	assert(x->n < x->cap);
	struct rkeys k;
	rstore_keys(ch->name, &k);
	snprintf(x->keys[x->n], sizeof(*x->keys), "%s", k.msgs);
	snprintf(x->ids[x->n], sizeof(*x->ids), "%lld-0",
	         ch->after > 0 ? ch->after : 0);
	x->n++;
}

enum { XREAD_HEAD = 6 };   /* XREAD BLOCK ms COUNT n STREAMS */

/* Sends XREAD BLOCK over the sink's channels; false when it failed. */
static bool send_xread(struct redis_feed *f, struct xread *x)
{
	char block[16], count[16];
	snprintf(block, sizeof(block), "%d", REDIS_WAKE_BLOCK_MS);
	snprintf(count, sizeof(count), "%d", STORE_READ_BATCH);
	const char *head[XREAD_HEAD] = { "XREAD", "BLOCK", block, "COUNT", count,
	                                 "STREAMS" };
	size_t argc = XREAD_HEAD + 2 * x->n;
	for (size_t i = 0; i < XREAD_HEAD; i++)
		x->argv[i] = head[i];
	for (size_t i = 0; i < x->n; i++) {
		x->argv[XREAD_HEAD + i] = x->keys[i];
		x->argv[XREAD_HEAD + x->n + i] = x->ids[i];
	}
	for (size_t i = 0; i < argc; i++)
		x->lens[i] = strlen(x->argv[i]);
	return rconn_send(&f->wake, (int)argc, x->argv, x->lens);
}

/* Waits on the sink's channels (none: nothing to wait on). */
static bool arm(struct redis_feed *f, const struct feed_sink *sink)
{
	assert(!f->armed && !f->ending);   /* ending only while armed */
	struct xread x = { 0 };
	sink->each(sink->ctx, count_channel, &x);
	if (x.cap == 0)
		return true;
	if (!open_wake(f))
		return false;
	x.argv = calloc(XREAD_HEAD + 2 * x.cap, sizeof(*x.argv));
	x.lens = calloc(XREAD_HEAD + 2 * x.cap, sizeof(*x.lens));
	x.keys = calloc(x.cap, sizeof(*x.keys));
	x.ids = calloc(x.cap, sizeof(*x.ids));
	bool ok = x.argv && x.lens && x.keys && x.ids;
	if (ok) {
		sink->each(sink->ctx, add_channel, &x);
		ok = send_xread(f, &x);
		if (!ok) {
			went_down(f, f->wake.error);
			close_wake(f);
		}
	} else {
		log_msg(f->base.log_name, "%s: XREAD: out of memory", f->setting);
	}
	free(x.argv), free(x.lens), free(x.keys), free(x.ids);
	f->armed = ok;
	f->armed_at = clock_now_ms();
	return ok;
}

/* One channel's entries of an XREAD answer, in id order. */
static bool take_entries(struct redis_feed *f, const struct feed_sink *sink,
                         const redisReply *stream)
{
	char name[SSE_NAME_MAX + 1];
	if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
	    stream->element[0]->type != REDIS_REPLY_STRING ||
	    !rstore_channel_of(stream->element[0]->str, stream->element[0]->len,
	                       name))
		return true;   /* not a channel of ours */
	struct feed_channel *ch = sink->find(sink->ctx, name);
	const redisReply *entries = stream->element[1];
	for (size_t i = 0; ch != NULL && i < entries->elements; i++) {
		struct message m = { 0, name, NULL, NULL, 0 };
		if (!rstore_entry(entries->element[i], &m.id, &m.event, &m.data,
		                  &m.len) || m.id <= ch->after)
			continue;
		/* Not the next id: pruned in between, or an id skipped; the
		 * read says which, and hands on the rest. */
		if (m.id != ch->after + 1)
			return feed_catch_up(&f->base, sink, ch);
		feed_offer(sink, ch, &m);
	}
	return true;
}

/* The XREAD answers read so far; false when the connection failed. */
static bool take_answers(struct redis_feed *f, const struct feed_sink *sink)
{
	redisReply *r;
	while (f->armed) {
		if (!rconn_take(&f->wake, &r))
			return wake_gone(f), false;
		if (r == NULL)
			return true;   /* not all of it arrived yet */
		f->armed = false;
		f->ending = false;
		bool ok = r->type != REDIS_REPLY_ERROR;
		if (!ok)
			log_msg(f->base.log_name, "%s: XREAD: %s", f->setting, r->str);
		for (size_t i = 0; ok && r->type == REDIS_REPLY_ARRAY &&
		     i < r->elements; i++)
			ok = take_entries(f, sink, r->element[i]);
		freeReplyObject(r);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * What the wake connection holds now, read without blocking and taken.
 * Not only after a wake: an XREAD's answer can wait unread while nobody
 * looked (a per-process stream ended between two requests, a hub with no
 * live stream), and taken as "no answer in time" or left pending it would
 * fail the next stream or hide a new channel from the next XREAD.
 */
static bool take_pending(struct redis_feed *f, const struct feed_sink *sink)
{
	read_wake(f);   /* a failure closed it: take_answers says so */
	return take_answers(f, sink);
}

static enum feed_pull redis_pull(struct feed *base, bool woken,
                                 const struct feed_sink *sink)
{
	(void)woken;   /* what is there is taken either way */
	struct redis_feed *f = of(base);
	if (!rconn_is_open(&f->cmd))
		return pull_failed(f, "the command connection is closed");
	if (f->armed)
		f->base.failure = STORE_OK;   /* a catch-up read below may set it */
	if (f->armed && !take_pending(f, sink)) {
		if (!rconn_is_open(&f->cmd))
			return pull_failed(f, f->cmd.error);
		if (!rconn_is_open(&f->wake))
			return pull_failed(f, f->wake.error);
		/* Both connections work: a server's error answer (to the XREAD
		 * or a catch-up read), logged already.  Not an outage: the
		 * streams end, and the next pull sends the XREAD again. */
		if (f->base.failure == STORE_OK)
			f->base.failure = STORE_UNAVAILABLE;
		return FEED_FAILED;
	}
	if (f->armed && clock_now_ms() - f->armed_at >
	                REDIS_WAKE_BLOCK_MS + REDIS_REPLY_GRACE_MS)
		return pull_failed(f, "XREAD: no answer in time");
	if (!f->armed && f->listening && !arm(f, sink)) {
		f->base.failure = STORE_UNAVAILABLE;
		close_wake(f);
		return FEED_FAILED;
	}
	return FEED_PULLED;
}

/*
 * CLIENT UNBLOCK for the pending XREAD: ending, or (0: it was not blocked)
 * its answer taken if it came, or else, as it may not have blocked yet
 * (the UNBLOCK overtook it) and would then wait its 5 s on the old list,
 * a new connection.  False when a connection failed.
 */
static bool end_xread(struct redis_feed *f, const struct feed_sink *sink)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", f->wake_id);
	const char *argv[] = { "CLIENT", "UNBLOCK", id };
	redisReply *r = rconn_call(&f->cmd, 3, argv, NULL);
	if (r == NULL) {
		report(f, STORE_UNAVAILABLE);
		return false;
	}
	f->ending = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (f->ending)
		return true;
	if (!take_pending(f, sink))
		return false;   /* the wake connection failed: the next pull says so */
	if (f->armed)
		close_wake(f);   /* no answer: maybe not blocked yet; start afresh */
	return true;
}

/*
 * A new channel: the pending XREAD does not name it.  With none pending
 * the XREAD is sent now, naming the new list.  Else end_xread ends the
 * pending one: its answer, empty, wakes the pull that sends the next XREAD
 * with every channel followed by then, so the channels that come before
 * that answer need nothing more.
 */
static void redis_followed(struct feed *base, const struct feed_sink *sink)
{
	struct redis_feed *f = of(base);
	if (!f->listening || !rconn_is_open(&f->cmd))
		return;
	/* Ended already: its answer may sit read in hiredis's buffer (a hub
	 * with no live stream drained it), where no wake would show it. */
	if (f->ending && !take_answers(f, sink))
		return;   /* a failed wake connection: the next pull says so */
	if (f->ending)
		return;   /* the answer is on its way */
	if (f->armed && !end_xread(f, sink))
		return;
	if (!f->armed)
		arm(f, sink);   /* a failure is logged; the next look tries again */
}

/* ---- the writers ------------------------------------------------------------ */

static enum store_status redis_publish(struct feed *base, const char *channel,
                                       const char *event, const char *data,
                                       size_t len, long retention,
                                       long long *id)
{
	struct redis_feed *f = of(base);
	return report(f, rstore_publish(&f->cmd, channel, event, data, len, false,
	                                retention, id));
}

/*
 * The chat message's JSON without its id (the script puts it first):
 * the members and their order are those of store.c's json_object.
 */
static char *chat_members(const struct chat_post *p)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "channel", p->channel,
	                      "user", p->user, "text", p->text, "time", when);
	if (o != NULL && p->signed_user &&   /* last, as store_write.c puts it */
	    json_object_set_new(o, "signed", json_true()) != 0) {
		json_decref(o);
		return NULL;
	}
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static enum store_status redis_post_chat(struct feed *base,
                                         const struct chat_post *p,
                                         long long *id)
{
	struct redis_feed *f = of(base);
	char token[64];
	snprintf(token, sizeof(token), "%ld.%lld.%lu", (long)getpid(),
	         clock_now_ms(), ++f->posts);
	if (p->rate_limit > 0) {
		bool allowed;
		enum store_status s = rstore_rate(&f->cmd, p->addr, p->rate_limit,
		                                  token, &allowed);
		if (s != STORE_OK)
			return report(f, s);
		if (!allowed)
			return STORE_RATE_LIMITED;
	}
	char *members = chat_members(p);
	enum store_status s = STORE_ERROR;
	if (members == NULL)
		log_msg(f->base.log_name, "%s: a post's JSON: out of memory",
		        f->setting);
	else
		s = report(f, rstore_publish(&f->cmd, p->channel, "message", members,
		                             strlen(members), true, p->retention, id));
	free(members);
	if (s != STORE_OK && p->rate_limit > 0 && rconn_is_open(&f->cmd))
		rstore_rate_refund(&f->cmd, p->addr, token);   /* only stored posts count */
	return s;
}

static enum store_status redis_prune_all(struct feed *base, long keep,
                                         long long *deleted)
{
	struct redis_feed *f = of(base);
	return report(f, rstore_prune_all(&f->cmd, keep, deleted));
}

static enum store_status redis_stats(struct feed *base, store_stats_fn fn,
                                     void *ctx)
{
	struct redis_feed *f = of(base);
	return report(f, rstore_stats(&f->cmd, fn, ctx));
}

static void redis_describe(struct feed *base, char *out, size_t len)
{
	rstore_describe(&of(base)->cmd, out, len);
}

static const struct feed_ops redis_ops = {
	.name = "redis",
	.free = redis_free,
	.ready = redis_ready,
	.is_open = redis_is_open,
	.read = redis_read,
	.listen = redis_listen,
	.wake_fd = redis_wake_fd,
	.wake_drain = redis_wake_drain,
	.look_ms = redis_look_ms,
	.pull = redis_pull,
	.follow_first = redis_follow_first,
	.followed = redis_followed,
	.publish = redis_publish,
	.post_chat = redis_post_chat,
	.prune_all = redis_prune_all,
	.stats = redis_stats,
	.describe = redis_describe,
};
