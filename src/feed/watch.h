/*
 * watch: wake a stream the moment a message is committed.
 *
 * Polling PRAGMA data_version every poll_interval_ms costs little per look,
 * but makes the average delivery wait half an interval, and hundreds of
 * idle listeners looking four times a second add up.  So every writer of
 * ours (post.fcgi, ssectl) writes to a file, "<database>.notify", right
 * after its COMMIT (it is also the ring of the newest messages, ring.h),
 * and wakes the streams waiting on it, which take the first of:
 *
 *   WATCH_INOTIFY  an inotify watch on the file: no thread, the cheapest
 *                  wake per message; Linux allows 128 instances per user by
 *                  default (fs.inotify.max_user_instances), which a shared
 *                  host's user cannot raise;
 *   WATCH_FUTEX    past that (or without inotify), a futex word in the
 *                  file, waited on by a small thread that writes an eventfd
 *                  (wake.h): no per-user limit, so the 1,000th stream
 *                  process of a user wakes like the 10th;
 *   WATCH_POLL     neither (built without both, no thread to be had, no
 *                  write access to make the file a ring before the first
 *                  post): the stream looks every poll_interval_ms.
 *
 * Why inotify first and not the futex: below the limit it wakes a stream
 * with one context switch instead of two (bench/wakebench.c, 100 waiters:
 * p50 0.9 ms and 14 us of CPU per waiter and post, against 1.3 ms and
 * 22 us), it costs no thread (shared hosts count threads against their
 * process limits), and the hub (--listen) stays one thread with one
 * instance.  The futex wake is there for the streams the limit leaves out.
 * The price: streams use up the user's instances first, as they always
 * did, and another program of the user may then find none (watch_open's
 * two calls are the order, to turn it round).
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
 * stream still looks every poll_interval_ms when there is no wake (other
 * systems, NFS, every way failed), or every WATCH_FALLBACK_MS when there
 * is one, for writers that do not wake (the sqlite3 shell; for the futex
 * wake, a writer of an earlier version, which only closed the file).
 */
#ifndef SSE_WATCH_H
#define SSE_WATCH_H

#define WATCH_FALLBACK_MS 15000

struct wake;

enum watch_way { WATCH_POLL, WATCH_INOTIFY, WATCH_FUTEX };

/* fd is all a caller needs; the rest means something only when fd >= 0. */
struct watch {
	int fd;               /* readable after a wake; -1: none, poll */
	enum watch_way way;   /* what fd is */
	struct wake *wake;    /* WATCH_FUTEX: its thread (wake.h) */
};

/* Watches "<database>.notify" (created if missing), the first way that
 * works (above); fd -1 when none does. */
void watch_open(struct watch *w, const char *database);

/* That way only (fd -1 if it fails): how the tests reach the futex wake
 * while inotify instances are left. */
void watch_open_only(struct watch *w, const char *database,
                     enum watch_way way);

/* Reads pending wakes so the descriptor is quiet again. */
void watch_drain(struct watch *w);

void watch_close(struct watch *w);

#endif
