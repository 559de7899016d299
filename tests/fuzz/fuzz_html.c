/*
 * fuzz_html: the page's escaping (src/wire/html.c), for any bytes.
 *
 * html_escape: the output has no `<`, `>`, `"` or `'` at all, every `&`
 * starts one of the five entities it writes (&amp; &lt; &gt; &quot; &#39;),
 * and replacing those five by their characters gives back the input,
 * byte for byte (NULs and bytes that are not UTF-8 included).
 *
 * html_page_message, with the input as a message's data (the fuzzer finds
 * JSON objects with "user", "text" and "time" through the seeds): every
 * `<` of the row starts one of the row's own tags, so no data can open a
 * tag; the one attribute value (<time datetime="...">) holds no `"`, so it
 * cannot be left early; and the row ends as a row does.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_ref.h"
#include "html.h"
#include "strbuf.h"

static const struct {
	const char *text;
	char c;
} entities[] = {
	{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
	{ "&quot;", '"' }, { "&#39;", '\'' },
};

static void check_escape(const uint8_t *data, size_t size)
{
	struct strbuf out = STRBUF_INIT;
	html_escape(&out, (const char *)data, size);
	FUZZ_ASSERT(!sb_failed(&out));
	size_t j = 0;   /* where the input is, as the output is read back */
	for (size_t i = 0; i < out.len;) {
		char c = out.data[i];
		FUZZ_ASSERT(c != '<' && c != '>' && c != '"' && c != '\'');
		if (c != '&') {
			FUZZ_ASSERT(j < size && (char)data[j] == c);
			i++, j++;
			continue;
		}
		size_t k = 0;
		while (k < sizeof(entities) / sizeof(entities[0]) &&
		       strncmp(out.data + i, entities[k].text,
		               strlen(entities[k].text)) != 0)
			k++;
		FUZZ_ASSERT(k < sizeof(entities) / sizeof(entities[0]));
		FUZZ_ASSERT(j < size && (char)data[j] == entities[k].c);
		i += strlen(entities[k].text);
		j++;
	}
	FUZZ_ASSERT(j == size);
	sb_free(&out);
}

/* The tags a row is made of; a `<` anywhere else is an injection. */
static const char *const tags[] = {
	"<li>", "<li class=\"sys\">", "</li>", "<p>", "</p>", "<p class=\"meta\">",
	"<p class=\"text\">", "<strong class=\"user\">", "</strong>", "</time>",
};
#define TIME_OPEN "<time datetime=\""

static void check_row(const uint8_t *data, size_t size)
{
	/* A message's data is UTF-8 without NUL: cut at the first NUL. */
	const void *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)((const uint8_t *)nul - data) : size;
	struct message m = { 1, "chat", "message", (const char *)data, len };
	struct strbuf out = STRBUF_INIT;
	html_page_message(&out, &m);
	FUZZ_ASSERT(!sb_failed(&out));
	const char *s = sb_str(&out);
	FUZZ_ASSERT(strncmp(s, "<li", 3) == 0);
	FUZZ_ASSERT(out.len >= 6 && strcmp(s + out.len - 6, "</li>\n") == 0);
	for (size_t i = 0; i < out.len; i++) {
		FUZZ_ASSERT(s[i] != '>' || (i > 0 && (s[i - 1] == '"' ||
		            (s[i - 1] >= 'a' && s[i - 1] <= 'z'))));
		if (s[i] != '<')
			continue;
		if (strncmp(s + i, TIME_OPEN, strlen(TIME_OPEN)) == 0) {
			const char *q = strchr(s + i + strlen(TIME_OPEN), '"');
			FUZZ_ASSERT(q != NULL && q[1] == '>');
			FUZZ_ASSERT(memchr(s + i + strlen(TIME_OPEN), '<',
			                   (size_t)(q - (s + i + strlen(TIME_OPEN)))) == NULL);
			i = (size_t)(q + 1 - s);
			continue;
		}
		size_t k = 0;
		while (k < sizeof(tags) / sizeof(tags[0]) &&
		       strncmp(s + i, tags[k], strlen(tags[k])) != 0)
			k++;
		FUZZ_ASSERT(k < sizeof(tags) / sizeof(tags[0]));
		i += strlen(tags[k]) - 1;
	}
	sb_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_escape(data, size);
	check_row(data, size);
	return 0;
}
