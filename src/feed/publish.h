/*
 * publish: the one place that owns "a message was committed".
 *
 * A message reaches the listeners in two steps, in this order: store.c
 * commits it to SQLite (the truth: durable, with its id), and only then is
 * it handed to the streams through the ring (ring.h), whose close wakes
 * them.  Notifying before the commit could wake a stream that then finds
 * nothing; notifying from inside store.c would tie the store to the ring.
 * So every writer (post.fcgi, ssectl publish) goes through here, and
 * store.c knows SQLite only.
 *
 * The ring step cannot fail the write: the message is committed, and a
 * stream that missed the copy finds it through SQLite at its next look.
 */
#ifndef SSE_PUBLISH_H
#define SSE_PUBLISH_H

#include <stddef.h>

#include "store.h"

/* Stores one event (store_publish), then hands it to the streams. */
enum store_status publish_event(struct store *st, const char *channel,
                                const char *event, const char *data,
                                size_t len, long retention, long long *id);

/* Stores one chat message (store_post_chat), then hands it to the streams. */
enum store_status publish_chat(struct store *st, const struct chat_post *p,
                               long long *id);

#endif
