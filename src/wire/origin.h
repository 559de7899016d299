/*
 * origin: whether a post comes from this site's own pages, and where a plain
 * form post is sent back to.  Pure functions of the request's CGI variables,
 * pinned by the table in tests/test_origin.c; the rules, and why, are in
 * docs/PROTOCOL.md ("Origin policy").
 *
 * The request's own origin is what the web server says of it, not the Host
 * header alone: Debian's nginx passes HTTP_HOST as $host, which has no port,
 * while a browser's Origin names the port of any site off 80 and 443.  So
 * the port comes from the Host header when it has one, else SERVER_PORT.
 * The scheme is not compared: a proxy that ends TLS in front of the server
 * makes the server see http for an https page, and nothing the server is
 * given says so but X-Forwarded-* headers, which any client can send and
 * which we therefore never trust.  One host and port cannot serve both
 * schemes, so host and port name the site.
 */
#ifndef SSE_ORIGIN_H
#define SSE_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>

#define ORIGIN_PORT_HTTP 80
#define ORIGIN_PORT_HTTPS 443
#define ORIGIN_PORT_MAX 65535
#define ORIGIN_PORT_DIGITS 5       /* "65535" */
#define REFERER_MAX 1023           /* a longer Referer is not followed back */

/* What the web server says about where a request arrived (NULL: unset). */
struct site_vars {
	const char *host;          /* HTTP_HOST: the Host header, or nginx's $host */
	const char *server_port;   /* SERVER_PORT */
	const char *https;         /* HTTPS: "on" (Apache, nginx, lighttpd) */
	const char *scheme;        /* REQUEST_SCHEME: "http" or "https" */
};

/*
 * The Origin rule for posts.  An Origin header passes when it names this
 * site (origin_is_site) or equals one of `allowed` (space-separated
 * origins, compared as origins: scheme, host, port).  "null", "" and
 * anything malformed fail.  With no Origin header (curl, old browsers) a
 * browser's Sec-Fetch-Site, when sent, must say same-origin or none.
 */
bool origin_allowed(const char *origin, const char *sec_fetch_site,
                    const struct site_vars *site, const char *allowed);

/*
 * True when `origin` (scheme://host[:port], no path) is this site: http or
 * https, the Host header's host (case-insensitively), and the request's
 * port: the Host header's port when it has one; else SERVER_PORT, or the
 * origin's default port (80, 443) since a browser sends no port for those.
 */
bool origin_is_site(const char *origin, size_t len, const struct site_vars *site);

/*
 * Where a plain form post is sent back to: the path (with query) of the
 * Referer when the Referer's origin is this site, else "/".  Never a value
 * with a control character, never longer than REFERER_MAX.
 */
const char *referer_path(const char *referer, const struct site_vars *site);

/*
 * Steps through a space-separated origin list (allowed_origins): true with
 * the next word, false at the end.  Shared by the check and the config.
 */
bool origin_list_next(const char **cursor, const char **word, size_t *len);

#endif
