/*
 * html: the page events.fcgi answers with `format=html` (docs/PROTOCOL.md,
 * "A page for visitors without script"): the recent messages of a channel,
 * server-rendered, reloading itself with <meta http-equiv="refresh">, and
 * the plain form that posts.
 *
 * Every text that reaches the page (user names, message text, published
 * data, times, the channel name, problem words) goes through html_escape,
 * the one escaping function: `&`, `<`, `>`, `"` and `'` become entities,
 * so no text can open a tag, close an attribute or start an entity, in
 * element content or in a quoted attribute value alike.  The rest of the
 * markup is fixed text of this file.  tests/test_html.c pins the escapes
 * and the page; tests/fuzz/fuzz_html.c reads escaped output back.
 */
#ifndef SSE_HTML_H
#define SSE_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "message.h"
#include "strbuf.h"

/* len bytes of s, with & < > " ' as &amp; &lt; &gt; &quot; &#39;. */
void html_escape(struct strbuf *out, const char *s, size_t len);

/* The page up to its list of messages: head, refresh, title, the form. */
void html_page_start(struct strbuf *out, const char *channel, long refresh_s);

/* Instead of messages: why there are none to show now (a transient problem). */
void html_page_problem(struct strbuf *out, const char *problem);

/*
 * One message (event `message`): a chat message ({"user","text","time"}
 * JSON) as name, time and text; any other data as a plain line.
 */
void html_page_message(struct strbuf *out, const struct message *m);

/* The end of the page; empty: the channel has no messages to list. */
void html_page_end(struct strbuf *out, const char *channel, bool empty);

/* The refresh of the page, in whole seconds, from retry_ms (at least 5). */
long html_refresh_s(long retry_ms);

#endif
