/*
 * fuzz_config: config_parse() (src/base/config.c) on arbitrary text, applied to
 * the defaults as config_load() does.
 *
 * On success every value must be within the range that docs/PROTOCOL.md
 * ("Keys") and config.c document, the strings NUL-terminated inside their
 * arrays, the database a non-empty path without NUL or newline,
 * allowed_origins a space-separated list of scheme://host[:port] origins,
 * token_cookie a cookie name, private_channels made of glob characters,
 * metrics_listen empty, unix:/ and an absolute path, or HOST:PORT with a
 * port of 1 to 65535, and a key the text never names must keep its default.  On failure the error must be a non-empty message that
 * fits its buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_ref.h"

struct range {
	const char *name;
	size_t offset;
	long min, max;
};

#define RANGE(field, lo, hi) { #field, offsetof(struct config, field), lo, hi }

/* docs/PROTOCOL.md, "Keys": the bounds config.c enforces. */
static const struct range ranges[] = {
	RANGE(poll_interval_ms, 10, 60000),
	RANGE(keepalive_s, 1, 3600),
	RANGE(lifetime_s, 0, 86400),
	RANGE(retry_ms, 100, 600000),
	RANGE(max_streams, 0, 1000000),
	RANGE(listen_max_streams, 1, 1000000),
	RANGE(history, 0, 10000),
	RANGE(retention, 1, 100000000),
	RANGE(max_body, 256, 1048576),
	RANGE(rate_limit, 0, 1000000),
};

#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

static long field_long(const struct config *cfg, size_t offset)
{
	long v;
	memcpy(&v, (const char *)cfg + offset, sizeof(v));
	return v;
}

static bool mentions(const uint8_t *data, size_t size, const char *word)
{
	return memmem(data, size, word, strlen(word)) != NULL;
}

/* scheme://host[:port], as a browser sends it in Origin. */
static bool origin_ok(const char *s, size_t len)
{
	size_t skip = 0;
	if (len > 7 && memcmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && memcmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	for (size_t i = skip; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		            "0123456789.-:[]", s[i]) || s[i] == '\0')
			return false;
	return true;
}

/* metrics_listen: off, unix:/path, or HOST:PORT (port 1-65535). */
static bool address_ok(const char *s)
{
	if (*s == '\0' || strncmp(s, "unix:/", 6) == 0)
		return true;
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	long port = strtol(colon + 1, NULL, 10);
	return port >= 1 && port <= 65535;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg, def;
	config_defaults(&def);
	config_defaults(&cfg);
	char err[CONFIG_ERROR_MAX];
	memset(err, 'x', sizeof(err));
	err[0] = '\0';

	if (!config_parse(&cfg, (const char *)data, size, "fuzz.conf", err,
	                  sizeof(err))) {
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(strncmp(err, "fuzz.conf:", 10) == 0);
		return 0;
	}

	for (size_t k = 0; k < NRANGES; k++) {
		long v = field_long(&cfg, ranges[k].offset);
		FUZZ_ASSERT(v >= ranges[k].min && v <= ranges[k].max);
		if (!mentions(data, size, ranges[k].name))
			FUZZ_ASSERT(v == field_long(&def, ranges[k].offset));
	}

	size_t n = strnlen(cfg.database, sizeof(cfg.database));
	FUZZ_ASSERT(n > 0 && n < sizeof(cfg.database));
	FUZZ_ASSERT(strchr(cfg.database, '\n') == NULL);
	if (!mentions(data, size, "database"))
		FUZZ_ASSERT(strcmp(cfg.database, def.database) == 0);
	else
		FUZZ_ASSERT(cfg.database[0] != ' ' && cfg.database[0] != '\t' &&
		            cfg.database[n - 1] != ' ' && cfg.database[n - 1] != '\t' &&
		            cfg.database[n - 1] != '\r');

	n = strnlen(cfg.allowed_origins, sizeof(cfg.allowed_origins));
	FUZZ_ASSERT(n < sizeof(cfg.allowed_origins));
	if (!mentions(data, size, "allowed_origins"))
		FUZZ_ASSERT(n == 0);
	for (const char *p = cfg.allowed_origins; *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (p > start)
			FUZZ_ASSERT(origin_ok(start, (size_t)(p - start)));
	}
	/* The token keys: a cookie name, channel globs, yes or no. */
	FUZZ_ASSERT(cfg.token_cookie[0] != '\0' &&
	            strspn(cfg.token_cookie, "abcdefghijklmnopqrstuvwxyz"
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
	            strlen(cfg.token_cookie));
	if (!mentions(data, size, "token_cookie"))
		FUZZ_ASSERT(strcmp(cfg.token_cookie, CONFIG_DEFAULT_COOKIE) == 0);
	FUZZ_ASSERT(strspn(cfg.private_channels, "abcdefghijklmnopqrstuvwxyz"
	                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.*?[]! \t") ==
	            strlen(cfg.private_channels));
	if (!mentions(data, size, "private_channels"))
		FUZZ_ASSERT(cfg.private_channels[0] == '\0');
	if (!mentions(data, size, "publish_requires_token"))
		FUZZ_ASSERT(!cfg.publish_requires_token);
	if (!mentions(data, size, "token_secret_file"))
		FUZZ_ASSERT(cfg.token_secret_file[0] == '\0' &&
		            cfg.token_secret_file_previous[0] == '\0');
	n = strnlen(cfg.metrics_listen, sizeof(cfg.metrics_listen));
	FUZZ_ASSERT(n < sizeof(cfg.metrics_listen) && address_ok(cfg.metrics_listen));
	if (!mentions(data, size, "metrics_listen"))
		FUZZ_ASSERT(n == 0);
	FUZZ_ASSERT(cfg.source[0] == '\0');
	return 0;
}
