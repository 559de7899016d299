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
 * Posts: see gate_publish.
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
 * May this request post to channel, and under whose name?
 *   - a token whose publish claim covers the channel: allowed; its name,
 *     if any, signs the message (signed_name);
 *   - a token whose publish claim does not cover it: 403;
 *   - a token with no publish claim (a subscribe-only cookie that a
 *     browser sends with every post), or no token: an anonymous post,
 *     refused (401) when publish_requires_token is on or the channel is
 *     private, else allowed as before tokens;
 *   - a token that is refused: 401 (never quietly anonymous).
 */
void gate_publish(const struct config *cfg, const struct token_keys *keys,
                  const char *channel, const char *authorization,
                  const char *cookie_header, long long now_s,
                  struct gate_verdict *out);

#endif
