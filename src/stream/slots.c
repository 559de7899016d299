/* slots: see slots.h. */
#include "slots.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sidecar.h"

#ifdef F_OFD_SETLK
#define LOCK_SET F_OFD_SETLK
#define LOCK_GET F_OFD_GETLK
#else
#define LOCK_SET F_SETLK
#define LOCK_GET F_GETLK
#endif

/* With a Redis database, a file of this machine's (sidecar.h). */
static int open_slots_file(const char *database)
{
	return sidecar_open(database, SIDECAR_STREAMS, O_RDWR | O_CREAT, 0600);
}

static void byte_lock(struct flock *fl, short type, long index)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = index;
	fl->l_len = 1;
}

enum slot_result slot_acquire(const char *database, long max, struct slot *out)
{
	out->fd = -1;
	out->index = -1;
	int fd = open_slots_file(database);
	if (fd < 0)
		return SLOT_ERROR;
	for (long i = 0; i < max; i++) {
		struct flock fl;
		byte_lock(&fl, F_WRLCK, i);
		if (fcntl(fd, LOCK_SET, &fl) == 0) {
			out->fd = fd;
			out->index = i;
			return SLOT_TAKEN;
		}
	}
	close(fd);
	return SLOT_FULL;
}

void slot_release(struct slot *s)
{
	if (s->fd >= 0)
		close(s->fd);  /* closing the description drops its lock */
	s->fd = -1;
	s->index = -1;
}

long slots_in_use(const char *database, long max)
{
	int fd = open_slots_file(database);
	if (fd < 0)
		return -1;
	long used = 0;
	for (long i = 0; i < max; i++) {
		struct flock fl;
		byte_lock(&fl, F_WRLCK, i);
		if (fcntl(fd, LOCK_GET, &fl) == 0 && fl.l_type != F_UNLCK)
			used++;
	}
	close(fd);
	return used;
}
