/*
 * wakebench: how fast N stream processes of one user wake for a post, by
 * each way a stream can wait (src/feed/wake.h chose by these figures).
 *
 *   cc -D_GNU_SOURCE -O2 -std=c11 -Isrc/base -Isrc/feed -Isrc/wire \
 *      -o build/wakebench bench/wakebench.c build/libsse.a
 *   build/wakebench MODE N [POSTS [RATE]]
 *
 * MODE: futex (the futex wake only, wake.h), inotify (inotify only, the
 * rest polling: as before the futex wake), watch (the watch as streams open
 * it: inotify, then the futex wake), dgram (the alternative measured: a
 * unix datagram socket per stream in a folder, that the writer sends one
 * datagram to each).  N waiters are forked, each opens its wake and waits
 * in poll() as a stream does (every poll_interval_ms, 250, when it has
 * none); the parent posts POSTS times (30) at RATE per second (5) through
 * the real writer's wake (ring_wake; for dgram, ring_wake then a sendto to
 * every socket), and every waiter notes when it woke for each post.
 * Prints how many waiters had which wake, the delay from the writer's
 * wake call to each waiter's return from poll (p50, p99, max over every
 * waiter and post), the writer's time in the wake, the waiters' CPU per
 * post, their CPU over 5 s idle, and one waiter's private memory.  Not
 * part of make bench; loopback-free (no network at all).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "watch.h"

#define POLL_MS 250

enum mode { M_FUTEX, M_INOTIFY, M_WATCH, M_DGRAM };

struct shared {
	volatile int current;     /* the post being delivered, from 1 */
	volatile int stop;
	volatile int ready;
	int way[4];               /* waiters per way: poll, inotify, futex, dgram */
	long long woke[];         /* [post][waiter]: ns on CLOCK_MONOTONIC, 0 */
};

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

static char dir[64], db[96], sockdir[96];

static int dgram_open(int k)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%d", sockdir, k);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The writer's side of dgram: one datagram to every socket in the folder. */
static void dgram_wake_all(int out)
{
	DIR *d = opendir(sockdir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(sockdir) + 1 + strlen(e->d_name) >= sizeof(sa.sun_path))
			continue;
		memcpy(sa.sun_path, sockdir, strlen(sockdir));
		sa.sun_path[strlen(sockdir)] = '/';
		memcpy(sa.sun_path + strlen(sockdir) + 1, e->d_name, strlen(e->d_name) + 1);
		sendto(out, "", 1, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	}
	closedir(d);
}

static void waiter(struct shared *sh, enum mode m, int k, int n, int posts)
{
	struct watch w = { .fd = -1 };
	int fd, way;
	if (m == M_DGRAM) {
		fd = dgram_open(k);
		way = fd >= 0 ? 3 : 0;
	} else {
		if (m == M_WATCH)
			watch_open(&w, db);
		else
			watch_open_only(&w, db, m == M_FUTEX ? WATCH_FUTEX : WATCH_INOTIFY);
		fd = w.fd;
		way = (int)w.way;
	}
	__sync_fetch_and_add(&sh->way[way], 1);
	__sync_fetch_and_add(&sh->ready, 1);
	int seen = 0;
	while (!sh->stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, fd >= 0 ? 1 : 0, fd >= 0 ? -1 : POLL_MS);
		long long t = now_ns();
		if (r > 0) {
			char buf[4096];
			ssize_t ignored = read(fd, buf, sizeof(buf));
			(void)ignored;
		}
		int cur = sh->current;
		if (cur > seen && cur <= posts) {
			sh->woke[(long)(cur - 1) * n + k] = t;
			seen = cur;
		}
	}
	if (m == M_DGRAM)
		close(fd);
	else
		watch_close(&w);
	_exit(0);
}

/* CPU time of every thread of pid, in ns (schedstat: run time first). */
static long long cpu_ns(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	long long sum = 0;
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char file[96];
		snprintf(file, sizeof(file), "/proc/%d/task/%.16s/schedstat", (int)pid, e->d_name);
		FILE *f = fopen(file, "r");
		long long v = 0;
		if (f != NULL && fscanf(f, "%lld", &v) == 1)
			sum += v;
		if (f != NULL)
			fclose(f);
	}
	if (d != NULL)
		closedir(d);
	return sum;
}

static long long cpu_all(const pid_t *pids, int n)
{
	long long sum = 0;
	for (int i = 0; i < n; i++)
		sum += cpu_ns(pids[i]);
	return sum;
}

static long private_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "r");
	long sum = 0, v;
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Private_Clean: %ld", &v) == 1 ||
		    sscanf(line, "Private_Dirty: %ld", &v) == 1)
			sum += v;
	fclose(f);
	return sum;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: wakebench futex|inotify|watch|dgram N [POSTS [RATE]]\n");
		return 2;
	}
	enum mode m = strcmp(argv[1], "futex") == 0 ? M_FUTEX
	            : strcmp(argv[1], "inotify") == 0 ? M_INOTIFY
	            : strcmp(argv[1], "watch") == 0 ? M_WATCH : M_DGRAM;
	int n = atoi(argv[2]);
	int posts = argc > 3 ? atoi(argv[3]) : 30;
	int rate = argc > 4 ? atoi(argv[4]) : 5;
	snprintf(dir, sizeof(dir), "/tmp/wakebench-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db, sizeof(db), "%s/sse.db", dir);
	snprintf(sockdir, sizeof(sockdir), "%s/wake", dir);
	mkdir(sockdir, 0700);
	ring_publish(db, 1, 1, "chat", "message", "x", 1);   /* a ring */
	size_t size = sizeof(struct shared) + sizeof(long long) * (size_t)n * (size_t)posts;
	struct shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	for (int k = 0; k < n; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			waiter(sh, m, k, n, posts);
	}
	while (sh->ready < n)
		usleep(1000);
	usleep(300000);   /* every waiter in poll */
	int out = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	long long *t0 = calloc((size_t)posts, sizeof(*t0));
	long long writer_ns = 0;
	long long cpu_before = cpu_all(pids, n);
	for (int i = 0; i < posts; i++) {
		sh->current = i + 1;
		__sync_synchronize();
		t0[i] = now_ns();
		ring_wake(db);
		if (m == M_DGRAM)
			dgram_wake_all(out);
		writer_ns += now_ns() - t0[i];
		usleep(1000000 / (unsigned)rate);
	}
	usleep(300000);   /* the pollers' last look */
	long long cpu_posts = cpu_all(pids, n) - cpu_before;
	long priv = private_kib(pids[0]);
	cpu_before = cpu_all(pids, n);
	sleep(5);
	long long cpu_idle = cpu_all(pids, n) - cpu_before;
	sh->stop = 1;
	ring_wake(db);
	if (m == M_DGRAM)
		dgram_wake_all(out);
	for (int k = 0; k < n; k++)
		waitpid(pids[k], NULL, 0);

	long long *d = calloc((size_t)n * (size_t)posts, sizeof(*d));
	long got = 0, missed = 0;
	for (int i = 0; i < posts; i++)
		for (int k = 0; k < n; k++) {
			long long t = sh->woke[(long)i * n + k];
			if (t == 0)
				missed++;
			else
				d[got++] = t - t0[i];
		}
	qsort(d, (size_t)got, sizeof(*d), cmp_ll);
	printf("%s N=%d posts=%d rate=%d/s: ways poll %d, inotify %d, futex %d, dgram %d\n",
	       argv[1], n, posts, rate, sh->way[0], sh->way[1], sh->way[2], sh->way[3]);
	if (got > 0)
		printf("  wake delay ms: p50 %.2f  p99 %.2f  max %.2f  (%ld woken, %ld missed)\n",
		       d[got / 2] / 1e6, d[got * 99 / 100] / 1e6, d[got - 1] / 1e6, got, missed);
	printf("  writer in the wake: %.1f us per post\n", writer_ns / 1e3 / posts);
	printf("  waiters' CPU: %.1f us per waiter per post; idle 5 s: %.2f ms for all\n",
	       cpu_posts / 1e3 / posts / n, cpu_idle / 1e6);
	printf("  one waiter's private memory: %ld KiB\n", priv);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
