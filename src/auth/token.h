/*
 * token: reading and checking a JWT (RFC 7519) that a site's own code
 * minted, and minting one (ssectl token).  Sans I/O: the caller hands in
 * the key(s), the raw token and the time; the answer is the claims or a
 * named refusal (enum token_refusal), never a log line.
 *
 * Only HS256 (HMAC-SHA-256, RFC 7518 3.2) is accepted, whatever the header
 * says: the verifier knows which algorithm its key is for, so `alg` is
 * compared against "HS256", never used to pick one (an "alg":"none" token,
 * or an RS256 header hoping its public key is taken as an HMAC secret,
 * fails the same way).  libsodium does the cryptography: HMAC-SHA-256 with
 * a key of any length (crypto_auth_hmacsha256_init), a constant-time
 * comparison of the 32-byte tags (crypto_verify_32), and a base64url
 * decoder that refuses padding and non-canonical trailing bits, so one
 * signature has one spelling.  Jansson reads the JSON, with duplicate
 * names refused (a claim given twice must not mean whichever a parser
 * kept) and nesting bounded before it parses.
 *
 * The order of the checks is the trade-off: size and shape first (cheap,
 * no allocation), then the header (it says which algorithm), then the
 * signature over the bytes as sent, and only then the payload is decoded
 * and parsed: an unsigned payload never reaches the JSON parser.  The
 * table tests sign bad payloads with the right key to reach those checks.
 *
 * Claims are Mercure's (mercure.subscribe, mercure.publish: arrays of
 * channel names, "*" for every channel), so minting code written for a
 * Mercure hub works unchanged; `name` is ours (who is speaking, for chat
 * posts).  Entries that are not channel names (Mercure topics are often
 * URLs) are skipped: they can match no channel here.  A token that grants
 * subscriptions must expire; `nbf` has TOKEN_LEEWAY_S of grace for clocks
 * that disagree; `exp` has none (a minter whose clock is behind ours
 * only loses a little of each token's life).
 */
#ifndef SSE_TOKEN_H
#define SSE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "sse.h"
#include "strbuf.h"

#define TOKEN_MAX 4096            /* bytes of a raw token, at most */
#define TOKEN_KEY_MIN 32          /* bytes of a secret, at least */
#define TOKEN_KEY_MAX 1024        /* bytes of a secret, at most */
#define TOKEN_KEYS_MAX 2          /* the current secret and the previous */
#define TOKEN_CHANNELS_MAX 32     /* entries of one claim's array */
#define TOKEN_NAME_MAX 128        /* bytes of the name claim */
#define TOKEN_LEEWAY_S 60         /* grace for nbf: clocks disagree */
#define TOKEN_DEPTH_MAX 8         /* arrays and objects inside each other */
#define TOKEN_TIME_MAX 253402300799LL   /* 9999-12-31: later is clamped */
#define TOKEN_MAC_BYTES 32        /* HMAC-SHA-256 */

/* Why a token is refused; TOKEN_OK when it is not. */
enum token_refusal {
	TOKEN_OK = 0,
	TOKEN_EMPTY,         /* no bytes at all */
	TOKEN_TOO_LONG,      /* over TOKEN_MAX */
	TOKEN_SEGMENTS,      /* not header.payload.signature */
	TOKEN_BASE64,        /* a part is not unpadded, canonical base64url */
	TOKEN_HEADER,        /* the header is not a JSON object */
	TOKEN_ALG,           /* alg is not "HS256" */
	TOKEN_CRIT,          /* the header names extensions (crit) */
	TOKEN_NO_KEY,        /* no secret to check it with */
	TOKEN_SIGNATURE,     /* no secret gives this signature */
	TOKEN_PAYLOAD,       /* the payload is not a JSON object */
	TOKEN_DUPLICATE,     /* a JSON object names a member twice */
	TOKEN_DEEP,          /* JSON nested deeper than TOKEN_DEPTH_MAX */
	TOKEN_CLAIM_TYPE,    /* exp, nbf, mercure or name of the wrong type */
	TOKEN_TOO_MANY,      /* a claim lists over TOKEN_CHANNELS_MAX entries */
	TOKEN_NO_EXP,        /* grants subscriptions without exp */
	TOKEN_EXPIRED,       /* now is at or past exp */
	TOKEN_NOT_YET,       /* nbf is more than TOKEN_LEEWAY_S ahead */
};

/* The refusal in words, for a 401's body and the log (never the token). */
const char *token_refusal_text(enum token_refusal r);

/* The secrets a token may be signed with, tried in order. */
struct token_keys {
	size_t n;
	size_t len[TOKEN_KEYS_MAX];
	unsigned char bytes[TOKEN_KEYS_MAX][TOKEN_KEY_MAX];
};

/* Adds a secret (TOKEN_KEY_MIN to TOKEN_KEY_MAX bytes, asserted). */
void token_keys_add(struct token_keys *keys, const void *bytes, size_t len);

/* Wipes the secrets. */
void token_keys_wipe(struct token_keys *keys);

/* One of mercure.subscribe, mercure.publish. */
struct token_grant {
	bool present;                 /* the claim was in the token */
	bool all;                     /* it lists "*" */
	size_t n;                     /* channel names kept */
	char names[TOKEN_CHANNELS_MAX][SSE_NAME_MAX + 1];
};

struct token_claims {
	struct token_grant subscribe, publish;
	bool has_exp, has_nbf, has_name;
	long long exp, nbf;           /* seconds since the epoch, clamped */
	char name[TOKEN_NAME_MAX + 1];
	size_t key_index;             /* which secret verified it */
};

/*
 * Checks raw (len bytes, not NUL-terminated) against keys at now_s
 * (seconds since the epoch).  TOKEN_OK with *out filled, else the first
 * refusal met (out is then unspecified).
 */
enum token_refusal token_verify(const struct token_keys *keys, const char *raw,
                                size_t len, long long now_s,
                                struct token_claims *out);

/* True when the grant covers channel ("*" or the name listed). */
bool token_grant_covers(const struct token_grant *g, const char *channel);

/*
 * Mints a token: the header {"alg":"HS256","typ":"JWT"}, payload (JSON
 * text, used as given), signed with key.  Appends to out; false when out
 * failed (memory).
 */
bool token_sign(const unsigned char *key, size_t key_len, const char *payload,
                size_t payload_len, struct strbuf *out);

#endif
