/* html: see html.h; the page for visitors without script. */
#include "html.h"

#include <string.h>

#include "json.h"

void html_escape(struct strbuf *out, const char *s, size_t len)
{
	if (len == 0)
		return;
	size_t run = 0;   /* bytes copied as they are, waiting */
	for (size_t i = 0; i < len; i++) {
		const char *entity;
		switch (s[i]) {
		case '&': entity = "&amp;"; break;
		case '<': entity = "&lt;"; break;
		case '>': entity = "&gt;"; break;
		case '"': entity = "&quot;"; break;
		case '\'': entity = "&#39;"; break;
		default: run++; continue;
		}
		sb_append(out, s + i - run, run);
		run = 0;
		sb_puts(out, entity);
	}
	sb_append(out, s + len - run, run);
}

static void escape_str(struct strbuf *out, const char *s)
{
	html_escape(out, s, strlen(s));
}

long html_refresh_s(long retry_ms)
{
	long s = (retry_ms + 999) / 1000;
	return s < 5 ? 5 : s;
}

/* Small, and the chat page's colours; light and dark follow the system. */
static const char style[] =
	":root{color-scheme:light dark;--bg:#f6f7fb;--fg:#1b1d23;--muted:#555b69;"
	"--card:#fff;--line:#d9dce5;--accent:#4338ca}"
	"@media (prefers-color-scheme:dark){:root{--bg:#14161c;--fg:#e8e9ee;"
	"--muted:#a9aebb;--card:#1d2029;--line:#343846;--accent:#a5b4fc}}"
	"body{margin:0 auto;max-width:44rem;padding:1rem;background:var(--bg);"
	"color:var(--fg);font:16px/1.5 system-ui,sans-serif}"
	"h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}"
	".note,.meta,.empty{color:var(--muted)}.user{color:var(--fg)}a{color:var(--accent)}"
	"form{background:var(--card);border:1px solid var(--line);border-radius:.6rem;"
	"padding:.2rem 1rem}input,textarea{width:100%;box-sizing:border-box;font:inherit}"
	"ol{list-style:none;margin:0;padding:0}"
	"li{background:var(--card);border:1px solid var(--line);border-radius:.6rem;"
	"padding:.4rem .8rem;margin:.4rem 0}li p{margin:0}"
	".text,.sys p{white-space:pre-wrap;overflow-wrap:anywhere}";

void html_page_start(struct strbuf *out, const char *channel, long refresh_s)
{
	sb_puts(out, "<!doctype html>\n<html lang=\"en\">\n<head>\n"
	        "<meta charset=\"utf-8\">\n"
	        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	        "<meta name=\"referrer\" content=\"same-origin\">\n");
	sb_printf(out, "<meta http-equiv=\"refresh\" content=\"%ld\">\n", refresh_s);
	sb_puts(out, "<title>#");
	escape_str(out, channel);
	sb_puts(out, " \xC2\xB7 Chat</title>\n<style>");
	sb_puts(out, style);
	sb_puts(out, "</style>\n</head>\n<body>\n<h1>Chat #");
	escape_str(out, channel);
	sb_printf(out, "</h1>\n<p class=\"note\">The newest messages, newest first."
	          " This page reloads itself every %ld seconds.</p>\n", refresh_s);
	sb_puts(out, "<form method=\"post\" action=\"post.fcgi\">\n"
	        "<input type=\"hidden\" name=\"channel\" value=\"");
	escape_str(out, channel);
	sb_puts(out, "\">\n"
	        "<p><label for=\"user\">Name</label><br>"
	        "<input id=\"user\" name=\"user\" type=\"text\" maxlength=\"32\" required></p>\n"
	        "<p><label for=\"text\">Message</label><br>"
	        "<textarea id=\"text\" name=\"text\" rows=\"3\" required></textarea></p>\n"
	        "<p><button type=\"submit\">Send</button></p>\n</form>\n"
	        "<h2 id=\"messages\">Messages</h2>\n"
	        "<ol aria-labelledby=\"messages\">\n");
}

void html_page_problem(struct strbuf *out, const char *problem)
{
	sb_puts(out, "<li class=\"sys\"><p>The messages cannot be shown right now (");
	escape_str(out, problem);
	sb_puts(out, "); this page tries again when it reloads.</p></li>\n");
}

/* "2026-11-22T10:00:00Z" as "2026-11-22 10:00 UTC"; else as it is. */
static void put_time(struct strbuf *out, const char *t, size_t len)
{
	sb_puts(out, " <time datetime=\"");
	html_escape(out, t, len);
	sb_puts(out, "\">");
	if (len == 20 && t[10] == 'T' && t[19] == 'Z') {
		html_escape(out, t, 10);
		sb_putc(out, ' ');
		html_escape(out, t + 11, 5);
		sb_puts(out, " UTC");
	} else {
		html_escape(out, t, len);
	}
	sb_puts(out, "</time>");
}

void html_page_message(struct strbuf *out, const struct message *m)
{
	struct strbuf user = STRBUF_INIT, text = STRBUF_INIT, time = STRBUF_INIT;
	struct json_member members[] = {
		{ "user", &user, false }, { "text", &text, false },
		{ "time", &time, false },
	};
	bool chat = json_read_strings(m->data, m->len, members, 3) == NULL &&
	            members[0].present && members[1].present;
	if (chat) {
		sb_puts(out, "<li><p class=\"meta\"><strong class=\"user\">");
		html_escape(out, user.data, user.len);
		sb_puts(out, "</strong>");
		if (members[2].present)
			put_time(out, time.data, time.len);
		sb_puts(out, "</p><p class=\"text\">");
		html_escape(out, text.data, text.len);
		sb_puts(out, "</p></li>\n");
	} else {
		sb_puts(out, "<li class=\"sys\"><p>");
		html_escape(out, m->data, m->len);
		sb_puts(out, "</p></li>\n");
	}
	sb_free(&user);
	sb_free(&text);
	sb_free(&time);
}

void html_page_end(struct strbuf *out, const char *channel, bool empty)
{
	sb_puts(out, "</ol>\n");
	if (empty) {
		sb_puts(out, "<p class=\"empty\">No messages in #");
		escape_str(out, channel);
		sb_puts(out, " yet.</p>\n");
	}
	sb_puts(out, "</body>\n</html>\n");
}
