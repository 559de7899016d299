/* rstore: see rstore.h for the key layout and why each step is a script. */
#include "rstore.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"

#define KEY_PREFIX "sse:{"
#define MSGS_SUFFIX "}:msgs"
#define MSGS_PATTERN KEY_PREFIX "*" MSGS_SUFFIX

/*
 * Trims a channel's stream to its newest `keep`, recording the highest id
 * cut.  The cut is found from whichever end is nearer (a post cuts one
 * message of a full channel; prune --keep 0 cuts them all), so the cost
 * is the smaller of the two counts, never the channel's length.
 */
#define LUA_TRIM \
	"local function trim(msgs, pruned, keep)\n" \
	"  local over = redis.call('XLEN', msgs) - keep\n" \
	"  if over <= 0 then return 0 end\n" \
	"  local cut\n" \
	"  if over <= keep then\n" \
	"    local gone = redis.call('XRANGE', msgs, '-', '+', 'COUNT', over)\n" \
	"    cut = gone[#gone][1]\n" \
	"  else\n" \
	"    local kept = redis.call('XREVRANGE', msgs, '+', '-', 'COUNT', keep + 1)\n" \
	"    cut = kept[keep + 1][1]\n" \
	"  end\n" \
	"  local n = tonumber(string.match(cut, '^(%d+)'))\n" \
	"  redis.call('XTRIM', msgs, 'MINID', string.format('%d', n + 1))\n" \
	"  if n > tonumber(redis.call('GET', pruned) or '0') then\n" \
	"    redis.call('SET', pruned, string.format('%d', n))\n" \
	"  end\n" \
	"  return over\n" \
	"end\n"

/* KEYS seq msgs pruned; ARGV event data retention chat.  The id. */
static const char publish_lua[] = LUA_TRIM
	"local id = redis.call('INCR', KEYS[1])\n"
	"local sid = string.format('%d', id)\n"
	"local data = ARGV[2]\n"
	"if ARGV[4] == '1' then\n"
	"  data = '{\"id\":' .. sid .. ',' .. string.sub(data, 2)\n"
	"end\n"
	"redis.call('XADD', KEYS[2], sid .. '-0', 'e', ARGV[1], 'd', data)\n"
	"trim(KEYS[2], KEYS[3], tonumber(ARGV[3]))\n"
	"return id\n";

/* KEYS msgs pruned; ARGV keep.  How many were deleted. */
static const char prune_lua[] = LUA_TRIM
	"return trim(KEYS[1], KEYS[2], tonumber(ARGV[1]))\n";

/*
 * KEYS seq msgs pruned; ARGV after (-1: a newcomer) history batch.
 * {highest id issued, resume (0 ok, 1 gap, 2 unknown id), oldest, rows}:
 * store_read's rule, on one snapshot.
 */
static const char read_lua[] =
	"local max = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
	"local pruned = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
	"local after = tonumber(ARGV[1])\n"
	"local resume = 0\n"
	"if after > max then resume = 2\n"
	"elseif after >= 0 and pruned > after then resume = 1 end\n"
	"local oldest = 0\n"
	"if resume ~= 0 then\n"
	"  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)\n"
	"  if #first > 0 then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end\n"
	"end\n"
	"local rows = {}\n"
	"if after < 0 or resume ~= 0 then\n"
	"  local h = tonumber(ARGV[2])\n"
	"  if h > 0 then\n"
	"    local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', h)\n"
	"    for i = #newest, 1, -1 do rows[#rows + 1] = newest[i] end\n"
	"  end\n"
	"else\n"
	"  rows = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', ARGV[3])\n"
	"end\n"
	"return {max, resume, oldest, rows}\n";

/* KEYS rate; ARGV window limit token.  1: counted, 0: over the limit. */
static const char rate_lua[] =
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local window = tonumber(ARGV[1])\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)\n"
	"if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end\n"
	"redis.call('ZADD', KEYS[1], now, ARGV[3])\n"
	"redis.call('EXPIRE', KEYS[1], window + 1)\n"
	"return 1\n";

/* KEYS msgs.  {count, oldest, newest} (0 for none). */
static const char stats_lua[] =
	"local n = redis.call('XLEN', KEYS[1])\n"
	"if n == 0 then return {0, 0, 0} end\n"
	"local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1][1]\n"
	"local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1][1]\n"
	"return {n, tonumber(string.match(first, '^(%d+)')),\n"
	"        tonumber(string.match(last, '^(%d+)'))}\n";

void rstore_keys(const char *channel, struct rkeys *k)
{
	assert(strlen(channel) <= SSE_NAME_MAX);
	snprintf(k->seq, sizeof(k->seq), KEY_PREFIX "%s}:seq", channel);
	snprintf(k->msgs, sizeof(k->msgs), KEY_PREFIX "%s" MSGS_SUFFIX, channel);
	snprintf(k->pruned, sizeof(k->pruned), KEY_PREFIX "%s}:pruned", channel);
}

bool rstore_channel_of(const char *key, size_t len, char *out)
{
	size_t pre = strlen(KEY_PREFIX), suf = strlen(MSGS_SUFFIX);
	if (len <= pre + suf || memcmp(key, KEY_PREFIX, pre) != 0 ||
	    memcmp(key + len - suf, MSGS_SUFFIX, suf) != 0)
		return false;
	size_t n = len - pre - suf;
	if (!sse_valid_name(key + pre, n))
		return false;
	memcpy(out, key + pre, n);
	out[n] = '\0';
	return true;
}

/* "N-0" as N; false for anything else (another program's entry). */
static bool entry_id(const char *s, size_t len, long long *id)
{
	char buf[32];
	if (len < 3 || len >= sizeof(buf) || memcmp(s + len - 2, "-0", 2) != 0)
		return false;
	memcpy(buf, s, len - 2);
	buf[len - 2] = '\0';
	return parse_digits(buf, id) && *id > 0;
}

bool rstore_entry(const redisReply *entry, long long *id, const char **event,
                  const char **data, size_t *len)
{
	if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING ||
	    entry->element[1]->type != REDIS_REPLY_ARRAY ||
	    !entry_id(entry->element[0]->str, entry->element[0]->len, id))
		return false;
	const redisReply *f = entry->element[1];
	*event = "message";
	*data = "";
	*len = 0;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		const redisReply *k = f->element[i], *v = f->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			return false;
		if (strcmp(k->str, "e") == 0) {
			/* Written by our script with a checked name, but anyone who
			 * can write the key could put a line break in it: a field. */
			if (!sse_valid_name(v->str, v->len))
				return false;
			*event = v->str;
		} else if (strcmp(k->str, "d") == 0) {
			*data = v->str, *len = v->len;
		}
	}
	return true;
}

/* EVAL script with the channel's keys and args; NULL: see rc->error. */
static redisReply *eval(struct rconn *rc, const char *script, int nkeys,
                        const char *const *keys, int nargs,
                        const char *const *args, const size_t *arglens)
{
	enum { MAX_ARGS = 12 };
	const char *argv[MAX_ARGS];
	size_t lens[MAX_ARGS];
	char n[8];
	assert(3 + nkeys + nargs <= MAX_ARGS);
	snprintf(n, sizeof(n), "%d", nkeys);
	int argc = 0;
	argv[argc] = "EVAL", lens[argc++] = 4;
	argv[argc] = script, lens[argc++] = strlen(script);
	argv[argc] = n, lens[argc++] = strlen(n);
	for (int i = 0; i < nkeys; i++)
		argv[argc] = keys[i], lens[argc++] = strlen(keys[i]);
	for (int i = 0; i < nargs; i++) {
		argv[argc] = args[i];
		lens[argc++] = arglens != NULL ? arglens[i] : strlen(args[i]);
	}
	return rconn_call(rc, argc, argv, lens);
}

/* The reply's status, the reply freed unless it is kept (*out). */
static enum store_status answer(struct rconn *rc, redisReply *r,
                                const char *what, int want, redisReply **out)
{
	*out = NULL;
	if (r == NULL)
		return STORE_UNAVAILABLE;
	enum store_status s = rconn_reply_status(rc, r, what);
	if (s == STORE_OK && r->type != want) {
		snprintf(rc->error, sizeof(rc->error), "%s: unexpected answer", what);
		s = STORE_ERROR;
	}
	if (s == STORE_OK)
		*out = r;
	else
		freeReplyObject(r);
	return s;
}

enum store_status rstore_publish(struct rconn *rc, const char *channel,
                                 const char *event, const char *data,
                                 size_t len, bool chat, long retention,
                                 long long *id)
{
	struct rkeys k;
	rstore_keys(channel, &k);
	char keep[24];
	snprintf(keep, sizeof(keep), "%ld", retention);
	const char *keys[] = { k.seq, k.msgs, k.pruned };
	const char *args[] = { event, data, keep, chat ? "1" : "0" };
	const size_t lens[] = { strlen(event), len, strlen(keep), 1 };
	redisReply *r;
	enum store_status s = answer(rc, eval(rc, publish_lua, 3, keys, 4, args,
	                                      lens),
	                             "publishing", REDIS_REPLY_INTEGER, &r);
	if (s == STORE_OK) {
		*id = r->integer;
		assert(*id > 0);
		freeReplyObject(r);
	}
	return s;
}

/* Hands the rows of a read reply to fn, as store_read's each_row does. */
static bool hand_rows(const redisReply *rows, const char *channel,
                      long long above, feed_fn fn, void *ctx,
                      feed_read_result *res)
{
	for (size_t i = 0; i < rows->elements; i++) {
		struct message m = { 0, channel, NULL, NULL, 0 };
		if (!rstore_entry(rows->element[i], &m.id, &m.event, &m.data, &m.len))
			return false;
		assert(m.id > above);
		above = m.id;
		res->rows++;
		if (res->rows == 1 && res->resume != RESUME_OK)
			res->reset_id = m.id - 1;
		res->next_after = m.id;
		if (!fn(ctx, &m))
			break;
	}
	return true;
}

enum store_status rstore_read(struct rconn *rc, const char *channel,
                              long long after, long history, feed_fn fn,
                              void *ctx, feed_read_result *res)
{
	memset(res, 0, sizeof(*res));
	struct rkeys k;
	rstore_keys(channel, &k);
	char a[24], h[24], batch[24];
	snprintf(a, sizeof(a), "%lld", after < 0 ? -1LL : after);
	snprintf(h, sizeof(h), "%ld", history);
	snprintf(batch, sizeof(batch), "%d", STORE_READ_BATCH);
	const char *keys[] = { k.seq, k.msgs, k.pruned };
	const char *args[] = { a, h, batch };
	redisReply *r;
	enum store_status s = answer(rc, eval(rc, read_lua, 3, keys, 3, args,
	                                      NULL),
	                             "reading messages", REDIS_REPLY_ARRAY, &r);
	if (s != STORE_OK)
		return s;
	if (r->elements != 4 || r->element[3]->type != REDIS_REPLY_ARRAY) {
		freeReplyObject(r);
		snprintf(rc->error, sizeof(rc->error), "reading messages: unexpected answer");
		return STORE_ERROR;
	}
	long long max = r->element[0]->integer;
	res->resume = (enum store_resume)r->element[1]->integer;
	res->oldest = r->element[2]->integer;
	if (res->resume != RESUME_OK)
		res->reset_id = max;
	res->next_after = max;
	bool by_after = after >= 0 && res->resume == RESUME_OK;
	if (!hand_rows(r->element[3], channel, by_after ? after : LLONG_MIN, fn,
	               ctx, res)) {
		freeReplyObject(r);
		snprintf(rc->error, sizeof(rc->error), "reading messages: an entry"
		         " of %s is not ours", k.msgs);
		return STORE_ERROR;
	}
	if (by_after && res->rows == STORE_READ_BATCH)
		res->more = true;   /* next_after is the last row read */
	else if (max > res->next_after)
		res->next_after = max;
	freeReplyObject(r);
	return STORE_OK;
}

/* The rate key of an address (kept short: an address is short). */
static void rate_key(const char *addr, char *out, size_t len)
{
	snprintf(out, len, "sse:rate:{%.*s}", RSTORE_ADDR_MAX, addr);
}

enum store_status rstore_rate(struct rconn *rc, const char *addr, long limit,
                              const char *token, bool *allowed)
{
	char key[RSTORE_ADDR_MAX + 16], window[16], lim[24];
	rate_key(addr, key, sizeof(key));
	snprintf(window, sizeof(window), "%d", STORE_RATE_WINDOW_S);
	snprintf(lim, sizeof(lim), "%ld", limit);
	const char *keys[] = { key };
	const char *args[] = { window, lim, token };
	redisReply *r;
	enum store_status s = answer(rc, eval(rc, rate_lua, 1, keys, 3, args,
	                                      NULL),
	                             "counting a post", REDIS_REPLY_INTEGER, &r);
	if (s == STORE_OK) {
		*allowed = r->integer == 1;
		freeReplyObject(r);
	}
	return s;
}

void rstore_rate_refund(struct rconn *rc, const char *addr, const char *token)
{
	char key[RSTORE_ADDR_MAX + 16];
	rate_key(addr, key, sizeof(key));
	const char *argv[] = { "ZREM", key, token };
	redisReply *r = rconn_call(rc, 3, argv, NULL);
	if (r != NULL)
		freeReplyObject(r);
}

/* Calls fn for each channel with messages in the database (SCAN). */
static enum store_status each_channel(struct rconn *rc,
                                      bool (*fn)(void *ctx, const char *name),
                                      void *ctx)
{
	char cursor[32] = "0";
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", MSGS_PATTERN,
		                       "COUNT", RSTORE_SCAN_COUNT, "TYPE", "stream" };
		redisReply *r;
		enum store_status s = answer(rc, rconn_call(rc, 8, argv, NULL),
		                             "listing channels", REDIS_REPLY_ARRAY, &r);
		if (s != STORE_OK)
			return s;
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		const redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			char name[SSE_NAME_MAX + 1];
			if (rstore_channel_of(keys->element[i]->str,
			                      keys->element[i]->len, name) &&
			    !fn(ctx, name)) {
				freeReplyObject(r);
				return STORE_ERROR;
			}
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return STORE_OK;
}

struct prune_walk {
	struct rconn *rc;
	long keep;
	long long deleted;
	enum store_status status;
};

static bool prune_one(void *ctx, const char *name)
{
	struct prune_walk *w = ctx;
	struct rkeys k;
	rstore_keys(name, &k);
	char keep[24];
	snprintf(keep, sizeof(keep), "%ld", w->keep);
	const char *keys[] = { k.msgs, k.pruned };
	const char *args[] = { keep };
	redisReply *r;
	w->status = answer(w->rc, eval(w->rc, prune_lua, 2, keys, 1, args, NULL),
	                   "pruning", REDIS_REPLY_INTEGER, &r);
	if (w->status != STORE_OK)
		return false;
	w->deleted += r->integer;
	freeReplyObject(r);
	return true;
}

enum store_status rstore_prune_all(struct rconn *rc, long keep,
                                   long long *deleted)
{
	struct prune_walk w = { rc, keep, 0, STORE_OK };
	enum store_status s = each_channel(rc, prune_one, &w);
	*deleted = w.deleted;
	return s == STORE_ERROR && w.status != STORE_OK ? w.status : s;
}

/* The channels' names, gathered to be sorted. */
struct names {
	char (*name)[SSE_NAME_MAX + 1];
	size_t n, cap;
};

static bool gather(void *ctx, const char *name)
{
	struct names *ns = ctx;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 64;
		void *grown = realloc(ns->name, cap * sizeof(*ns->name));
		if (grown == NULL)
			return false;
		ns->name = grown;
		ns->cap = cap;
	}
	snprintf(ns->name[ns->n++], sizeof(*ns->name), "%s", name);
	return true;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* One channel's figures; false when it failed. */
static enum store_status stats_one(struct rconn *rc, const char *name,
                                   store_stats_fn fn, void *ctx)
{
	struct rkeys k;
	rstore_keys(name, &k);
	const char *keys[] = { k.msgs };
	redisReply *r;
	enum store_status s = answer(rc, eval(rc, stats_lua, 1, keys, 0, NULL,
	                                      NULL),
	                             "reading statistics", REDIS_REPLY_ARRAY, &r);
	if (s != STORE_OK)
		return s;
	struct store_channel_stats c = { name, r->element[0]->integer,
	                                 r->element[1]->integer,
	                                 r->element[2]->integer };
	if (c.messages > 0)
		fn(ctx, &c);
	freeReplyObject(r);
	return STORE_OK;
}

enum store_status rstore_stats(struct rconn *rc, store_stats_fn fn, void *ctx)
{
	struct names ns = { NULL, 0, 0 };
	enum store_status s = each_channel(rc, gather, &ns);
	if (s == STORE_ERROR && rconn_is_open(rc))
		snprintf(rc->error, sizeof(rc->error), "listing channels: out of memory");
	if (s == STORE_OK && ns.n > 0)
		qsort(ns.name, ns.n, sizeof(*ns.name), by_name);
	/* SCAN may name a key twice (while Redis rehashes): once each here. */
	for (size_t i = 0; s == STORE_OK && i < ns.n; i++)
		if (i == 0 || strcmp(ns.name[i], ns.name[i - 1]) != 0)
			s = stats_one(rc, ns.name[i], fn, ctx);
	free(ns.name);
	return s;
}

void rstore_describe(struct rconn *rc, char *out, size_t len)
{
	snprintf(out, len, "redis unknown");
	const char *argv[] = { "INFO", "server" };
	redisReply *r = rconn_call(rc, 2, argv, NULL);
	if (r == NULL)
		return;
	const char *v = r->type == REDIS_REPLY_STRING
	              ? strstr(r->str, "redis_version:") : NULL;
	if (v != NULL) {
		v += strlen("redis_version:");
		snprintf(out, len, "redis %.*s", (int)strcspn(v, "\r\n"), v);
	}
	freeReplyObject(r);
}
