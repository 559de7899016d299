/* wake: see wake.h for the design and why a futex and a thread. */
#include "wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform.h"
#include "ring.h"
#include "sidecar.h"

/* The writer's bump needs no futex: streams of any build see the word move. */
static void bump_word(int fd)
{
	uint32_t word = 0;
	if (pread(fd, &word, sizeof(word), RING_WAKE_WORD_OFFSET) != (ssize_t)sizeof(word))
		word = 0;
	word++;
	ssize_t ignored = pwrite(fd, &word, sizeof(word), RING_WAKE_WORD_OFFSET);
	(void)ignored;
}

#if SSE_HAVE_FUTEX
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>

#define WAKE_STACK_SIZE (64 * 1024)
#define WAKE_EXIT_SIGNAL SIGURG
#define WAKE_JOIN_TRIES 200            /* 5 ms each: a second at most */

struct wake {
	const unsigned char *page;   /* the ring file's header page, read-only */
	const uint32_t *word;        /* in page */
	uint32_t seen;               /* the value read before the first look */
	int fd;                      /* the eventfd the stream polls */
	atomic_bool stop;
	pthread_t thread;
};

static long futex(const uint32_t *word, int op, uint32_t val,
                  const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

static uint32_t load_word(const uint32_t *word)
{
	return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

static void on_exit_signal(int signo)
{
	(void)signo;   /* only there to make FUTEX_WAIT return EINTR */
}

static void *wait_for_writers(void *arg)
{
	struct wake *w = arg;
	sigset_t own;
	sigemptyset(&own);
	sigaddset(&own, WAKE_EXIT_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &own, NULL);   /* every other stays blocked */
	uint32_t seen = w->seen;
	const uint64_t one = 1;
	while (!atomic_load(&w->stop)) {
		/* Shared (no FUTEX_PRIVATE_FLAG): the key is the file's page. */
		long r = futex(w->word, FUTEX_WAIT, seen, NULL);
		int err = r == 0 ? 0 : errno;
		if (atomic_load(&w->stop))
			break;
		uint32_t now = load_word(w->word);
		/*
		 * A writer's wake, or the word moved before we slept.  A wake
		 * with the word unmoved still counts: a writer whose bump
		 * failed (or was lost without the lock) woke us for a reason.
		 * The price: when a bump is seen before its FUTEX_WAKE comes
		 * (the thread was not back asleep), the stream wakes twice and
		 * its second look finds nothing new (a data_version question).
		 */
		if (r == 0 || now != seen) {
			seen = now;
			ssize_t ignored = write(w->fd, &one, sizeof(one));
			(void)ignored;
		} else if (err != EAGAIN && err != EINTR) {
			break;   /* cannot wait: the stream's fallback look remains */
		}
	}
	return NULL;
}

/*
 * The header page mapped read-only, when the file is at least that long
 * (made a ring if not: a futex on a page beyond the end of the file
 * cannot be waited on).  Opens read-only first: the file is a ring after
 * the first post, and then a stream needs no write access.
 */
static const unsigned char *map_header(const char *database)
{
	int fd = sidecar_open(database, SIDECAR_NOTIFY, O_RDONLY, 0);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) != 0 || (size_t)sb.st_size < RING_HEADER_SIZE) {
		if (fd >= 0)
			close(fd);
		if (!ring_make(database))
			return NULL;
		fd = sidecar_open(database, SIDECAR_NOTIFY, O_RDONLY, 0);
		if (fd < 0)
			return NULL;
	}
	void *map = mmap(NULL, RING_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	return map == MAP_FAILED ? NULL : map;
}

/* The thread, with every signal blocked from its first instruction. */
static bool start_thread(struct wake *w)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_exit_signal;   /* no SA_RESTART: FUTEX_WAIT returns */
	if (sigaction(WAKE_EXIT_SIGNAL, &sa, NULL) != 0)
		return false;
	pthread_attr_t attr;
	if (pthread_attr_init(&attr) != 0)
		return false;
	size_t stack = WAKE_STACK_SIZE;
	if (stack < (size_t)PTHREAD_STACK_MIN)
		stack = (size_t)PTHREAD_STACK_MIN;
	sigset_t all, old;
	sigfillset(&all);
	bool ok = pthread_attr_setstacksize(&attr, stack) == 0 &&
	          pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
	if (ok) {
		ok = pthread_create(&w->thread, &attr, wait_for_writers, w) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_attr_destroy(&attr);
	return ok;
}

int wake_open(struct wake **out, const char *database)
{
	*out = NULL;
	struct wake *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->fd = -1;
	w->page = map_header(database);
	if (w->page == NULL)
		goto fail;
	w->word = (const uint32_t *)(const void *)(w->page + RING_WAKE_WORD_OFFSET);
	w->seen = load_word(w->word);
	/* Can this kernel wait here?  A zero timeout answers at once. */
	struct timespec zero = { 0, 0 };
	if (futex(w->word, FUTEX_WAIT, w->seen, &zero) != 0 &&
	    errno != ETIMEDOUT && errno != EAGAIN && errno != EINTR)
		goto fail;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&w->stop, false);
	if (w->fd < 0 || !start_thread(w))
		goto fail;
	*out = w;
	return w->fd;
fail:
	if (w->fd >= 0)
		close(w->fd);
	if (w->page != NULL)
		munmap((void *)w->page, RING_HEADER_SIZE);
	free(w);
	return -1;
}

void wake_close(struct wake *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, true);
	bool joined = false;
	for (int i = 0; i < WAKE_JOIN_TRIES && !joined; i++) {
		pthread_kill(w->thread, WAKE_EXIT_SIGNAL);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 5 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		joined = pthread_timedjoin_np(w->thread, NULL, &until) == 0;
	}
	if (!joined) {
		/*
		 * Someone made SIGURG ignored and the thread sleeps on: leave
		 * it the eventfd and the mapping it uses (a closed fd number
		 * could be reused by a file it would then write into).
		 */
		pthread_detach(w->thread);
		return;
	}
	close(w->fd);
	munmap((void *)w->page, RING_HEADER_SIZE);
	free(w);
}

void wake_streams(int fd)
{
	bump_word(fd);
	/* FUTEX_WAKE needs an address: the header page, read-only (and in
	 * the file: streams never wait on a page past its end). */
	struct stat sb;
	if (fstat(fd, &sb) != 0 || sb.st_size == 0)
		return;
	void *map = mmap(NULL, RING_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return;
	futex((const uint32_t *)(const void *)((const unsigned char *)map +
	                                        RING_WAKE_WORD_OFFSET),
	      FUTEX_WAKE, INT_MAX, NULL);
	munmap(map, RING_HEADER_SIZE);
}

#else
/* Built without the futex wake (platform.h): the watch takes inotify. */
int wake_open(struct wake **out, const char *database)
{
	(void)database;
	*out = NULL;
	return -1;
}

void wake_close(struct wake *w)
{
	(void)w;
}

void wake_streams(int fd)
{
	bump_word(fd);
}
#endif
