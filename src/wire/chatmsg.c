/* chatmsg: see chatmsg.h. */
#include "chatmsg.h"

#include <string.h>

#include "form.h"
#include "json.h"
#include "sse.h"
#include "utf8.h"

void chatmsg_free(struct chatmsg *m)
{
	sb_free(&m->channel);
	sb_free(&m->user);
	sb_free(&m->text);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Removes ASCII white space at both ends, in place. */
static void trim(struct strbuf *sb)
{
	if (sb->len == 0)
		return;
	size_t start = 0, end = sb->len;
	while (start < end && is_space(sb->data[start]))
		start++;
	while (end > start && is_space(sb->data[end - 1]))
		end--;
	memmove(sb->data, sb->data + start, end - start);
	sb->len = end - start;
	sb->data[sb->len] = '\0';
}

/* CRLF and lone CR become LF, so stored text has one kind of newline. */
static void normalise_newlines(struct strbuf *sb)
{
	size_t w = 0;
	for (size_t r = 0; r < sb->len; r++) {
		char c = sb->data[r];
		if (c == '\r') {
			if (r + 1 < sb->len && sb->data[r + 1] == '\n')
				r++;
			c = '\n';
		}
		sb->data[w++] = c;
	}
	sb->len = w;
	if (sb->data != NULL)
		sb->data[w] = '\0';
}

/*
 * C0 controls (but LF when allowed), DEL, and the C1 controls U+0080-U+009F
 * (UTF-8 C2 80..C2 9F).  Input is already valid UTF-8.
 */
static bool has_control(const struct strbuf *sb, bool allow_newline)
{
	const unsigned char *s = (const unsigned char *)sb->data;
	for (size_t i = 0; i < sb->len; i++) {
		if ((s[i] < 0x20 && !(allow_newline && s[i] == '\n')) || s[i] == 0x7f)
			return true;
		if (s[i] == 0xC2 && i + 1 < sb->len && s[i + 1] <= 0x9F)
			return true;
	}
	return false;
}

/* What a field must be, and the words that say what it is not. */
struct field_rule {
	size_t max;             /* characters */
	bool multiline;         /* newlines allowed (any kind, stored as LF) */
	const char *invalid, *required, *too_long, *control;
};

static const struct field_rule user_rule = {
	CHAT_USER_MAX, false, "user is not valid UTF-8", "user is required",
	"user must be at most 32 characters",
	"user must not contain control characters",
};

static const struct field_rule text_rule = {
	CHAT_TEXT_MAX, true, "text is not valid UTF-8", "text is required",
	"text must be at most 2000 characters",
	"text must not contain control characters other than newlines",
};

/* Normalises and trims the field in place; NULL when valid, else why not. */
static const char *check_field(struct strbuf *v, const struct field_rule *r)
{
	if (!utf8_valid(v->data, v->len))
		return r->invalid;
	if (r->multiline)
		normalise_newlines(v);
	trim(v);
	size_t n = utf8_count(v->data, v->len);
	if (n == 0)
		return r->required;
	if (n > r->max)
		return r->too_long;
	if (has_control(v, r->multiline))
		return r->control;
	return NULL;
}

static const char *form_field(const char *body, size_t len, const char *name,
                              struct strbuf *out, bool *present)
{
	switch (form_get(body, len, name, out)) {
	case FORM_ABSENT:
		*present = false;
		return NULL;
	case FORM_FOUND:
		*present = true;
		return NULL;
	case FORM_DUPLICATE:
		return "a field is given twice";
	case FORM_MALFORMED:
		break;
	}
	return "malformed percent escape in the form body";
}

static const char *parse_form(const char *body, size_t len, struct chatmsg *m,
                              bool present[3])
{
	const char *err = form_field(body, len, "channel", &m->channel, &present[0]);
	if (err == NULL)
		err = form_field(body, len, "user", &m->user, &present[1]);
	if (err == NULL)
		err = form_field(body, len, "text", &m->text, &present[2]);
	return err;
}

static const char *parse_json(const char *body, size_t len, struct chatmsg *m,
                              bool present[3])
{
	struct json_member members[] = {
		{ "channel", &m->channel, false },
		{ "user", &m->user, false },
		{ "text", &m->text, false },
	};
	const char *err = json_read_strings(body, len, members, 3);
	for (size_t i = 0; i < 3; i++)
		present[i] = members[i].present;
	return err;
}

int chatmsg_parse(enum body_type type, const char *body, size_t len,
                  struct chatmsg *out, const char **error)
{
	return chatmsg_parse_signed(type, body, len, NULL, out, error);
}

int chatmsg_parse_signed(enum body_type type, const char *body, size_t len,
                         const char *name, struct chatmsg *out,
                         const char **error)
{
	bool present[3] = { false, false, false };  /* channel, user, text */
	const char *err;
	if (!utf8_valid(body, len))
		err = "body is not valid UTF-8";
	else if (type == BODY_JSON)
		err = parse_json(body, len, out, present);
	else
		err = parse_form(body, len, out, present);
	if (err == NULL && !present[0])
		sb_puts(&out->channel, DEFAULT_CHANNEL);
	if (err == NULL && !sse_valid_name(sb_str(&out->channel), out->channel.len))
		err = "channel must be " SSE_NAME_RULE;
	if (err == NULL && name != NULL) {   /* the token's, not the body's */
		sb_reset(&out->user);
		sb_puts(&out->user, name);
		present[1] = true;
	}
	if (err == NULL)
		err = present[1] ? check_field(&out->user, &user_rule) : user_rule.required;
	if (err != NULL && name != NULL && strncmp(err, "user ", 5) == 0)
		err = "the token's name is not a valid user (1 to 32 characters,"
		      " no control characters)";
	if (err == NULL)
		err = present[2] ? check_field(&out->text, &text_rule) : text_rule.required;
	if (err == NULL && (sb_failed(&out->user) || sb_failed(&out->text)))
		err = "out of memory";
	*error = err;
	return err == NULL ? 0 : 400;
}
