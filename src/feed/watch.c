/* watch: see watch.h. */
#include "watch.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "platform.h"
#include "sidecar.h"

#if SSE_HAVE_INOTIFY
#include <sys/inotify.h>

void watch_open(struct watch *w, const char *database)
{
	w->fd = -1;
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), database, SIDECAR_NOTIFY))
		return;
	/* Created if missing: inotify watches existing files only. */
	int file = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (file < 0)
		return;
	close(file);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd >= 0 && inotify_add_watch(w->fd, path, IN_CLOSE_WRITE) < 0)
		watch_close(w);
}
#else
/* Built without inotify (platform.h): the stream polls, as it does
 * wherever inotify_init1 fails. */
void watch_open(struct watch *w, const char *database)
{
	(void)database;
	w->fd = -1;
}
#endif

void watch_drain(struct watch *w)
{
	/* One read takes every queued event (16 bytes each, no name for a
	 * watched file); anything left only makes the next poll return. */
	char buf[4096];
	if (w->fd >= 0) {
		ssize_t ignored = read(w->fd, buf, sizeof(buf));
		(void)ignored;
	}
}

void watch_close(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
