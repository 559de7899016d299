/* channels: see channels.h for the registry and its trade-offs. */
#include "channels.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

void channel_add(struct channel *ch, struct follower *f)
{
	channel_remove(f);
	f->channel = ch;
	f->prev = NULL;
	f->next = ch->first;
	if (ch->first != NULL)
		ch->first->prev = f;
	ch->first = f;
}

void channel_remove(struct follower *f)
{
	if (f->channel == NULL)
		return;
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		f->channel->first = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->channel = NULL;
	f->prev = f->next = NULL;
}

static struct channel **bucket_of(const struct channels *reg, const char *name)
{
	assert(reg->nbuckets > 0 && (reg->nbuckets & (reg->nbuckets - 1)) == 0);
	return &reg->buckets[fnv1a64(name, strlen(name)) & (reg->nbuckets - 1)];
}

struct channel *channels_find(struct channels *reg, const char *name)
{
	if (reg->nbuckets == 0)
		return NULL;
	for (struct channel *ch = *bucket_of(reg, name); ch != NULL; ch = ch->bucket_next)
		if (strcmp(ch->name, name) == 0)
			return ch;
	return NULL;
}

/* Rehashes every channel into n buckets; false (nothing changed) when out
 * of memory. */
static bool rehash(struct channels *reg, size_t n)
{
	struct channel **buckets = calloc(n, sizeof(*buckets));
	if (buckets == NULL)
		return false;
	free(reg->buckets);
	reg->buckets = buckets;
	reg->nbuckets = n;
	for (struct channel *ch = reg->first; ch != NULL; ch = ch->next) {
		struct channel **b = bucket_of(reg, ch->name);
		ch->bucket_next = *b;
		*b = ch;
	}
	return true;
}

struct channel *channels_get(struct channels *reg, const char *name,
                             long long after)
{
	struct channel *ch = channels_find(reg, name);
	if (ch != NULL)
		return ch;
	size_t want = reg->nbuckets == 0 ? CHANNELS_FIRST_BUCKETS : 2 * reg->nbuckets;
	if (reg->count >= reg->nbuckets && !rehash(reg, want) && reg->nbuckets == 0)
		return NULL;   /* a full table still works, only slower */
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return NULL;
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->fc.name = ch->name;
	ch->fc.after = after;
	ch->next = reg->first;
	reg->first = ch;
	struct channel **b = bucket_of(reg, name);
	ch->bucket_next = *b;
	*b = ch;
	reg->count++;
	return ch;
}

/* Takes ch out of its hash bucket. */
static void unhash(struct channels *reg, struct channel *ch)
{
	struct channel **link = bucket_of(reg, ch->name);
	while (*link != ch) {
		assert(*link != NULL);   /* every channel of the list is hashed */
		link = &(*link)->bucket_next;
	}
	*link = ch->bucket_next;
}

void channels_prune(struct channels *reg)
{
	struct channel **link = &reg->first;
	while (*link != NULL) {
		struct channel *ch = *link;
		if (ch->first == NULL) {
			*link = ch->next;
			unhash(reg, ch);
			reg->count--;
			free(ch);
		} else {
			link = &ch->next;
		}
	}
}

void channels_free(struct channels *reg)
{
	channels_prune(reg);
	assert(reg->first == NULL && reg->count == 0);
	free(reg->buckets);
	reg->buckets = NULL;
	reg->nbuckets = 0;
}

struct channel *channel_of(struct feed_channel *fc)
{
	return (struct channel *)((char *)fc - offsetof(struct channel, fc));
}
