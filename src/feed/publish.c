/* publish: see publish.h for why notifying lives here, after the commit. */
#include "publish.h"

#include "ring.h"
#include "strbuf.h"

enum store_status publish_event(struct store *st, const char *channel,
                                const char *event, const char *data,
                                size_t len, long retention, long long *id)
{
	enum store_status s = store_publish(st, channel, event, data, len,
	                                    retention, id);
	if (s == STORE_OK)
		ring_publish(store_path(st), store_identity(st), *id, channel,
		             event, data, len);
	return s;
}

enum store_status publish_chat(struct store *st, const struct chat_post *p,
                               long long *id)
{
	/* The JSON is built inside the transaction (the id is the row's). */
	struct strbuf data = STRBUF_INIT;
	enum store_status s = store_post_chat(st, p, id, &data);
	if (s == STORE_OK && !sb_failed(&data))
		ring_publish(store_path(st), store_identity(st), *id, p->channel,
		             "message", sb_str(&data), data.len);
	else if (s == STORE_OK)
		ring_wake(store_path(st));   /* no copy: streams read SQLite */
	sb_free(&data);
	return s;
}
