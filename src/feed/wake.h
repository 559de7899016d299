/*
 * wake: the streams' wake through a futex word in the ring file, for any
 * number of stream processes of a user (watch.h takes it where inotify is
 * unavailable).
 *
 * The problem it solves: every listener is a process (CGI, mod_fcgid), and
 * each one holds an inotify instance on "<database>.notify".  Linux allows
 * 128 per user (fs.inotify.max_user_instances), which a shared-host user
 * cannot raise; past it streams polled every poll_interval_ms (Apache +
 * mod_fcgid, 300 listeners, stock limits: p50 41 ms, p99 249 ms).
 *
 * How: the ring file's header page holds a 32-bit word (RING_WAKE_WORD_OFFSET,
 * ring.h).  A writer, after the slot and the state record, bumps it with
 * pwrite (under its flock, so no bump is lost) and calls FUTEX_WAKE on it
 * through a read-only mapping of that page: one system call wakes every
 * waiter, whatever their number.  A futex on a shared file mapping is keyed
 * by the file (inode) and the offset, not by the address or the process, so
 * the writer's short-lived mapping and the streams' read-only mappings name
 * the same futex; FUTEX_WAIT and FUTEX_WAKE only need read access to the
 * page (get_futex_key falls back to a read-only page for them).  There is no
 * per-user limit on futex waiters.
 *
 * A stream's loop must also poll its client connection, and a futex is not
 * a descriptor: so each stream process runs one small thread that waits on
 * the word and writes an eventfd, and that eventfd is the watch's fd.  The
 * thread has a 64 KiB stack (the touched pages are what counts: about
 * 12 KiB), blocks every signal but its own (SIGTERM and the rest go to the
 * main thread, whose poll they must interrupt), allocates nothing, and
 * sleeps in the kernel until a writer wakes it: no periodic wake-up.
 * It reads the value it waits on before the stream's first look, so a post
 * between that look and the first FUTEX_WAIT is not missed (FUTEX_WAIT
 * returns at once when the word moved).
 *
 * Waking it for exit: the word is read-only to the stream and shared with
 * every other stream, so the stream cannot move it or FUTEX_WAKE it without
 * waking them all.  wake_close sets a flag and sends the thread SIGURG
 * (pthread_kill; a no-op handler without SA_RESTART makes FUTEX_WAIT return
 * EINTR), then joins it with a short timeout, sending again until it has
 * ended: the signal can arrive just before the thread enters FUTEX_WAIT,
 * after it looked at the flag.  SIGURG because its default action is to be
 * ignored: a stray one hurts no process (Go's runtime chose it for the same
 * reason).  futex_waitv (Linux 5.16) could wait on the word and a private
 * exit word at once, without a signal, but shared hosts still run older
 * kernels (RHEL 8 and 9, Ubuntu 22.04), so there would be two ways to test.
 *
 * Why this and not the alternative measured, a unix datagram socket per
 * stream in a folder that every writer sends to (no thread; the socket is
 * the pollable fd).  bench/wakebench.c, N waiter processes of one user, 30
 * posts at 5/s, 2 shared cores (delay from the writer's wake call to each
 * waiter's return from poll; CPU per waiter and post):
 *
 *              N     p50      p99      writer's wake   waiter CPU
 *   inotify   100    0.9 ms   2.5 ms   1.1 ms          14 us
 *   futex     100    1.3 ms   5.0 ms   1.1 ms          22 us
 *   dgram     100    1.0 ms   3.5 ms   1.8 ms          14 us
 *   inotify   300   10 ms   198 ms     1.5 ms          14 us  (173 polled)
 *   futex     300    3.2-3.8  7.8-8.5  4.0-5.1 ms      25-31 us
 *   dgram     300    3.2-3.3  7.3-8.5  4.9-5.3 ms      19 us
 *   futex    1000    9.8 ms  30 ms     15 ms           28 us
 *   dgram    1000   11 ms    24 ms     19 ms           23 us  (124 of 20000 lost)
 *
 * Both wake everyone at once, with the same delays; idle, neither costs any
 * CPU.  The datagrams are cheaper per waiter (no second thread to switch
 * to) but put the fan-out in the writer: a readdir and N sendto per post
 * (post.fcgi answers later as N grows), the sender's buffer fills with
 * unread datagrams and drops wakes past a few hundred waiters (the 124
 * lost), crashed streams leave sockets for writers to clean up, and a
 * socket's path must fit 108 bytes.  The futex is one system call for the
 * writer whatever N, loses nothing (a waiter that slept late sees the word
 * moved), and leaves nothing behind.
 *
 * The cost: one thread per stream process that uses it (about 8 KiB of
 * private memory: events.fcgi as CGI, 268-272 KiB against 260-264), and
 * one more context switch per woken stream (the table's CPU column).
 * Where the process limit counts threads (RLIMIT_NPROC, a cgroup's
 * pids.max), such a stream takes two of it; a thread that cannot be
 * created leaves the stream to poll.
 */
#ifndef SSE_WAKE_H
#define SSE_WAKE_H

struct wake;

/*
 * Streams: waits on the wake word of "<database>.notify", making the file a
 * ring first when it is not one yet.  Returns an eventfd that is readable
 * after writers' wakes (read it to quiet it: watch_drain), with *out the
 * wake to close; -1 and NULL where the futex wake is unavailable (built
 * without it, no write access to make the ring, no thread).
 */
int wake_open(struct wake **out, const char *database);

/* Ends the waiting thread and closes the eventfd; NULL does nothing. */
void wake_close(struct wake *w);

/*
 * Writers: bumps the wake word of the ring file open as fd (read-write)
 * and wakes every stream waiting on it.  Best effort: a failure only
 * leaves the streams to their next look.
 */
void wake_streams(int fd);

#endif
