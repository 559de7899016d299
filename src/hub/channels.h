/*
 * channels: who follows which channel in the hub, and the feed's position
 * for each (struct feed_channel, which the feed moves as it hands
 * messages on).
 *
 * A follower is a link embedded in whatever follows (the hub's
 * connection), so this file knows nothing of connections: adding, moving
 * and removing one is O(1) and allocates nothing.  A channel is found by
 * name through a hash table, since a fan-out looks up the channel of every
 * message and a site with a channel per user has thousands of them; the
 * channels are also kept on one list, for the walks that visit them all
 * (ticks, the end of every stream).  A channel whose last follower went
 * stays until channels_prune, so that a walk never loses its place.
 *
 * A struct channel that is not in a registry is a plain list of
 * followers: the hub keeps its connections that have not asked yet, and
 * those ending, on two such lists.
 */
#ifndef SSE_CHANNELS_H
#define SSE_CHANNELS_H

#include <stddef.h>

#include "feed.h"
#include "sse.h"

#define CHANNELS_FIRST_BUCKETS 64   /* doubled whenever channels outnumber them */

struct channel;

struct follower {
	struct channel *channel;   /* the list it is on, or NULL */
	struct follower *prev, *next;
};

struct channel {
	char name[SSE_NAME_MAX + 1];
	struct feed_channel fc;
	struct follower *first;
	struct channel *next;          /* every channel of the registry */
	struct channel *bucket_next;   /* the same hash bucket */
};

struct channels {
	struct channel *first;
	struct channel **buckets;
	size_t nbuckets, count;
};

/* Puts f first on ch's list (off any list it was on). */
void channel_add(struct channel *ch, struct follower *f);
/* Takes f off its list, if it is on one. */
void channel_remove(struct follower *f);

/* The channel of that name, or NULL. */
struct channel *channels_find(struct channels *reg, const char *name);
/* The channel of that name, added with the feed's position `after` when
 * new; NULL when out of memory. */
struct channel *channels_get(struct channels *reg, const char *name,
                             long long after);
/* Frees the channels nobody follows any more. */
void channels_prune(struct channels *reg);
/* Frees every channel; their followers must be gone. */
void channels_free(struct channels *reg);

/* The channel whose feed position fc is. */
struct channel *channel_of(struct feed_channel *fc);

#endif
