/* The store on a real temporary SQLite file. */
#include "testutil.h"

#include <sqlite3.h>   /* a second connection: another program */

#include "platform.h"
#include "sidecar.h"
#include "slots.h"
#include "store.h"

struct fixture {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16];
	struct store *st;
};

/* The status of a store_open that must fail, with a reason (that contains
 * want, unless NULL). */
static enum store_status open_fails(const char *path, bool create,
                                    const char *want)
{
	struct store *st;
	char error[STORE_ERROR_MAX] = "";
	enum store_status s = store_open(path, create, &st, error, sizeof(error));
	assert_null(st);
	assert_true(strlen(error) > 0);
	if (want != NULL && strstr(error, want) == NULL)
		fail_msg("store_open %s: [%s] lacks [%s]", path, error, want);
	return s;
}

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
	store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Collects the ids a read hands over. */
struct collected {
	long long ids[1024];
	size_t n;
	char last_data[512];
};

static bool collect(void *ctx, long long id, const char *event,
                    const char *data, size_t len)
{
	struct collected *c = ctx;
	(void)event;
	if (c->n < ARRAY_LEN(c->ids))
		c->ids[c->n++] = id;
	snprintf(c->last_data, sizeof(c->last_data), "%.*s", (int)len, data);
	return true;
}

static long long publish(struct store *st, const char *channel, const char *data,
                         long retention)
{
	long long id = 0;
	assert_int_equal(store_publish(st, channel, "message", data, strlen(data),
	                               retention, &id), STORE_OK);
	return id;
}

static void read_ok(struct store *st, const char *channel, long long after,
                    long history, struct collected *c,
                    struct store_read_result *res)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_read(st, channel, after, history, collect, c, res),
	                 STORE_OK);
}

static void test_ids_increase_and_read_after(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	long long a = publish(f->st, "chat", "one", 1000);
	long long b = publish(f->st, "other", "two", 1000);
	long long d = publish(f->st, "chat", "three", 1000);
	assert_true(a < b && b < d);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], a);
	assert_int_equal(c.ids[1], d);
	assert_int_equal(res.next_after, d);
	read_ok(f->st, "chat", a, 50, &c, &res);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], d);
	read_ok(f->st, "chat", d, 50, &c, &res);
	assert_int_equal(c.n, 0);
	assert_int_equal(res.next_after, d);
}

static void test_newcomer_gets_newest_history(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	for (int i = 0; i < 10; i++)
		publish(f->st, "chat", "m", 1000);
	long long other = publish(f->st, "other", "x", 1000);
	read_ok(f->st, "chat", -1, 3, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[0], 8);
	assert_int_equal(c.ids[2], 10);
	/* The next read continues after everything issued, other channels too. */
	assert_int_equal(res.next_after, other);
	read_ok(f->st, "chat", -1, 0, &c, &res);
	assert_int_equal(c.n, 0);
	assert_int_equal(res.next_after, other);
}

static void test_batches(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	for (int i = 0; i < STORE_READ_BATCH + 5; i++)
		publish(f->st, "chat", "m", 100000);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(c.n, STORE_READ_BATCH);
	assert_true(res.more);
	assert_int_equal(res.next_after, STORE_READ_BATCH);
	read_ok(f->st, "chat", res.next_after, 50, &c, &res);
	assert_int_equal(c.n, 5);
	assert_false(res.more);
}

static void test_retention_and_gap(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	for (int i = 1; i <= 10; i++)
		publish(f->st, "chat", "m", 5);     /* keeps 6..10 */
	long long other = publish(f->st, "other", "x", 5);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_GAP);
	assert_int_equal(res.oldest, 6);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.ids[0], 6);
	assert_int_equal(res.reset_id, 5);
	/* History caps what follows the reset. */
	read_ok(f->st, "chat", 3, 2, &c, &res);
	assert_int_equal(res.resume, RESUME_GAP);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 9);
	assert_int_equal(res.reset_id, 8);
	/* Resuming from the reset id is clean. */
	read_ok(f->st, "chat", 8, 2, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
	assert_int_equal(c.n, 2);
	/* From exactly the last pruned id nothing is missing. */
	read_ok(f->st, "chat", 5, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
	assert_int_equal(c.n, 5);
	/* Another channel's pruning is no gap here. */
	read_ok(f->st, "other", 0, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
	assert_int_equal(c.ids[0], other);
}

static void test_unknown_id(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	read_ok(f->st, "chat", 5, 50, &c, &res);      /* nothing issued yet */
	assert_int_equal(res.resume, RESUME_UNKNOWN_ID);
	assert_int_equal(c.n, 0);
	assert_int_equal(res.reset_id, 0);
	long long a = publish(f->st, "chat", "m", 10);
	read_ok(f->st, "chat", a + 1, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_UNKNOWN_ID);
	assert_int_equal(c.n, 1);
	assert_int_equal(res.reset_id, a - 1);
	read_ok(f->st, "chat", a, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_OK);
}

static void test_chat_post_json_and_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct store_read_result res;
	struct chat_post p = { "chat", "al\"ice", "hi\n<b>", "127.0.0.1", 2, 1000, false };
	long long id;
	struct strbuf data = STRBUF_INIT;
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_string_equal(sb_str(&data), c.last_data);   /* what streams get */
	char want[256];
	snprintf(want, sizeof(want),
	         "{\"id\":%lld,\"channel\":\"chat\",\"user\":\"al\\\"ice\",\"text\":\"hi\\n<b>\",\"time\":\"",
	         id);
	assert_memory_equal(c.last_data, want, strlen(want));
	assert_int_equal(strlen(c.last_data), strlen(want) + strlen("2026-11-22T10:00:00Z\"}"));
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_RATE_LIMITED);
	p.addr = "127.0.0.2";
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(c.n, 3);     /* the limited post stored nothing */
	p.rate_limit = 0;
	p.addr = "127.0.0.1";
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	/* A name from a token: "signed":true after the other members, and
	 * the escapes and UTF-8 of the others as json_object wrote them. */
	p.user = "Zo\xc3\xab";
	p.text = "a\n\"b\"\t\xe2\x9c\x93";
	p.signed_user = true;
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_string_equal(sb_str(&data), c.last_data);
	snprintf(want, sizeof(want), "{\"id\":%lld,\"channel\":\"chat\","
	         "\"user\":\"Zo\xc3\xab\",\"text\":\"a\\n\\\"b\\\"\\t\xe2\x9c\x93\",\"time\":\"", id);
	assert_memory_equal(c.last_data, want, strlen(want));
	assert_int_equal(strlen(c.last_data),
	                 strlen(want) + strlen("2026-11-22T10:00:00Z\",\"signed\":true}"));
	assert_non_null(strstr(c.last_data, "Z\",\"signed\":true}"));
	sb_free(&data);
}

/*
 * The write path keeps its prepared statements for the life of the
 * connection (a post.fcgi under FastCGI).  Kept, they must be reset after
 * each use: one left mid-step would hold a read snapshot, which shows as a
 * checkpoint that cannot finish.  And another program changing the schema
 * in between must not break them: SQLite prepares them again.
 */
static void test_kept_statements_outlive_a_schema_change(void **state)
{
	struct fixture *f = *state;
	struct chat_post p = { "chat", "a", "one", "127.0.0.1", 100, 10, false };
	struct strbuf data = STRBUF_INIT;
	long long id;
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	assert_int_equal(publish(f->st, "news", "x", 10), 2);
	p.rate_limit = 1;
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_RATE_LIMITED);
	p.rate_limit = 100;
	sqlite3 *other;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	sqlite3_stmt *ckpt;
	assert_int_equal(sqlite3_prepare_v2(other, "PRAGMA wal_checkpoint(TRUNCATE)", -1,
	                                    &ckpt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(ckpt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(ckpt, 0), 0);   /* not busy: no reader left */
	sqlite3_finalize(ckpt);
	assert_int_equal(sqlite3_exec(other, "CREATE INDEX by_created ON messages(created);"
	                              " CREATE TABLE unrelated(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	p.text = "two";
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_OK);
	assert_int_equal(id, 3);
	assert_non_null(strstr(sb_str(&data), "\"text\":\"two\""));
	assert_int_equal(publish(f->st, "news", "y", 10), 4);
	struct collected c;
	struct store_read_result res;
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(c.n, 2);
	sb_free(&data);
}

static void test_busy_is_reported_and_nothing_stored(void **state)
{
	struct fixture *f = *state;
	sqlite3 *other;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	store_set_busy_timeout(f->st, 50);
	long long id;
	assert_int_equal(store_publish(f->st, "chat", "message", "x", 1, 10, &id),
	                 STORE_BUSY);
	struct chat_post p = { "chat", "a", "b", "127.0.0.1", 5, 10, false };
	struct strbuf data = STRBUF_INIT;
	assert_int_equal(store_post_chat(f->st, &p, &id, &data), STORE_BUSY);
	sb_free(&data);
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	struct collected c;
	struct store_read_result res;
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(c.n, 0);
	assert_int_equal(store_publish(f->st, "chat", "message", "x", 1, 10, &id), STORE_OK);
}

static void test_data_version_and_file_identity(void **state)
{
	struct fixture *f = *state;
	long long v1, v2, v3;
	assert_int_equal(store_data_version(f->st, &v1), STORE_OK);
	publish(f->st, "chat", "own write", 10);
	assert_int_equal(store_data_version(f->st, &v2), STORE_OK);
	assert_true(v1 == v2);   /* its own commits do not count */
	struct store *other = tu_store_open(f->path, false);
	publish(other, "chat", "someone else", 10);
	store_close(other);
	assert_int_equal(store_data_version(f->st, &v3), STORE_OK);
	assert_true(v3 != v2);

	assert_true(store_same_file(f->st));
	char moved[PATH_MAX + 32];
	snprintf(moved, sizeof(moved), "%s.old", f->path);
	assert_int_equal(rename(f->path, moved), 0);
	assert_false(store_same_file(f->st));
	store_close(tu_store_open(f->path, true));
	assert_false(store_same_file(f->st));
}

/*
 * ext4 gives a freed inode number to the next new file at once: a database
 * deleted and created again must still get another identity (the ring's
 * name for it), or its streams would be served the old file's messages.
 */
static void test_recreated_database_gets_a_new_identity(void **state)
{
	struct fixture *f = *state;
	if (!SSE_HAVE_STATX)
		skip();   /* no birth times, no identity: see test_portability */
	uint64_t first = store_identity(f->st);
	assert_true(first != 0);   /* this filesystem keeps birth times */
	struct stat sb;
	assert_int_equal(stat(f->path, &sb), 0);
	ino_t first_ino = sb.st_ino;
	int reused = 0;
	for (int round = 0; round < 5; round++) {
		store_close(f->st);
		tu_sh("rm -f '%s' '%s-wal' '%s-shm'", f->path, f->path, f->path);
		f->st = tu_store_open(f->path, true);
		assert_true(store_identity(f->st) != first);
		assert_int_equal(stat(f->path, &sb), 0);
		reused += sb.st_ino == first_ino;
		first = store_identity(f->st);
		first_ino = sb.st_ino;
	}
	print_message("recreated 5 times, inode number reused %d times\n", reused);
}

static void test_open_failures(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/no/such/dir/x.db", f->dir);
	assert_int_equal(open_fails(path, true, NULL), STORE_UNAVAILABLE);
	snprintf(path, sizeof(path), "%s/missing.db", f->dir);
	assert_int_equal(open_fails(path, false, NULL), STORE_UNAVAILABLE);
	/* The first statement that reads the file, synchronous = FULL, is
	 * checked: the open fails there, saying which step and why. */
	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	tu_write_file(path, "this is not a database, but it is long enough to look like a header......");
	assert_int_equal(open_fails(path, true, "synchronous = FULL: file is not a database"),
	                 STORE_UNAVAILABLE);
}

/* A length SQLite's int cannot hold is refused, not cut to another one. */
static void test_publish_too_long(void **state)
{
	struct fixture *f = *state;
	long long id = -1;
	assert_int_equal(store_publish(f->st, "chat", "message", "short", (size_t)INT_MAX + 1,
	                               10, &id), STORE_ERROR);
	assert_non_null(strstr(store_error(f->st), "publishing: string or blob too big"));
	struct collected c;
	struct store_read_result res;
	read_ok(f->st, "chat", 0, 50, &c, &res);
	assert_int_equal(c.n, 0);
	assert_int_equal(publish(f->st, "chat", "then a good one", 10), 1);
}

static void test_prune_all(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 5; i++) {
		publish(f->st, "a", "m", 1000);
		publish(f->st, "b", "m", 1000);
	}
	long long deleted;
	assert_int_equal(store_prune_all(f->st, 2, &deleted), STORE_OK);
	assert_int_equal(deleted, 6);
	struct collected c;
	struct store_read_result res;
	read_ok(f->st, "a", -1, 50, &c, &res);
	assert_int_equal(c.n, 2);
	read_ok(f->st, "a", 1, 50, &c, &res);
	assert_int_equal(res.resume, RESUME_GAP);
}

/*
 * Channel names written by another program (the README allows the sqlite3
 * shell) can be anything SQLite holds: longer than any buffer, sharing a
 * long prefix, with a NUL inside, empty, even a blob.  Pruning must visit
 * each once.  A name cut short made the walk find the same channel again,
 * forever, inside BEGIN IMMEDIATE (so every post got 503), and the empty
 * name was never visited.
 */
struct odd_channel {
	const char *what;
	char fill;            /* the name: len bytes of fill, then tail */
	size_t len;
	const char *tail;
	size_t tail_len;
	bool blob;            /* stored as a blob, not text */
};

static const struct odd_channel odd_channels[] = {
	{ "plain", 'a', 1, "", 0, false },
	{ "empty", 0, 0, "", 0, false },
	{ "127 bytes", 'p', 127, "", 0, false },
	{ "127-byte prefix, then x", 'p', 127, "x", 1, false },
	{ "127-byte prefix, then y", 'p', 127, "y", 1, false },
	{ "128 bytes", 'q', 128, "", 0, false },
	{ "10000 bytes", 'r', 10000, "", 0, false },
	{ "a NUL inside", 's', 3, "\0t", 2, false },
	{ "the bytes before that NUL", 's', 3, "", 0, false },
	{ "UTF-8 and control bytes", 'u', 1, "\xc3\xbc\n\t\x7f", 5, false },
	{ "a blob", 'b', 200, "", 0, true },
};

#define ODD_ROWS 5               /* per channel, inserted round-robin */
#define ODD_KEEP 2
#define PRUNE_TIME_LIMIT_S 5     /* a walk that never ends fails, not hangs */

static void odd_name(const struct odd_channel *c, struct strbuf *name)
{
	sb_reset(name);
	for (size_t i = 0; i < c->len; i++)
		sb_putc(name, c->fill);
	sb_append(name, c->tail, c->tail_len);
}

/* Binds the channel's name as ?1 (the name is in `name`). */
static void bind_odd(sqlite3_stmt *stmt, const struct odd_channel *c,
                     const struct strbuf *name)
{
	int rc = c->blob ? sqlite3_bind_blob(stmt, 1, name->data, (int)name->len,
	                                     SQLITE_TRANSIENT)
	                 : sqlite3_bind_text(stmt, 1, name->len ? name->data : "",
	                                     (int)name->len, SQLITE_TRANSIENT);
	assert_int_equal(rc, SQLITE_OK);
}

/* The first column of the one row of sql with the channel bound (-1: none). */
static long long odd_query(sqlite3 *db, const char *sql,
                           const struct odd_channel *c,
                           const struct strbuf *name, int column)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	bind_odd(stmt, c, name);
	long long v = -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, column);
	sqlite3_finalize(stmt);
	return v;
}

static long long count_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	long long n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* Prunes in a child under alarm(); the count it deleted. */
static long long prune_in_child(const char *path, long keep)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(PRUNE_TIME_LIMIT_S);
		struct store *st;
		char error[256];
		long long deleted = -1;
		if (store_open(path, false, &st, error, sizeof(error)) != STORE_OK ||
		    store_prune_all(st, keep, &deleted) != STORE_OK)
			deleted = -1;
		_exit(write(pipefd[1], &deleted, sizeof(deleted)) == sizeof(deleted) ? 0 : 1);
	}
	close(pipefd[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("pruning was killed by signal %d (%d s limit): the walk "
		         "over the channels did not end", WTERMSIG(status),
		         PRUNE_TIME_LIMIT_S);
	long long deleted = -1;
	assert_int_equal(read(pipefd[0], &deleted, sizeof(deleted)), sizeof(deleted));
	close(pipefd[0]);
	return deleted;
}

static void test_prune_any_channel_name(void **state)
{
	struct fixture *f = *state;
	enum { N = ARRAY_LEN(odd_channels) };
	long long ids[N][ODD_ROWS];
	struct strbuf name = STRBUF_INIT;
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_stmt *ins;
	assert_int_equal(sqlite3_prepare_v2(db,
	        "INSERT INTO messages(channel, data, created) VALUES(?1, 'm', 0)",
	        -1, &ins, NULL), SQLITE_OK);
	for (int r = 0; r < ODD_ROWS; r++) {
		for (size_t c = 0; c < N; c++) {
			odd_name(&odd_channels[c], &name);
			bind_odd(ins, &odd_channels[c], &name);
			assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
			sqlite3_reset(ins);
			ids[c][r] = sqlite3_last_insert_rowid(db);
		}
	}
	sqlite3_finalize(ins);

	long long deleted = prune_in_child(f->path, ODD_KEEP);
	assert_int_equal(deleted, N * (ODD_ROWS - ODD_KEEP));
	for (size_t c = 0; c < N; c++) {
		const struct odd_channel *oc = &odd_channels[c];
		odd_name(oc, &name);
		long long kept = odd_query(db, "SELECT count(*) FROM messages"
		                           " WHERE channel = ?1", oc, &name, 0);
		long long oldest = odd_query(db, "SELECT min(id) FROM messages"
		                             " WHERE channel = ?1", oc, &name, 0);
		long long upto = odd_query(db, "SELECT pruned_upto FROM channels"
		                           " WHERE name = ?1", oc, &name, 0);
		if (kept != ODD_KEEP || oldest != ids[c][ODD_ROWS - ODD_KEEP] ||
		    upto != ids[c][ODD_ROWS - ODD_KEEP - 1])
			fail_msg("%s: %lld kept from id %lld, pruned_upto %lld; want %d"
			         " from %lld, pruned_upto %lld", oc->what, kept, oldest,
			         upto, ODD_KEEP, ids[c][ODD_ROWS - ODD_KEEP],
			         ids[c][ODD_ROWS - ODD_KEEP - 1]);
	}
	/* No channel recorded under a name cut short. */
	assert_int_equal(count_of(db, "SELECT count(*) FROM channels"), N);
	assert_int_equal(count_of(db, "SELECT count(*) FROM messages"), N * ODD_KEEP);
	sqlite3_close(db);
	sb_free(&name);
}

static void test_journal_is_wal(void **state)
{
	struct fixture *f = *state;
	char mode[16];
	store_journal_mode(f->st, mode, sizeof(mode));
	assert_string_equal(mode, "wal");
}

static void test_slots(void **state)
{
	struct fixture *f = *state;
	struct slot a, b, c;
	assert_int_equal(slot_acquire(f->path, 2, &a), SLOT_TAKEN);
	assert_int_equal(slot_acquire(f->path, 2, &b), SLOT_TAKEN);
	assert_int_equal(slot_acquire(f->path, 2, &c), SLOT_FULL);
	assert_int_equal(slots_in_use(f->path, 2), 2);
	slot_release(&a);
	assert_int_equal(slots_in_use(f->path, 2), 1);
	assert_int_equal(slot_acquire(f->path, 2, &c), SLOT_TAKEN);
	slot_release(&b);
	slot_release(&c);

	/* A process killed with SIGKILL gives its slot back. */
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct slot s;
		char ok = slot_acquire(f->path, 1, &s) == SLOT_TAKEN ? 'y' : 'n';
		if (write(ready[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char ok = 0;
	assert_int_equal(read(ready[0], &ok, 1), 1);
	assert_int_equal(ok, 'y');
	assert_int_equal(slot_acquire(f->path, 1, &a), SLOT_FULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(slot_acquire(f->path, 1, &a), SLOT_TAKEN);
	slot_release(&a);
	close(ready[0]);
	close(ready[1]);
}

/*
 * Several processes opening one fresh file at once (a hub starting while
 * the first post arrives): each must end with the schema in WAL, none with
 * "database is locked".  Two connections that each read before writing can
 * deadlock on the switch to WAL, which SQLite answers with SQLITE_BUSY at
 * once, without the busy handler; store_open must retry.  Started together
 * through a pipe, over many fresh files, since the race is narrow.
 */
static void test_fresh_file_opened_by_many_at_once(void **state)
{
	struct fixture *f = *state;
	enum { ROUNDS = 40, OPENERS = 4 };
	for (int r = 0; r < ROUNDS; r++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/fresh-%d.db", f->dir, r);
		int go[2];
		assert_int_equal(pipe(go), 0);
		pid_t pids[OPENERS];
		for (int i = 0; i < OPENERS; i++) {
			pids[i] = fork();
			assert_true(pids[i] >= 0);
			if (pids[i] == 0) {
				close(go[1]);
				char c;
				if (read(go[0], &c, 1) != 0)   /* EOF: the start */
					_exit(3);
				struct store *st;
				char error[STORE_ERROR_MAX] = "";
				if (store_open(path, true, &st, error, sizeof(error)) != STORE_OK) {
					fprintf(stderr, "opener %d: %s\n", i, error);
					_exit(1);
				}
				char mode[16];
				store_journal_mode(st, mode, sizeof(mode));
				store_close(st);
				_exit(strcmp(mode, "wal") == 0 ? 0 : 2);
			}
		}
		close(go[0]);
		close(go[1]);   /* all start */
		for (int i = 0; i < OPENERS; i++) {
			int status = -1;
			assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg("round %d, opener %d: status %d", r, i, status);
		}
	}
}

/*
 * A Redis database's files live in the shared /tmp under predictable names
 * (sidecar.h): one someone else made first is refused, as is a symlink;
 * ours (made by the open itself, or already there and private) is taken.
 */
static void test_redis_sidecars_must_be_ours(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *what;
		const char *prepare;   /* shell, on $P; NULL: nothing there */
		bool taken;
		bool as_root;          /* chown needs root (make test runs as root) */
	} cases[] = {
		{ "none yet: made by the open", NULL, true, false },
		{ "ours, 0600", "touch \"$P\" && chmod 600 \"$P\"", true, false },
		{ "ours, 0644", "touch \"$P\" && chmod 644 \"$P\"", true, false },
		{ "writable by the group", "touch \"$P\" && chmod 660 \"$P\"", false, false },
		{ "writable by anyone", "touch \"$P\" && chmod 666 \"$P\"", false, false },
		{ "another user's", "touch \"$P\" && chmod 600 \"$P\" && chown 65534 \"$P\"",
		  false, true },
		{ "a symlink to ours", "ln -s \"$T\" \"$P\"", false, false },
		{ "a folder", "mkdir \"$P\"", false, false },
	};
	char url[128], path[PATH_MAX], target[PATH_MAX + 16];
	snprintf(target, sizeof(target), "%s/target", f->dir);
	tu_write_file(target, "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].as_root && geteuid() != 0)
			continue;
		snprintf(url, sizeof(url), "redis://127.0.0.1:1/%d%ld", (int)i, (long)getpid());
		assert_true(sidecar_path(path, sizeof(path), url, SIDECAR_METRICS));
		if (cases[i].prepare != NULL)
			assert_int_equal(tu_sh("P='%s' T='%s'; %s", path, target,
			                       cases[i].prepare), 0);
		int fd = sidecar_open(url, SIDECAR_METRICS, O_RDWR | O_CREAT, 0600);
		if ((fd >= 0) != cases[i].taken)
			fail_msg("%s: open gave %d (%s)", cases[i].what, fd,
			         fd < 0 ? strerror(errno) : "taken");
		if (fd >= 0)
			close(fd);
		tu_sh("rm -rf '%s'", path);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_ids_increase_and_read_after),
		T(test_newcomer_gets_newest_history),
		T(test_batches),
		T(test_retention_and_gap),
		T(test_unknown_id),
		T(test_chat_post_json_and_rate_limit),
		T(test_kept_statements_outlive_a_schema_change),
		T(test_busy_is_reported_and_nothing_stored),
		T(test_data_version_and_file_identity),
		T(test_recreated_database_gets_a_new_identity),
		T(test_open_failures),
		T(test_publish_too_long),
		T(test_prune_all),
		T(test_prune_any_channel_name),
		T(test_journal_is_wal),
		T(test_fresh_file_opened_by_many_at_once),
		T(test_redis_sidecars_must_be_ours),
		T(test_slots),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
