/*
 * The ring of newest messages (src/feed/ring.h) on a real file: what a stream is
 * told for each state of a slot.  The rule under test: RING_OK only when the
 * ring holds that very message of this database, intact; whenever it cannot
 * be sure, RING_ASK_STORE (SQLite answers), never a wrong message.
 */
#include "testutil.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "platform.h"
#include "ring.h"
#include "watch.h"
#include "sidecar.h"

#define DB 0x5eedf00dULL   /* a database's identity (store.h) */

struct fixture {
	char dir[PATH_MAX];
	char db[PATH_MAX + 16];
	char file[PATH_MAX + 32];
	union ring_copy copy;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	tu_tempdir(f->dir, sizeof(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/sse.db", f->dir);
	snprintf(f->file, sizeof(f->file), "%s%s", f->db, SIDECAR_NOTIFY);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void put(struct fixture *f, long long id, const char *channel,
                const char *data)
{
	ring_publish(f->db, DB, id, channel, "message", data, strlen(data));
}

/* Opens a reader of database `db`, asks for id, closes it. */
static enum ring_result get_as(struct fixture *f, uint64_t db, long long id)
{
	struct ring r;
	ring_open(&r, f->db, db);
	enum ring_result res = ring_get(&r, id, &f->copy);
	ring_close(&r);
	return res;
}

static enum ring_result get(struct fixture *f, long long id)
{
	return get_as(f, DB, id);
}

/* The data of the last RING_OK copy (not NUL-terminated in the slot). */
static void assert_data(struct fixture *f, const char *want)
{
	assert_int_equal(f->copy.slot.len, strlen(want));
	assert_memory_equal(f->copy.slot.data, want, strlen(want));
}

static void test_no_file_means_ask_store(void **state)
{
	struct fixture *f = *state;
	struct ring r;
	ring_open(&r, f->db, DB);
	assert_null(r.map);
	assert_int_equal(ring_get(&r, 1, &f->copy), RING_ASK_STORE);
}

static void test_message_round_trip(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "first\nline two");
	ring_publish(f->db, DB, 2, "news", "alert", "x", 1);
	assert_int_equal(get(f, 1), RING_OK);
	const struct ring_slot *s = &f->copy.slot;
	assert_int_equal(s->id, 1);
	assert_string_equal(s->channel, "chat");
	assert_string_equal(s->event, "message");
	assert_int_equal(s->len, strlen("first\nline two"));
	assert_memory_equal(s->data, "first\nline two", s->len);
	assert_int_equal(get(f, 2), RING_OK);
	assert_string_equal(f->copy.slot.event, "alert");
	assert_string_equal(f->copy.slot.channel, "news");
	struct stat sb;
	assert_int_equal(stat(f->file, &sb), 0);
	assert_int_equal((size_t)sb.st_size, RING_FILE_SIZE);
}

/* id asked for → answer, with ids 1..3 published (table). */
static void test_answers_table(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "a");
	put(f, 2, "chat", "b");
	put(f, 3, "chat", "c");
	static const struct { long long id; enum ring_result want; } cases[] = {
		{ 1, RING_OK }, { 3, RING_OK },
		{ 4, RING_NOT_YET },                  /* nothing newer committed */
		{ 3 + RING_SLOTS, RING_NOT_YET },     /* slot holds 3: older */
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(get(f, cases[i].id), cases[i].want);
}

static void test_overwritten_slot_asks_store(void **state)
{
	struct fixture *f = *state;
	put(f, 5, "chat", "old");
	put(f, 5 + RING_SLOTS, "chat", "new");
	/* A stream that fell RING_SLOTS behind must not get "new" for 5. */
	assert_int_equal(get(f, 5), RING_ASK_STORE);
	assert_int_equal(get(f, 5 + RING_SLOTS), RING_OK);
	assert_data(f, "new");
}

static void test_older_writer_does_not_overwrite_newer(void **state)
{
	struct fixture *f = *state;
	put(f, 5 + RING_SLOTS, "chat", "new");
	put(f, 5, "chat", "late copy of an old message");
	assert_int_equal(get(f, 5 + RING_SLOTS), RING_OK);
	assert_data(f, "new");
}

static void test_hole_before_a_later_id_asks_store(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "a");
	put(f, 3, "chat", "c");   /* 2 committed, its writer not copied yet */
	assert_int_equal(get(f, 2), RING_ASK_STORE);
	put(f, 2, "chat", "b");   /* copies in either order are fine */
	assert_int_equal(get(f, 2), RING_OK);
	assert_data(f, "b");
}

static void test_too_long_or_odd_names_ask_store(void **state)
{
	struct fixture *f = *state;
	size_t big = RING_DATA_MAX + 1;
	char *data = malloc(big);
	memset(data, 'x', big);
	ring_publish(f->db, DB, 1, "chat", "message", data, big);
	ring_publish(f->db, DB, 2, "chat", "message", data, RING_DATA_MAX);
	char long_name[SSE_NAME_MAX + 2];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	ring_publish(f->db, DB, 3, long_name, "message", "x", 1);
	free(data);
	assert_int_equal(get(f, 1), RING_ASK_STORE);
	assert_int_equal(get(f, 2), RING_OK);
	assert_int_equal(f->copy.slot.len, RING_DATA_MAX);
	assert_int_equal(get(f, 3), RING_ASK_STORE);
}

/* Flips one byte of the file at offset, as a torn copy would look. */
static void damage(struct fixture *f, off_t offset)
{
	int fd = open(f->file, O_RDWR);
	assert_true(fd >= 0);
	unsigned char b;
	assert_int_equal(pread(fd, &b, 1, offset), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, offset), 1);
	close(fd);
}

static void test_damaged_records_ask_store(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "hello");
	put(f, 2, "chat", "world");
	off_t slot1 = RING_HEADER_SIZE + 1 * RING_SLOT_SIZE;
	damage(f, slot1 + (off_t)offsetof(struct ring_slot, data) + 2);
	assert_int_equal(get(f, 1), RING_ASK_STORE);
	assert_int_equal(get(f, 2), RING_OK);
	damage(f, RING_STATE_OFFSET + (off_t)offsetof(struct ring_state, max_id));
	assert_int_equal(get(f, 2), RING_ASK_STORE);
	put(f, 3, "chat", "again");   /* the next writer repairs the state */
	assert_int_equal(get(f, 3), RING_OK);
}

static void test_other_database_means_replaced(void **state)
{
	struct fixture *f = *state;
	put(f, 10, "chat", "old database");
	/* A new file at the same path starts its ids again. */
	ring_publish(f->db, DB + 1, 1, "chat", "message", "new", 3);
	assert_int_equal(get_as(f, DB, 11), RING_REPLACED);
	/* Its own streams see only its messages, never the old file's 10. */
	assert_int_equal(get_as(f, DB + 1, 1), RING_OK);
	assert_data(f, "new");
	assert_int_equal(get_as(f, DB + 1, 2), RING_NOT_YET);
	assert_int_equal(get_as(f, DB + 1, 10), RING_NOT_YET);
}

static void test_old_notify_file_becomes_a_ring(void **state)
{
	struct fixture *f = *state;
	tu_write_file(f->file, "x");   /* an earlier version's one-byte file */
	struct ring r;
	ring_open(&r, f->db, DB);
	assert_null(r.map);
	put(f, 1, "chat", "a");
	ring_open(&r, f->db, DB);
	assert_non_null(r.map);
	assert_int_equal(ring_get(&r, 1, &f->copy), RING_OK);
	ring_close(&r);
}

static void test_never_written_ring_is_not_yet(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "a");
	int fd = open(f->file, O_RDWR);
	/* Clear the state record, as in a ring whose writer died before it. */
	struct ring_state zero;
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(pwrite(fd, &zero, sizeof(zero), RING_STATE_OFFSET),
	                 (ssize_t)sizeof(zero));
	close(fd);
	assert_int_equal(get(f, 1), RING_NOT_YET);
}

/* A reader open while a writer publishes sees every message, in place. */
static void test_reader_mapping_sees_later_writes(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "a");
	struct ring r;
	ring_open(&r, f->db, DB);
	assert_non_null(r.map);
	for (long long id = 2; id < 2 + 3 * RING_SLOTS; id++) {
		char data[32];
		snprintf(data, sizeof(data), "m%lld", id);
		put(f, id, id % 3 ? "chat" : "other", data);
		assert_int_equal(ring_get(&r, id, &f->copy), RING_OK);
		assert_data(f, data);
		assert_int_equal(ring_get(&r, id + 1, &f->copy), RING_NOT_YET);
	}
	ring_close(&r);
}

/* A writer whose lock is held elsewhere gives up copying, never hangs. */
static void test_writer_does_not_wait_for_a_stuck_lock(void **state)
{
	struct fixture *f = *state;
	put(f, 1, "chat", "a");
	int holder = open(f->file, O_RDWR);
	assert_int_equal(flock(holder, LOCK_EX), 0);   /* a stopped writer */
	long long t0 = tu_now_ms();
	put(f, 2, "chat", "b");
	long long took = tu_now_ms() - t0;
	close(holder);
	assert_true(took < 1000);
	/* Not copied, and no later id: streams ask SQLite when woken empty. */
	assert_int_equal(get(f, 2), RING_NOT_YET);
	put(f, 3, "chat", "c");
	assert_int_equal(get(f, 2), RING_ASK_STORE);
}

/* The data a stress writer gives message id: long, and unique to the id. */
static size_t stress_data(long long id, char *buf, size_t room)
{
	size_t len = 200 + (size_t)(id * 37 % 3000);
	if (len > room)
		len = room;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (id + (long long)i) % 26);
	return len;
}

/*
 * Two writer processes copy ids (odd, even) while this process reads as a
 * stream would: every RING_OK must be exactly the message of that id.
 * Torn copies must show up as RING_ASK_STORE, never as wrong data.
 */
static void test_concurrent_writers_never_give_a_wrong_message(void **state)
{
	struct fixture *f = *state;
	enum { MESSAGES = 6000 };
	put(f, 1, "chat", "start");
	pid_t writers[2];
	for (int w = 0; w < 2; w++) {
		writers[w] = fork();
		assert_true(writers[w] >= 0);
		if (writers[w] == 0) {
			static char buf[RING_DATA_MAX];
			for (long long id = 2 + w; id < MESSAGES; id += 2) {
				size_t len = stress_data(id, buf, sizeof(buf));
				ring_publish(f->db, DB, id, "chat", "message", buf, len);
			}
			_exit(0);
		}
	}
	struct ring r;
	ring_open(&r, f->db, DB);
	assert_non_null(r.map);
	static char want[RING_DATA_MAX];
	long long ok = 0, unsure = 0, next = 2;
	long long deadline = tu_now_ms() + 30000;
	while (next < MESSAGES && tu_now_ms() < deadline) {
		enum ring_result res = ring_get(&r, next, &f->copy);
		if (res == RING_OK) {
			size_t len = stress_data(next, want, sizeof(want));
			assert_int_equal(f->copy.slot.id, next);
			assert_int_equal(f->copy.slot.len, len);
			assert_memory_equal(f->copy.slot.data, want, len);
			ok++;
			next++;
		} else if (res == RING_ASK_STORE) {
			unsure++;   /* a stream would read SQLite here */
			next++;
		}
		assert_int_not_equal(res, RING_REPLACED);
	}
	ring_close(&r);
	for (int w = 0; w < 2; w++) {
		int status;
		assert_int_equal(waitpid(writers[w], &status, 0), writers[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	print_message("ring stress: %lld taken from the ring, %lld sent to SQLite\n",
	              ok, unsure);
	assert_int_equal(next, MESSAGES);
	assert_true(ok > 0);
}

/* IN_CLOSE_WRITE events waiting on a stream's watch (read without blocking). */
static int close_write_events(const struct watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(w->fd, buf, sizeof(buf));
	int count = 0;
	for (ssize_t off = 0; off < n;) {
		const struct inotify_event *e = (const void *)(buf + off);
		count += (e->mask & IN_CLOSE_WRITE) != 0;
		off += (ssize_t)sizeof(*e) + e->len;
	}
	return count;
}

/*
 * One wake per message (src/feed/watch.h), for streams that wait with
 * inotify: a writer writes the slot and then the state record, and streams
 * wake on its close, once, after both (woken by each write, a stream that
 * had taken the message on the first woke again and asked SQLite for
 * nothing).  The streams' own opens wake nobody.
 */
static void test_one_inotify_wake_per_publish(void **state)
{
	struct fixture *f = *state;
	if (!SSE_HAVE_INOTIFY)
		skip();   /* no watch to wake: see test_portability */
	put(f, 1, "chat", "first");   /* the file exists and is a ring */
	struct watch w;
	watch_open_only(&w, f->db, WATCH_INOTIFY);
	assert_true(w.fd >= 0);
	assert_int_equal(w.way, WATCH_INOTIFY);
	assert_int_equal(close_write_events(&w), 0);
	put(f, 2, "chat", "second");
	assert_int_equal(close_write_events(&w), 1);
	ring_wake(f->db);
	assert_int_equal(close_write_events(&w), 1);
	struct ring r;
	ring_open(&r, f->db, DB);   /* a stream's read-only open */
	assert_int_equal(ring_get(&r, 2, &f->copy), RING_OK);
	ring_close(&r);
	struct watch other;
	watch_open(&other, f->db);
	watch_close(&other);
	assert_int_equal(close_write_events(&w), 0);
	watch_close(&w);
}

/*
 * Waits (5 s at most) until every other thread of this process sleeps:
 * the futex wake's thread in FUTEX_WAIT, where a publish wakes it once.
 * (One that has not gone back to sleep yet sees the word move, wakes,
 * and then also gets the writer's FUTEX_WAKE: two wakes for one post.)
 */
static void wake_thread_asleep(void)
{
	for (long long until = tu_now_ms() + 5000; tu_now_ms() < until;) {
		bool awake = false;
		DIR *d = opendir("/proc/self/task");
		assert_non_null(d);
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.' || atoi(e->d_name) == gettid())
				continue;
			char path[64], stat[512] = "";
			snprintf(path, sizeof(path), "/proc/self/task/%.16s/stat", e->d_name);
			FILE *in = fopen(path, "r");
			if (in != NULL) {
				if (fgets(stat, sizeof(stat), in) == NULL)
					stat[0] = '\0';
				fclose(in);
			}
			const char *end = strrchr(stat, ')');
			awake = awake || (end != NULL && end[1] == ' ' && end[2] != 'S');
		}
		closedir(d);
		if (!awake)
			return;
		usleep(1000);
	}
	fail_msg("the wake's thread did not go to sleep within 5 s");
}

/* The eventfd's count once it is readable (5 s at most), or 0. */
static uint64_t futex_wakes(const struct watch *w, int timeout_ms)
{
	struct pollfd p = { .fd = w->fd, .events = POLLIN };
	uint64_t n = 0;
	if (poll(&p, 1, timeout_ms) == 1 &&
	    read(w->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		n = 0;
	return n;
}

/*
 * The same for the futex wake (wake.h): one wake per publish, after the
 * slot and the state record, so the stream finds the message at once; a
 * ring_wake is one more.  Streams' own opens and other streams' watches
 * wake nobody.  (That nothing more comes is looked at for 100 ms: a late
 * extra wake would pass unseen, never fail the test.)
 */
static void test_one_futex_wake_per_publish(void **state)
{
	struct fixture *f = *state;
	if (!SSE_HAVE_FUTEX)
		skip();   /* built without: test_wake checks the fallback */
	put(f, 1, "chat", "first");
	struct watch w;
	watch_open_only(&w, f->db, WATCH_FUTEX);
	assert_int_equal(w.way, WATCH_FUTEX);
	assert_int_equal(futex_wakes(&w, 0), 0);
	wake_thread_asleep();
	put(f, 2, "chat", "second");
	assert_int_equal(futex_wakes(&w, 5000), 1);
	struct ring r;
	ring_open(&r, f->db, DB);
	assert_int_equal(ring_get(&r, 2, &f->copy), RING_OK);
	ring_close(&r);
	wake_thread_asleep();
	ring_wake(f->db);
	assert_int_equal(futex_wakes(&w, 5000), 1);
	struct watch other;
	watch_open_only(&other, f->db, WATCH_FUTEX);
	watch_close(&other);
	assert_int_equal(futex_wakes(&w, 100), 0);
	watch_close(&w);
}

/* A stream's futex wake makes the file a ring, so that it can wait on its
 * word before the first post; what readers see of that ring is "not yet". */
static void test_futex_wake_makes_the_ring(void **state)
{
	struct fixture *f = *state;
	if (!SSE_HAVE_FUTEX)
		skip();
	struct watch w;
	watch_open_only(&w, f->db, WATCH_FUTEX);
	assert_int_equal(w.way, WATCH_FUTEX);
	struct stat sb;
	assert_int_equal(stat(f->file, &sb), 0);
	assert_int_equal((size_t)sb.st_size, RING_FILE_SIZE);
	assert_int_equal(get(f, 1), RING_NOT_YET);
	wake_thread_asleep();
	put(f, 1, "chat", "a");
	assert_int_equal(futex_wakes(&w, 5000), 1);
	assert_int_equal(get(f, 1), RING_OK);
	watch_close(&w);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_no_file_means_ask_store),
		T(test_message_round_trip),
		T(test_answers_table),
		T(test_overwritten_slot_asks_store),
		T(test_older_writer_does_not_overwrite_newer),
		T(test_hole_before_a_later_id_asks_store),
		T(test_too_long_or_odd_names_ask_store),
		T(test_damaged_records_ask_store),
		T(test_other_database_means_replaced),
		T(test_old_notify_file_becomes_a_ring),
		T(test_never_written_ring_is_not_yet),
		T(test_reader_mapping_sees_later_writes),
		T(test_writer_does_not_wait_for_a_stuck_lock),
		T(test_concurrent_writers_never_give_a_wrong_message),
		T(test_one_inotify_wake_per_publish),
		T(test_one_futex_wake_per_publish),
		T(test_futex_wake_makes_the_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
