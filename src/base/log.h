/*
 * log: one line per problem on stderr, which Apache appends to its error log
 * (for CGI and for mod_fcgid alike).
 *
 * Lines start with a stable prefix, "sse-cgi: <component>: ", so an owner can
 * grep for them.  Message contents are never logged.  Control characters in
 * the formatted line are replaced by '?', so nothing a client sent (a channel
 * name, a header) can forge a second log line.
 */
#ifndef SSE_LOG_H
#define SSE_LOG_H

#define LOG_LINE_MAX 1024

void log_msg(const char *component, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
