/*
 * strbuf: a growable byte buffer.
 *
 * Frames, headers and JSON bodies are built in a strbuf and written with one
 * write, so a response never leaves in dribbles and never needs a fixed-size
 * array whose limit would have to be guessed.  A strbuf is always
 * NUL-terminated (the NUL is not counted in len) so it can be logged or
 * compared as a C string; the data may still contain NULs of its own.
 *
 * Allocation failure is reported once, through the `failed` flag, instead of
 * after every append: callers append freely and check sb_failed() before they
 * use the result.  That keeps the framing code free of error branches.
 */
#ifndef SSE_STRBUF_H
#define SSE_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data;   /* NUL-terminated once anything was appended */
	size_t len;   /* bytes used, not counting the NUL */
	size_t cap;   /* bytes allocated */
	bool failed;  /* an allocation failed: the content is incomplete */
};

#define STRBUF_INIT { NULL, 0, 0, false }

void sb_append(struct strbuf *sb, const void *data, size_t len);
void sb_puts(struct strbuf *sb, const char *s);
void sb_putc(struct strbuf *sb, char c);
void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Empties the buffer but keeps its memory for the next frame. */
void sb_reset(struct strbuf *sb);
/* Keeps the first len bytes (len <= sb->len). */
void sb_truncate(struct strbuf *sb, size_t len);
void sb_free(struct strbuf *sb);
bool sb_failed(const struct strbuf *sb);
/* The content as a C string ("" for an empty buffer). */
const char *sb_str(const struct strbuf *sb);

#endif
