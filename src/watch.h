/*
 * watch: wake a stream the moment the database files are written.
 *
 * Polling PRAGMA data_version every poll_interval_ms costs almost nothing,
 * but makes the average delivery wait half an interval.  On Linux, inotify
 * tells us when the database or its WAL file is written, so a stream can
 * look at once.  The notification is only a hint: the stream still asks
 * data_version (the truth), and keeps polling at poll_interval_ms as the
 * fallback for filesystems that report nothing (NFS, some FUSE mounts).
 */
#ifndef SSE_WATCH_H
#define SSE_WATCH_H

struct watch {
	int fd;   /* inotify descriptor, or -1 when unavailable */
};

/* Watches database and database-wal; fd -1 (and polling only) on failure. */
void watch_open(struct watch *w, const char *database);

/* Reads pending notifications so the descriptor is quiet again. */
void watch_drain(struct watch *w);

void watch_close(struct watch *w);

#endif
