/*
 * ring: the newest committed messages, shared by every stream of a database
 * through one mapped file, so that a post reaches hundreds of listeners
 * without each of them running a SQLite read.
 *
 * Why: every listener is a process.  With SQLite as the only source, each
 * post made every stream process run a read transaction (fcntl locks on
 * -shm, a pager reset, page reads from the WAL): about fifteen system calls
 * per listener per message, which at 300 listeners was most of the delivery
 * time (bench/README.md).  Here a writer, after its COMMIT, copies the
 * message into the slot `id % RING_SLOTS` of "<database>.notify" and wakes
 * the streams (src/feed/watch.h, wake.h); a stream copies the slot for the
 * id it waits for out of its read-only mapping and frames it: no lock, no
 * SQLite, three system calls (poll, read of the watch's fd, write).
 *
 * SQLite stays the truth; the ring is only a fast path.  A stream asks
 * SQLite whenever the ring cannot answer for sure: the slot was overwritten
 * (the stream fell more than RING_SLOTS behind), the message did not fit a
 * slot, the slot was being written, or a later id is in the ring while the
 * one it waits for is not (its writer is between COMMIT and copy, or died
 * there).  A stream woken with nothing new in the ring asks SQLite's
 * data_version, so a writer that could not copy (full disk, lock timeout)
 * still wakes it usefully.  The fallback look every WATCH_FALLBACK_MS
 * covers a writer that died before copying the very last message.
 *
 * Why slots indexed by id and not an append log: ids are issued in commit
 * order (AUTOINCREMENT inside the write lock), so "the slot of id N holds N"
 * is a complete answer, and two writers that copy in either order cannot
 * reorder anything: the stream still takes N, N+1, ... one by one.
 *
 * Writers (one at a time: they hold flock on the file) write a slot with
 * one pwrite and then the header's state record with another, then bump
 * the wake word and FUTEX_WAKE it (wake.h); their close wakes the streams
 * that wait with inotify instead.  Streams read through a read-only shared
 * mapping, so reading costs no system call.  Every record carries a 64-bit
 * FNV-1a check of its bytes: a stream that copies a slot while a writer is
 * in it sees a mismatch and asks SQLite.  Writers use pwrite, never stores into
 * a mapping: a full disk or quota then fails a call instead of raising
 * SIGBUS in a process that has already committed.  The file only grows, so
 * a stream's mapping never loses its pages either.
 *
 * The state record names the database whose messages the ring holds: a
 * stream of an older file at the same path sees another name there and
 * knows its database was replaced.  The name (store_identity()) is the
 * file's device, inode and birth time: inode numbers alone are reused at
 * once by ext4, and a new database in a reused inode would otherwise be
 * served the old one's messages.  Without a birth time there is no ring.
 */
#ifndef SSE_RING_H
#define SSE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sse.h"

#define RING_SLOTS 256
#define RING_SLOT_SIZE 4096                 /* one page per slot */
#define RING_HEADER_SIZE 4096
#define RING_FILE_SIZE (RING_HEADER_SIZE + (size_t)RING_SLOTS * RING_SLOT_SIZE)
#define RING_VERSION 1
#define RING_LOCK_WAIT_MS 20                /* a writer gives up copying */

/* File layout: the header page, then RING_SLOTS slots of RING_SLOT_SIZE. */
struct ring_header {
	char magic[8];                /* "sse-ring" */
	uint32_t version, slots, slot_size, reserved;
};

#define RING_STATE_OFFSET 64      /* struct ring_state, in the header page */
#define RING_WAKE_OFFSET 128      /* a byte earlier versions' ring_wake rewrote */
#define RING_WAKE_WORD_OFFSET 192 /* uint32_t every writer bumps: the futex (wake.h) */

/* The database the newest copy came from, and the highest id copied for it. */
struct ring_state {
	uint64_t check;               /* FNV-1a of the fields below */
	uint64_t db;                  /* the database's identity */
	int64_t max_id;
};

struct ring_slot {
	uint64_t check;               /* FNV-1a of the rest, data included */
	int64_t id;                   /* 0: empty */
	uint64_t db;                  /* the identity of its database */
	uint32_t len;                 /* bytes of data; RING_NOT_HELD: too long */
	char channel[SSE_NAME_MAX + 1];   /* names: sse.h */
	char event[SSE_NAME_MAX + 1];
	char data[];
};

#define RING_NOT_HELD UINT32_MAX
#define RING_DATA_MAX (RING_SLOT_SIZE - sizeof(struct ring_slot))

/* A slot as copied out of the ring: ring_get fills it, the caller owns it
 * (a page: allocate it once per stream, not on the stack at every look). */
union ring_copy {
	struct ring_slot slot;
	unsigned char bytes[RING_SLOT_SIZE];
};

enum ring_result {
	RING_OK,          /* copy->slot holds that message (id, names, data) */
	RING_NOT_YET,     /* not committed yet, as far as the ring knows */
	RING_ASK_STORE,   /* the ring cannot say for sure: read SQLite */
	RING_REPLACED,    /* the newest copies belong to another database file */
};

/* A stream's read-only view of the ring. */
struct ring {
	const unsigned char *map;   /* NULL: no usable ring, use SQLite only */
	uint64_t db;                /* the identity of the database it reads */
};

/*
 * Writer side, after a COMMIT: copies message `id` into its slot and wakes
 * the streams (only wakes them when db is 0).  Creates or repairs the file when needed.  Failures are
 * silent on purpose: the message is committed, streams find it through
 * SQLite at their next look.
 */
void ring_publish(const char *database, uint64_t db, long long id,
                  const char *channel, const char *event,
                  const char *data, size_t len);

/* Wakes the streams without copying anything (a prune, say). */
void ring_wake(const char *database);

/*
 * Makes "<database>.notify" a ring when it is not one yet (created, sized,
 * its header written, under the writers' lock), so that a stream can wait
 * on its wake word before the first post (wake.h).  False when it cannot:
 * no write access, a full disk, the lock held by a stuck writer.
 */
bool ring_make(const char *database);

/* Maps "<database>.notify" read-only; r->map stays NULL when unusable
 * (and when db is 0: a database without an identity has no ring). */
void ring_open(struct ring *r, const char *database, uint64_t db);
/* A reader opened before the first post made the file a ring (it is
 * created empty by the watch) maps it now; does nothing once mapped. */
void ring_open_again(struct ring *r, const char *database);
void ring_close(struct ring *r);

/* Copies message `id` out of the ring, when the ring holds it for sure. */
enum ring_result ring_get(const struct ring *r, long long id,
                          union ring_copy *copy);

#endif
