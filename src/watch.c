/* watch: see watch.h. */
#include "watch.h"

#include <limits.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

void watch_open(struct watch *w, const char *database)
{
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return;
	char wal[PATH_MAX];
	int n = snprintf(wal, sizeof(wal), "%s-wal", database);
	/* A commit writes the WAL (WAL mode) or the file itself (rollback). */
	int a = inotify_add_watch(w->fd, database, IN_MODIFY);
	int b = n > 0 && (size_t)n < sizeof(wal)
	        ? inotify_add_watch(w->fd, wal, IN_MODIFY) : -1;
	if (a < 0 && b < 0)
		watch_close(w);
}

void watch_drain(struct watch *w)
{
	char buf[4096];
	while (w->fd >= 0 && read(w->fd, buf, sizeof(buf)) > 0)
		;
}

void watch_close(struct watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}
