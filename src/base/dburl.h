/*
 * dburl: the `database` setting read as a Redis server's address.
 *
 *   redis://HOST[:PORT][/DB]            TCP (HOST a name, an IPv4 address
 *                                       or [IPv6]; PORT 6379 by default)
 *   redis+unix:///path/redis.sock[?db=N]  a unix socket
 *
 * Anything else is a SQLite path (feed_is_redis says which).  The URL has
 * no user or password part on purpose: the password comes from
 * `redis_password_file`, so the URL can be logged and shown as it is.
 *
 * A parser of outside input (the configuration): it never logs, it says
 * why in words.
 */
#ifndef SSE_DBURL_H
#define SSE_DBURL_H

#include <stdbool.h>
#include <stddef.h>

#define DBURL_HOST_MAX 256
#define DBURL_PATH_MAX 108     /* sun_path's size on Linux */
#define DBURL_DEFAULT_PORT 6379
#define DBURL_DB_MAX 9999      /* Redis's databases are numbered from 0 */

struct dburl {
	bool unix_socket;
	char host[DBURL_HOST_MAX];   /* TCP: without the brackets of IPv6 */
	int port;
	char path[DBURL_PATH_MAX];   /* unix */
	int db;
};

/* The reason for a URL with a user or password in it: the URL is then
 * not repeated in any message, since it holds a secret. */
#define DBURL_NO_USERINFO "a user or password does not belong in the URL:" \
	" put the password in redis_password_file"

/* True when the setting names a Redis server (by its scheme). */
bool dburl_is_redis(const char *setting);

/* Parses url; false with the reason in *why when it is not one. */
bool dburl_parse(const char *url, struct dburl *out, const char **why);

#endif
