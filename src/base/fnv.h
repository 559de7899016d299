/*
 * fnv: the 64-bit FNV-1a hash, for the two places that need a cheap,
 * stable digest of a few bytes: the ring's record checks (a torn copy
 * shows as a mismatch) and a database file's identity (store.c).  Neither
 * guards against forgery: only our own writers write these bytes.
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
