/* store: see store.h for the schema and the transaction rules. */
#include "store.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "fnv.h"
#include "log.h"
#include "platform.h"

/* Write statements kept per connection; more than the write path has. */
#define STORE_KEPT_MAX 16

struct store {
	sqlite3 *db;
	char path[4096];
	dev_t dev;          /* identity of the file we opened, to notice when */
	ino_t ino;          /* it is deleted or replaced underneath us */
	uint64_t identity;  /* device, inode and birth time in one word, the
	                     * database's name in the ring (ring.h); 0 when
	                     * the filesystem keeps no birth time */
	sqlite3_stmt *data_version;
	sqlite3_stmt *max_id;
	sqlite3_stmt *pruned_upto;
	sqlite3_stmt *oldest;
	sqlite3_stmt *after;
	sqlite3_stmt *newest;
	sqlite3_stmt *begin;      /* a stream reads many times: no re-parsing */
	sqlite3_stmt *commit;
	/*
	 * The write path's statements, each prepared at its first use and kept
	 * (kept_stmt): a post.fcgi under FastCGI answers many posts on this
	 * one connection, and a stream, which never writes, prepares none.
	 */
	struct { const char *sql; sqlite3_stmt *stmt; } kept[STORE_KEPT_MAX];
	char error[STORE_ERROR_MAX];   /* the last failure, for the log */
};

#if SSE_HAVE_STATX
#include <sys/sysmacros.h>   /* makedev */
#endif

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  channel TEXT NOT NULL,"
	"  event TEXT NOT NULL DEFAULT 'message',"
	"  data TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS messages_by_channel ON messages(channel, id);"
	"CREATE TABLE IF NOT EXISTS channels ("
	"  name TEXT PRIMARY KEY,"
	"  pruned_upto INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS post_log ("
	"  addr TEXT NOT NULL,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS post_log_by_addr ON post_log(addr, at);"
	"PRAGMA user_version = 1;";

static enum store_status status_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_BUSY;
	case SQLITE_READONLY:
		return STORE_READONLY;
	case SQLITE_FULL:
		return STORE_FULL;
	case SQLITE_CANTOPEN:
	case SQLITE_NOTADB:
	case SQLITE_IOERR:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CORRUPT:
		return STORE_UNAVAILABLE;
	default:
		return STORE_ERROR;
	}
}

const char *store_status_text(enum store_status status)
{
	switch (status) {
	case STORE_OK: return "ok";
	case STORE_BUSY: return "database is locked";
	case STORE_READONLY: return "database is read-only";
	case STORE_FULL: return "disk is full";
	case STORE_UNAVAILABLE: return "database is unavailable";
	case STORE_RATE_LIMITED: return "too many posts";
	case STORE_ERROR: return "database error";
	}
	return "database error";
}

/*
 * Records the failure for the log and maps it to a status.  The
 * connection's message is the detailed one ("NOT NULL constraint failed:
 * ..."), but only when it is about rc: a code this file chose itself (a
 * length SQLite cannot take) has just its generic text.
 */
static enum store_status fail(struct store *st, int rc, const char *what)
{
	bool own = st->db != NULL &&
	           (sqlite3_extended_errcode(st->db) & 0xff) == (rc & 0xff);
	snprintf(st->error, sizeof(st->error), "%s: %s", what,
	         own ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return status_of(rc);
}

static int exec(struct store *st, const char *sql)
{
	return sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

static long long query_int(struct store *st, const char *sql, int *rc)
{
	sqlite3_stmt *stmt;
	long long v = 0;
	*rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (*rc != SQLITE_OK)
		return 0;
	*rc = sqlite3_step(stmt);
	if (*rc == SQLITE_ROW) {
		v = sqlite3_column_int64(stmt, 0);
		*rc = SQLITE_OK;
	} else if (*rc == SQLITE_DONE) {
		*rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return v;
}

/* Between two tries at WAL when a concurrent opener holds the lock. */
enum { STORE_WAL_RETRY_MS = 5 };

/*
 * One try at PRAGMA journal_mode=WAL: SQLITE_OK when the file is in WAL or
 * the filesystem answered another mode (logged, and we go on).
 */
static int try_wal(struct store *st)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	const char *now = rc == SQLITE_ROW
	                ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
	if (rc == SQLITE_ROW && (now == NULL || strcmp(now, "wal") != 0))
		log_msg("store", "%s: WAL is not available on this "
		        "filesystem; using the rollback journal", st->path);
	sqlite3_finalize(stmt);
	return rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/*
 * WAL is a property of the file; set it before the first write.  Any other
 * error fails this open, since the schema made after it would leave the
 * file in the rollback journal for good.
 *
 * Two processes opening a fresh file at once (a hub starting as the first
 * post arrives) can each hold a read lock while wanting the write lock:
 * SQLite breaks that deadlock by answering SQLITE_BUSY at once, without the
 * busy handler.  So a busy answer is retried here, for as long as the busy
 * handler would have waited; usually the other opener has switched the file
 * by then, which the next look sees.
 */
static enum store_status switch_to_wal(struct store *st)
{
	int rc = SQLITE_BUSY;
	for (int waited = 0; waited <= STORE_BUSY_TIMEOUT_MS;
	     waited += STORE_WAL_RETRY_MS) {
		char mode[16];
		store_journal_mode(st, mode, sizeof(mode));
		if (strcmp(mode, "wal") == 0)
			return STORE_OK;
		rc = try_wal(st);
		if ((rc & 0xff) != SQLITE_BUSY)
			break;
		sqlite3_sleep(STORE_WAL_RETRY_MS);
	}
	return rc == SQLITE_OK ? STORE_OK : fail(st, rc, "switching to WAL");
}

/*
 * Creates the schema once.  The version is checked again inside the write
 * transaction because two first requests may race to create it.
 */
static enum store_status ensure_schema(struct store *st, bool create)
{
	int rc;
	long long version = query_int(st, "PRAGMA user_version", &rc);
	if (rc != SQLITE_OK)
		return fail(st, rc, "reading schema version");
	if (version == STORE_SCHEMA_VERSION)
		return STORE_OK;
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(st->error, sizeof(st->error),
		         "schema version %lld is newer than this program (%d)",
		         version, STORE_SCHEMA_VERSION);
		return STORE_ERROR;
	}
	if (!create) {
		snprintf(st->error, sizeof(st->error), "database has no schema");
		return STORE_UNAVAILABLE;
	}
	enum store_status w = switch_to_wal(st);
	if (w != STORE_OK)
		return w;
	rc = exec(st, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return fail(st, rc, "creating schema");
	version = query_int(st, "PRAGMA user_version", &rc);
	if (rc == SQLITE_OK && version == 0)
		rc = exec(st, schema_sql);
	if (rc == SQLITE_OK)
		rc = exec(st, "COMMIT");
	if (rc != SQLITE_OK) {
		enum store_status s = fail(st, rc, "creating schema");
		exec(st, "ROLLBACK");
		return s;
	}
	return STORE_OK;
}

static int prepare(struct store *st, sqlite3_stmt **stmt, const char *sql)
{
	return sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	                          stmt, NULL);
}

static enum store_status prepare_reads(struct store *st)
{
	struct { sqlite3_stmt **stmt; const char *sql; } list[] = {
		{ &st->data_version, "PRAGMA data_version" },
		{ &st->max_id, "SELECT seq FROM sqlite_sequence WHERE name = 'messages'" },
		{ &st->pruned_upto, "SELECT pruned_upto FROM channels WHERE name = ?1" },
		{ &st->oldest, "SELECT min(id) FROM messages WHERE channel = ?1" },
		{ &st->after, "SELECT id, event, data FROM messages"
		              " WHERE channel = ?1 AND id > ?2 ORDER BY id LIMIT ?3" },
		{ &st->newest, "SELECT id, event, data FROM (SELECT id, event, data"
		               " FROM messages WHERE channel = ?1"
		               " ORDER BY id DESC LIMIT ?2) ORDER BY id" },
		{ &st->begin, "BEGIN" },
		{ &st->commit, "COMMIT" },
	};
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		int rc = prepare(st, list[i].stmt, list[i].sql);
		if (rc != SQLITE_OK)
			return fail(st, rc, "preparing statements");
	}
	return STORE_OK;
}

void store_process_init(void)
{
	/*
	 * Every listener is a process, so per-process memory is per-listener
	 * memory.  By default SQLite hands each connection a block of 20 page
	 * slots at its first transaction (about 87 KiB, all touched); a stream
	 * reads a few pages, so pages are allocated one by one instead, and the
	 * cache is capped at STORE_CACHE_PAGES.  Must run before any other
	 * SQLite call; a failure only means the defaults stay.
	 */
	sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
}

/*
 * Device and inode tell store_same_file whether the path still names our
 * file; they come from stat, as store_same_file's do, because statx may
 * be missing (ENOSYS before Linux 4.11) or refused (EPERM under some
 * seccomp profiles), and without them every look would see a replaced
 * database.  The ring needs more: ext4 hands a freed inode number to the
 * next new file at once, so a database deleted and created again often has
 * the old number; its birth time differs.  Only statx has birth times:
 * without one the identity stays 0, and there is no ring (ring.h).
 */
static void file_identity(struct store *st)
{
	struct stat sb;
	if (stat(st->path, &sb) != 0)
		return;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
#if SSE_HAVE_STATX
	struct statx sx;
	if (statx(AT_FDCWD, st->path, 0, STATX_INO | STATX_BTIME, &sx) != 0 ||
	    !(sx.stx_mask & STATX_BTIME))
		return;
	/* Replaced between the two calls: this birth time is another file's. */
	if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != sb.st_dev ||
	    sx.stx_ino != sb.st_ino)
		return;
	uint64_t words[] = { (uint64_t)st->dev, (uint64_t)st->ino,
	                     (uint64_t)sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec };
	uint64_t h = fnv1a64(words, sizeof(words));
	st->identity = h != 0 ? h : 1;   /* 0 means "no identity" */
#endif
}

/* The body of store_open, on a zeroed store. */
static enum store_status open_connection(struct store *st, bool create)
{
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "opening database");
	file_identity(st);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(st->db, 1);
	/*
	 * Durable at COMMIT, also in WAL mode, where the default is weaker: the
	 * promise behind a post's 201 (store.h), so without it, no store.
	 */
	rc = exec(st, "PRAGMA synchronous = FULL");
	if (rc != SQLITE_OK)
		return fail(st, rc, "setting synchronous = FULL");
	/*
	 * A post under CGI is often the only connection: on close SQLite would
	 * checkpoint, delete -wal and -shm, and the next post recreate them.
	 * Keeping them is safe (commits stay durable; checkpoints still run
	 * automatically as the WAL grows) and saves that work on every post.
	 * Not checked: refused, they cost only that work.
	 */
	int one = 1;
	sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	/* The memory cap of every stream process (store_process_init). */
	rc = exec(st, "PRAGMA cache_size = " STORE_CACHE_PAGES_SQL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "setting cache_size");
	enum store_status s = ensure_schema(st, create);
	return s == STORE_OK ? prepare_reads(st) : s;
}

enum store_status store_open(const char *path, bool create, struct store **out,
                             char *error, size_t errlen)
{
	*out = NULL;
	struct store *st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(error, errlen, "opening database: out of memory");
		return STORE_ERROR;
	}
	int n = snprintf(st->path, sizeof(st->path), "%s", path);
	enum store_status s;
	if (n < 0 || (size_t)n >= sizeof(st->path)) {
		snprintf(st->error, sizeof(st->error), "opening database: path too long");
		s = STORE_UNAVAILABLE;
	} else {
		s = open_connection(st, create);
	}
	if (s != STORE_OK) {
		snprintf(error, errlen, "%s", st->error);
		store_close(st);
		return s;
	}
	*out = st;
	return STORE_OK;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_stmt *stmts[] = { st->data_version, st->max_id, st->pruned_upto,
	                          st->oldest, st->after, st->newest,
	                          st->begin, st->commit };
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		sqlite3_finalize(stmts[i]);
	for (size_t i = 0; i < STORE_KEPT_MAX; i++)
		sqlite3_finalize(st->kept[i].stmt);
	/* NULL is a harmless no-op.  Busy only if a statement this file
	 * prepared was never finalized: a leak, and the file stays open. */
	int rc = sqlite3_close(st->db);
	assert(rc == SQLITE_OK);
	(void)rc;
	free(st);
}

const char *store_error(const struct store *st)
{
	return st->error;
}

const char *store_path(const struct store *st)
{
	return st->path;
}

uint64_t store_identity(const struct store *st)
{
	return st->identity;
}

void store_set_busy_timeout(struct store *st, int ms)
{
	sqlite3_busy_timeout(st->db, ms);
}

void store_journal_mode(struct store *st, char *out, size_t outlen)
{
	sqlite3_stmt *stmt;
	snprintf(out, outlen, "unknown");
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &stmt, NULL) != SQLITE_OK)
		return;
	const char *mode = sqlite3_step(stmt) == SQLITE_ROW
	                 ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
	if (mode != NULL)   /* NULL also when out of memory */
		snprintf(out, outlen, "%s", mode);
	sqlite3_finalize(stmt);
}

enum store_status store_stats(struct store *st, store_stats_fn fn, void *ctx)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(st->db,
	        "SELECT channel, count(*), min(id), max(id) FROM messages"
	        " GROUP BY channel ORDER BY channel", -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return fail(st, rc, "reading statistics");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct store_channel_stats c = {
			.channel = (const char *)sqlite3_column_text(stmt, 0),
			.messages = sqlite3_column_int64(stmt, 1),
			.oldest = sqlite3_column_int64(stmt, 2),
			.newest = sqlite3_column_int64(stmt, 3),
		};
		fn(ctx, &c);
	}
	enum store_status s = rc == SQLITE_DONE ? STORE_OK
	                    : fail(st, rc, "reading statistics");
	sqlite3_finalize(stmt);
	return s;
}

bool store_same_file(const struct store *st)
{
	struct stat sb;
	return stat(st->path, &sb) == 0 && sb.st_dev == st->dev &&
	       sb.st_ino == st->ino;
}

/* Steps a one-value statement; *out stays 0 when there is no row or NULL. */
static int step_int(sqlite3_stmt *stmt, long long *out)
{
	*out = 0;
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_reset(stmt);
	return rc;
}

/* Runs a prepared statement that returns no rows (BEGIN, COMMIT). */
static int step_once(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum store_status store_data_version(struct store *st, long long *version)
{
	int rc = step_int(st->data_version, version);
	return rc == SQLITE_OK ? STORE_OK : fail(st, rc, "data_version");
}

/*
 * Runs a bound row query, handing each row to fn.  Both queries order by
 * id, the INTEGER PRIMARY KEY (unique): the ids come strictly increasing,
 * each above `above`.
 */
static int each_row(sqlite3_stmt *stmt, long long above, store_row_fn fn,
                    void *ctx, struct store_read_result *res)
{
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(stmt, 0);
		assert(id > above);
		above = id;
		const char *event = (const char *)sqlite3_column_text(stmt, 1);
		const char *data = (const char *)sqlite3_column_text(stmt, 2);
		size_t len = (size_t)sqlite3_column_bytes(stmt, 2);
		res->rows++;
		if (res->rows == 1 && res->resume != RESUME_OK)
			res->reset_id = id - 1;
		res->next_after = id;
		if (!fn(ctx, id, event ? event : "message", data ? data : "", len))
			break;
	}
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The body of store_read, inside its transaction. */
static int read_locked(struct store *st, const char *channel, long long after,
                       long history, store_row_fn fn, void *ctx,
                       struct store_read_result *res)
{
	long long max_id, pruned;
	int rc = step_int(st->max_id, &max_id);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_bind_text(st->pruned_upto, 1, channel, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = step_int(st->pruned_upto, &pruned);
	sqlite3_clear_bindings(st->pruned_upto);
	if (rc != SQLITE_OK)
		return rc;
	if (after > max_id)
		res->resume = RESUME_UNKNOWN_ID;
	else if (after >= 0 && pruned > after)
		res->resume = RESUME_GAP;
	else
		res->resume = RESUME_OK;

	if (res->resume != RESUME_OK) {
		rc = sqlite3_bind_text(st->oldest, 1, channel, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = step_int(st->oldest, &res->oldest);
		sqlite3_clear_bindings(st->oldest);
		if (rc != SQLITE_OK)
			return rc;
		res->reset_id = max_id;
	}
	/* Past the rows of this snapshot, the next read starts at max_id. */
	res->next_after = max_id;
	sqlite3_stmt *stmt;
	long long above = LLONG_MIN;
	if (after < 0 || res->resume != RESUME_OK) {
		stmt = st->newest;
		rc = sqlite3_bind_text(stmt, 1, channel, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(stmt, 2, history);
	} else {
		stmt = st->after;
		above = after;   /* id > ?2 */
		rc = sqlite3_bind_text(stmt, 1, channel, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(stmt, 2, after);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(stmt, 3, STORE_READ_BATCH);
	}
	if (rc == SQLITE_OK)
		rc = each_row(stmt, above, fn, ctx, res);
	sqlite3_clear_bindings(stmt);
	/* The LIMITs: a batch at most, or the history at most. */
	assert(stmt != st->after || res->rows <= STORE_READ_BATCH);
	assert(stmt != st->newest || history < 0 || res->rows <= (size_t)history);
	if (stmt == st->after && res->rows == STORE_READ_BATCH)
		res->more = true;  /* next_after is the last row read */
	else
		res->next_after = max_id > res->next_after ? max_id : res->next_after;
	/* A resume that is not reset never goes back (after <= max_id). */
	assert(res->resume != RESUME_OK || after < 0 || res->next_after >= after);
	return rc;
}

enum store_status store_read(struct store *st, const char *channel,
                             long long after, long history,
                             store_row_fn fn, void *ctx,
                             struct store_read_result *res)
{
	memset(res, 0, sizeof(*res));
	int rc = step_once(st->begin);
	if (rc != SQLITE_OK)
		return fail(st, rc, "reading messages");
	rc = read_locked(st, channel, after, history, fn, ctx, res);
	/*
	 * The COMMIT too: a read transaction left open would keep this
	 * connection on its snapshot for good (a stream that never sees
	 * another message) and keep every checkpoint from finishing.
	 */
	if (rc == SQLITE_OK)
		rc = step_once(st->commit);
	if (rc != SQLITE_OK) {
		enum store_status s = fail(st, rc, "reading messages");
		if (!sqlite3_get_autocommit(st->db))
			exec(st, "ROLLBACK");
		return s;
	}
	return STORE_OK;
}

/*
 * The kept statement for sql, prepared at its first use.  The key is the
 * address of sql, so callers go through the macros below, which accept
 * string literals only: one call site is then always one entry.  The
 * compiler may merge equal literals of two call sites into one entry;
 * that is safe because every use steps its statement to the end and
 * resets it (kept_done) before the next use begins.  Past STORE_KEPT_MAX
 * entries the statement is prepared for this use only and finalized.
 */
static sqlite3_stmt *kept_stmt_at(struct store *st, const char *sql, int *rc)
{
	size_t i = 0;
	for (; i < STORE_KEPT_MAX && st->kept[i].sql != NULL; i++) {
		assert(st->kept[i].stmt != NULL);   /* kept only once prepared */
		if (st->kept[i].sql == sql)
			return st->kept[i].stmt;
	}
	/* The table fills from the front and never empties: past the first
	 * free entry there is none in use. */
	assert(i == STORE_KEPT_MAX || st->kept[i].stmt == NULL);
	sqlite3_stmt *stmt = NULL;
	*rc = i < STORE_KEPT_MAX ? prepare(st, &stmt, sql)
	                         : sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (*rc != SQLITE_OK)
		return NULL;
	if (i < STORE_KEPT_MAX) {
		st->kept[i].sql = sql;
		st->kept[i].stmt = stmt;
	}
	return stmt;
}

/* After a kept statement's last step: ready for its next use. */
static void kept_done(struct store *st, sqlite3_stmt *stmt)
{
	for (size_t i = 0; i < STORE_KEPT_MAX; i++) {
		if (st->kept[i].stmt == stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return;
		}
	}
	sqlite3_finalize(stmt);
}

/* "" sql: a compile error for anything but a string literal. */
#define kept_stmt(st, sql, rc) kept_stmt_at((st), "" sql, (rc))
#define run(st, sql, ...) run_sql((st), "" sql, __VA_ARGS__)
#define run_int(st, out, sql, ...) run_int_sql((st), (out), "" sql, __VA_ARGS__)

/*
 * fmt has one letter per parameter: 't' const char *, 'i' long long.
 * Keeps the write paths free of bind boilerplate.
 */
static int vrun(struct store *st, const char *sql, long long *first_col,
                const char *fmt, va_list ap)
{
	int rc = SQLITE_OK;
	sqlite3_stmt *stmt = kept_stmt_at(st, sql, &rc);
	if (stmt == NULL)
		return rc;
	/* The call sites: one letter per parameter of their SQL. */
	assert(strspn(fmt, "ti") == strlen(fmt));
	assert((int)strlen(fmt) == sqlite3_bind_parameter_count(stmt));
	/* A parameter left unbound is NULL: "addr = NULL" counts no posts. */
	for (int i = 0; fmt[i] && rc == SQLITE_OK; i++) {
		if (fmt[i] == 't')
			rc = sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1,
			                       SQLITE_STATIC);
		else
			rc = sqlite3_bind_int64(stmt, i + 1, va_arg(ap, long long));
	}
	if (first_col != NULL)
		*first_col = -1;
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			if (first_col != NULL && *first_col == -1)
				*first_col = sqlite3_column_int64(stmt, 0);
	kept_done(st, stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs one statement with text/int arguments, ignoring result rows. */
static int run_sql(struct store *st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vrun(st, sql, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/* Like run, returning the first column of the first row (-1 if none). */
static int run_int_sql(struct store *st, long long *out, const char *sql,
                       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vrun(st, sql, out, fmt, ap);
	va_end(ap);
	return rc;
}

/* Deletes all but the newest `keep` of a channel and records the gap. */
static int prune_channel(struct store *st, const char *channel, long keep,
                         long long *deleted)
{
	long long cut;
	int rc = run_int(st, &cut,
	                 "SELECT id FROM messages WHERE channel = ?1"
	                 " ORDER BY id DESC LIMIT 1 OFFSET ?2",
	                 "ti", channel, (long long)keep);
	if (rc != SQLITE_OK || cut < 0)
		return rc;
	rc = run(st, "DELETE FROM messages WHERE channel = ?1 AND id <= ?2",
	         "ti", channel, cut);
	if (rc == SQLITE_OK && deleted != NULL)
		*deleted += sqlite3_changes(st->db);
	if (rc == SQLITE_OK)
		rc = run(st, "INSERT INTO channels(name, pruned_upto) VALUES(?1, ?2)"
		         " ON CONFLICT(name) DO UPDATE"
		         " SET pruned_upto = max(pruned_upto, excluded.pruned_upto)",
		         "ti", channel, cut);
	return rc;
}

/* Runs body inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure. */
static enum store_status write_txn(struct store *st, const char *what,
                                   int (*body)(struct store *, void *),
                                   void *arg)
{
	int rc = run(st, "BEGIN IMMEDIATE", "");
	if (rc != SQLITE_OK)
		return fail(st, rc, what);
	rc = body(st, arg);
	if (rc == SQLITE_OK)
		rc = run(st, "COMMIT", "");
	if (rc != SQLITE_OK) {
		enum store_status s = fail(st, rc, what);
		if (!sqlite3_get_autocommit(st->db))
			exec(st, "ROLLBACK");
		return s;
	}
	return STORE_OK;
}

struct publish_args {
	const char *channel, *event, *data;
	size_t len;
	long retention;
	long long id;
};

static int publish_body(struct store *st, void *arg)
{
	struct publish_args *a = arg;
	/* Past INT_MAX, (int)len would be another length, or "up to a NUL". */
	if (a->len > INT_MAX)
		return SQLITE_TOOBIG;
	int rc = SQLITE_OK;
	sqlite3_stmt *stmt = kept_stmt(st,
	        "INSERT INTO messages(channel, event, data, created)"
	        " VALUES(?1, ?2, ?3, CAST(strftime('%s','now') AS INTEGER))", &rc);
	if (stmt == NULL)
		return rc;
	rc = sqlite3_bind_text(stmt, 1, a->channel, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, a->event, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, a->data, (int)a->len, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	kept_done(st, stmt);
	if (rc != SQLITE_DONE)
		return rc;
	a->id = sqlite3_last_insert_rowid(st->db);
	return prune_channel(st, a->channel, a->retention, NULL);
}

enum store_status store_publish(struct store *st, const char *channel,
                                const char *event, const char *data,
                                size_t len, long retention, long long *id)
{
	struct publish_args a = { channel, event, data, len, retention, 0 };
	enum store_status s = write_txn(st, "publishing", publish_body, &a);
	*id = a.id;
	return s;
}

struct chat_args {
	const struct chat_post *p;
	long long id;
	bool limited;
	struct strbuf *data;   /* the stored JSON, for the streams */
};

/* Builds the message's JSON in its row and keeps a copy of it. */
static int chat_data(struct store *st, struct chat_args *a)
{
	/* json_object escapes every string correctly; the id is the row's.
	 * A signed post gets "signed":true last (json_patch appends it). */
	int rc = SQLITE_OK;
	sqlite3_stmt *stmt = kept_stmt(st,
	        "UPDATE messages SET data = json_patch(json_object('id', id,"
	        " 'channel', channel, 'user', ?2, 'text', ?3,"
	        " 'time', strftime('%Y-%m-%dT%H:%M:%SZ', created, 'unixepoch')),"
	        " CASE WHEN ?4 THEN '{\"signed\":true}' ELSE '{}' END)"
	        " WHERE id = ?1 RETURNING data", &rc);
	if (stmt == NULL)
		return rc;
	rc = sqlite3_bind_int64(stmt, 1, a->id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 2, a->p->user, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(stmt, 3, a->p->text, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(stmt, 4, a->p->signed_user);
	sb_reset(a->data);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			sb_append(a->data, sqlite3_column_text(stmt, 0),
			          (size_t)sqlite3_column_bytes(stmt, 0));
	kept_done(st, stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int chat_body(struct store *st, void *arg)
{
	struct chat_args *a = arg;
	const struct chat_post *p = a->p;
	int rc;
	if (p->rate_limit > 0) {
		long long recent;
		rc = run(st, "DELETE FROM post_log WHERE at <= CAST(strftime('%s','now')"
		         " AS INTEGER) - ?1", "i", (long long)STORE_RATE_WINDOW_S);
		if (rc == SQLITE_OK)
			rc = run_int(st, &recent,
			             "SELECT count(*) FROM post_log WHERE addr = ?1", "t",
			             p->addr);
		if (rc != SQLITE_OK)
			return rc;
		if (recent >= p->rate_limit) {
			a->limited = true;
			return SQLITE_ABORT;  /* rolls back; reported as limited */
		}
		rc = run(st, "INSERT INTO post_log(addr, at) VALUES(?1,"
		         " CAST(strftime('%s','now') AS INTEGER))", "t", p->addr);
		if (rc != SQLITE_OK)
			return rc;
	}
	rc = run(st, "INSERT INTO messages(channel, event, data, created)"
	         " VALUES(?1, 'message', '', CAST(strftime('%s','now') AS INTEGER))",
	         "t", p->channel);
	if (rc != SQLITE_OK)
		return rc;
	a->id = sqlite3_last_insert_rowid(st->db);
	rc = chat_data(st, a);
	if (rc != SQLITE_OK)
		return rc;
	return prune_channel(st, p->channel, p->retention, NULL);
}

enum store_status store_post_chat(struct store *st, const struct chat_post *p,
                                  long long *id, struct strbuf *data)
{
	struct chat_args a = { p, 0, false, data };
	enum store_status s = write_txn(st, "storing a post", chat_body, &a);
	*id = a.id;
	return a.limited ? STORE_RATE_LIMITED : s;
}

struct prune_args {
	long keep;
	long long deleted;
};

/*
 * Each channel's cut: the id of its newest message beyond the `keep` (?1)
 * newest, NULL when it has no more than that.  The channels are walked in
 * SQL, one index seek from each to the next, so that no name passes
 * through C: another program (the sqlite3 shell, say) may have stored
 * names of any length and any bytes, even blobs, and a walk that copied
 * each name into a fixed buffer looped forever on one it had cut short.
 */
#define PRUNE_CUTS_SQL \
	"WITH RECURSIVE ch(name) AS (SELECT min(channel) FROM messages" \
	"  UNION ALL SELECT (SELECT min(channel) FROM messages" \
	"  WHERE channel > ch.name) FROM ch WHERE ch.name IS NOT NULL)," \
	" cut(channel, id) AS (SELECT name, (SELECT id FROM messages" \
	"  WHERE channel = ch.name ORDER BY id DESC LIMIT 1 OFFSET ?1)" \
	"  FROM ch WHERE name IS NOT NULL) "

/*
 * Records every channel's gap, then deletes up to each cut, as
 * prune_channel does for one.  The IN list is computed before the first
 * row goes, so nothing is deleted under an open cursor on the table.
 */
static int prune_body(struct store *st, void *arg)
{
	struct prune_args *a = arg;
	int rc = run(st, PRUNE_CUTS_SQL
	             "INSERT INTO channels(name, pruned_upto)"
	             " SELECT channel, id FROM cut WHERE id IS NOT NULL"
	             " ON CONFLICT(name) DO UPDATE"
	             " SET pruned_upto = max(pruned_upto, excluded.pruned_upto)",
	             "i", (long long)a->keep);
	if (rc == SQLITE_OK)
		rc = run(st, PRUNE_CUTS_SQL
		         "DELETE FROM messages WHERE id IN (SELECT m.id FROM cut"
		         " JOIN messages AS m ON m.channel = cut.channel"
		         " AND m.id <= cut.id)", "i", (long long)a->keep);
	if (rc == SQLITE_OK)
		a->deleted = sqlite3_changes(st->db);
	return rc;
}

enum store_status store_prune_all(struct store *st, long keep, long long *deleted)
{
	struct prune_args a = { keep, 0 };
	enum store_status s = write_txn(st, "pruning", prune_body, &a);
	*deleted = a.deleted;
	return s;
}
