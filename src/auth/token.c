/*
 * token: see token.h for what is accepted and why the checks run in this
 * order.  Each step is a short function that returns a refusal or
 * TOKEN_OK; token_verify strings them together.
 */
#include "token.h"

#include <assert.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

/* The one header we write; any header with "alg":"HS256" is read. */
#define TOKEN_HEADER_JSON "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
/* Decoded parts fit here: base64 gives 3 bytes for every 4 characters. */
#define TOKEN_PART_MAX (TOKEN_MAX / 4 * 3 + 3)
/* Not JSON_DECODE_ANY: a part must be an object (or Jansson says no). */
#define TOKEN_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)

const char *token_refusal_text(enum token_refusal r)
{
	static const char *const text[] = {
		[TOKEN_OK] = "token accepted",
		[TOKEN_EMPTY] = "token is empty",
		[TOKEN_TOO_LONG] = "token is longer than 4096 bytes",
		[TOKEN_SEGMENTS] = "token must be three base64url parts joined by dots",
		[TOKEN_BASE64] = "token part is not base64url (unpadded)",
		[TOKEN_HEADER] = "token header is not a JSON object",
		[TOKEN_ALG] = "token alg must be HS256",
		[TOKEN_CRIT] = "token header lists extensions (crit) this server does not know",
		[TOKEN_NO_KEY] = "no token secret is configured",
		[TOKEN_SIGNATURE] = "token signature does not match",
		[TOKEN_PAYLOAD] = "token payload is not a JSON object",
		[TOKEN_DUPLICATE] = "token JSON names a member twice",
		[TOKEN_DEEP] = "token JSON is nested too deeply",
		[TOKEN_CLAIM_TYPE] = "token claim has the wrong type (exp and nbf: numbers;"
		                     " mercure: an object of arrays of strings;"
		                     " name: a string of at most 128 bytes)",
		[TOKEN_TOO_MANY] = "token claim lists more than 32 channels",
		[TOKEN_NO_EXP] = "token grants subscriptions but has no exp",
		[TOKEN_EXPIRED] = "token has expired",
		[TOKEN_NOT_YET] = "token is not valid yet (nbf)",
	};
	assert((size_t)r < sizeof(text) / sizeof(text[0]) && text[r] != NULL);
	return text[r];
}

void token_keys_add(struct token_keys *keys, const void *bytes, size_t len)
{
	assert(keys->n < TOKEN_KEYS_MAX);
	assert(len >= TOKEN_KEY_MIN && len <= TOKEN_KEY_MAX);
	memcpy(keys->bytes[keys->n], bytes, len);
	keys->len[keys->n++] = len;
}

void token_keys_wipe(struct token_keys *keys)
{
	sodium_memzero(keys, sizeof(*keys));
}

/* The three parts of a token, as sent. */
struct parts {
	const char *header, *payload, *sig;
	size_t header_len, payload_len, sig_len;
};

static enum token_refusal split(const char *raw, size_t len, struct parts *p)
{
	const char *dot1 = memchr(raw, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - raw))
	                        : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - raw)))
		return TOKEN_SEGMENTS;
	p->header = raw;
	p->header_len = (size_t)(dot1 - raw);
	p->payload = dot1 + 1;
	p->payload_len = (size_t)(dot2 - p->payload);
	p->sig = dot2 + 1;
	p->sig_len = len - (size_t)(p->sig - raw);
	return TOKEN_OK;
}

/* Unpadded, canonical base64url, all of it; out holds TOKEN_PART_MAX. */
static enum token_refusal unbase64(const char *s, size_t len,
                                   unsigned char *out, size_t *out_len)
{
	const char *end = NULL;
	if (sodium_base642bin(out, TOKEN_PART_MAX, s, len, NULL, out_len, &end,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    end != s + len)
		return TOKEN_BASE64;
	return TOKEN_OK;
}

/* Arrays and objects at most TOKEN_DEPTH_MAX deep (outside strings):
 * checked before Jansson, whose own bound is 2048 levels. */
static bool depth_ok(const unsigned char *s, size_t len)
{
	int depth = 0;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"') {
			in_string = true;
		} else if (s[i] == '[' || s[i] == '{') {
			if (++depth > TOKEN_DEPTH_MAX)
				return false;
		} else if (s[i] == ']' || s[i] == '}') {
			depth--;
		}
	}
	return true;
}

/* One decoded part as a JSON object; *root is NULL unless TOKEN_OK. */
static enum token_refusal parse_object(const unsigned char *s, size_t len,
                                       enum token_refusal not_object,
                                       json_t **root)
{
	*root = NULL;
	if (!depth_ok(s, len))
		return TOKEN_DEEP;
	json_error_t error;
	json_t *v = json_loadb((const char *)s, len, TOKEN_JSON_FLAGS, &error);
	if (v == NULL)
		return json_error_code(&error) == json_error_duplicate_key
		       ? TOKEN_DUPLICATE : not_object;
	if (!json_is_object(v)) {
		json_decref(v);
		return not_object;
	}
	*root = v;
	return TOKEN_OK;
}

/* One base64url part of the token, as the JSON object it must be. */
static enum token_refusal decode_part(const char *text, size_t len,
                                      enum token_refusal not_object,
                                      json_t **root)
{
	unsigned char buf[TOKEN_PART_MAX];
	size_t n;
	enum token_refusal r = unbase64(text, len, buf, &n);
	return r == TOKEN_OK ? parse_object(buf, n, not_object, root) : r;
}

/* The header: alg must be exactly "HS256"; no crit. */
static enum token_refusal check_header(const struct parts *p)
{
	json_t *root;
	enum token_refusal r = decode_part(p->header, p->header_len, TOKEN_HEADER,
	                                   &root);
	if (r != TOKEN_OK)
		return r;
	json_t *alg = json_object_get(root, "alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0 ||
	    json_string_length(alg) != 5)
		r = TOKEN_ALG;
	else if (json_object_get(root, "crit") != NULL)
		r = TOKEN_CRIT;
	json_decref(root);
	return r;
}

/* HMAC-SHA-256 of len bytes of s under key. */
static void mac(const unsigned char *key, size_t key_len, const char *s,
                size_t len, unsigned char out[TOKEN_MAC_BYTES])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)s, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

/* The signature over "header.payload" as sent, by any of the keys. */
static enum token_refusal check_signature(const struct token_keys *keys,
                                          const struct parts *p,
                                          size_t *key_index)
{
	unsigned char sig[TOKEN_PART_MAX], want[TOKEN_MAC_BYTES];
	size_t n;
	if (unbase64(p->sig, p->sig_len, sig, &n) != TOKEN_OK)
		return TOKEN_BASE64;
	if (keys == NULL || keys->n == 0)
		return TOKEN_NO_KEY;
	if (n != TOKEN_MAC_BYTES)
		return TOKEN_SIGNATURE;
	size_t signed_len = p->header_len + 1 + p->payload_len;
	for (size_t k = 0; k < keys->n; k++) {
		mac(keys->bytes[k], keys->len[k], p->header, signed_len, want);
		if (crypto_verify_32(sig, want) == 0) {
			*key_index = k;
			return TOKEN_OK;
		}
	}
	return TOKEN_SIGNATURE;
}

/* A NumericDate (RFC 7519 2): a number, clamped to [0, TOKEN_TIME_MAX]. */
static enum token_refusal read_time(json_t *root, const char *name, bool *has,
                                    long long *out)
{
	json_t *v = json_object_get(root, name);
	*has = v != NULL;
	if (v == NULL)
		return TOKEN_OK;
	if (!json_is_number(v))
		return TOKEN_CLAIM_TYPE;
	double d = json_number_value(v);
	*out = d <= 0 ? 0 : d >= (double)TOKEN_TIME_MAX ? TOKEN_TIME_MAX
	     : (long long)d;   /* toward zero: the floor, d being positive */
	return TOKEN_OK;
}

/* One grant: an array of at most TOKEN_CHANNELS_MAX strings. */
static enum token_refusal read_grant(json_t *mercure, const char *name,
                                     struct token_grant *g)
{
	json_t *list = json_object_get(mercure, name);
	if (list == NULL)
		return TOKEN_OK;
	if (!json_is_array(list))
		return TOKEN_CLAIM_TYPE;
	if (json_array_size(list) > TOKEN_CHANNELS_MAX)
		return TOKEN_TOO_MANY;
	g->present = true;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			return TOKEN_CLAIM_TYPE;
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		if (len == 1 && s[0] == '*')
			g->all = true;
		else if (sse_valid_name(s, len))   /* else a topic not ours */
			memcpy(g->names[g->n++], s, len + 1);
	}
	return TOKEN_OK;
}

static enum token_refusal read_name(json_t *root, struct token_claims *c)
{
	json_t *v = json_object_get(root, "name");
	if (v == NULL)
		return TOKEN_OK;
	if (!json_is_string(v) || json_string_length(v) > TOKEN_NAME_MAX)
		return TOKEN_CLAIM_TYPE;
	c->has_name = true;   /* no NUL inside: Jansson refuses \u0000 */
	memcpy(c->name, json_string_value(v), json_string_length(v) + 1);
	return TOKEN_OK;
}

static enum token_refusal read_claims(json_t *root, struct token_claims *c)
{
	enum token_refusal r = read_time(root, "exp", &c->has_exp, &c->exp);
	if (r == TOKEN_OK)
		r = read_time(root, "nbf", &c->has_nbf, &c->nbf);
	if (r == TOKEN_OK)
		r = read_name(root, c);
	json_t *mercure = json_object_get(root, "mercure");
	if (r != TOKEN_OK || mercure == NULL)
		return r;
	if (!json_is_object(mercure))
		return TOKEN_CLAIM_TYPE;
	r = read_grant(mercure, "subscribe", &c->subscribe);
	if (r == TOKEN_OK)
		r = read_grant(mercure, "publish", &c->publish);
	return r;
}

/* The payload, once the signature holds: claims, then the times. */
static enum token_refusal check_payload(const struct parts *p, long long now_s,
                                        struct token_claims *c)
{
	json_t *root;
	enum token_refusal r = decode_part(p->payload, p->payload_len,
	                                   TOKEN_PAYLOAD, &root);
	if (r != TOKEN_OK)
		return r;
	r = read_claims(root, c);
	json_decref(root);
	if (r != TOKEN_OK)
		return r;
	if (c->subscribe.present && !c->has_exp)
		return TOKEN_NO_EXP;
	if (c->has_exp && now_s >= c->exp)
		return TOKEN_EXPIRED;
	if (c->has_nbf && c->nbf > now_s + TOKEN_LEEWAY_S)
		return TOKEN_NOT_YET;
	return TOKEN_OK;
}

enum token_refusal token_verify(const struct token_keys *keys, const char *raw,
                                size_t len, long long now_s,
                                struct token_claims *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return TOKEN_EMPTY;
	if (len > TOKEN_MAX)
		return TOKEN_TOO_LONG;
	if (sodium_init() < 0)
		return TOKEN_NO_KEY;   /* libsodium cannot run: nothing verifies */
	struct parts p;
	enum token_refusal r = split(raw, len, &p);
	if (r == TOKEN_OK)
		r = check_header(&p);
	if (r == TOKEN_OK)
		r = check_signature(keys, &p, &out->key_index);
	if (r == TOKEN_OK)
		r = check_payload(&p, now_s, out);
	return r;
}

bool token_grant_covers(const struct token_grant *g, const char *channel)
{
	if (!g->present)
		return false;
	if (g->all)
		return true;
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->names[i], channel) == 0)
			return true;
	return false;
}

/* Appends len bytes of bin as unpadded base64url. */
static void put_base64(struct strbuf *out, const void *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len,
	                 sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	size_t at = out->len;
	for (size_t i = 0; i < cap; i++)
		sb_putc(out, '\0');
	if (sb_failed(out))
		return;
	sodium_bin2base64(out->data + at, cap, bin, len,
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sb_truncate(out, at + strlen(out->data + at));
}

bool token_sign(const unsigned char *key, size_t key_len, const char *payload,
                size_t payload_len, struct strbuf *out)
{
	if (sodium_init() < 0)
		return false;
	size_t start = out->len;
	put_base64(out, TOKEN_HEADER_JSON, strlen(TOKEN_HEADER_JSON));
	sb_putc(out, '.');
	put_base64(out, payload, payload_len);
	if (sb_failed(out))
		return false;
	unsigned char tag[TOKEN_MAC_BYTES];
	mac(key, key_len, out->data + start, out->len - start, tag);
	sb_putc(out, '.');
	put_base64(out, tag, sizeof(tag));
	return !sb_failed(out);
}
