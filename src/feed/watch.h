/*
 * watch: wake a stream the moment a message is committed.
 *
 * Polling PRAGMA data_version every poll_interval_ms costs little per look,
 * but makes the average delivery wait half an interval, and hundreds of
 * idle listeners looking four times a second add up.  So every writer of
 * ours (post.fcgi, ssectl) writes to a file, "<database>.notify", right
 * after its COMMIT (it is also the ring of the newest messages, ring.h),
 * and each stream waits on it with inotify.
 *
 * Why a file of our own and not the WAL: SQLite writes the WAL before the
 * commit is visible (visibility comes through the -shm mapping, which
 * inotify cannot see), so a stream woken by the WAL would look too early,
 * find nothing, and sleep a whole interval.  The notify file is written
 * after the commit, once per commit, and checkpoints do not touch it.
 *
 * A stream waits for IN_CLOSE_WRITE, not IN_MODIFY: a writer opens the
 * file, writes the message's slot and then the ring's state record, and
 * closes it, so IN_MODIFY fired twice per message and woke a stream that
 * had already taken the message a second time for nothing (at 300 streams,
 * p90 delivery 17-18 ms with IN_MODIFY, 11-12 ms with IN_CLOSE_WRITE, in
 * three alternating runs; bench/README.md).  The close also comes when a
 * writer dies mid-way (the kernel closes its files), and the streams' own
 * read-only opens raise IN_CLOSE_NOWRITE, which they do not watch.
 *
 * The notification is only a hint: SQLite stays the truth, and a
 * stream still looks every poll_interval_ms when inotify is unavailable
 * (other systems, NFS, the per-user instance limit), or every
 * WATCH_FALLBACK_MS when it is there, for writers that do not notify.
 */
#ifndef SSE_WATCH_H
#define SSE_WATCH_H

#define WATCH_FALLBACK_MS 15000

struct watch {
	int fd;   /* inotify descriptor, or -1 when unavailable */
};

/* Watches "<database>.notify" (created if missing); fd -1 on failure. */
void watch_open(struct watch *w, const char *database);

/* Reads pending notifications so the descriptor is quiet again. */
void watch_drain(struct watch *w);

void watch_close(struct watch *w);

#endif
