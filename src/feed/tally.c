/* tally: see tally.h for why the counters live in a shared file. */
#include "tally.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "prom.h"
#include "sidecar.h"

#define TALLY_FILE_SIZE 4096      /* one page; the layout below fits in it */
/* 2: the stream counters were added; 3: the poll end; 4: token refusals
 * (an older file is not read: its layout differs, and nothing counted into
 * it was released). */
#define TALLY_VERSION 4
#define US_PER_S 1e6

static const char tally_magic[8] = { 's', 's', 'e', '-', 't', 'a', 'l', 'y' };

/* The file: a header, then the counters of struct tally, each atomic. */
struct tally_file {
	char magic[8];
	uint32_t version;
	uint32_t size;                 /* sizeof(struct tally_file) */
	_Atomic uint64_t messages_stored;
	_Atomic uint64_t posts_refused[TALLY_REFUSALS];
	_Atomic uint64_t commit_buckets[TALLY_COMMIT_BOUNDS + 1];
	_Atomic uint64_t commit_sum_us;
	_Atomic uint64_t streams_live;
	_Atomic uint64_t stream_ends[TALLY_ENDS];
	_Atomic uint64_t deliveries;
};
_Static_assert(sizeof(struct tally_file) <= TALLY_FILE_SIZE, "tally file fits a page");

static const double commit_bounds[TALLY_COMMIT_BOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

/* The status of each refusal, in enum order; its label value beside it. */
static const struct {
	int status;
	const char *reason;
} refusals[TALLY_REFUSALS] = {
	[TALLY_BAD_REQUEST] = { 400, "bad_request" },
	[TALLY_ORIGIN] = { 403, "origin" },
	[TALLY_METHOD] = { 405, "method" },
	[TALLY_LENGTH] = { 411, "length_required" },
	[TALLY_TOO_LARGE] = { 413, "too_large" },
	[TALLY_CONTENT_TYPE] = { 415, "content_type" },
	[TALLY_RATE_LIMIT] = { 429, "rate_limit" },
	[TALLY_UNAVAILABLE] = { 503, "unavailable" },
	[TALLY_TOKEN] = { 0, "token" },   /* by reason, not by status */
};

/* The label values of enum tally_end, in its order. */
static const char *const end_names[TALLY_ENDS] = {
	[TALLY_END_CLIENT_GONE] = "client_gone",
	[TALLY_END_LIFETIME] = "lifetime",
	[TALLY_END_STALLED] = "stalled",
	[TALLY_END_OVER_CAP] = "over_cap",
	[TALLY_END_SHUTDOWN] = "shutdown",
	[TALLY_END_PROBLEM] = "problem",
	[TALLY_END_POLL] = "poll",
};

const char *tally_end_name(enum tally_end why)
{
	assert(why < TALLY_ENDS && end_names[why] != NULL);
	return end_names[why];
}

static bool header_valid(const struct tally_file *f)
{
	return memcmp(f->magic, tally_magic, sizeof(tally_magic)) == 0 &&
	       f->version == TALLY_VERSION && f->size == sizeof(*f);
}

/* Logs the first failure of this process only: a broken file would
 * otherwise put one line per post into the error log. */
static void log_once(const char *database, const char *what)
{
	static bool logged;
	if (logged)
		return;
	logged = true;
	int e = errno;
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), database, SIDECAR_METRICS))
		snprintf(path, sizeof(path), "(the metrics file)");
	log_msg("metrics", "%s: %s: %s (not counted from now on in this process)",
	        path, what, strerror(e));
}

/*
 * Creates the file (zeroed) when missing.  Two processes that create it at
 * once write the same header: harmless.
 */
struct tally_file *tally_attach(const char *database)
{
	int fd = sidecar_open(database, SIDECAR_METRICS, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return log_once(database, "open"), NULL;
	/* Blocks for the whole page, not a sparse hole: a store into a hole
	 * that the disk has no room for is a SIGBUS, and a post on a full disk
	 * must answer 503, not die. */
	int rc = posix_fallocate(fd, 0, TALLY_FILE_SIZE);
	if (rc != 0) {
		errno = rc;
		log_once(database, "allocate its page");
		close(fd);
		return NULL;
	}
	void *map = mmap(NULL, TALLY_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return log_once(database, "mmap"), NULL;
	struct tally_file *f = map;
	if (f->version == 0) {   /* new: all zero; the version goes last */
		memcpy(f->magic, tally_magic, sizeof(tally_magic));
		f->size = sizeof(*f);
		atomic_thread_fence(memory_order_release);
		f->version = TALLY_VERSION;
	}
	if (!header_valid(f)) {
		errno = EPROTO;
		log_once(database, "not a counter file of this version");
		munmap(map, TALLY_FILE_SIZE);
		return NULL;
	}
	return f;
}

void tally_detach(struct tally_file *f)
{
	if (f != NULL)
		munmap(f, TALLY_FILE_SIZE);
}

/* Adds n (nothing for 0: most of a stream's counters stay 0 at a look). */
static void add(_Atomic uint64_t *counter, uint64_t n)
{
	if (n > 0)
		atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void tally_add_streams(struct tally_file *f, struct tally_streams *c)
{
	if (f != NULL) {
		add(&f->streams_live, c->live);
		for (size_t i = 0; i < TALLY_ENDS; i++)
			add(&f->stream_ends[i], c->ends[i]);
		add(&f->deliveries, c->deliveries);
	}
	memset(c, 0, sizeof(*c));
}

void tally_stored(const char *database, long long commit_us)
{
	struct tally_file *f = tally_attach(database);
	if (f == NULL)
		return;
	uint64_t us = commit_us > 0 ? (uint64_t)commit_us : 0;
	size_t b = 0;
	while (b < TALLY_COMMIT_BOUNDS && (double)us > commit_bounds[b] * US_PER_S)
		b++;
	add(&f->messages_stored, 1);
	add(&f->commit_buckets[b], 1);
	add(&f->commit_sum_us, us);
	tally_detach(f);
}

static void refused(const char *database, enum tally_refusal why)
{
	struct tally_file *f = tally_attach(database);
	if (f != NULL) {
		add(&f->posts_refused[why], 1);
		tally_detach(f);
	}
}

void tally_refused(const char *database, int status)
{
	for (size_t i = 0; i < TALLY_REFUSALS; i++) {
		if (status > 0 && refusals[i].status == status) {
			refused(database, (enum tally_refusal)i);
			return;
		}
	}
}

void tally_refused_token(const char *database)
{
	refused(database, TALLY_TOKEN);
}

bool tally_read(const char *database, struct tally *out)
{
	memset(out, 0, sizeof(*out));
	int fd = sidecar_open(database, SIDECAR_METRICS, O_RDONLY, 0);
	if (fd < 0)
		return errno == ENOENT;   /* nothing counted yet */
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int saved = errno;
		close(fd);
		return errno = saved, false;
	}
	if (sb.st_size < TALLY_FILE_SIZE) {
		close(fd);
		return true;   /* created, not yet sized: nothing counted */
	}
	/* Mapped, not read: each counter is then one atomic load, never a
	 * copy torn by a process adding to it. */
	void *map = mmap(NULL, TALLY_FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return false;
	struct tally_file *f = map;
	bool fresh = f->version == 0;   /* sized, header not written yet */
	bool ours = fresh || header_valid(f);
	if (ours && !fresh) {
		out->messages_stored = atomic_load(&f->messages_stored);
		for (size_t i = 0; i < TALLY_REFUSALS; i++)
			out->posts_refused[i] = atomic_load(&f->posts_refused[i]);
		for (size_t i = 0; i <= TALLY_COMMIT_BOUNDS; i++)
			out->commit_buckets[i] = atomic_load(&f->commit_buckets[i]);
		out->commit_sum_us = atomic_load(&f->commit_sum_us);
		out->streams.live = atomic_load(&f->streams_live);
		for (size_t i = 0; i < TALLY_ENDS; i++)
			out->streams.ends[i] = atomic_load(&f->stream_ends[i]);
		out->streams.deliveries = atomic_load(&f->deliveries);
	}
	munmap(map, TALLY_FILE_SIZE);
	if (!ours)
		errno = EPROTO;
	return ours;
}

void tally_put_prometheus(struct strbuf *out, const struct tally *t,
                          long streams_open, const char *mode)
{
	if (streams_open >= 0) {
		prom_family(out, "sse_streams_open", "gauge",
		            "Live streams now, from live state (the stream slots,"
		            " or the streams of this events.fcgi --listen).");
		prom_sample(out, "sse_streams_open", "mode", mode, (uint64_t)streams_open);
	}
	prom_family(out, "sse_streams_total", "counter", "Streams that went live.");
	prom_sample(out, "sse_streams_total", NULL, NULL, t->streams.live);
	prom_family(out, "sse_stream_ends_total", "counter",
	            "Streams answered (live or one-shot), by how they ended.");
	for (size_t i = 0; i < TALLY_ENDS; i++)
		prom_sample(out, "sse_stream_ends_total", "reason", end_names[i],
		            t->streams.ends[i]);
	prom_family(out, "sse_deliveries_total", "counter",
	            "Messages written to streams (history and live, one per stream).");
	prom_sample(out, "sse_deliveries_total", NULL, NULL, t->streams.deliveries);
	prom_family(out, "sse_messages_stored_total", "counter",
	            "Messages committed to the database (posts and ssectl publish).");
	prom_sample(out, "sse_messages_stored_total", NULL, NULL, t->messages_stored);
	prom_family(out, "sse_posts_refused_total", "counter",
	            "Posts answered with an error status, by reason.");
	for (size_t i = 0; i < TALLY_REFUSALS; i++)
		prom_sample(out, "sse_posts_refused_total", "reason", refusals[i].reason,
		            t->posts_refused[i]);
	prom_family(out, "sse_store_commit_seconds", "histogram",
	            "Time to store a message, lock wait included (SQLite's transaction"
	            " and ring copy, or Redis's script and its round trip).");
	prom_histogram(out, "sse_store_commit_seconds", commit_bounds, t->commit_buckets,
	               TALLY_COMMIT_BOUNDS, (double)t->commit_sum_us / US_PER_S);
}
