/*
 * platform: which Linux-only calls this build makes, decided in one place.
 *
 * Each has a fallback that the programs need at run time anyway (an old
 * kernel, a seccomp profile, NFS, the inotify instance limit), so a build
 * without it still works:
 *   SSE_HAVE_INOTIFY    watch.c: without it the watch takes the futex wake;
 *   SSE_HAVE_FUTEX      wake.c: a thread per stream waits on a futex word in
 *                       the ring file, where inotify is unavailable (the
 *                       per-user instance limit); without it, and without
 *                       inotify, the watch fd is -1 and streams look every
 *                       poll_interval_ms;
 *   SSE_HAVE_STATX      store.c: without it there is no birth time, so the
 *                       identity is 0: no ring, SQLite only (ring.h);
 *   SSE_HAVE_GETRANDOM  stream.c: without it lifetimes are spread by the
 *                       pid and the clock.
 * -DSSE_NO_FUTEX, -DSSE_NO_INOTIFY, -DSSE_NO_STATX and -DSSE_NO_GETRANDOM
 * turn one off where the system has it, so that the fallbacks are built and
 * tested here too (make nofeature-test).
 */
#ifndef SSE_PLATFORM_H
#define SSE_PLATFORM_H

/* statx and STATX_BTIME come with <sys/stat.h> (glibc 2.28, musl 1.2.5,
 * with _GNU_SOURCE). */
#include <sys/stat.h>

/* The futex wake needs the raw futex system call (not there as SYS_futex
 * on 32-bit systems with only 64-bit times: those take inotify), eventfd
 * and threads. */
#if !defined(SSE_NO_FUTEX) && defined(__linux__) && defined(__has_include)
#if __has_include(<linux/futex.h>) && __has_include(<sys/eventfd.h>) && \
    __has_include(<sys/syscall.h>)
#include <sys/syscall.h>
#if defined(SYS_futex)
#define SSE_HAVE_FUTEX 1
#endif
#endif
#endif

#if !defined(SSE_NO_INOTIFY) && defined(__linux__) && defined(__has_include)
#if __has_include(<sys/inotify.h>)
#define SSE_HAVE_INOTIFY 1
#endif
#endif

#if !defined(SSE_NO_STATX) && defined(STATX_BTIME)
#define SSE_HAVE_STATX 1
#endif

#if !defined(SSE_NO_GETRANDOM) && defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h>
#endif
#endif
#if !defined(SSE_NO_GETRANDOM) && defined(GRND_NONBLOCK)
#define SSE_HAVE_GETRANDOM 1
#endif

#ifndef SSE_HAVE_FUTEX
#define SSE_HAVE_FUTEX 0
#endif
#ifndef SSE_HAVE_INOTIFY
#define SSE_HAVE_INOTIFY 0
#endif
#ifndef SSE_HAVE_STATX
#define SSE_HAVE_STATX 0
#endif
#ifndef SSE_HAVE_GETRANDOM
#define SSE_HAVE_GETRANDOM 0
#endif

#endif
