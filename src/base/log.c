/* log: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void log_msg(const char *component, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int n = snprintf(line, sizeof(line), "sse-cgi: %s: ", component);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	/* One write, so lines of concurrent processes do not interleave. */
	ssize_t ignored = write(STDERR_FILENO, line, len);
	(void)ignored;
}
