/*
 * store: the connection, the schema and the reads a stream makes; the
 * writes are in store_write.c.  See store.h for the schema and the
 * transaction rules.
 */
#include "store.h"
#include "store_private.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "fnv.h"
#include "log.h"
#include "platform.h"

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
enum store_status store_fail(struct store *st, int rc, const char *what)
{
	bool own = st->db != NULL &&
	           (sqlite3_extended_errcode(st->db) & 0xff) == (rc & 0xff);
	snprintf(st->error, sizeof(st->error), "%s: %s", what,
	         own ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return status_of(rc);
}

int store_exec(struct store *st, const char *sql)
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
	return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc, "switching to WAL");
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
		return store_fail(st, rc, "reading schema version");
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
	rc = store_exec(st, "BEGIN IMMEDIATE");
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "creating schema");
	version = query_int(st, "PRAGMA user_version", &rc);
	if (rc == SQLITE_OK && version == 0)
		rc = store_exec(st, schema_sql);
	if (rc == SQLITE_OK)
		rc = store_exec(st, "COMMIT");
	if (rc != SQLITE_OK) {
		enum store_status s = store_fail(st, rc, "creating schema");
		store_exec(st, "ROLLBACK");
		return s;
	}
	return STORE_OK;
}

int store_prepare_kept(struct store *st, sqlite3_stmt **stmt, const char *sql)
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
		int rc = store_prepare_kept(st, list[i].stmt, list[i].sql);
		if (rc != SQLITE_OK)
			return store_fail(st, rc, "preparing statements");
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
		return store_fail(st, rc, "opening database");
	file_identity(st);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(st->db, 1);
	/*
	 * Durable at COMMIT, also in WAL mode, where the default is weaker: the
	 * promise behind a post's 201 (store.h), so without it, no store.
	 */
	rc = store_exec(st, "PRAGMA synchronous = FULL");
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "setting synchronous = FULL");
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
	rc = store_exec(st, "PRAGMA cache_size = " STORE_CACHE_PAGES_SQL);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "setting cache_size");
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
		return store_fail(st, rc, "reading statistics");
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
	                    : store_fail(st, rc, "reading statistics");
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
	return rc == SQLITE_OK ? STORE_OK : store_fail(st, rc, "data_version");
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
		return store_fail(st, rc, "reading messages");
	rc = read_locked(st, channel, after, history, fn, ctx, res);
	/*
	 * The COMMIT too: a read transaction left open would keep this
	 * connection on its snapshot for good (a stream that never sees
	 * another message) and keep every checkpoint from finishing.
	 */
	if (rc == SQLITE_OK)
		rc = step_once(st->commit);
	if (rc != SQLITE_OK) {
		enum store_status s = store_fail(st, rc, "reading messages");
		if (!sqlite3_get_autocommit(st->db))
			store_exec(st, "ROLLBACK");
		return s;
	}
	return STORE_OK;
}
