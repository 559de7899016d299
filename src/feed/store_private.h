/*
 * store_private: what the two halves of the store share, store.c (the
 * connection, the schema and the reads a stream makes) and store_write.c
 * (the transactions of post.fcgi and ssectl).  Nothing outside src/feed/
 * includes it; other modules see store.h's opaque struct.
 */
#ifndef SSE_STORE_PRIVATE_H
#define SSE_STORE_PRIVATE_H

#include <sys/types.h>

#include <sqlite3.h>

#include "store.h"

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

/* Records the failure for the log and maps it to a status. */
enum store_status store_fail(struct store *st, int rc, const char *what);
/* sqlite3_exec with no callback: BEGIN, ROLLBACK, a schema script. */
int store_exec(struct store *st, const char *sql);
/* A statement kept for the connection's life (SQLITE_PREPARE_PERSISTENT). */
int store_prepare_kept(struct store *st, sqlite3_stmt **stmt, const char *sql);

#endif
