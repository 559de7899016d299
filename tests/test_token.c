/*
 * Tokens (src/auth/token.c): tables of tokens in, claims or a named
 * refusal out.  Three tables: raw strings (shape, size, base64url),
 * tokens this test signs itself from a header and a payload (so a bad
 * header or payload gets past the signature and meets its own check), and
 * tokens minted by node's crypto module, a second implementation written
 * apart from ours, which must verify.
 */
#include "testutil.h"

#include <sodium.h>

#include "gate.h"
#include "token.h"

#define NOW 1700000000LL   /* the verifier's clock in every case */

static const char key_current[] = "0123456789abcdef0123456789abcdef-current";
static const char key_previous[] = "previous-secret-previous-secret!";
static const char key_other[] = "some-other-site-some-other-site-!!";

enum signer { BY_CURRENT, BY_PREVIOUS, BY_OTHER };
enum keyring { KEYS_BOTH, KEYS_CURRENT_ONLY, KEYS_NONE };

static const char *signer_key(enum signer s)
{
	return s == BY_CURRENT ? key_current : s == BY_PREVIOUS ? key_previous
	                                                         : key_other;
}

static void keyring(enum keyring which, struct token_keys *keys)
{
	memset(keys, 0, sizeof(*keys));
	if (which == KEYS_NONE)
		return;
	token_keys_add(keys, key_current, strlen(key_current));
	if (which == KEYS_BOTH)
		token_keys_add(keys, key_previous, strlen(key_previous));
}

static void b64(struct strbuf *out, const void *bin, size_t len)
{
	char buf[8192];
	assert_true(len < 6000);
	sodium_bin2base64(buf, sizeof(buf), bin, len,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sb_puts(out, buf);
}

/* header.payload.signature, signed here (libsodium, not token_sign). */
static void mint(struct strbuf *out, const char *header, const char *payload,
                 enum signer by)
{
	b64(out, header, strlen(header));
	sb_putc(out, '.');
	b64(out, payload, strlen(payload));
	unsigned char tag[32];
	crypto_auth_hmacsha256_state st;
	const char *key = signer_key(by);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)out->data, out->len);
	crypto_auth_hmacsha256_final(&st, tag);
	sb_putc(out, '.');
	b64(out, tag, sizeof(tag));
}

static enum token_refusal verify(enum keyring which, const char *raw, size_t len,
                                 struct token_claims *c)
{
	struct token_keys keys;
	keyring(which, &keys);
	return token_verify(&keys, raw, len, NOW, c);
}

static void expect(const char *what, enum token_refusal got,
                   enum token_refusal want)
{
	if (got != want)
		fail_msg("%s: got %d (%s), want %d (%s)", what, got,
		         token_refusal_text(got), want, token_refusal_text(want));
}

/* ---- raw strings: shape, size, base64url -------------------------------- */

#define HS "eyJhbGciOiJIUzI1NiJ9"   /* {"alg":"HS256"} */
#define E30 "e30"                   /* {} */

struct raw_case {
	const char *token;
	enum token_refusal want;
};

static const struct raw_case raws[] = {
	{ "", TOKEN_EMPTY },
	{ "abc", TOKEN_SEGMENTS },
	{ HS "." E30, TOKEN_SEGMENTS },
	{ HS "." E30 ".x.y", TOKEN_SEGMENTS },
	{ HS "." E30 ".AAAA.", TOKEN_SEGMENTS },
	{ "..", TOKEN_HEADER },                        /* an empty header */
	{ "!!!!." E30 ".AAAA", TOKEN_BASE64 },
	{ HS "=." E30 ".AAAA", TOKEN_BASE64 },           /* padding */
	{ "eyJhbGciOiJIUzI1NiJ9+." E30 ".AAAA", TOKEN_BASE64 },
	{ "eyJhbGciOiJIUzI1NiJ9 ." E30 ".AAAA", TOKEN_BASE64 },
	{ "eyJhbGciOiJIUzI1NiJ." E30 ".AAAA", TOKEN_BASE64 }, /* stray bits */
	{ "aGVsbG8." E30 ".AAAA", TOKEN_HEADER },       /* "hello" */
	{ "eyJhbGciOiJub25lIn0." E30 ".", TOKEN_ALG },    /* alg none, no sig */
	{ "eyJhbGciOiJSUzI1NiJ9." E30 ".AAAA", TOKEN_ALG }, /* RS256 */
	{ HS "." E30 ".!!!!", TOKEN_BASE64 },           /* the signature */
	{ HS "." E30 ".", TOKEN_SIGNATURE },            /* none at all */
	{ HS "." E30 ".AAAA", TOKEN_SIGNATURE },        /* 3 bytes */
	{ HS "." E30 ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", TOKEN_SIGNATURE },
};

static void test_raw(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(raws); i++) {
		struct token_claims c;
		char what[160];
		snprintf(what, sizeof(what), "raw '%s'", raws[i].token);
		expect(what, verify(KEYS_BOTH, raws[i].token, strlen(raws[i].token), &c),
		       raws[i].want);
	}
}

/* The size limit comes before anything else: a 5 KiB cookie value. */
static void test_too_long(void **state)
{
	(void)state;
	struct strbuf t = STRBUF_INIT;
	mint(&t, "{\"alg\":\"HS256\"}", "{\"exp\":1700003600}", BY_CURRENT);
	struct token_claims c;
	expect("a good token", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_OK);
	sb_reset(&t);
	char pad[TOKEN_MAX];
	memset(pad, 'A', sizeof(pad));
	sb_append(&t, pad, sizeof(pad));   /* exactly the limit: judged */
	expect("4096 bytes", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_SEGMENTS);
	sb_reset(&t);
	for (int i = 0; i < 5; i++)
		sb_append(&t, pad, 1024);
	expect("5 KiB", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_TOO_LONG);
	sb_reset(&t);
	mint(&t, "{\"alg\":\"HS256\"}", "{\"exp\":1700003600}", BY_CURRENT);
	sb_append(&t, pad, TOKEN_MAX);      /* a good token grown past it */
	expect("grown", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_TOO_LONG);
	sb_free(&t);
}

/* ---- tokens signed here: each check behind the signature ----------------- */

#define H "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define SUB42 "\"mercure\":{\"subscribe\":[\"user-42\"]}"

struct signed_case {
	const char *what;
	const char *header, *payload;
	enum signer by;
	enum keyring keys;
	enum token_refusal want;
};

static const struct signed_case signeds[] = {
	{ "a subscribe token", H, "{\"exp\":1700003600," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "no typ", "{\"alg\":\"HS256\"}", "{\"exp\":1700003600}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "alg none", "{\"alg\":\"none\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg RS256 with an HMAC key", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg HS512", "{\"alg\":\"HS512\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg lower case", "{\"alg\":\"hs256\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg with a NUL escape", "{\"alg\":\"HS256\\u0000x\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_HEADER },
	{ "alg missing", "{\"typ\":\"JWT\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg a number", "{\"alg\":256}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_ALG },
	{ "alg given twice", "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_DUPLICATE },
	{ "header an array", "[\"HS256\"]", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_HEADER },
	{ "header a string", "\"HS256\"", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_HEADER },
	{ "header not JSON", "{alg:HS256}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_HEADER },
	{ "header with trailing bytes", H "x", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_HEADER },
	{ "crit", "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_CRIT },
	{ "header nested 9 deep", "{\"alg\":\"HS256\",\"x\":[[[[[[[[1]]]]]]]]}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_DEEP },
	{ "header nested 8 deep", "{\"alg\":\"HS256\",\"x\":[[[[[[[1]]]]]]]}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "brackets inside strings do not count", "{\"alg\":\"HS256\",\"x\":\"[[[[[[[[[[\\\"[[[[\"}", "{}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "payload not JSON", H, "exp=1700003600", BY_CURRENT, KEYS_BOTH, TOKEN_PAYLOAD },
	{ "payload empty", H, "", BY_CURRENT, KEYS_BOTH, TOKEN_PAYLOAD },
	{ "payload an array", H, "[{\"exp\":1700003600}]", BY_CURRENT, KEYS_BOTH, TOKEN_PAYLOAD },
	{ "payload exp twice", H, "{\"exp\":1700003600,\"exp\":1}", BY_CURRENT, KEYS_BOTH, TOKEN_DUPLICATE },
	{ "subscribe twice", H, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":[],\"subscribe\":[\"user-42\"]}}", BY_CURRENT, KEYS_BOTH, TOKEN_DUPLICATE },
	{ "payload nested 9 deep", H, "{\"exp\":1700003600,\"x\":[[[[[[[[1]]]]]]]]}", BY_CURRENT, KEYS_BOTH, TOKEN_DEEP },
	{ "subscribe nested", H, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":[[\"user-42\"]]}}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "exp a string", H, "{\"exp\":\"1700003600\"}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "exp null", H, "{\"exp\":null}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "exp an array", H, "{\"exp\":[1700003600]}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "nbf true", H, "{\"exp\":1700003600,\"nbf\":true}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "exp beyond a double", H, "{\"exp\":1e400}", BY_CURRENT, KEYS_BOTH, TOKEN_PAYLOAD },
	{ "mercure an array", H, "{\"exp\":1700003600,\"mercure\":[\"user-42\"]}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "mercure a string", H, "{\"exp\":1700003600,\"mercure\":\"*\"}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "subscribe a string", H, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":\"user-42\"}}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "subscribe a number inside", H, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":[\"a\",42]}}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "publish an object", H, "{\"mercure\":{\"publish\":{\"a\":1}}}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "name a number", H, "{\"exp\":1700003600,\"name\":42}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "name 129 bytes", H, "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", BY_CURRENT, KEYS_BOTH, TOKEN_CLAIM_TYPE },
	{ "name 128 bytes", H, "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "name with a NUL escape", H, "{\"name\":\"a\\u0000b\"}", BY_CURRENT, KEYS_BOTH, TOKEN_PAYLOAD },
	{ "subscribe without exp", H, "{" SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_NO_EXP },
	{ "publish only, no exp", H, "{\"mercure\":{\"publish\":[\"*\"]}}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "exp is now", H, "{\"exp\":1700000000," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_EXPIRED },
	{ "exp a second ago", H, "{\"exp\":1699999999," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_EXPIRED },
	{ "exp a second ahead", H, "{\"exp\":1700000001," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "exp half a second ahead", H, "{\"exp\":1700000000.5," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_EXPIRED },
	{ "exp negative", H, "{\"exp\":-5}", BY_CURRENT, KEYS_BOTH, TOKEN_EXPIRED },
	{ "exp far ahead (clamped)", H, "{\"exp\":1e300," SUB42 "}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "nbf 61 s ahead", H, "{\"exp\":1700003600,\"nbf\":1700000061}", BY_CURRENT, KEYS_BOTH, TOKEN_NOT_YET },
	{ "nbf 60 s ahead (leeway)", H, "{\"exp\":1700003600,\"nbf\":1700000060}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "nbf past", H, "{\"exp\":1700003600,\"nbf\":1600000000}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
	{ "signed with the previous secret", H, "{\"exp\":1700003600," SUB42 "}", BY_PREVIOUS, KEYS_BOTH, TOKEN_OK },
	{ "previous secret, since removed", H, "{\"exp\":1700003600," SUB42 "}", BY_PREVIOUS, KEYS_CURRENT_ONLY, TOKEN_SIGNATURE },
	{ "another site's secret", H, "{\"exp\":1700003600," SUB42 "}", BY_OTHER, KEYS_BOTH, TOKEN_SIGNATURE },
	{ "no secret configured", H, "{\"exp\":1700003600," SUB42 "}", BY_CURRENT, KEYS_NONE, TOKEN_NO_KEY },
	{ "alg none before no secret", "{\"alg\":\"none\"}", "{}", BY_CURRENT, KEYS_NONE, TOKEN_ALG },
	{ "unknown members ignored", H, "{\"exp\":1700003600,\"iss\":\"me\",\"aud\":[\"x\"],\"mercure\":{\"payload\":{\"a\":[1]},\"subscribe\":[\"user-42\"]}}", BY_CURRENT, KEYS_BOTH, TOKEN_OK },
};

static void test_signed(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(signeds); i++) {
		const struct signed_case *k = &signeds[i];
		struct strbuf t = STRBUF_INIT;
		mint(&t, k->header, k->payload, k->by);
		struct token_claims c;
		expect(k->what, verify(k->keys, t.data, t.len, &c), k->want);
		sb_free(&t);
	}
}

/* What a good token says, read back. */
static void test_claims(void **state)
{
	(void)state;
	struct strbuf t = STRBUF_INIT;
	mint(&t, H, "{\"exp\":1700003600,\"nbf\":1699999000,\"name\":\"Zo\\u00eb\","
	     "\"mercure\":{\"subscribe\":[\"user-42\",\"https://example.org/x\",\"staff\"],"
	     "\"publish\":[\"*\"]}}", BY_PREVIOUS);
	struct token_claims c;
	expect("claims", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_OK);
	assert_int_equal(c.key_index, 1);
	assert_true(c.has_exp && c.exp == 1700003600);
	assert_true(c.has_nbf && c.nbf == 1699999000);
	assert_true(c.has_name);
	assert_string_equal(c.name, "Zo\xc3\xab");
	assert_true(c.subscribe.present && !c.subscribe.all);
	assert_int_equal(c.subscribe.n, 2);   /* the URL is no channel of ours */
	assert_true(token_grant_covers(&c.subscribe, "user-42"));
	assert_true(token_grant_covers(&c.subscribe, "staff"));
	assert_false(token_grant_covers(&c.subscribe, "user-4"));
	assert_false(token_grant_covers(&c.subscribe, "user-420"));
	assert_true(c.publish.present && c.publish.all);
	assert_true(token_grant_covers(&c.publish, "anything"));
	sb_free(&t);
}

/* 32 entries are fine, 33 too many; an empty list covers nothing. */
static void test_grant_sizes(void **state)
{
	(void)state;
	for (int n = 0; n <= TOKEN_CHANNELS_MAX + 1; n++) {
		struct strbuf p = STRBUF_INIT, t = STRBUF_INIT;
		sb_puts(&p, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":[");
		for (int i = 0; i < n; i++)
			sb_printf(&p, "%s\"c%d\"", i ? "," : "", i);
		sb_puts(&p, "]}}");
		mint(&t, H, p.data, BY_CURRENT);
		struct token_claims c;
		char what[32];
		snprintf(what, sizeof(what), "%d channels", n);
		expect(what, verify(KEYS_BOTH, t.data, t.len, &c),
		       n > TOKEN_CHANNELS_MAX ? TOKEN_TOO_MANY : TOKEN_OK);
		if (n <= TOKEN_CHANNELS_MAX) {
			assert_int_equal(c.subscribe.n, n);
			assert_int_equal(token_grant_covers(&c.subscribe, "c0"), n > 0);
		}
		sb_free(&p);
		sb_free(&t);
	}
}

/* A payload changed after signing, old signature kept; a flipped bit. */
static void test_tampered(void **state)
{
	(void)state;
	struct strbuf good = STRBUF_INIT, other = STRBUF_INIT, forged = STRBUF_INIT;
	mint(&good, H, "{\"exp\":1700003600," SUB42 "}", BY_CURRENT);
	mint(&other, H, "{\"exp\":1700003600,\"mercure\":{\"subscribe\":[\"*\"]}}",
	     BY_OTHER);
	/* other's header and payload, good's signature */
	const char *sig = strrchr(good.data, '.');
	sb_append(&forged, other.data, (size_t)(strrchr(other.data, '.') - other.data));
	sb_puts(&forged, sig);
	struct token_claims c;
	expect("tampered payload", verify(KEYS_BOTH, forged.data, forged.len, &c),
	       TOKEN_SIGNATURE);
	/* each byte of the payload part changed in turn to another letter */
	const char *p = strchr(good.data, '.') + 1;
	for (size_t i = (size_t)(p - good.data); good.data[i] != '.'; i++) {
		char saved = good.data[i];
		good.data[i] = saved == 'A' ? 'B' : 'A';
		enum token_refusal r = verify(KEYS_BOTH, good.data, good.len, &c);
		if (r != TOKEN_SIGNATURE && r != TOKEN_BASE64)
			fail_msg("payload byte %zu changed: %s", i, token_refusal_text(r));
		good.data[i] = saved;
	}
	expect("restored", verify(KEYS_BOTH, good.data, good.len, &c), TOKEN_OK);
	sb_free(&good);
	sb_free(&other);
	sb_free(&forged);
}

/* token_sign, as ssectl token uses it, reads back. */
static void test_sign_round_trip(void **state)
{
	(void)state;
	struct strbuf t = STRBUF_INIT;
	const char *payload = "{\"exp\":1700003600,\"name\":\"alice\","
	                      "\"mercure\":{\"subscribe\":[\"user-42\"]}}";
	assert_true(token_sign((const unsigned char *)key_current, strlen(key_current),
	                       payload, strlen(payload), &t));
	assert_null(strchr(t.data, '='));
	struct token_claims c;
	expect("round trip", verify(KEYS_BOTH, t.data, t.len, &c), TOKEN_OK);
	assert_int_equal(c.key_index, 0);
	assert_string_equal(c.name, "alice");
	sb_free(&t);
}

/* ---- tokens from node's crypto: a second implementation ------------------ */

/* Mints one token per line of spec (KEY PAYLOAD) with node. */
static const char node_script[] =
	"const crypto = require('crypto');\n"
	"const fs = require('fs');\n"
	"const b64 = (b) => Buffer.from(b).toString('base64url');\n"
	"for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\\n')) {\n"
	"  if (!line) continue;\n"
	"  const sp = line.indexOf(' ');\n"
	"  const key = line.slice(0, sp), payload = JSON.parse(line.slice(sp + 1));\n"
	"  const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));\n"
	"  const body = b64(JSON.stringify(payload));\n"
	"  const sig = crypto.createHmac('sha256', key).update(head + '.' + body)\n"
	"    .digest('base64url');\n"
	"  console.log(head + '.' + body + '.' + sig);\n"
	"}\n";

struct node_case {
	const char *what;
	enum signer by;
	const char *payload;           /* JSON; node re-serialises it */
	enum token_refusal want;
	const char *name;              /* expected name, when OK */
	const char *channel;           /* covered by subscribe, when OK */
};

static const struct node_case nodes[] = {
	{ "subscribe", BY_CURRENT, "{\"exp\":1700003600," SUB42 "}", TOKEN_OK, "", "user-42" },
	{ "previous secret", BY_PREVIOUS, "{\"exp\":1700003600," SUB42 "}", TOKEN_OK, "", "user-42" },
	{ "a name beyond ASCII", BY_CURRENT, "{\"exp\":1700003600,\"name\":\"Zo\\u00eb \\u2713 \\ud83d\\ude00\",\"mercure\":{\"subscribe\":[\"*\"],\"publish\":[\"chat\"]}}", TOKEN_OK, "Zo\xc3\xab \xe2\x9c\x93 \xf0\x9f\x98\x80", "anything" },
	{ "Mercure-style topics", BY_CURRENT, "{\"exp\":1700003600,\"iat\":1700000000,\"mercure\":{\"subscribe\":[\"https://example.org/users/42\",\"user-42\"],\"payload\":{\"user\":\"https://example.org/users/42\"}}}", TOKEN_OK, "", "user-42" },
	{ "expired", BY_CURRENT, "{\"exp\":1699999000," SUB42 "}", TOKEN_EXPIRED, NULL, NULL },
	{ "another secret", BY_OTHER, "{\"exp\":1700003600," SUB42 "}", TOKEN_SIGNATURE, NULL, NULL },
};

static void test_node_minted(void **state)
{
	(void)state;
	char dir[PATH_MAX], script[PATH_MAX + 16], spec[PATH_MAX + 16];
	tu_tempdir(dir, sizeof(dir));
	snprintf(script, sizeof(script), "%s/mint.js", dir);
	snprintf(spec, sizeof(spec), "%s/spec", dir);
	tu_write_file(script, node_script);
	struct strbuf s = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_LEN(nodes); i++)
		sb_printf(&s, "%s %s\n", signer_key(nodes[i].by), nodes[i].payload);
	tu_write_file(spec, s.data);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "node '%s' '%s'", script, spec);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char line[8192];
	size_t i = 0;
	for (; fgets(line, sizeof(line), f) != NULL; i++) {
		assert_true(i < ARRAY_LEN(nodes));
		line[strcspn(line, "\n")] = '\0';
		struct token_claims c;
		expect(nodes[i].what, verify(KEYS_BOTH, line, strlen(line), &c),
		       nodes[i].want);
		if (nodes[i].want == TOKEN_OK) {
			assert_string_equal(c.name, nodes[i].name);
			assert_true(token_grant_covers(&c.subscribe, nodes[i].channel));
		}
	}
	if (pclose(f) != 0)
		fail_msg("node failed (is node installed? make deps installs it)");
	assert_int_equal(i, ARRAY_LEN(nodes));
	sb_free(&s);
	tu_rmtree(dir);
}

/* ---- the gate (gate.h): where a token is, who may read and post -------- */

struct find_case {
	const char *authorization, *cookie;
	const char *want;              /* NULL: no token */
};

static const struct find_case finds[] = {
	{ NULL, NULL, NULL },
	{ "Bearer abc", NULL, "abc" },
	{ "bearer \t abc  ", NULL, "abc" },
	{ "BEARER abc", "sse_token=xyz", "abc" },           /* the header wins */
	{ "Basic dXNlcjpwdw==", "sse_token=xyz", "xyz" },  /* not ours */
	{ "Bearer", "sse_token=xyz", "xyz" },
	{ "Bearer ", NULL, NULL },
	{ "BearerX abc", NULL, NULL },
	{ NULL, "sse_token=xyz", "xyz" },
	{ NULL, "a=1; sse_token=xyz; b=2", "xyz" },
	{ NULL, "a=1;sse_token=xyz", "xyz" },
	{ NULL, "sse_token=\"xyz\"", "xyz" },
	{ NULL, "x_sse_token=1; sse_token=2", "2" },
	{ NULL, "sse_token=1; sse_token=2", "1" },          /* the first */
	{ NULL, "sse_tokenx=1; sse_toke=2", NULL },
	{ NULL, "sse_token=", NULL },
	{ NULL, "sse_token", NULL },
	{ NULL, ";;; ;", NULL },
};

static void test_find_token(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(finds); i++) {
		const char *t = NULL;
		size_t n = 0;
		bool found = gate_find_token(finds[i].authorization, finds[i].cookie,
		                             "sse_token", &t, &n);
		const char *want = finds[i].want;
		if (found != (want != NULL) ||
		    (found && (n != strlen(want) || memcmp(t, want, n) != 0)))
			fail_msg("auth '%s' cookie '%s': found %d '%.*s'",
			         finds[i].authorization ? finds[i].authorization : "-",
			         finds[i].cookie ? finds[i].cookie : "-", found,
			         (int)n, t ? t : "");
	}
}

static const struct { const char *patterns, *channel; bool private; } privates[] = {
	{ "", "chat", false },
	{ "user-* staff", "user-42", true },
	{ "user-* staff", "user-", true },
	{ "user-* staff", "staff", true },
	{ "user-* staff", "staffer", false },
	{ "user-* staff", "chat", false },
	{ "  staff\t ", "staff", true },
	{ "[ab]?", "ax", true },
	{ "[ab]?", "cx", false },
	{ "*", "anything", true },
};

static void test_private_patterns(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(privates); i++)
		if (gate_is_private(privates[i].patterns, privates[i].channel) !=
		    privates[i].private)
			fail_msg("'%s' ~ '%s'", privates[i].patterns, privates[i].channel);
}

struct gate_case {
	const char *what;
	const char *conf;               /* over the defaults */
	bool post;                      /* gate_publish, else gate_subscribe */
	const char *channel;
	const char *claims;             /* signed into the cookie; NULL: none */
	const char *raw;                /* the cookie's value as is */
	int status;
	bool signed_name;
};

#define EXP "\"exp\":1700003600"

static const struct gate_case gates[] = {
	{ "a public channel, no token", "private_channels = user-*", false, "chat", NULL, NULL, 0, false },
	{ "a public channel, a bad token: not looked at", "private_channels = user-*", false, "chat", NULL, "garbage", 0, false },
	{ "private, no token", "private_channels = user-*", false, "user-42", NULL, NULL, 401, false },
	{ "private, a bad token", "private_channels = user-*", false, "user-42", NULL, "garbage", 401, false },
	{ "private, covered", "private_channels = user-*", false, "user-42", "{" EXP ",\"mercure\":{\"subscribe\":[\"user-42\"]}}", NULL, 0, false },
	{ "private, not covered", "private_channels = user-*", false, "user-43", "{" EXP ",\"mercure\":{\"subscribe\":[\"user-42\"]}}", NULL, 403, false },
	{ "private, publish only", "private_channels = user-*", false, "user-42", "{" EXP ",\"mercure\":{\"publish\":[\"*\"]}}", NULL, 403, false },
	{ "post, open chat, no token", "", true, "chat", NULL, NULL, 0, false },
	{ "post, open chat, a subscribe-only token", "", true, "chat", "{" EXP ",\"name\":\"al\",\"mercure\":{\"subscribe\":[\"*\"]}}", NULL, 0, false },
	{ "post, a publish token with a name signs", "", true, "chat", "{\"name\":\"al\",\"mercure\":{\"publish\":[\"chat\"]}}", NULL, 0, true },
	{ "post, a publish token without a name", "", true, "chat", "{\"mercure\":{\"publish\":[\"*\"]}}", NULL, 0, false },
	{ "post, a publish token for elsewhere", "", true, "chat", "{\"name\":\"al\",\"mercure\":{\"publish\":[\"news\"]}}", NULL, 403, false },
	{ "post, a bad token is not anonymous", "", true, "chat", NULL, "garbage", 401, false },
	{ "post, required, no token", "publish_requires_token = yes", true, "chat", NULL, NULL, 401, false },
	{ "post, required, subscribe-only", "publish_requires_token = yes", true, "chat", "{" EXP ",\"mercure\":{\"subscribe\":[\"*\"]}}", NULL, 403, false },
	{ "post, required, covered", "publish_requires_token = yes", true, "chat", "{\"mercure\":{\"publish\":[\"*\"]}}", NULL, 0, false },
	{ "post to a private channel, no token", "private_channels = user-*", true, "user-42", NULL, NULL, 401, false },
	{ "post to a private channel, covered", "private_channels = user-*", true, "user-42", "{\"name\":\"shop\",\"mercure\":{\"publish\":[\"user-42\"]}}", NULL, 0, true },
};

static void test_gate(void **state)
{
	(void)state;
	struct token_keys keys;
	keyring(KEYS_BOTH, &keys);
	for (size_t i = 0; i < ARRAY_LEN(gates); i++) {
		const struct gate_case *k = &gates[i];
		struct config cfg;
		char err[CONFIG_ERROR_MAX];
		config_defaults(&cfg);
		assert_true(config_parse(&cfg, k->conf, strlen(k->conf), "t", err, sizeof(err)));
		struct strbuf cookie = STRBUF_INIT;
		if (k->claims != NULL || k->raw != NULL) {
			sb_puts(&cookie, "sse_token=");
			struct strbuf t = STRBUF_INIT;
			if (k->claims != NULL)
				mint(&t, H, k->claims, BY_CURRENT);
			sb_puts(&cookie, sb_str(&t));
			sb_free(&t);
			if (k->raw != NULL)
				sb_puts(&cookie, k->raw);
		}
		struct gate_verdict v;
		if (k->post) {
			gate_token(&cfg, &keys, NULL, sb_str(&cookie), NOW, &v);
			gate_publish(&cfg, k->channel, &v);
			if (v.signed_name && strcmp(gate_signer(&v), v.claims.name) != 0)
				fail_msg("%s: signer", k->what);
		} else {
			gate_subscribe(&cfg, &keys, k->channel, NULL, sb_str(&cookie), NOW, &v);
		}
		if (v.status != k->status || v.signed_name != k->signed_name)
			fail_msg("%s: %d (%s), signed %d", k->what, v.status, v.reason,
			         v.signed_name);
		if (v.status != 0 && (v.reason == NULL || *v.reason == '\0' ||
		                      strncmp(v.challenge, "WWW-Authenticate: Bearer", 24) != 0))
			fail_msg("%s: no reason or challenge", k->what);
		sb_free(&cookie);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_grant_sizes),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_sign_round_trip),
		cmocka_unit_test(test_node_minted),
		cmocka_unit_test(test_find_token),
		cmocka_unit_test(test_private_patterns),
		cmocka_unit_test(test_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
