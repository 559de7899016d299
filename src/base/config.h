/*
 * config: the one configuration file, sse-cgi.conf, and its environment
 * overrides (docs/PROTOCOL.md, "Configuration").
 *
 * Where it is read from: the directory of the running binary first (that is
 * where a shared-host user can put it: suEXEC drops unknown environment
 * variables, so the file is the only channel that always works), else the
 * path fixed at build time (SSE_DEFAULT_CONFIG).  Then every key may be
 * overridden by SSE_<KEY> in the environment.  No file at all means defaults.
 *
 * Every problem is an error with the file, the line and the reason, never a
 * silent fallback to a default: a typo in `retention` that quietly kept the
 * default would lose messages the owner meant to keep.
 */
#ifndef SSE_CONFIG_H
#define SSE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef SSE_DEFAULT_DATABASE
#define SSE_DEFAULT_DATABASE "/var/lib/sse-cgi/sse.db"
#endif
#ifndef SSE_DEFAULT_CONFIG
#define SSE_DEFAULT_CONFIG "/etc/sse-cgi.conf"
#endif

#define CONFIG_FILE_NAME "sse-cgi.conf"
#define CONFIG_FILE_MAX (64 * 1024)     /* a config file is a few lines */
#define CONFIG_ORIGINS_MAX 1024
#define CONFIG_PATTERNS_MAX 1024        /* private_channels, in all */
#define CONFIG_COOKIE_MAX 65            /* token_cookie, NUL included */
#define CONFIG_DEFAULT_COOKIE "sse_token"
/* "unix:" and a socket path (108 bytes on Linux), or an address and port */
#define CONFIG_ADDRESS_MAX 128
#define CONFIG_ERROR_MAX 512
/* What a request hears when the configuration did not load; the log has
 * the detail (a stream: retry and this comment; a post: 500). */
#define CONFIG_PROBLEM "server configuration error (see the error log)"

struct config {
	char database[PATH_MAX];      /* absolute once config_load() is done,
	                               * or a Redis URL (dburl.h) */
	long poll_interval_ms;
	long keepalive_s;
	long lifetime_s;
	long retry_ms;
	long max_streams;
	long listen_max_streams;      /* events.fcgi --listen: per process */
	long history;
	long retention;
	long max_body;
	long rate_limit;
	char allowed_origins[CONFIG_ORIGINS_MAX]; /* space-separated */
	/* Tokens (auth/): "" = unset; the paths absolute once loaded. */
	char token_secret_file[PATH_MAX];
	char token_secret_file_previous[PATH_MAX];
	char token_cookie[CONFIG_COOKIE_MAX];
	char private_channels[CONFIG_PATTERNS_MAX]; /* fnmatch globs, spaced */
	bool publish_requires_token;
	char redis_password_file[PATH_MAX];  /* "" none; absolute once loaded */
	char metrics_listen[CONFIG_ADDRESS_MAX];  /* events.fcgi --listen's
	                                           * GET /metrics; "": off */
	char source[PATH_MAX];        /* the file read, or "" for none */
};

/* Looks up an environment variable; getenv in production, a table in tests. */
typedef char *(*config_getenv_fn)(const char *name);

void config_defaults(struct config *cfg);

/*
 * Applies the `key = value` lines of text to cfg.  `origin` names the text in
 * error messages.  Relative database paths are left as written.
 */
bool config_parse(struct config *cfg, const char *text, size_t len,
                  const char *origin, char *err, size_t errlen);

/* Applies SSE_<KEY> overrides. */
bool config_apply_env(struct config *cfg, config_getenv_fn getenv_fn,
                      char *err, size_t errlen);

/*
 * The whole procedure: defaults, the file beside the binary in exe_dir (or
 * the build-time path, or explicit_path when not NULL), the environment, then
 * the database and secret file paths made absolute against the config
 * file's directory.
 */
bool config_load(struct config *cfg, const char *exe_dir,
                 const char *explicit_path, config_getenv_fn getenv_fn,
                 char *err, size_t errlen);

/*
 * A Redis URL (dburl.h) checked as the configuration's `database` is: the
 * reason in err, after `where` ("sse-cgi.conf", "--db"), and the URL
 * itself only when it cannot hold a password.
 */
bool config_check_redis_url(const char *database, const char *where,
                            char *err, size_t errlen);

/* The directory of the running binary, from /proc/self/exe or argv0. */
bool config_exe_dir(const char *argv0, char *out, size_t outlen);

/*
 * config_load as every program starts it: beside the running binary (the
 * current directory when that cannot be found), explicit_path when not
 * NULL, overrides from the process environment.
 */
bool config_load_for_program(struct config *cfg, const char *argv0,
                             const char *explicit_path, char *err,
                             size_t errlen);

#endif
