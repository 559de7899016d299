/*
 * privatecheck: issue 20's "Done means" through a real front.  A site makes
 * one channel per user private the README's way ("Private channels and
 * signed names": a secret made by `openssl rand -base64 48`, chmod 600,
 * outside the document root; token_secret_file and private_channels =
 * user-*), and tokens are minted three ways:
 *
 *   ssectl token   the owner's tool, as the README says;
 *   node           node's crypto: a second implementation of HS256 and of
 *                  "the key is the file's bytes less one trailing newline";
 *   PHP            the README's own hash_hmac snippet, cut out of README.md
 *                  and run as printed (php-cli), but for the secret's path
 *                  (a stranger's /home/YOU) and the $user it expects.
 *
 * Then, through each front: every case of priv_streams (401 with the
 * Bearer challenge and a JSON reason, 403, 400 for ?token=, 401 for an
 * expired token, 200 by cookie and by Authorization), the open ones
 * receiving what is published to them; every case of priv_posts (the
 * publish rules, and a signed name stored with "signed": true); and a live
 * stream that ends at its token's exp, whose reconnect meets the gate.
 * Shared by tests/integration/test_apache.c and test_vps.c.
 */
#ifndef SSE_PRIVATECHECK_H
#define SSE_PRIVATECHECK_H

#include "httpclient.h"

#define PRIV_BUFFERED_MS 5000    /* an answer later than this was held back */
#define PRIV_TOKEN_MAX 4097
#define PRIV_PHP_USER_ID "1234"  /* the $user the README's PHP snippet signs in */
#define PRIV_PHP_NAME "Ada Lovelace"
#define PRIV_SIGNER "alice"      /* ssectl token --name */
#define PRIV_SHORT_TTL_S 3       /* the token whose stream must end at exp */

/* What the checks need of a site. */
struct priv_site {
	char ssectl[4 * PATH_MAX];   /* shell words: the site's ssectl, its config,
	                                as the serving user */
	char secret[PATH_MAX + 32];  /* its token_secret_file */
	char db[PATH_MAX + 32];      /* its SQLite database */
	char as_user[256];           /* shell words that run a command as the
	                                serving user ("": as we are), so that
	                                reading the database leaves no file of
	                                ours beside it */
	char readme[PATH_MAX + 32];  /* the README.md whose PHP snippet runs */
};

/*
 * The site that scripts/apache.sh laid out at `site` (repo: the checkout):
 * its ssectl run by apache.sh as the serving user `user` (NULL: as we
 * are), the secret the README's way in SITE/data (outside the document
 * root), the database beside it.
 */
static inline void priv_site_init(struct priv_site *s, const char *repo, const char *site,
                                  const char *user)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->ssectl, sizeof(s->ssectl), "'%s/scripts/apache.sh' ssectl '%s' --config "
	         "'%s/htdocs/cgi-bin/sse-cgi.conf'", repo, site, site);
	snprintf(s->secret, sizeof(s->secret), "%s/data/token.secret", site);
	snprintf(s->db, sizeof(s->db), "%s/data/sse.db", site);
	snprintf(s->readme, sizeof(s->readme), "%s/README.md", repo);
	if (user != NULL)
		snprintf(s->as_user, sizeof(s->as_user), "setpriv --reuid=%s --regid=$(id -g %s) "
		         "--clear-groups", user, user);
}

/* One way in: a front's port and its paths to the two programs. */
struct priv_front {
	const char *name;
	int port;
	const char *events, *post;
};

enum priv_token {
	PT_NONE,
	PT_SSECTL_42,     /* ssectl token --subscribe user-42 */
	PT_SSECTL_7,      /* ssectl token --subscribe user-7 */
	PT_SIGNER,        /* ssectl token ... --publish user-42 --name alice */
	PT_NODE_42,       /* node: subscribe user-42 */
	PT_NODE_EXPIRED,  /* node: subscribe user-42, exp a minute ago */
	PT_PHP,           /* the README's PHP: chat and user-1234, publish chat */
	PT_COUNT
};

struct priv_tokens {
	char t[PT_COUNT][PRIV_TOKEN_MAX];
};

enum priv_carrier { BY_NOTHING, BY_COOKIE, BY_BEARER, BY_URL };

/*
 * The README's steps 1 and 2 for scripts/apache.sh: SSE_TOKEN_SECRET set
 * to a fresh `openssl rand -base64 48` (apache.sh writes it to s->secret
 * with its newline, mode 600, owned by the serving user), and into out the
 * configuration `base` plus token_secret_file (the full path) and
 * private_channels = user-*.
 */
static inline void priv_prepare(char *out, size_t len, const char *base,
                                const struct priv_site *s)
{
	char secret[128];
	tu_sh_line(secret, sizeof(secret), "openssl rand -base64 48");
	if (strlen(secret) < 32)
		fail_msg("openssl rand -base64 48 printed %zu characters", strlen(secret));
	setenv("SSE_TOKEN_SECRET", secret, 1);
	snprintf(out, len, "%stoken_secret_file = %s\nprivate_channels = user-*\n", base,
	         s->secret);
}

/* The secret as the binaries demand it: a regular file of mode 600. */
static inline void priv_check_secret_mode(const struct priv_site *s)
{
	struct stat st;
	if (stat(s->secret, &st) != 0)
		fail_msg("%s: %s", s->secret, strerror(errno));
	if ((st.st_mode & 0777) != 0600)
		fail_msg("%s has mode %03o, not 600", s->secret, (unsigned)(st.st_mode & 0777));
}

/* node's crypto mints a token: argv secret-file ttl-seconds claims-JSON. */
static const char priv_node_script[] =
	"const crypto = require('crypto');\n"
	"const fs = require('fs');\n"
	"const [secretFile, ttl, claims] = process.argv.slice(2);\n"
	"let key = fs.readFileSync(secretFile);\n"
	"if (key.length > 0 && key[key.length - 1] === 0x0a)\n"
	"  key = key.subarray(0, key.length - 1);   // one trailing newline less\n"
	"const payload = { exp: Math.floor(Date.now() / 1000) + Number(ttl),\n"
	"                  ...JSON.parse(claims) };\n"
	"const b64 = (s) => Buffer.from(s).toString('base64url');\n"
	"const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));\n"
	"const body = b64(JSON.stringify(payload));\n"
	"const sig = crypto.createHmac('sha256', key).update(head + '.' + body)\n"
	"  .digest('base64url');\n"
	"console.log(head + '.' + body + '.' + sig);\n";

/*
 * The README's PHP snippet ("In PHP with nothing but `hash_hmac`"), cut
 * out of README.md into dir/login.php as printed; only the secret's path
 * is put in for /home/YOU/sse-data/token.secret, as a stranger would.
 * $user comes from an auto_prepend_file (the site's own login code), and
 * an auto_append_file prints $token.
 */
static inline void priv_php_token(char *out, size_t len, const struct priv_site *s,
                                  const char *dir)
{
	if (tu_sh("command -v php >/dev/null") != 0)
		fail_msg("php (php-cli) is needed to run the README's PHP snippet "
		         "(scripts/deps.sh test installs it)");
	if (tu_sh("awk '/nothing but `hash_hmac`/ { f = 1 } f && /^```php$/ { p = 1; next }"
	          " p && /^```$/ { exit } p' '%s' >'%s/login.php'", s->readme, dir) != 0 ||
	    tu_sh("grep -q 'hash_hmac' '%s/login.php'", dir) != 0)
		fail_msg("no ```php block after \"nothing but `hash_hmac`\" in %s", s->readme);
	if (tu_sh("grep -q '/home/YOU/sse-data/token.secret' '%s/login.php'", dir) != 0)
		fail_msg("the README's PHP snippet no longer reads "
		         "/home/YOU/sse-data/token.secret: update %s", __FILE__);
	if (tu_sh("sed -i 's|/home/YOU/sse-data/token.secret|%s|' '%s/login.php'",
	          s->secret, dir) != 0)
		fail_msg("sed on %s/login.php failed", dir);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/prepend.php", dir);
	tu_write_file(path, "<?php\n$user = ['id' => " PRIV_PHP_USER_ID
	                    ", 'display_name' => '" PRIV_PHP_NAME "'];\n");
	snprintf(path, sizeof(path), "%s/append.php", dir);
	tu_write_file(path, "<?php\necho $token, \"\\n\";\n");
	tu_sh_line(out, len, "php -d display_errors=stderr -d auto_prepend_file='%s/prepend.php' "
	           "-d auto_append_file='%s/append.php' '%s/login.php'", dir, dir, dir);
}

/* Every token of enum priv_token, minted afresh (they expire). */
static inline void priv_mint(struct priv_tokens *t, const struct priv_site *s)
{
	memset(t, 0, sizeof(*t));
	tu_sh_line(t->t[PT_SSECTL_42], PRIV_TOKEN_MAX, "%s token --subscribe user-42 --ttl 10m",
	           s->ssectl);
	tu_sh_line(t->t[PT_SSECTL_7], PRIV_TOKEN_MAX, "%s token --subscribe user-7 --ttl 10m",
	           s->ssectl);
	tu_sh_line(t->t[PT_SIGNER], PRIV_TOKEN_MAX, "%s token --subscribe user-42 "
	           "--publish user-42 --name " PRIV_SIGNER " --ttl 10m", s->ssectl);
	char dir[PATH_MAX], script[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(script, sizeof(script), "%s/mint.js", dir);
	tu_write_file(script, priv_node_script);
	if (tu_sh("command -v node >/dev/null") != 0)
		fail_msg("node is needed to mint tokens (scripts/deps.sh browser installs it)");
	tu_sh_line(t->t[PT_NODE_42], PRIV_TOKEN_MAX,
	           "node '%s' '%s' 600 '{\"mercure\":{\"subscribe\":[\"user-42\"]}}'", script,
	           s->secret);
	tu_sh_line(t->t[PT_NODE_EXPIRED], PRIV_TOKEN_MAX,
	           "node '%s' '%s' -60 '{\"mercure\":{\"subscribe\":[\"user-42\"]}}'", script,
	           s->secret);
	priv_php_token(t->t[PT_PHP], PRIV_TOKEN_MAX, s, dir);
	tu_rmtree(dir);
}

/* The request headers that carry token (or none) the way `by` says. */
static inline void priv_headers(struct strbuf *out, enum priv_carrier by, const char *token)
{
	if (by == BY_COOKIE)
		sb_printf(out, "Cookie: theme=dark; sse_token=%s\r\n", token);
	else if (by == BY_BEARER)
		sb_printf(out, "Authorization: Bearer %s\r\n", token);
}

static inline void priv_path(char *out, size_t len, const char *base, const char *channel,
                             enum priv_carrier by, const char *token)
{
	snprintf(out, len, "%s?channel=%s%s%s", base, channel, by == BY_URL ? "&token=" : "",
	         by == BY_URL ? token : "");
}

struct priv_stream_case {
	const char *what;
	const char *channel;
	enum priv_token token;
	enum priv_carrier by;
	int status;
	const char *challenge;  /* WWW-Authenticate of a 401 or 403 */
	const char *body;       /* the start of a refusal's body */
};

static const struct priv_stream_case priv_streams[] = {
	{ "no token", "user-42", PT_NONE, BY_NOTHING, 401, "Bearer realm=\"sse-cgi\"",
	  "{\"error\":\"this channel is private: sign in (no token was sent)\"}\n" },
	{ "user-7's token (ssectl) in the cookie", "user-42", PT_SSECTL_7, BY_COOKIE, 403,
	  "Bearer realm=\"sse-cgi\", error=\"insufficient_scope\"",
	  "{\"error\":\"the token does not let you follow this channel\"}\n" },
	{ "user-42's token in the URL", "user-42", PT_SSECTL_42, BY_URL, 400, NULL,
	  "{\"error\":\"tokens are never read from the URL" },
	{ "an expired token (node) in the cookie", "user-42", PT_NODE_EXPIRED, BY_COOKIE, 401,
	  "Bearer realm=\"sse-cgi\", error=\"invalid_token\"",
	  "{\"error\":\"token has expired\"}\n" },
	{ "ssectl's token in the cookie", "user-42", PT_SSECTL_42, BY_COOKIE, 200, NULL, NULL },
	{ "ssectl's token as Authorization: Bearer", "user-42", PT_SSECTL_42, BY_BEARER, 200,
	  NULL, NULL },
	{ "node's token in the cookie", "user-42", PT_NODE_42, BY_COOKIE, 200, NULL, NULL },
	{ "the README's PHP token in the cookie", "user-" PRIV_PHP_USER_ID, PT_PHP, BY_COOKIE,
	  200, NULL, NULL },
	{ "a public channel, no token", "chat", PT_NONE, BY_NOTHING, 200, NULL, NULL },
};

#define PRIV_STREAMS (sizeof(priv_streams) / sizeof(priv_streams[0]))

/*
 * Posts (JSON), each with a text of its own that says which front it went
 * through.  A signed one must be stored under `stored_user` with
 * "signed": true, whatever user it posted.
 */
struct priv_post_case {
	const char *what;
	const char *channel;
	enum priv_token token;
	enum priv_carrier by;
	int status;
	const char *stored_user;  /* a 201's stored user (signed when not "v") */
};

static const struct priv_post_case priv_posts[] = {
	{ "anonymous post to a private channel", "user-42", PT_NONE, BY_NOTHING, 401, NULL },
	{ "a token whose publish list lacks the channel (PHP's)", "user-42", PT_PHP, BY_COOKIE,
	  403, NULL },
	{ "an expired token (node)", "user-42", PT_NODE_EXPIRED, BY_BEARER, 401, NULL },
	{ "ssectl's signing token as Authorization: Bearer", "user-42", PT_SIGNER, BY_BEARER,
	  201, PRIV_SIGNER },
	{ "the README's PHP token in the cookie, to the chat", "chat", PT_PHP, BY_COOKIE, 201,
	  PRIV_PHP_NAME },
	{ "anonymous post to the chat", "chat", PT_NONE, BY_NOTHING, 201, "v" },
};

#define PRIV_POSTS (sizeof(priv_posts) / sizeof(priv_posts[0]))

/* The data line of the frame in body that holds needle ("" if none). */
static inline void priv_data_line(const char *body, const char *needle, char *out,
                                  size_t len)
{
	const char *at = strstr(body, needle);
	out[0] = '\0';
	if (at == NULL)
		return;
	const char *start = at;
	while (start > body && start[-1] != '\n')
		start--;
	snprintf(out, len, "%.*s", (int)strcspn(start, "\n"), start);
}

/* The stored row of the chat message whose text is `text`: "USER SIGNED"
 * (the signed flag 1 or 0), read from the database itself (where other
 * messages need not be JSON). */
static inline void priv_stored(const struct priv_site *s, const char *text, char *out,
                               size_t len)
{
	tu_sh_line(out, len, "%s sqlite3 '%s' \"SELECT json_extract(data, '\\$.user') || ' ' || "
	           "coalesce(json_extract(data, '\\$.signed'), 0) FROM messages WHERE CASE WHEN "
	           "json_valid(data) THEN json_extract(data, '\\$.text') END = '%s'\"",
	           s->as_user, s->db, text);
}

/*
 * Every stream case, then every post case, through front f; the open
 * streams must receive what is then published to their channel.
 */
static inline void priv_check_front(const struct priv_front *f, const struct priv_site *s,
                                    const struct priv_tokens *t)
{
	struct http open[PRIV_STREAMS];
	for (size_t i = 0; i < PRIV_STREAMS; i++) {
		const struct priv_stream_case *c = &priv_streams[i];
		struct strbuf headers = STRBUF_INIT;
		char path[PRIV_TOKEN_MAX + 256], v[256];
		priv_headers(&headers, c->by, t->t[c->token]);
		priv_path(path, sizeof(path), f->events, c->channel, c->by, t->t[c->token]);
		http_send(&open[i], f->port, "GET", path, sb_str(&headers), NULL);
		sb_free(&headers);
		if (c->status == 200) {
			if (!http_wait_live(&open[i], PRIV_BUFFERED_MS))
				fail_msg("%s: stream, %s: not live (status %d): %.300s", f->name,
				         c->what, http_status(&open[i]), sb_str(&open[i].in));
			continue;
		}
		if (!http_finish(&open[i], PRIV_BUFFERED_MS))
			fail_msg("%s: stream, %s: no whole answer", f->name, c->what);
		int status = http_status(&open[i]);
		if (status != c->status)
			fail_msg("%s: stream, %s: %d, not %d: %.300s", f->name, c->what, status,
			         c->status, sb_str(&open[i].in));
		const char *got = http_header(&open[i], "WWW-Authenticate", v, sizeof(v));
		if (c->challenge != NULL && (got == NULL || strcmp(got, c->challenge) != 0))
			fail_msg("%s: stream, %s: WWW-Authenticate %s, not %s", f->name, c->what,
			         got ? got : "(none)", c->challenge);
		got = http_header(&open[i], "Content-Type", v, sizeof(v));
		if (got == NULL || strncmp(got, "application/json", 16) != 0)
			fail_msg("%s: stream, %s: Content-Type %s", f->name, c->what,
			         got ? got : "(none)");
		if (strncmp(http_body(&open[i]), c->body, strlen(c->body)) != 0)
			fail_msg("%s: stream, %s: body %s, not %s", f->name, c->what,
			         http_body(&open[i]), c->body);
		http_close(&open[i]);
	}

	/* The posts, each text naming the front; then what reached the streams. */
	char texts[PRIV_POSTS][256];
	for (size_t i = 0; i < PRIV_POSTS; i++) {
		const struct priv_post_case *c = &priv_posts[i];
		snprintf(texts[i], sizeof(texts[i]), "post %zu through %s", i, f->name);
		struct strbuf headers = STRBUF_INIT;
		sb_puts(&headers, "Content-Type: application/json\r\n");
		priv_headers(&headers, c->by, t->t[c->token]);
		char body[1024];
		snprintf(body, sizeof(body), "{\"channel\":\"%s\",\"user\":\"v\",\"text\":\"%s\"}",
		         c->channel, texts[i]);
		struct http h;
		int status = http_request(&h, f->port, "POST", f->post, sb_str(&headers), body);
		sb_free(&headers);
		if (status != c->status)
			fail_msg("%s: post, %s: %d, not %d: %.300s", f->name, c->what, status,
			         c->status, sb_str(&h.in));
		http_close(&h);
		char stored[256], want[256];
		if (c->status != 201)
			continue;
		priv_stored(s, texts[i], stored, sizeof(stored));
		snprintf(want, sizeof(want), "%s %d", c->stored_user,
		         strcmp(c->stored_user, "v") != 0);
		if (strcmp(stored, want) != 0)
			fail_msg("%s: post, %s: stored as \"%s\", not \"%s\"", f->name, c->what,
			         stored, want);
	}
	char notice[256];
	snprintf(notice, sizeof(notice), "Your export is ready (%s)", f->name);
	if (tu_sh("%s publish --channel user-" PRIV_PHP_USER_ID " --event notice '%s' >/dev/null",
	          s->ssectl, notice) != 0)
		fail_msg("ssectl publish --channel user-" PRIV_PHP_USER_ID " failed");
	for (size_t i = 0; i < PRIV_STREAMS; i++) {
		const struct priv_stream_case *c = &priv_streams[i];
		if (c->status != 200)
			continue;
		for (size_t k = 0; k < PRIV_POSTS; k++) {
			if (priv_posts[k].status != 201 || strcmp(priv_posts[k].channel, c->channel) != 0)
				continue;
			struct strbuf needle = STRBUF_INIT;
			char line[1024], user[64];
			sb_printf(&needle, "\"text\":\"%s\"", texts[k]);
			if (!http_wait_for(&open[i], sb_str(&needle), PRIV_BUFFERED_MS))
				fail_msg("%s: stream, %s: \"%s\" did not arrive", f->name, c->what,
				         texts[k]);
			priv_data_line(http_body(&open[i]), sb_str(&needle), line, sizeof(line));
			sb_free(&needle);
			snprintf(user, sizeof(user), "\"user\":\"%s\"", priv_posts[k].stored_user);
			bool is_signed = strcmp(priv_posts[k].stored_user, "v") != 0;
			if (strstr(line, user) == NULL ||
			    (strstr(line, "\"signed\":true") != NULL) != is_signed)
				fail_msg("%s: stream, %s: %s", f->name, c->what, line);
		}
		if (strcmp(c->channel, "user-" PRIV_PHP_USER_ID) == 0) {
			struct strbuf needle = STRBUF_INIT;
			sb_printf(&needle, "event: notice\ndata: %s\n", notice);
			if (!http_wait_for(&open[i], sb_str(&needle), PRIV_BUFFERED_MS))
				fail_msg("%s: stream, %s: the notice did not arrive", f->name, c->what);
			sb_free(&needle);
		}
		http_close(&open[i]);
	}
}

/*
 * A live stream on a token of PRIV_SHORT_TTL_S through each front at once:
 * each ends at the token's exp (PROTOCOL.md: its lifetime is cut short to
 * exp), not at lifetime_s, and the browser's reconnect with the same cookie
 * and Last-Event-ID gets 401 "token has expired".
 */
static inline void priv_check_ends_at_exp(const struct priv_front *fronts, size_t n,
                                          const struct priv_site *s, int lifetime_s)
{
	char token[PRIV_TOKEN_MAX];
	tu_sh_line(token, sizeof(token), "%s token --subscribe user-42 --ttl %ds", s->ssectl,
	           PRIV_SHORT_TTL_S);
	long long minted = tu_now_ms();
	struct strbuf cookie = STRBUF_INIT;
	priv_headers(&cookie, BY_COOKIE, token);
	struct http h[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		char path[256];
		priv_path(path, sizeof(path), fronts[i].events, "user-42", BY_COOKIE, token);
		http_send(&h[i], fronts[i].port, "GET", path, sb_str(&cookie), NULL);
		if (!http_wait_live(&h[i], PRIV_BUFFERED_MS))
			fail_msg("%s: the short token's stream is not live (status %d)",
			         fronts[i].name, http_status(&h[i]));
	}
	/* exp counts whole seconds: the end comes within ttl +- 1 s of minting */
	const long long bound = (PRIV_SHORT_TTL_S + 1) * 1000 + PRIV_BUFFERED_MS;
	assert_true(bound < lifetime_s * 800LL);   /* else lifetime_s could end it */
	for (size_t i = 0; i < n; i++) {
		long long left = minted + bound - tu_now_ms();
		if (!http_finish(&h[i], left > 0 ? (int)left : 0))
			fail_msg("%s: the stream outlived its token by %lld ms", fronts[i].name,
			         bound - PRIV_SHORT_TTL_S * 1000);
		long long ended = tu_now_ms() - minted;
		if (ended < (PRIV_SHORT_TTL_S - 1) * 1000 - 500)
			fail_msg("%s: the stream ended %lld ms after its token was minted, before "
			         "its exp: %s", fronts[i].name, ended, http_body(&h[i]));
		const char *idline = strstr(http_body(&h[i]), "\nid: ");
		char header[PRIV_TOKEN_MAX + 128];
		snprintf(header, sizeof(header), "%sLast-Event-ID: %lld\r\n", sb_str(&cookie),
		         idline != NULL ? atoll(idline + 5) : 0LL);
		print_message("%s: the stream on a %d s token ended %lld ms after minting\n",
		              fronts[i].name, PRIV_SHORT_TTL_S, ended);
		http_close(&h[i]);
		char path[256], v[256];
		priv_path(path, sizeof(path), fronts[i].events, "user-42", BY_COOKIE, token);
		int status = http_request(&h[i], fronts[i].port, "GET", path, header, NULL);
		const char *challenge = http_header(&h[i], "WWW-Authenticate", v, sizeof(v));
		if (status != 401 || strstr(http_body(&h[i]), "token has expired") == NULL ||
		    challenge == NULL || strstr(challenge, "invalid_token") == NULL)
			fail_msg("%s: the reconnect got %d: %.300s", fronts[i].name, status,
			         sb_str(&h[i].in));
		http_close(&h[i]);
	}
	sb_free(&cookie);
}

#endif
