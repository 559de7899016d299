/* origin: see origin.h. */
#include "origin.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* A host and an optional port, taken apart; host points into the text. */
struct authority {
	const char *host;
	size_t host_len;
	long port;                 /* 0: none given */
};

/* What an Origin (or the front of a Referer) says. */
struct origin_parts {
	bool https;
	struct authority at;
	long port;                 /* the one given, else the scheme's default */
};

static long default_port(bool https)
{
	return https ? ORIGIN_PORT_HTTPS : ORIGIN_PORT_HTTP;
}

/* 1 to ORIGIN_PORT_DIGITS digits, 1 to ORIGIN_PORT_MAX; 0 when not a port. */
static long parse_port(const char *s, size_t len)
{
	if (len == 0 || len > ORIGIN_PORT_DIGITS)
		return 0;
	long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v <= ORIGIN_PORT_MAX ? v : 0;
}

/* A name or IPv4 address: no '@', '/', ':' or space, so userinfo, paths
 * and junk after the host never pass for part of it. */
static bool name_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

static bool ipv6_char(unsigned char c)
{
	return isxdigit(c) || c == ':' || c == '.';
}

/* The length of the host at the start of s ("[v6]" or a name); 0 if none. */
static size_t host_length(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL || close == s + 1)
			return 0;
		for (const char *p = s + 1; p < close; p++)
			if (!ipv6_char((unsigned char)*p))
				return 0;
		return (size_t)(close - s) + 1;
	}
	size_t n = 0;
	while (n < len && name_char((unsigned char)s[n]))
		n++;
	return n;
}

/* host[:port] and nothing else (a Host header, an origin's authority). */
static bool parse_authority(const char *s, size_t len, struct authority *a)
{
	size_t n = host_length(s, len);
	if (n == 0)
		return false;
	*a = (struct authority){ .host = s, .host_len = n, .port = 0 };
	if (n == len)
		return true;
	if (s[n] != ':')
		return false;
	a->port = parse_port(s + n + 1, len - n - 1);
	return a->port != 0;
}

/* http(s)://host[:port], the scheme in any case; false for anything else. */
static bool parse_origin(const char *s, size_t len, struct origin_parts *o)
{
	static const char http[] = "http://", https[] = "https://";
	size_t skip;
	if (len >= sizeof(http) - 1 && strncasecmp(s, http, sizeof(http) - 1) == 0)
		skip = sizeof(http) - 1, o->https = false;
	else if (len >= sizeof(https) - 1 && strncasecmp(s, https, sizeof(https) - 1) == 0)
		skip = sizeof(https) - 1, o->https = true;
	else
		return false;
	if (!parse_authority(s + skip, len - skip, &o->at))
		return false;
	o->port = o->at.port != 0 ? o->at.port : default_port(o->https);
	return true;
}

static bool same_host(const struct authority *a, const struct authority *b)
{
	return a->host_len == b->host_len &&
	       strncasecmp(a->host, b->host, a->host_len) == 0;
}

/* HTTPS=on (or 1), else REQUEST_SCHEME=https: the server answered on TLS. */
static bool site_https(const struct site_vars *site)
{
	if (site->https != NULL &&
	    (strcasecmp(site->https, "on") == 0 || strcmp(site->https, "1") == 0))
		return true;
	return site->scheme != NULL && strcasecmp(site->scheme, "https") == 0;
}

/* The port the request arrived on when the Host header names none:
 * SERVER_PORT, else the default of the scheme the server says. */
static long site_port(const struct site_vars *site)
{
	long port = site->server_port != NULL
	            ? parse_port(site->server_port, strlen(site->server_port)) : 0;
	return port != 0 ? port : default_port(site_https(site));
}

bool origin_is_site(const char *origin, size_t len, const struct site_vars *site)
{
	struct origin_parts o;
	struct authority host;
	if (site->host == NULL || !parse_origin(origin, len, &o) ||
	    !parse_authority(site->host, strlen(site->host), &host) ||
	    !same_host(&o.at, &host))
		return false;
	if (host.port != 0)
		return o.port == host.port;
	/* No port in Host: the browser sent none (a default port, perhaps
	 * behind a proxy that ended TLS), or the front dropped it (nginx's
	 * $host), and then the server's own port is the one. */
	return o.port == default_port(o.https) || o.port == site_port(site);
}

bool origin_list_next(const char **cursor, const char **word, size_t *len)
{
	const char *p = *cursor;
	while (*p == ' ' || *p == '\t')
		p++;
	*word = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*len = (size_t)(p - *word);
	*cursor = p;
	return *len > 0;
}

/* One of allowed_origins, compared as an origin (so ":443" after https
 * is the same as no port), scheme included. */
static bool origin_listed(const char *origin, size_t len, const char *allowed)
{
	struct origin_parts o, w;
	if (!parse_origin(origin, len, &o))
		return false;
	const char *cursor = allowed != NULL ? allowed : "", *word;
	size_t wlen;
	while (origin_list_next(&cursor, &word, &wlen))
		if (parse_origin(word, wlen, &w) && w.https == o.https &&
		    w.port == o.port && same_host(&w.at, &o.at))
			return true;
	return false;
}

bool origin_allowed(const char *origin, const char *sec_fetch_site,
                    const struct site_vars *site, const char *allowed)
{
	if (origin == NULL) {
		return sec_fetch_site == NULL ||
		       strcmp(sec_fetch_site, "same-origin") == 0 ||
		       strcmp(sec_fetch_site, "none") == 0;
	}
	size_t len = strlen(origin);
	return origin_is_site(origin, len, site) || origin_listed(origin, len, allowed);
}

const char *referer_path(const char *referer, const struct site_vars *site)
{
	if (referer == NULL)
		return "/";
	size_t len = strnlen(referer, REFERER_MAX + 1);
	if (len > REFERER_MAX)
		return "/";
	/* It goes into a Location header: no space, control byte or DEL. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)referer[i] <= ' ' || (unsigned char)referer[i] == 0x7f)
			return "/";
	const char *sep = strstr(referer, "://");
	if (sep == NULL)
		return "/";
	const char *path = strchr(sep + 3, '/');
	size_t front = path != NULL ? (size_t)(path - referer) : len;
	if (!origin_is_site(referer, front, site))
		return "/";
	/* "//host/x" or "/\\host/x" in a Location header is another site's
	 * address (browsers read a backslash as a slash). */
	if (path == NULL || path[1] == '/' || path[1] == '\\')
		return "/";
	return path;
}
