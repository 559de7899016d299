/*
 * fuzz_token: token_verify() (src/auth/token.c: libsodium and Jansson
 * underneath) on tokens as sent and on tokens signed right.  The first
 * input byte picks the mode; the rest is the payload.
 *
 * Even: the payload is the raw token, verified with two fixed secrets at
 * a fixed time.  Whatever it is, the answer has words, nothing leaks or
 * reads out of bounds (ASan; the token is an exact-size copy), and a
 * token accepted (a seed signed right, mutated where it does not count)
 * has claims within their bounds, as below.
 *
 * Odd: the payload is split at its first 0xFF byte into a header and a
 * payload (JSON text, or anything), which this target base64url-encodes
 * and signs with the current secret, as a site's minting code would.  So
 * the header and claims checks see any bytes at all.  Then:
 *   - a token within TOKEN_MAX is never refused for its shape, its base64,
 *     its signature or a missing key: those were made right here;
 *   - the verdict is the same with the previous secret added to the keys,
 *     and it names the current secret (key_index 0);
 *   - an accepted token's claims keep their bounds: at most
 *     TOKEN_CHANNELS_MAX names, each a channel name; a name of at most
 *     TOKEN_NAME_MAX bytes without a NUL; a token that grants
 *     subscriptions has exp after now; nbf within the leeway.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz_ref.h"
#include "strbuf.h"
#include "token.h"

#define NOW 1700000000LL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char current[] = "fuzz-current-secret-fuzz-current-secret";
static const char previous[] = "fuzz-previous-secret-fuzz-previous-secret";

static void keys_of(struct token_keys *k, bool with_previous)
{
	memset(k, 0, sizeof(*k));
	token_keys_add(k, current, strlen(current));
	if (with_previous)
		token_keys_add(k, previous, strlen(previous));
}

static void put_b64(struct strbuf *out, const uint8_t *bin, size_t len)
{
	size_t cap = sodium_base64_ENCODED_LEN(len,
	                 sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *b = malloc(cap);
	FUZZ_ASSERT(b != NULL);
	sodium_bin2base64(b, cap, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sb_puts(out, b);
	free(b);
}

static void check_grant(const struct token_grant *g)
{
	FUZZ_ASSERT(g->n <= TOKEN_CHANNELS_MAX);
	for (size_t i = 0; i < g->n; i++)
		FUZZ_ASSERT(sse_valid_name(g->names[i], strlen(g->names[i])));
	FUZZ_ASSERT(g->present || (g->n == 0 && !g->all));
}

static void check_claims(const struct token_claims *c)
{
	check_grant(&c->subscribe);
	check_grant(&c->publish);
	FUZZ_ASSERT(strlen(c->name) <= TOKEN_NAME_MAX);
	FUZZ_ASSERT(c->has_name || c->name[0] == '\0');
	FUZZ_ASSERT(!c->subscribe.present || (c->has_exp && c->exp > NOW));
	FUZZ_ASSERT(!c->has_exp || c->exp > NOW);
	FUZZ_ASSERT(!c->has_nbf || c->nbf <= NOW + TOKEN_LEEWAY_S);
}

/* Verifies an exact-size copy, so ASan sees any read past the token. */
static enum token_refusal verify(const char *s, size_t len, bool with_previous,
                                 struct token_claims *c)
{
	struct token_keys k;
	keys_of(&k, with_previous);
	char *copy = malloc(len ? len : 1);
	FUZZ_ASSERT(copy != NULL);
	if (len > 0)
		memcpy(copy, s, len);
	enum token_refusal r = token_verify(&k, copy, len, NOW, c);
	free(copy);
	FUZZ_ASSERT(*token_refusal_text(r) != '\0');
	return r;
}

static void signed_mode(const uint8_t *p, size_t len)
{
	const uint8_t *cut = memchr(p, 0xFF, len);
	size_t head_len = cut ? (size_t)(cut - p) : len;
	const uint8_t *body = cut ? cut + 1 : p + len;
	size_t body_len = cut ? len - head_len - 1 : 0;
	struct strbuf t = STRBUF_INIT;
	put_b64(&t, p, head_len);
	sb_putc(&t, '.');
	put_b64(&t, body, body_len);
	unsigned char tag[32];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)current,
	                            strlen(current));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)t.data, t.len);
	crypto_auth_hmacsha256_final(&st, tag);
	sb_putc(&t, '.');
	put_b64(&t, tag, sizeof(tag));
	FUZZ_ASSERT(!sb_failed(&t));

	struct token_claims one, two;
	enum token_refusal r = verify(t.data, t.len, false, &one);
	FUZZ_ASSERT(verify(t.data, t.len, true, &two) == r);
	if (t.len <= TOKEN_MAX)
		FUZZ_ASSERT(r != TOKEN_TOO_LONG && r != TOKEN_SEGMENTS &&
		            r != TOKEN_BASE64 && r != TOKEN_SIGNATURE &&
		            r != TOKEN_NO_KEY && r != TOKEN_EMPTY);
	else
		FUZZ_ASSERT(r == TOKEN_TOO_LONG);
	if (r == TOKEN_OK) {
		check_claims(&one);
		FUZZ_ASSERT(one.key_index == 0 && two.key_index == 0);
	}
	sb_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		signed_mode(data + 1, size - 1);
	} else {
		struct token_claims c;
		if (verify((const char *)data + 1, size - 1, true, &c) == TOKEN_OK)
			check_claims(&c);
	}
	return 0;
}
