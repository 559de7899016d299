/* dburl: see dburl.h. */
#include "dburl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "digits.h"

#define TCP_SCHEME "redis://"
#define UNIX_SCHEME "redis+unix://"

/* A whole number from min to max, digits only. */
static bool number_in(const char *s, size_t len, long min, long max, int *out)
{
	char buf[16];
	long long v;
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!parse_digits(buf, &v) || v < min || v > max)
		return false;
	*out = (int)v;
	return true;
}

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* HOST[:PORT][/DB] after the scheme. */
static bool parse_tcp(const char *s, struct dburl *u, const char **why)
{
	const char *end;
	size_t hl;
	if (strchr(s, '@') != NULL)
		return *why = DBURL_NO_USERINFO, false;
	if (*s == '[') {   /* [IPv6] */
		end = strchr(s, ']');
		if (end == NULL || end == s + 1)
			return *why = "an IPv6 address must be in [ ]", false;
		for (const char *p = s + 1; p < end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return *why = "an IPv6 address has hex digits, ':' and '.' only", false;
		hl = (size_t)(end - s - 1);
		s++;
		end++;
	} else {
		end = s;
		while (host_char(*end))
			end++;
		hl = (size_t)(end - s);
		if (hl == 0)
			return *why = "no host after redis://", false;
	}
	if (hl >= sizeof(u->host))
		return *why = "host name too long", false;
	memcpy(u->host, s, hl);
	u->host[hl] = '\0';
	u->port = DBURL_DEFAULT_PORT;
	if (*end == ':') {
		const char *p = ++end;
		while (isdigit((unsigned char)*end))
			end++;
		if (!number_in(p, (size_t)(end - p), 1, 65535, &u->port))
			return *why = "the port must be a number from 1 to 65535", false;
	}
	if (*end == '/' && end[1] != '\0') {
		const char *p = ++end;
		end += strlen(end);
		if (!number_in(p, (size_t)(end - p), 0, DBURL_DB_MAX, &u->db))
			return *why = "the database after / must be a number from 0 to 9999", false;
	} else if (*end == '/') {
		end++;
	}
	if (*end != '\0')
		return *why = "expected redis://HOST[:PORT][/DB] (a password goes in redis_password_file)", false;
	return true;
}

/* /path[?db=N] after the scheme. */
static bool parse_unix(const char *s, struct dburl *u, const char **why)
{
	if (*s != '/')
		return *why = "expected redis+unix:///absolute/path.sock[?db=N]", false;
	const char *q = strchr(s, '?');
	size_t pl = q != NULL ? (size_t)(q - s) : strlen(s);
	if (pl >= sizeof(u->path))
		return *why = "socket path too long", false;
	memcpy(u->path, s, pl);
	u->path[pl] = '\0';
	if (q == NULL)
		return true;
	if (strncmp(q, "?db=", 4) != 0 ||
	    !number_in(q + 4, strlen(q + 4), 0, DBURL_DB_MAX, &u->db))
		return *why = "after the socket path only ?db=N (0 to 9999) may follow", false;
	return true;
}

bool dburl_is_redis(const char *setting)
{
	return strncmp(setting, TCP_SCHEME, strlen(TCP_SCHEME)) == 0 ||
	       strncmp(setting, UNIX_SCHEME, strlen(UNIX_SCHEME)) == 0;
}

bool dburl_parse(const char *url, struct dburl *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (strncmp(url, TCP_SCHEME, strlen(TCP_SCHEME)) == 0)
		return parse_tcp(url + strlen(TCP_SCHEME), out, why);
	if (strncmp(url, UNIX_SCHEME, strlen(UNIX_SCHEME)) == 0) {
		out->unix_socket = true;
		return parse_unix(url + strlen(UNIX_SCHEME), out, why);
	}
	*why = "not a redis:// or redis+unix:// URL";
	return false;
}
