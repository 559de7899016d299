/*
 * publish.c on a real database and ring file: a message reaches the ring
 * (what streams read) only after its commit, exactly as stored, and a
 * write that failed or was refused leaves the ring as it was.
 */
#include "testutil.h"

#include <sqlite3.h>   /* a second connection: another program's lock */

#include "publish.h"
#include "ring.h"
#include "store.h"

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	struct store *st;
	struct ring ring;           /* a stream's view */
	union ring_copy copy;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	tu_tempdir(f->dir, sizeof(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/sse.db", f->dir);
	f->st = tu_store_open(f->path, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ring_close(&f->ring);
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* What the ring answers for id, as a stream of this database sees it. */
static enum ring_result ring_has(struct fixture *f, long long id)
{
	if (f->ring.map == NULL)
		ring_open(&f->ring, f->path, store_identity(f->st));
	assert_non_null(f->ring.map);   /* this filesystem keeps birth times */
	return ring_get(&f->ring, id, &f->copy);
}

/* The stored data of the newest message of a channel, from SQLite. */
static bool keep_last(void *ctx, long long id, const char *event,
                      const char *data, size_t len)
{
	(void)id, (void)event;
	snprintf(ctx, 512, "%.*s", (int)len, data);
	return true;
}

static void stored_data(struct fixture *f, const char *channel, char out[512])
{
	struct store_read_result res;
	out[0] = '\0';
	assert_int_equal(store_read(f->st, channel, -1, 1, keep_last, out, &res),
	                 STORE_OK);
}

static void test_event_reaches_ring_as_stored(void **state)
{
	struct fixture *f = *state;
	long long id;
	const char *data = "line one\nline two";
	assert_int_equal(publish_event(f->st, "news", "alert", data, strlen(data),
	                               100, &id), STORE_OK);
	assert_int_equal(ring_has(f, id), RING_OK);
	assert_int_equal(f->copy.slot.id, id);
	assert_string_equal(f->copy.slot.channel, "news");
	assert_string_equal(f->copy.slot.event, "alert");
	assert_int_equal(f->copy.slot.len, strlen(data));
	assert_memory_equal(f->copy.slot.data, data, strlen(data));
	assert_int_equal(ring_has(f, id + 1), RING_NOT_YET);
}

static void test_chat_reaches_ring_as_stored(void **state)
{
	struct fixture *f = *state;
	struct chat_post p = { "chat", "al\"ice", "hi\n<b>", "127.0.0.1", 0, 100, false };
	long long id;
	assert_int_equal(publish_chat(f->st, &p, &id), STORE_OK);
	char stored[512];
	stored_data(f, "chat", stored);
	assert_int_equal(ring_has(f, id), RING_OK);
	assert_string_equal(f->copy.slot.event, "message");
	assert_int_equal(f->copy.slot.len, strlen(stored));
	assert_memory_equal(f->copy.slot.data, stored, strlen(stored));
}

/* Refused or failed writes: nothing committed, so nothing in the ring. */
static void test_failed_writes_leave_ring_alone(void **state)
{
	struct fixture *f = *state;
	long long id, first;
	assert_int_equal(publish_event(f->st, "chat", "message", "x", 1, 100, &first),
	                 STORE_OK);

	struct chat_post p = { "chat", "a", "b", "127.0.0.1", 1, 100, false };
	assert_int_equal(publish_chat(f->st, &p, &id), STORE_OK);   /* 1 of 1 */
	assert_int_equal(publish_chat(f->st, &p, &id), STORE_RATE_LIMITED);
	assert_int_equal(ring_has(f, first + 2), RING_NOT_YET);

	sqlite3 *other;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	store_set_busy_timeout(f->st, 50);
	assert_int_equal(publish_event(f->st, "chat", "message", "y", 1, 100, &id),
	                 STORE_BUSY);
	p.addr = "127.0.0.2";
	assert_int_equal(publish_chat(f->st, &p, &id), STORE_BUSY);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(ring_has(f, first + 2), RING_NOT_YET);

	/* The next id the database issues is the next one the ring gets. */
	assert_int_equal(publish_event(f->st, "chat", "message", "z", 1, 100, &id),
	                 STORE_OK);
	assert_int_equal(id, first + 2);
	assert_int_equal(ring_has(f, id), RING_OK);
	assert_memory_equal(f->copy.slot.data, "z", 1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_event_reaches_ring_as_stored),
		T(test_chat_reaches_ring_as_stored),
		T(test_failed_writes_leave_ring_alone),
	};
	return cmocka_run_group_tests_name("publish", tests, NULL, NULL);
}
