/* ring: see ring.h for the design and why SQLite stays the truth. */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "sidecar.h"
#include "wake.h"

static const char ring_magic[8] = { 's', 's', 'e', '-', 'r', 'i', 'n', 'g' };

static off_t slot_offset(long long id)
{
	return (off_t)(RING_HEADER_SIZE +
	               (unsigned long long)id % RING_SLOTS * RING_SLOT_SIZE);
}

/* Bytes of a slot that its check covers: from id to the end of its data. */
static size_t slot_checked_len(uint32_t len)
{
	return offsetof(struct ring_slot, data) - offsetof(struct ring_slot, id) +
	       (len == RING_NOT_HELD ? 0 : len);
}

/* Every record carries an FNV-1a check (fnv.h): a torn copy shows. */
static uint64_t slot_check(const struct ring_slot *s)
{
	return fnv1a64(&s->id, slot_checked_len(s->len));
}

static uint64_t state_check(const struct ring_state *st)
{
	return fnv1a64(&st->db, sizeof(*st) - offsetof(struct ring_state, db));
}

static int open_ring_file(const char *database, int flags)
{
	return sidecar_open(database, SIDECAR_NOTIFY, flags, 0644);
}

static bool header_valid(const struct ring_header *h)
{
	return memcmp(h->magic, ring_magic, sizeof(ring_magic)) == 0 &&
	       h->version == RING_VERSION && h->slots == RING_SLOTS &&
	       h->slot_size == RING_SLOT_SIZE;
}

/*
 * With the file locked: makes it a ring if it is not one yet (new, or the
 * one-byte notify file of an earlier version).  Only grows the file, and
 * sparsely: a stream's mapping never loses pages.  Old slots need no
 * clearing: one that does not pass its check is never used.
 */
static bool ring_prepare(int fd)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return false;
	if ((size_t)sb.st_size < RING_FILE_SIZE &&
	    ftruncate(fd, (off_t)RING_FILE_SIZE) != 0)
		return false;
	struct ring_header h;
	if (pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && header_valid(&h))
		return true;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, ring_magic, sizeof(ring_magic));
	h.version = RING_VERSION;
	h.slots = RING_SLOTS;
	h.slot_size = RING_SLOT_SIZE;
	return pwrite(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h);
}

/* Reads the state record; a record that fails its check reads as empty. */
static void read_state(int fd, struct ring_state *st)
{
	if (pread(fd, st, sizeof(*st), RING_STATE_OFFSET) != (ssize_t)sizeof(*st) ||
	    st->check != state_check(st))
		memset(st, 0, sizeof(*st));
}

/* Does the slot of `id` already hold a newer message of this database? */
static bool slot_taken_by_newer(int fd, const struct ring_state *st,
                                long long id)
{
	struct ring_slot head;
	if (pread(fd, &head, sizeof(head), slot_offset(id)) != (ssize_t)sizeof(head))
		return false;
	return head.db == st->db && head.id > id;
}

static bool write_slot(int fd, uint64_t db, long long id,
                       const char *channel, const char *event,
                       const char *data, size_t len)
{
	union { struct ring_slot s; unsigned char bytes[RING_SLOT_SIZE]; } u;
	memset(&u, 0, offsetof(struct ring_slot, data));
	size_t channel_len = strlen(channel), event_len = strlen(event);
	u.s.id = id;
	u.s.db = db;
	if (len <= RING_DATA_MAX && channel_len <= SSE_NAME_MAX &&
	    event_len <= SSE_NAME_MAX) {
		memcpy(u.s.channel, channel, channel_len);
		memcpy(u.s.event, event, event_len);
		memcpy(u.s.data, data, len);
		u.s.len = (uint32_t)len;
	} else {
		u.s.len = RING_NOT_HELD;   /* streams read this one from SQLite */
	}
	u.s.check = slot_check(&u.s);
	size_t total = offsetof(struct ring_slot, data) +
	               (u.s.len == RING_NOT_HELD ? 0 : u.s.len);
	return pwrite(fd, &u, total, slot_offset(id)) == (ssize_t)total;
}

/*
 * Writers hold the lock for a few system calls.  A post must answer after
 * its COMMIT whatever another writer does (a stopped process keeps its
 * lock), so it waits at most RING_LOCK_WAIT_MS and then only wakes the
 * streams: finding nothing new in the ring, they ask SQLite.
 */
static bool lock_briefly(int fd)
{
	for (int waited = 0; waited <= RING_LOCK_WAIT_MS; waited++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	return false;
}

void ring_publish(const char *database, uint64_t db, long long id,
                  const char *channel, const char *event,
                  const char *data, size_t len)
{
	if (db == 0) {
		ring_wake(database);
		return;
	}
	int fd = open_ring_file(database, O_RDWR | O_CREAT);
	if (fd < 0)
		return;  /* streams find the message at their fallback look */
	struct ring_state st;
	if (lock_briefly(fd) && ring_prepare(fd)) {
		read_state(fd, &st);
		bool same_db = st.db == db;
		if (!same_db || !slot_taken_by_newer(fd, &st, id))
			write_slot(fd, db, id, channel, event, data, len);
		if (!same_db || st.max_id < id)
			st.max_id = id;
		st.db = db;
		st.check = state_check(&st);
		/* After the slot; then the wake, and the close (inotify's). */
		ssize_t ignored = pwrite(fd, &st, sizeof(st), RING_STATE_OFFSET);
		(void)ignored;
	}
	/*
	 * Also without the lock or the copy: streams woken with nothing new in
	 * the ring ask SQLite.  Under the lock no bump is lost; without it a
	 * lost one still comes with its FUTEX_WAKE, which streams count.
	 */
	wake_streams(fd);
	close(fd);  /* releases the lock */
}

void ring_wake(const char *database)
{
	int fd = open_ring_file(database, O_RDWR | O_CREAT);
	if (fd < 0)
		return;
	lock_briefly(fd);   /* a bump not lost to a concurrent writer's */
	wake_streams(fd);
	close(fd);
}

bool ring_make(const char *database)
{
	int fd = open_ring_file(database, O_RDWR | O_CREAT);
	if (fd < 0)
		return false;
	bool made = lock_briefly(fd) && ring_prepare(fd);
	close(fd);
	return made;
}

void ring_open(struct ring *r, const char *database, uint64_t db)
{
	r->map = NULL;
	r->db = db;
	if (db == 0)
		return;
	int fd = open_ring_file(database, O_RDONLY);
	if (fd < 0)
		return;
	struct stat sb;
	if (fstat(fd, &sb) == 0 && (size_t)sb.st_size >= RING_FILE_SIZE) {
		void *map = mmap(NULL, RING_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED && header_valid(map))
			r->map = map;
		else if (map != MAP_FAILED)
			munmap(map, RING_FILE_SIZE);
	}
	close(fd);
}

void ring_open_again(struct ring *r, const char *database)
{
	if (r->map == NULL && r->db != 0)
		ring_open(r, database, r->db);
}

void ring_close(struct ring *r)
{
	if (r->map != NULL)
		munmap((void *)r->map, RING_FILE_SIZE);
	r->map = NULL;
}

/* Copies the slot of `id`; false when the copy fails its check. */
static bool copy_slot(const struct ring *r, long long id, union ring_copy *c)
{
	const struct ring_slot *src = (const void *)(r->map + slot_offset(id));
	struct ring_slot *s = &c->slot;
	memcpy(s, src, offsetof(struct ring_slot, data));
	if (s->id == 0)
		return true;   /* empty */
	if (s->len != RING_NOT_HELD) {
		if (s->len > RING_DATA_MAX)
			return false;
		memcpy(s->data, src->data, s->len);
	}
	return s->check == slot_check(s);
}

enum ring_result ring_get(const struct ring *r, long long id,
                          union ring_copy *copy)
{
	if (r->map == NULL)
		return RING_ASK_STORE;
	struct ring_state st;
	memcpy(&st, r->map + RING_STATE_OFFSET, sizeof(st));
	if (st.check != state_check(&st))
		return st.check == 0 && st.db == 0 ? RING_NOT_YET : RING_ASK_STORE;
	if (st.db != r->db)
		return RING_REPLACED;

	const struct ring_slot *s = &copy->slot;
	if (!copy_slot(r, id, copy))
		return RING_ASK_STORE;   /* a writer was in it, or damage */
	bool ours = s->db == r->db;
	if (ours && s->id == id) {
		if (s->len == RING_NOT_HELD || memchr(s->channel, 0, sizeof(s->channel)) == NULL ||
		    memchr(s->event, 0, sizeof(s->event)) == NULL)
			return RING_ASK_STORE;
		return RING_OK;
	}
	if (ours && s->id > id)
		return RING_ASK_STORE;   /* overwritten: the stream fell behind */
	/* Not there; a later id in the ring means it was committed already. */
	return st.max_id > id ? RING_ASK_STORE : RING_NOT_YET;
}
