/*
 * The origin rule for posts and the 303 target (src/wire/origin.c): what
 * each front passes (Host with or without its port, SERVER_PORT, HTTPS,
 * REQUEST_SCHEME) and what a browser sends (Origin, Sec-Fetch-Site,
 * Referer), in, the decision out.  docs/PROTOCOL.md, "Origin policy".
 */
#include "testutil.h"

#include "origin.h"

/* The CGI variables of the fronts under test, as each passes them. */
#define NGINX_STOCK(host, port, https, scheme) { host, port, https, scheme }

struct origin_case {
	const char *what;
	const char *origin, *fetch_site;
	struct site_vars site;
	const char *allowed;
	bool ok;
};

static const struct origin_case origins[] = {
	/* No Origin: curl and scripts pass; a browser's Sec-Fetch-Site decides. */
	{ "curl", NULL, NULL, { "example.org", "80", NULL, "http" }, "", true },
	{ "no Origin, same-origin fetch", NULL, "same-origin", { "example.org", NULL, NULL, NULL }, "", true },
	{ "no Origin, typed by the user", NULL, "none", { "example.org", NULL, NULL, NULL }, "", true },
	{ "no Origin, cross-site", NULL, "cross-site", { "example.org", NULL, NULL, NULL }, "", false },
	{ "no Origin, same-site", NULL, "same-site", { "example.org", NULL, NULL, NULL }, "", false },
	{ "no Origin, no host at all", NULL, NULL, { NULL, NULL, NULL, NULL }, "", true },

	/* Host with its port (Apache, lighttpd, nginx with $http_host): it decides. */
	{ "https on 443", "https://example.org", NULL, { "example.org", "443", "on", "https" }, "", true },
	{ "http on 80", "http://example.org", NULL, { "example.org", "80", NULL, "http" }, "", true },
	{ "host case", "http://EXAMPLE.org", NULL, { "example.org", "80", NULL, NULL }, "", true },
	{ "scheme case", "HTTP://example.org", NULL, { "example.org", "80", NULL, NULL }, "", true },
	{ "port in Host", "http://127.0.0.1:8080", NULL, { "127.0.0.1:8080", "8080", NULL, "http" }, "", true },
	{ "another port", "http://127.0.0.1:8081", NULL, { "127.0.0.1:8080", "8080", NULL, "http" }, "", false },
	{ "Host's port wins over SERVER_PORT", "http://127.0.0.1:8080", NULL, { "127.0.0.1:8080", "80", NULL, "http" }, "", true },
	{ "SERVER_PORT does not beat Host's port", "http://127.0.0.1:80", NULL, { "127.0.0.1:8080", "80", NULL, "http" }, "", false },
	{ "default port against Host's", "http://127.0.0.1", NULL, { "127.0.0.1:8080", "8080", NULL, "http" }, "", false },
	{ "Host :80 is no port", "http://example.org", NULL, { "example.org:80", "80", NULL, "http" }, "", true },
	{ "Host :443 is no port", "https://example.org", NULL, { "example.org:443", "443", "on", "https" }, "", true },
	{ "Origin :443 is no port", "https://example.org:443", NULL, { "example.org", "443", "on", "https" }, "", true },
	{ "Origin :80 after https is not 443", "https://example.org:80", NULL, { "example.org:443", "443", "on", NULL }, "", false },

	/* Host without its port (Debian's nginx: HTTP_HOST is $host): SERVER_PORT. */
	{ "nginx stock, port 18203", "http://127.0.0.1:18203", NULL, NGINX_STOCK("127.0.0.1", "18203", NULL, "http"), "", true },
	{ "nginx stock, https 8443", "https://example.org:8443", NULL, NGINX_STOCK("example.org", "8443", "on", "https"), "", true },
	{ "nginx stock, another port", "http://127.0.0.1:18204", NULL, NGINX_STOCK("127.0.0.1", "18203", NULL, "http"), "", false },
	{ "nginx stock, port 80", "http://example.org", NULL, NGINX_STOCK("example.org", "80", NULL, "http"), "", true },
	{ "nginx stock, port 443", "https://example.org", NULL, NGINX_STOCK("example.org", "443", "on", "https"), "", true },
	{ "TLS ended by a proxy in front", "https://example.org", NULL, NGINX_STOCK("example.org", "80", NULL, "http"), "", true },
	{ "TLS ended in front of port 8080", "https://example.org", NULL, NGINX_STOCK("example.org", "8080", NULL, "http"), "", true },
	{ "default ports stay the host's", "http://127.0.0.1", NULL, NGINX_STOCK("127.0.0.1", "18203", NULL, "http"), "", true },
	{ "a proxy's port is not guessed", "http://example.org:8080", NULL, NGINX_STOCK("example.org", "80", NULL, "http"), "", false },
	{ "no SERVER_PORT, https: 443", "http://example.org:443", NULL, { "example.org", NULL, "on", NULL }, "", true },
	{ "no SERVER_PORT, REQUEST_SCHEME https", "http://example.org:443", NULL, { "example.org", NULL, NULL, "https" }, "", true },
	{ "no SERVER_PORT, HTTPS=off", "http://example.org:443", NULL, { "example.org", NULL, "off", "http" }, "", false },
	{ "no SERVER_PORT, plain http: 80", "https://example.org:80", NULL, { "example.org", NULL, NULL, NULL }, "", true },
	{ "SERVER_PORT not a port", "http://example.org:18203", NULL, { "example.org", "18203x", NULL, "http" }, "", false },
	{ "SERVER_PORT over 65535", "http://example.org:65536", NULL, { "example.org", "65536", NULL, "http" }, "", false },

	/* IPv6 literals. */
	{ "[::1] with port", "http://[::1]:18203", NULL, { "[::1]:18203", "18203", NULL, "http" }, "", true },
	{ "[::1], nginx stock", "http://[::1]:18203", NULL, NGINX_STOCK("[::1]", "18203", NULL, "http"), "", true },
	{ "[::1], another port", "http://[::1]:18204", NULL, NGINX_STOCK("[::1]", "18203", NULL, "http"), "", false },
	{ "IPv6 case", "http://[FE80::1]:8080", NULL, { "[fe80::1]:8080", "8080", NULL, NULL }, "", true },
	{ "[::1] against [::2]", "http://[::2]:8080", NULL, { "[::1]:8080", "8080", NULL, NULL }, "", false },
	{ "IPv6 without brackets", "http://::1:8080", NULL, { "[::1]:8080", "8080", NULL, NULL }, "", false },
	{ "unclosed bracket", "http://[::1:8080", NULL, { "[::1:8080", "8080", NULL, NULL }, "", false },

	/* What is never this site. */
	{ "Origin null (sandbox, file:)", "null", NULL, { "example.org", "80", NULL, NULL }, "", false },
	{ "empty Origin", "", NULL, { "example.org", "80", NULL, NULL }, "", false },
	{ "host as a prefix", "https://example.org.evil.com", NULL, { "example.org", "443", "on", NULL }, "", false },
	{ "port as a prefix", "http://localhost:8080.evil.example", NULL, { "localhost:8080", "8080", NULL, NULL }, "", false },
	{ "another host", "https://evil.com", NULL, { "example.org", "443", "on", NULL }, "", false },
	{ "a path", "https://example.org/", NULL, { "example.org", "443", "on", NULL }, "", false },
	{ "userinfo", "https://evil.com@example.org", NULL, { "example.org", "443", "on", NULL }, "", false },
	{ "another scheme", "ftp://example.org", NULL, { "example.org", "80", NULL, NULL }, "", false },
	{ "no host in Origin", "http://", NULL, { "example.org", "80", NULL, NULL }, "", false },
	{ "empty port", "http://example.org:", NULL, { "example.org", "80", NULL, NULL }, "", false },
	{ "port 0", "http://example.org:0", NULL, { "example.org", "0", NULL, NULL }, "", false },
	{ "no Host header", "https://example.org", NULL, { NULL, "443", "on", "https" }, "", false },
	{ "empty Host (nginx, HTTP/1.0, no server_name)", "http://127.0.0.1:18203", NULL, { "", "18203", NULL, "http" }, "", false },
	{ "Host with junk", "http://example.org", NULL, { "example.org/x", "80", NULL, NULL }, "", false },
	{ "a proxy on 8443 (X-Forwarded-Port is not read)", "https://example.org:8443", NULL, NGINX_STOCK("example.org", "80", NULL, "http"), "", false },

	/* allowed_origins, compared as origins. */
	{ "listed", "https://app.example.org", NULL, { "example.org", "443", "on", NULL }, "https://app.example.org", true },
	{ "listed second", "https://app.example.org", NULL, { "example.org", "443", "on", NULL }, "https://a.example.org https://app.example.org", true },
	{ "listed, other case", "https://APP.example.org", NULL, { "example.org", "443", NULL, NULL }, "https://app.example.org", true },
	{ "listed with :443", "https://app.example.org", NULL, { "example.org", "443", NULL, NULL }, "https://app.example.org:443", true },
	{ "listed with a port", "https://b.example:8443", NULL, { "example.org", "443", NULL, NULL }, "https://b.example:8443", true },
	{ "listed, other port", "https://b.example:8444", NULL, { "example.org", "443", NULL, NULL }, "https://b.example:8443", false },
	{ "listed, suffix", "https://app.example.org.evil", NULL, { "example.org", "443", NULL, NULL }, "https://app.example.org", false },
	{ "listed, prefix", "https://app.example", NULL, { "example.org", "443", NULL, NULL }, "https://app.example.org", false },
	{ "listed, other scheme", "http://app.example.org", NULL, { "example.org", "443", NULL, NULL }, "https://app.example.org", false },
	{ "listed, null", "null", NULL, { "example.org", "443", NULL, NULL }, "null", false },
	{ "listed, no Host", "https://app.example.org", NULL, { NULL, NULL, NULL, NULL }, "https://app.example.org", true },
};

static void test_origins(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(origins); i++) {
		const struct origin_case *c = &origins[i];
		if (origin_allowed(c->origin, c->fetch_site, &c->site, c->allowed) != c->ok)
			fail_msg("origin case %zu, %s: '%s' on Host '%s' SERVER_PORT %s should be %s",
			         i, c->what, c->origin ? c->origin : "(none)",
			         c->site.host ? c->site.host : "(none)",
			         c->site.server_port ? c->site.server_port : "(none)",
			         c->ok ? "allowed" : "refused");
	}
}

struct referer_case {
	const char *what;
	const char *referer;
	struct site_vars site;
	const char *path;          /* the 303's Location */
};

static const char long_referer[] =
	"http://example.org/"
#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
	X100 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100;   /* over REFERER_MAX */

static const struct referer_case referers[] = {
	{ "the posting page", "http://localhost:8080/chat/#room", { "localhost:8080", "8080", NULL, NULL }, "/chat/#room" },
	{ "with a query", "http://localhost:8080/chat/?a=1", { "localhost:8080", "8080", NULL, NULL }, "/chat/?a=1" },
	{ "nginx stock, port 18203", "http://127.0.0.1:18203/chat/", NGINX_STOCK("127.0.0.1", "18203", NULL, "http"), "/chat/" },
	{ "nginx stock, another port", "http://127.0.0.1:18204/chat/", NGINX_STOCK("127.0.0.1", "18203", NULL, "http"), "/" },
	{ "[::1], nginx stock", "http://[::1]:18203/x", NGINX_STOCK("[::1]", "18203", NULL, "http"), "/x" },
	{ "no path", "http://localhost:8080", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "a foreign host", "http://localhost:8080.evil/x", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "userinfo", "http://localhost:8080@evil.example/x", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "a query, no path", "http://localhost:8080?x=/y", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "CR LF", "http://localhost:8080/a\r\nSet-Cookie: x=1", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "a space", "http://localhost:8080/a b", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "no Referer", NULL, { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "no Host", "http://localhost:8080/chat/", { NULL, "8080", NULL, NULL }, "/" },
	{ "not a URL", "/chat/", { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "too long", long_referer, { "example.org", "80", NULL, NULL }, "/" },
	{ "a path that is another site's address", "http://localhost:8080//evil.example/x",
	  { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "the same with a backslash", "http://localhost:8080/\\evil.example/x",
	  { "localhost:8080", "8080", NULL, NULL }, "/" },
	{ "a slash later is a path", "http://localhost:8080/a//b", { "localhost:8080", "8080", NULL, NULL },
	  "/a//b" },
};

static void test_referers(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(referers); i++) {
		const struct referer_case *c = &referers[i];
		const char *got = referer_path(c->referer, &c->site);
		if (strcmp(got, c->path) != 0)
			fail_msg("referer case %zu, %s: Location '%s', want '%s'", i, c->what,
			         got, c->path);
	}
	assert_true(strlen(long_referer) > REFERER_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origins),
		cmocka_unit_test(test_referers),
	};
	return cmocka_run_group_tests_name("origin", tests, NULL, NULL);
}
