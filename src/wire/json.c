/* json: see json.h for why SQLite reads the JSON, on its own connection. */
#include "json.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#define JSON_PATH_MAX 64   /* "$.name" for our short member names */

/*
 * Outside strings a backslash is invalid JSON (json_valid refuses it), so
 * no string tracking is needed: only escapes are skipped, so "\\u0000" (a
 * backslash, then text) is not mistaken for an escaped NUL.
 */
static bool has_escaped_nul(const char *body, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (body[i + 1] == 'u' && i + 5 < len &&
		    memcmp(body + i + 2, "0000", 4) == 0)
			return true;
		i++;  /* skip the escaped character */
	}
	return false;
}

/* Runs sql with the body as ?1 and text2 (if any) as ?2; the first row's
 * first column as an integer, -1 when the statement fails. */
static long long ask_int(sqlite3 *db, const char *sql, const char *body,
                         size_t len, const char *text2)
{
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(stmt, 1, body, (int)len, SQLITE_STATIC);
	if (text2 != NULL)
		sqlite3_bind_text(stmt, 2, text2, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	long long v = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0)
	            : rc == SQLITE_DONE ? 0 : -1;
	sqlite3_finalize(stmt);
	return v;
}

/* Copies one member when it is a string; its absence is not an error. */
static const char *read_member(sqlite3 *db, const char *body, size_t len,
                               struct json_member *m)
{
	char path[JSON_PATH_MAX];
	snprintf(path, sizeof(path), "$.%s", m->name);
	sqlite3_stmt *stmt;
	if (sqlite3_prepare_v2(db, "SELECT json_type(?1, ?2), json_extract(?1, ?2)",
	                       -1, &stmt, NULL) != SQLITE_OK)
		return "cannot read JSON now";
	sqlite3_bind_text(stmt, 1, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, path, -1, SQLITE_STATIC);
	const char *err = NULL;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		err = "cannot read JSON now";
	} else {
		const char *type = (const char *)sqlite3_column_text(stmt, 0);
		m->present = type != NULL;
		if (m->present && strcmp(type, "text") != 0)
			err = "fields must be JSON strings";
		else if (m->present)
			sb_append(m->value, sqlite3_column_blob(stmt, 1),
			          (size_t)sqlite3_column_bytes(stmt, 1));
	}
	sqlite3_finalize(stmt);
	return err;
}

/* The checks, in order, on an open in-memory connection. */
static const char *read_object(sqlite3 *db, const char *body, size_t len,
                               struct json_member *members, size_t n)
{
	/* json_type on invalid JSON is an error, so validity is asked first. */
	long long valid = ask_int(db, "SELECT json_valid(?1)", body, len, NULL);
	if (valid < 0)
		return "cannot read JSON now";
	if (valid == 0)
		return "body is not valid JSON";
	if (has_escaped_nul(body, len))
		return "fields must not contain control characters (\\u0000)";
	if (ask_int(db, "SELECT json_type(?1) = 'object'", body, len, NULL) != 1)
		return "body must be a JSON object";
	for (size_t i = 0; i < n; i++) {
		long long count = ask_int(db, "SELECT count(*) FROM json_each(?1)"
		                          " WHERE key = ?2", body, len, members[i].name);
		if (count < 0)
			return "cannot read JSON now";
		if (count > 1)
			return "a field is given twice";
	}
	for (size_t i = 0; i < n; i++) {
		const char *err = read_member(db, body, len, &members[i]);
		if (err != NULL)
			return err;
	}
	return NULL;
}

const char *json_read_strings(const char *body, size_t len,
                              struct json_member *members, size_t n)
{
	for (size_t i = 0; i < n; i++)
		members[i].present = false;
	/* JSON never allows a raw NUL; SQLite would stop reading at it. */
	if (memchr(body, '\0', len) != NULL)
		return "body is not valid JSON";
	sqlite3 *db = NULL;
	const char *err;
	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		err = "cannot read JSON now";
	else
		err = read_object(db, body, len, members, n);
	sqlite3_close(db);
	return err;
}
