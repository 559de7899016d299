/*
 * slots: the cap on live streams per database (docs/PROTOCOL.md, "Stream cap").
 *
 * On a shared host every stream is a process, and an account over its process
 * limit has its whole site answered 508.  So a stream must hold one of
 * max_streams slots to stay open; without one it is served one-shot.
 *
 * A slot is a byte-range lock on one byte of "<database>.streams": the kernel
 * drops the lock when the process dies, kill -9 included, so a slot can never
 * leak and there is nothing to clean up.  Open file description locks
 * (F_OFD_SETLK) are used where the kernel has them, so closing some other
 * descriptor of the file cannot drop a slot by accident.  With a Redis
 * database the file is one of this machine's (sidecar.h): the cap counts
 * this machine's processes.
 */
#ifndef SSE_SLOTS_H
#define SSE_SLOTS_H

#include <stdbool.h>

struct slot {
	int fd;      /* -1 when no slot is held */
	long index;
};

enum slot_result { SLOT_TAKEN, SLOT_FULL, SLOT_ERROR };

/* Takes a free slot of max (max > 0). */
enum slot_result slot_acquire(const char *database, long max, struct slot *out);
void slot_release(struct slot *s);

/* How many of max slots are held now (for ssectl stats and the tests). */
long slots_in_use(const char *database, long max);

#endif
