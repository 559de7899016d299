/*
 * store_write: the store's write transactions (a post, ssectl publish and
 * prune, the rate limit).  Each is one BEGIN IMMEDIATE ... COMMIT
 * (write_txn), so a failure leaves nothing half-stored; the statements are
 * kept per connection because a FastCGI post.fcgi answers many posts on
 * one, while a stream, which never writes, prepares none of them.
 */
#include "store.h"
#include "store_private.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

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
	*rc = i < STORE_KEPT_MAX ? store_prepare_kept(st, &stmt, sql)
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
		return store_fail(st, rc, what);
	rc = body(st, arg);
	if (rc == SQLITE_OK)
		rc = run(st, "COMMIT", "");
	if (rc != SQLITE_OK) {
		enum store_status s = store_fail(st, rc, what);
		if (!sqlite3_get_autocommit(st->db))
			store_exec(st, "ROLLBACK");
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
