/*
 * gate: who may read or post to a channel, decided once for both stream
 * modes and for post.fcgi (docs/PROTOCOL.md, "Tokens").  Sans I/O like
 * token.h: the configuration, the secrets, what the request carried and
 * the wall-clock time in; a verdict out.
 *
 * Where a token comes from: `Authorization: Bearer` (server-side
 * publishers, curl), else the cookie named by token_cookie (what a
 * browser's EventSource sends on its own, with no script able to add a
 * header).  Never the URL: a URL lands in access logs, in Referer
 * headers and in the browser's history (request.c answers ?token= with
 * a 400 before anything gets here).
 *
 * Streams: a channel that matches none of private_channels is public and
 * nothing is checked, not even a token that happens to be sent, so public
 * channels behave exactly as without tokens.  A private one needs a token
 * (401, with a WWW-Authenticate challenge: RFC 6750) whose subscribe
 * claim covers it (else 403).
 *
 * Posts: see gate_token and gate_publish.
 */
#ifndef SSE_GATE_H
#define SSE_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "token.h"

struct gate_verdict {
	int status;                   /* 0 = allowed, 401 or 403 */
	const char *reason;           /* for the JSON body and the log */
	const char *challenge;        /* header lines for the answer, or "" */
	bool tokened;                 /* an accepted token is in claims */
	bool signed_name;             /* gate_publish: claims.name speaks */
	struct token_claims claims;
};

/* The request's token, Authorization first; false when it carries none. */
bool gate_find_token(const char *authorization, const char *cookie_header,
                     const char *cookie_name, const char **token, size_t *len);

/* True when channel matches one of the space-separated globs. */
bool gate_is_private(const char *patterns, const char *channel);

/* May this request follow channel?  now_s: wall clock, seconds. */
void gate_subscribe(const struct config *cfg, const struct token_keys *keys,
                    const char *channel, const char *authorization,
                    const char *cookie_header, long long now_s,
                    struct gate_verdict *out);

/*
 * Posts, in two steps, since the channel is in the body and the name a
 * token signs with decides how the body is read:
 *
 * gate_token: the token the request carries, checked (401 when it is
 * refused: a bad token never quietly posts as anonymous).
 *
 * gate_signer: the name a post is signed with, when the token's publish
 * claim is there and it carries a name; NULL otherwise.
 *
 * gate_publish, after gate_token: may it post to channel?
 *   - a token whose publish claim covers the channel: allowed, signed
 *     with its name if it has one (signed_name);
 *   - a token whose publish claim does not cover it: 403;
 *   - a token with no publish claim (a subscribe-only cookie, which the
 *     browser sends with every post), or no token: an anonymous post,
 *     refused when publish_requires_token is on or the channel is private
 *     (401 without a token, 403 with one), else allowed as before tokens.
 */
void gate_token(const struct config *cfg, const struct token_keys *keys,
                const char *authorization, const char *cookie_header,
                long long now_s, struct gate_verdict *out);
const char *gate_signer(const struct gate_verdict *v);
void gate_publish(const struct config *cfg, const char *channel,
                  struct gate_verdict *v);

#endif
