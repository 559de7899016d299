/* watch: see watch.h. */
#include "watch.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "platform.h"
#include "sidecar.h"
#include "wake.h"

#if SSE_HAVE_INOTIFY
#include <sys/inotify.h>

static int inotify_open(const char *database)
{
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), database, SIDECAR_NOTIFY))
		return -1;
	/* Created if missing: inotify watches existing files only. */
	int file = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (file < 0)
		return -1;
	close(file);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, path, IN_CLOSE_WRITE) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}
#else
/* Built without inotify (platform.h): the stream polls, as it does
 * wherever inotify_init1 fails. */
static int inotify_open(const char *database)
{
	(void)database;
	return -1;
}
#endif

void watch_open_only(struct watch *w, const char *database,
                     enum watch_way way)
{
	w->wake = NULL;
	w->way = way;
	w->fd = -1;
	if (way == WATCH_INOTIFY)
		w->fd = inotify_open(database);
	else if (way == WATCH_FUTEX)
		w->fd = wake_open(&w->wake, database);
	if (w->fd < 0)
		w->way = WATCH_POLL;
}

void watch_open(struct watch *w, const char *database)
{
	/* The order and why: watch.h. */
	watch_open_only(w, database, WATCH_INOTIFY);
	if (w->fd < 0)
		watch_open_only(w, database, WATCH_FUTEX);
}

void watch_drain(struct watch *w)
{
	/* One read takes every queued inotify event (16 bytes each, no name
	 * for a watched file), or the eventfd's count; anything left only
	 * makes the next poll return. */
	char buf[4096];
	if (w->fd >= 0) {
		ssize_t ignored = read(w->fd, buf, sizeof(buf));
		(void)ignored;
	}
}

void watch_close(struct watch *w)
{
	if (w->fd < 0)
		return;   /* never opened, or closed: nothing else to trust */
	if (w->way == WATCH_FUTEX)
		wake_close(w->wake);   /* closes fd too */
	else
		close(w->fd);
	w->wake = NULL;
	w->way = WATCH_POLL;
	w->fd = -1;
}
