/* request: see request.h. */
#include "request.h"

#include <ctype.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "sse.h"

enum id_parse parse_event_id(const char *s, long long *out)
{
	if (s == NULL || *s == '\0')
		return ID_ABSENT;
	return parse_digits(s, out) ? ID_VALID : ID_INVALID;
}

/*
 * Looks up one query parameter: true with the value in out when present,
 * false when absent or refused (then *error says why).
 */
static bool query_param(const char *query, const char *name,
                        struct strbuf *out, const char **error)
{
	switch (form_get(query, strlen(query), name, out)) {
	case FORM_FOUND:
		return true;
	case FORM_ABSENT:
		return false;
	case FORM_DUPLICATE:
		*error = "a query parameter is given twice";
		return false;
	case FORM_MALFORMED:
		break;
	}
	*error = "malformed percent escape in the query string";
	return false;
}

bool query_has_token(const char *query)
{
	struct strbuf value = STRBUF_INIT;
	bool has = query != NULL &&
	           form_get(query, strlen(query), "token", &value) != FORM_ABSENT;
	sb_free(&value);
	return has;
}

int parse_stream_query(const char *query, struct stream_query *out)
{
	memset(out, 0, sizeof(*out));
	strcpy(out->channel, DEFAULT_CHANNEL);
	out->since = ID_ABSENT;
	if (query == NULL)
		query = "";
	struct strbuf value = STRBUF_INIT;
	if (query_has_token(query))
		out->error = QUERY_TOKEN_REFUSED;
	else if (query_param(query, "channel", &value, &out->error)) {
		if (sse_valid_name(sb_str(&value), value.len))
			memcpy(out->channel, sb_str(&value), value.len + 1);
		else
			out->error = "channel must be " SSE_NAME_RULE;
	}
	if (out->error == NULL && query_param(query, "since", &value, &out->error)) {
		out->since = parse_event_id(sb_str(&value), &out->since_id);
		if (out->since != ID_VALID)
			out->error = "since must be a message id (digits)";
	}
	static const struct {
		const char *name, *value, *error;
		size_t field;
	} flags[] = {
		{ "poll", "1", "poll must be 1", offsetof(struct stream_query, poll) },
		{ "hello", "1", "hello must be 1", offsetof(struct stream_query, hello) },
		{ "format", "html", "format must be html", offsetof(struct stream_query, html) },
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if (out->error == NULL &&
		    query_param(query, flags[i].name, &value, &out->error)) {
			if (value.len == strlen(flags[i].value) &&
			    memcmp(sb_str(&value), flags[i].value, value.len) == 0)
				*(bool *)((char *)out + flags[i].field) = true;
			else
				out->error = flags[i].error;
		}
	}
	sb_free(&value);
	return out->error == NULL ? 0 : 400;
}

int parse_events_request(const char *method, const char *query,
                         const char *last_event_id, struct events_request *out,
                         const char **why)
{
	memset(out, 0, sizeof(*out));
	out->head = method != NULL && strcmp(method, "HEAD") == 0;
	if (!out->head && !(method != NULL && strcmp(method, "GET") == 0))
		return *why = "only GET and HEAD", 405;
	if (parse_stream_query(query, &out->q) != 0)
		return *why = out->q.error, 400;
	long long id;
	switch (parse_event_id(last_event_id, &id)) {
	case ID_VALID:
		out->resume = id;
		break;
	case ID_INVALID:
		out->resume = LLONG_MAX;  /* above every id: answered with a reset */
		break;
	case ID_ABSENT:
		out->resume = out->q.since == ID_VALID ? out->q.since_id
		                                       : STREAM_NO_RESUME;
		break;
	}
	return 0;
}

/* Copies the lower-cased, trimmed token before any ';' into out. */
static void media_type(const char *s, char *out, size_t outlen)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = 0;
	while (*s && *s != ';' && *s != ',' && *s != ' ' && *s != '\t' &&
	       n + 1 < outlen)
		out[n++] = (char)tolower((unsigned char)*s++);
	out[n] = '\0';
}

/* A charset parameter, if any, must be UTF-8: we store and serve UTF-8. */
static bool charset_ok(const char *s)
{
	const char *p = strchr(s, ';');
	while (p != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "charset=", 8) == 0) {
			p += 8;
			if (*p == '"')
				p++;
			if (strncasecmp(p, "utf-8", 5) != 0 || isalnum((unsigned char)p[5]) ||
			    p[5] == '-')
				return false;
		}
		p = strchr(p, ';');
	}
	return true;
}

enum body_type parse_content_type(const char *content_type)
{
	if (content_type == NULL)
		return BODY_OTHER;
	char type[64];
	media_type(content_type, type, sizeof(type));
	if (!charset_ok(content_type))
		return BODY_OTHER;
	if (strcmp(type, "application/x-www-form-urlencoded") == 0)
		return BODY_FORM;
	if (strcmp(type, "application/json") == 0)
		return BODY_JSON;
	return BODY_OTHER;
}

bool parse_content_length(const char *s, long long *out)
{
	return parse_digits(s, out);
}

bool wants_html(const char *accept)
{
	if (accept == NULL)
		return false;
	/* A browser's form navigation lists text/html first; fetch() sends * / *. */
	char type[64];
	media_type(accept, type, sizeof(type));
	return strcmp(type, "text/html") == 0;
}
