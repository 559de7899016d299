/*
 * message: what travels from a writer to the streams, one type everywhere
 * (the feed's reads, the ring, the stream machine, the hub's fan-out)
 * instead of five loose arguments.
 *
 * A message is borrowed, never owned: its strings point into whatever read
 * it (a SQLite row, a copy of a ring slot) and are valid only during the
 * call that hands it over.  Whoever keeps one copies what it needs.
 */
#ifndef SSE_MESSAGE_H
#define SSE_MESSAGE_H

#include <stddef.h>

struct message {
	long long id;          /* strictly increasing per channel, > 0 */
	const char *channel;   /* sse_valid_name */
	const char *event;     /* sse_valid_name; "message" is the default */
	const char *data;      /* UTF-8, no NUL; len bytes */
	size_t len;
};

#endif
