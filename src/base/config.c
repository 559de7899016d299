/*
 * config: see config.h.  The keys live in one table (name, range, field), so
 * the file parser and the environment overrides share one definition and a
 * new key is one line.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dburl.h"
#include "digits.h"
#include "listen.h"
#include "origin.h"

enum key_type { KEY_LONG, KEY_PATH, KEY_ORIGINS, KEY_BOOL, KEY_COOKIE,
                KEY_PATTERNS, KEY_ADDRESS };

struct key_spec {
	const char *name;
	enum key_type type;
	long min, max;          /* KEY_LONG only */
	size_t offset;          /* of the field in struct config */
};

#define LONG_KEY(field, lo, hi) \
	{ #field, KEY_LONG, lo, hi, offsetof(struct config, field) }

static const struct key_spec keys[] = {
	{ "database", KEY_PATH, 0, 0, offsetof(struct config, database) },
	LONG_KEY(poll_interval_ms, 10, 60000),
	LONG_KEY(keepalive_s, 1, 3600),
	LONG_KEY(lifetime_s, 0, 86400),
	LONG_KEY(retry_ms, 100, 600000),
	LONG_KEY(max_streams, 0, 1000000),
	LONG_KEY(listen_max_streams, 1, 1000000),
	LONG_KEY(history, 0, 10000),
	LONG_KEY(retention, 1, 100000000),
	LONG_KEY(max_body, 256, 1048576),
	LONG_KEY(rate_limit, 0, 1000000),
	{ "allowed_origins", KEY_ORIGINS, 0, 0,
	  offsetof(struct config, allowed_origins) },
	{ "token_secret_file", KEY_PATH, 0, 0,
	  offsetof(struct config, token_secret_file) },
	{ "token_secret_file_previous", KEY_PATH, 0, 0,
	  offsetof(struct config, token_secret_file_previous) },
	{ "token_cookie", KEY_COOKIE, 0, 0, offsetof(struct config, token_cookie) },
	{ "private_channels", KEY_PATTERNS, 0, 0,
	  offsetof(struct config, private_channels) },
	{ "publish_requires_token", KEY_BOOL, 0, 0,
	  offsetof(struct config, publish_requires_token) },
	{ "redis_password_file", KEY_PATH, 0, 0,
	  offsetof(struct config, redis_password_file) },
	{ "metrics_listen", KEY_ADDRESS, 0, 0,
	  offsetof(struct config, metrics_listen) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static void set_error(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->database, sizeof(cfg->database), "%s", SSE_DEFAULT_DATABASE);
	cfg->poll_interval_ms = 250;
	cfg->keepalive_s = 15;
	cfg->lifetime_s = 240;
	cfg->retry_ms = 2000;
	cfg->max_streams = 16;
	cfg->listen_max_streams = 10000;
	cfg->history = 50;
	cfg->retention = 1000;
	cfg->max_body = 8192;
	cfg->rate_limit = 30;
	snprintf(cfg->token_cookie, sizeof(cfg->token_cookie), "%s",
	         CONFIG_DEFAULT_COOKIE);
}

static const struct key_spec *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

/* Digits only (parse_digits), within the key's range. */
static bool parse_long(const char *s, long min, long max, long *out)
{
	long long v;
	if (!parse_digits(s, &v) || v < min || v > max)
		return false;
	*out = (long)v;
	return true;
}

/* An origin is scheme://host[:port]: what browsers send in Origin. */
static bool valid_origin(const char *s, size_t len)
{
	size_t skip;
	if (len > 7 && strncmp(s, "http://", 7) == 0)
		skip = 7;
	else if (len > 8 && strncmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	for (size_t i = skip; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' ||
		      c == ']'))
			return false;
	}
	return true;
}

static bool valid_origins(const char *s)
{
	const char *word;
	size_t len;
	while (origin_list_next(&s, &word, &len))
		if (!valid_origin(word, len))
			return false;
	return true;
}

/* A cookie name: 1 to 64 of letters, digits, '_', '-', '.'. */
static bool valid_cookie_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= CONFIG_COOKIE_MAX)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

/* Channel globs: the characters of channel names and * ? [ ] !. */
static bool valid_patterns(const char *s)
{
	if (strlen(s) >= CONFIG_PATTERNS_MAX)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("_.-*?[]! \t", *s) != NULL))
			return false;
	return true;
}

/*
 * A socket address as --listen takes it (listen.h), less fd:N (a config
 * file cannot hand over a descriptor) and less a relative unix path (it
 * would depend on the directory the server was started in); "" is off.
 */
static bool valid_address(const char *s, char *why, size_t whylen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (*s == '\0')
		return true;
	if (strlen(s) >= CONFIG_ADDRESS_MAX) {
		snprintf(why, whylen, "too long");
		return false;
	}
	if (strncmp(s, "unix:", 5) == 0 && s[5] != '/') {
		snprintf(why, whylen, "%.40s: the path must be absolute", s);
		return false;
	}
	if (strncmp(s, "fd:", 3) == 0) {
		snprintf(why, whylen, "fd:N is for --listen only");
		return false;
	}
	return listen_parse(s, &ss, &len, why, whylen);
}

/* Sets one key from a value string; `where` prefixes the error. */
static bool set_key(struct config *cfg, const struct key_spec *key,
                    const char *value, const char *where, char *err,
                    size_t errlen)
{
	char *field = (char *)cfg + key->offset;
	switch (key->type) {
	case KEY_LONG:
		if (!parse_long(value, key->min, key->max, (long *)(void *)field)) {
			set_error(err, errlen,
			          "%s: %s must be a whole number from %ld to %ld, not '%.40s'",
			          where, key->name, key->min, key->max, value);
			return false;
		}
		return true;
	case KEY_PATH:
		if (*value == '\0' || strlen(value) >= PATH_MAX) {
			set_error(err, errlen, "%s: %s must be a file path", where,
			          key->name);
			return false;
		}
		snprintf(field, PATH_MAX, "%s", value);
		return true;
	case KEY_ORIGINS:
		if (strlen(value) >= CONFIG_ORIGINS_MAX || !valid_origins(value)) {
			set_error(err, errlen,
			          "%s: %s must be space-separated origins like https://example.org",
			          where, key->name);
			return false;
		}
		snprintf(field, CONFIG_ORIGINS_MAX, "%s", value);
		return true;
	case KEY_BOOL:
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			set_error(err, errlen, "%s: %s must be yes or no, not '%.40s'",
			          where, key->name, value);
			return false;
		}
		*(bool *)(void *)field = strcmp(value, "yes") == 0;
		return true;
	case KEY_COOKIE:
		if (!valid_cookie_name(value)) {
			set_error(err, errlen, "%s: %s must be 1-64 of A-Z a-z 0-9 _ - .",
			          where, key->name);
			return false;
		}
		snprintf(field, CONFIG_COOKIE_MAX, "%s", value);
		return true;
	case KEY_PATTERNS:
		if (!valid_patterns(value)) {
			set_error(err, errlen,
			          "%s: %s must be space-separated channel patterns like user-* staff"
			          " (A-Z a-z 0-9 _ . - and * ? [ ] !; at most 1023 characters)",
			          where, key->name);
			return false;
		}
		snprintf(field, CONFIG_PATTERNS_MAX, "%s", value);
		return true;
	case KEY_ADDRESS: {
		char why[160] = "not an address";
		if (!valid_address(value, why, sizeof(why))) {
			set_error(err, errlen,
			          "%s: %s must be 127.0.0.1:PORT, [::1]:PORT or"
			          " unix:/absolute/path (%s)", where, key->name, why);
			return false;
		}
		snprintf(field, CONFIG_ADDRESS_MAX, "%s", value);
		return true;
	}
	}
	return false;
}

static const char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Working buffers of config_parse (see there for why on the heap). */
struct scratch {
	char line[PATH_MAX + 128];
	char where[PATH_MAX + 32];
	char value[PATH_MAX + 64];
};

static bool parse_lines(struct config *cfg, const char *text, size_t len,
                        const char *origin, struct scratch *sc, bool *seen,
                        char *err, size_t errlen)
{
	char *line = sc->line, *where = sc->where, *value = sc->value;
	size_t pos = 0;
	int lineno = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		snprintf(where, sizeof(sc->where), "%s:%d", origin, lineno);
		if (n >= sizeof(sc->line) || memchr(text + pos, '\0', n) != NULL) {
			set_error(err, errlen, "%s: line too long or not text", where);
			return false;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + 1;
		const char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		const char *eq = strchr(s, '=');
		if (eq == NULL) {
			set_error(err, errlen, "%s: expected 'key = value'", where);
			return false;
		}
		char name[64];
		size_t name_len = (size_t)(eq - s);
		while (name_len > 0 && (s[name_len - 1] == ' ' || s[name_len - 1] == '\t'))
			name_len--;
		const struct key_spec *key = find_key(s, name_len);
		if (key == NULL) {
			snprintf(name, sizeof(name), "%.*s", (int)(name_len < 40 ? name_len : 40), s);
			set_error(err, errlen, "%s: unknown key '%s'", where, name);
			return false;
		}
		if (seen[key - keys]) {
			set_error(err, errlen, "%s: %s is set twice", where, key->name);
			return false;
		}
		seen[key - keys] = true;
		snprintf(value, sizeof(sc->value), "%s", eq + 1);
		if (!set_key(cfg, key, trim(value), where, err, errlen))
			return false;
	}
	return true;
}

bool config_parse(struct config *cfg, const char *text, size_t len,
                  const char *origin, char *err, size_t errlen)
{
	bool seen[NKEYS] = { false };
	/*
	 * The line buffers live on the heap: on the stack these 12 KiB would
	 * stay resident for the life of every stream process.
	 */
	struct scratch *sc = malloc(sizeof(*sc));
	if (sc == NULL) {
		set_error(err, errlen, "%s: out of memory", origin);
		return false;
	}
	bool ok = parse_lines(cfg, text, len, origin, sc, seen, err, errlen);
	free(sc);
	return ok;
}

bool config_apply_env(struct config *cfg, config_getenv_fn getenv_fn,
                      char *err, size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		char var[64] = "SSE_";
		size_t k = 4;
		for (const char *p = keys[i].name; *p && k < sizeof(var) - 1; p++)
			var[k++] = (char)toupper((unsigned char)*p);
		var[k] = '\0';
		const char *value = getenv_fn(var);
		if (value == NULL)
			continue;
		char where[80];
		snprintf(where, sizeof(where), "environment %s", var);
		char copy[PATH_MAX + 64];
		snprintf(copy, sizeof(copy), "%s", value);
		if (!set_key(cfg, &keys[i], trim(copy), where, err, errlen))
			return false;
	}
	return true;
}

static bool read_small_file(const char *path, char *buf, size_t cap,
                            size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		set_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return false;
	}
	*len = fread(buf, 1, cap, f);
	bool too_big = *len == cap;
	bool failed = ferror(f);
	fclose(f);
	if (failed || too_big) {
		set_error(err, errlen, "%s: %s", path,
		          failed ? "read error" : "larger than 64 KiB");
		return false;
	}
	return true;
}

/* Makes a set path (database, a secret file) absolute against base_dir. */
static bool absolutise(char path[PATH_MAX], const char *name,
                       const char *base_dir, char *err, size_t errlen)
{
	if (path[0] == '/' || path[0] == '\0')
		return true;
	char joined[PATH_MAX];
	int n = snprintf(joined, sizeof(joined), "%s/%s", base_dir, path);
	if (n < 0 || (size_t)n >= sizeof(joined)) {
		set_error(err, errlen, "%s path too long", name);
		return false;
	}
	memcpy(path, joined, sizeof(joined));
	return true;
}

/*
 * The paths of secret files made absolute; the database a path, made
 * absolute, or a Redis URL, checked here so that a typo in it is a
 * configuration error like any other.
 */
static bool finish_paths(struct config *cfg, const char *base_dir,
                         char *err, size_t errlen)
{
	if (!absolutise(cfg->token_secret_file, "token_secret_file", base_dir,
	                err, errlen) ||
	    !absolutise(cfg->token_secret_file_previous,
	                "token_secret_file_previous", base_dir, err, errlen) ||
	    !absolutise(cfg->redis_password_file, "redis_password_file",
	                base_dir, err, errlen))
		return false;
	if (!dburl_is_redis(cfg->database))
		return absolutise(cfg->database, "database", base_dir, err, errlen);
	return config_check_redis_url(cfg->database,
	                              cfg->source[0] ? cfg->source : "environment",
	                              err, errlen);
}

bool config_check_redis_url(const char *database, const char *where,
                            char *err, size_t errlen)
{
	struct dburl url;
	const char *why;
	if (dburl_parse(database, &url, &why))
		return true;
	if (strcmp(why, DBURL_NO_USERINFO) == 0)   /* the URL holds a secret */
		set_error(err, errlen, "%s: database: %s", where, why);
	else
		set_error(err, errlen, "%s: database '%s': %s", where, database, why);
	return false;
}

bool config_load(struct config *cfg, const char *exe_dir,
                 const char *explicit_path, config_getenv_fn getenv_fn,
                 char *err, size_t errlen)
{
	config_defaults(cfg);
	char path[PATH_MAX];
	if (explicit_path != NULL) {
		snprintf(path, sizeof(path), "%s", explicit_path);
	} else {
		snprintf(path, sizeof(path), "%s/%s", exe_dir, CONFIG_FILE_NAME);
		if (access(path, F_OK) != 0)
			snprintf(path, sizeof(path), "%s", SSE_DEFAULT_CONFIG);
	}
	char base_dir[PATH_MAX];
	snprintf(base_dir, sizeof(base_dir), "%s", exe_dir);
	if (explicit_path != NULL || access(path, F_OK) == 0) {
		static const size_t cap = CONFIG_FILE_MAX;
		char *text = malloc(cap);
		size_t len = 0;
		bool ok = text != NULL &&
		          read_small_file(path, text, cap, &len, err, errlen) &&
		          config_parse(cfg, text, len, path, err, errlen);
		free(text);
		if (!ok)
			return false;
		snprintf(cfg->source, sizeof(cfg->source), "%s", path);
		char *slash = strrchr(path, '/');
		if (slash != NULL && slash != path) {
			*slash = '\0';
			snprintf(base_dir, sizeof(base_dir), "%s", path);
		} else if (slash == path) {
			snprintf(base_dir, sizeof(base_dir), "/");
		} else if (getcwd(base_dir, sizeof(base_dir)) == NULL) {
			snprintf(base_dir, sizeof(base_dir), ".");
		}
	}
	if (!config_apply_env(cfg, getenv_fn, err, errlen))
		return false;
	return finish_paths(cfg, base_dir, err, errlen);
}

bool config_exe_dir(const char *argv0, char *out, size_t outlen)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n > 0) {
		path[n] = '\0';
	} else if (argv0 != NULL && realpath(argv0, path) == NULL) {
		return false;
	} else if (argv0 == NULL) {
		return false;
	}
	char *slash = strrchr(path, '/');
	if (slash == NULL)
		return false;
	if (slash == path)
		slash++;
	*slash = '\0';
	snprintf(out, outlen, "%s", path);
	return true;
}

bool config_load_for_program(struct config *cfg, const char *argv0,
                             const char *explicit_path, char *err,
                             size_t errlen)
{
	char dir[PATH_MAX];
	if (!config_exe_dir(argv0, dir, sizeof(dir)))
		strcpy(dir, ".");
	return config_load(cfg, dir, explicit_path, getenv, err, errlen);
}
