/* gate: see gate.h; the access rules of streams and posts, once. */
#include "gate.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

/* RFC 6750 3: the scheme alone when no token came; invalid_token when
 * one did and was refused; insufficient_scope for a 403. */
#define CHALLENGE_NONE "WWW-Authenticate: Bearer realm=\"sse-cgi\"\r\n"
#define CHALLENGE_INVALID \
	"WWW-Authenticate: Bearer realm=\"sse-cgi\", error=\"invalid_token\"\r\n"
#define CHALLENGE_SCOPE \
	"WWW-Authenticate: Bearer realm=\"sse-cgi\", error=\"insufficient_scope\"\r\n"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* "Bearer TOKEN" (the scheme in any case, RFC 7235 2.1). */
static bool bearer(const char *h, const char **token, size_t *len)
{
	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || !is_blank(h[6]))
		return false;
	const char *p = h + 6;
	while (is_blank(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_blank(p[n - 1]))
		n--;
	*token = p;
	*len = n;
	return n > 0;
}

/* The first cookie of that name in "a=1; b=2"; quotes around it dropped. */
static bool cookie(const char *h, const char *name, const char **value,
                   size_t *len)
{
	size_t name_len = strlen(name);
	for (const char *p = h; p != NULL && *p != '\0';) {
		while (is_blank(*p) || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t pair = end ? (size_t)(end - p) : strlen(p);
		if (pair > name_len && strncmp(p, name, name_len) == 0 &&
		    p[name_len] == '=') {
			const char *v = p + name_len + 1;
			size_t n = pair - name_len - 1;
			while (n > 0 && is_blank(v[n - 1]))
				n--;
			if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
				v++, n -= 2;
			*value = v;
			*len = n;
			return n > 0;
		}
		p = end;
	}
	return false;
}

bool gate_find_token(const char *authorization, const char *cookie_header,
                     const char *cookie_name, const char **token, size_t *len)
{
	return bearer(authorization, token, len) ||
	       cookie(cookie_header, cookie_name, token, len);
}

bool gate_is_private(const char *patterns, const char *channel)
{
	char glob[CONFIG_PATTERNS_MAX];
	for (const char *p = patterns; *p != '\0';) {
		while (is_blank(*p))
			p++;
		size_t n = 0;
		while (p[n] != '\0' && !is_blank(p[n]))
			n++;
		if (n == 0)
			break;
		memcpy(glob, p, n);
		glob[n] = '\0';
		if (fnmatch(glob, channel, 0) == 0)
			return true;
		p += n;
	}
	return false;
}

static void verdict(struct gate_verdict *v, int status, const char *reason,
                    const char *challenge)
{
	v->status = status;
	v->reason = reason;
	v->challenge = challenge;
}

/* The token the request carries, checked: 0 and *found when there is
 * none, 401 when it is refused. */
static int check_token(const struct config *cfg, const struct token_keys *keys,
                       const char *authorization, const char *cookie_header,
                       long long now_s, bool *found, struct gate_verdict *v)
{
	const char *raw;
	size_t len;
	*found = gate_find_token(authorization, cookie_header, cfg->token_cookie,
	                         &raw, &len);
	if (!*found)
		return 0;
	enum token_refusal r = token_verify(keys, raw, len, now_s, &v->claims);
	if (r != TOKEN_OK) {
		verdict(v, 401, token_refusal_text(r), CHALLENGE_INVALID);
		return 401;
	}
	v->tokened = true;
	return 0;
}

void gate_subscribe(const struct config *cfg, const struct token_keys *keys,
                    const char *channel, const char *authorization,
                    const char *cookie_header, long long now_s,
                    struct gate_verdict *out)
{
	memset(out, 0, sizeof(*out));
	verdict(out, 0, "public channel", "");
	if (!gate_is_private(cfg->private_channels, channel))
		return;
	bool found;
	if (check_token(cfg, keys, authorization, cookie_header, now_s, &found,
	                out) != 0)
		return;
	if (!found)
		verdict(out, 401, "this channel is private: sign in (no token was sent)",
		        CHALLENGE_NONE);
	else if (!token_grant_covers(&out->claims.subscribe, channel))
		verdict(out, 403, "the token does not let you follow this channel",
		        CHALLENGE_SCOPE);
	else
		verdict(out, 0, "token covers the channel", "");
}

void gate_token(const struct config *cfg, const struct token_keys *keys,
                const char *authorization, const char *cookie_header,
                long long now_s, struct gate_verdict *out)
{
	memset(out, 0, sizeof(*out));
	verdict(out, 0, "no token", "");
	/* A site without tokens has nothing to check one against: a proxy's or
	 * another application's Authorization or cookie is none of its business
	 * (and the posts stay anonymous, as before tokens). */
	if (keys == NULL || keys->n == 0)
		return;
	bool found;
	check_token(cfg, keys, authorization, cookie_header, now_s, &found, out);
}

const char *gate_signer(const struct gate_verdict *v)
{
	return v->status == 0 && v->tokened && v->claims.publish.present &&
	       v->claims.has_name ? v->claims.name : NULL;
}

void gate_publish(const struct config *cfg, const char *channel,
                  struct gate_verdict *v)
{
	if (v->status != 0)
		return;   /* gate_token refused the token */
	if (v->tokened && v->claims.publish.present) {
		if (!token_grant_covers(&v->claims.publish, channel))
			verdict(v, 403, "the token does not let you post to this channel",
			        CHALLENGE_SCOPE);
		else
			v->signed_name = v->claims.has_name;
		return;
	}
	if (!cfg->publish_requires_token &&
	    !gate_is_private(cfg->private_channels, channel))
		return;   /* anonymous, as before tokens */
	if (v->tokened)
		verdict(v, 403, "the token does not let you post"
		        " (it has no mercure.publish claim)", CHALLENGE_SCOPE);
	else
		verdict(v, 401, "posting here needs a token: sign in", CHALLENGE_NONE);
}
