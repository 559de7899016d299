/*
 * fnv: the 64-bit FNV-1a hash, for the places that need a cheap, stable
 * digest of a few bytes: the ring's record checks (a torn copy shows as a
 * mismatch), a database file's identity (store.c) and the hub's channel
 * table (channels.c).  None guards against forgery or chosen collisions:
 * the first two hash our own writers' bytes, and a channel name passes
 * sse.h's name rule and costs a stream per name, so a crafted set of
 * names only lengthens one bucket.
 */
#ifndef SSE_FNV_H
#define SSE_FNV_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t fnv1a64(const void *bytes, size_t len)
{
	const unsigned char *p = bytes;
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#endif
