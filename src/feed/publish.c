/* publish: see publish.h for why notifying lives here, after the commit. */
#include "publish.h"

#include "clock.h"
#include "ring.h"
#include "strbuf.h"
#include "tally.h"

enum store_status publish_event(struct store *st, const char *channel,
                                const char *event, const char *data,
                                size_t len, long retention, long long *id)
{
	long long t0 = clock_now_us();
	enum store_status s = store_publish(st, channel, event, data, len,
	                                    retention, id);
	long long commit_us = clock_now_us() - t0;
	if (s == STORE_OK) {
		ring_publish(store_path(st), store_identity(st), *id, channel,
		             event, data, len);
		tally_stored(store_path(st), commit_us);   /* after the wake */
	}
	return s;
}

enum store_status publish_chat(struct store *st, const struct chat_post *p,
                               long long *id)
{
	/* The JSON is built inside the transaction (the id is the row's). */
	struct strbuf data = STRBUF_INIT;
	long long t0 = clock_now_us();
	enum store_status s = store_post_chat(st, p, id, &data);
	long long commit_us = clock_now_us() - t0;
	if (s == STORE_OK && !sb_failed(&data))
		ring_publish(store_path(st), store_identity(st), *id, p->channel,
		             "message", sb_str(&data), data.len);
	else if (s == STORE_OK)
		ring_wake(store_path(st));   /* no copy: streams read SQLite */
	if (s == STORE_OK)
		tally_stored(store_path(st), commit_us);   /* after the wake */
	sb_free(&data);
	return s;
}
