/* Configuration: file text and environment in, values or a named error out. */
#include "testutil.h"

#include "dburl.h"

#include "config.h"

struct conf_case {
	const char *text;
	bool ok;
	const char *error_has;   /* a substring of the error, when not ok */
};

static const struct conf_case cases[] = {
	{ "", true, NULL },
	{ "# only a comment\n\n   \n", true, NULL },
	{ "keepalive_s = 5\n", true, NULL },
	{ "keepalive_s=5", true, NULL },
	{ "  keepalive_s\t=\t5  \r\n", true, NULL },
	{ "database = /tmp/x.db\n", true, NULL },
	{ "allowed_origins = https://a.example https://b.example:8443\n", true, NULL },
	{ "max_streams = 0\nlifetime_s = 0\nrate_limit = 0\n", true, NULL },
	{ "listen_max_streams = 50000\n", true, NULL },
	{ "listen_max_streams = 0\n", false, "listen_max_streams must be a whole number from 1 to 1000000" },
	{ "nonsense = 1\n", false, "unknown key 'nonsense'" },
	{ "keepalive = 5\n", false, "unknown key" },
	{ "keepalive_s\n", false, "expected 'key = value'" },
	{ "keepalive_s = \n", false, "keepalive_s must be a whole number" },
	{ "keepalive_s = five\n", false, "keepalive_s must be a whole number" },
	{ "keepalive_s = -5\n", false, "from 1 to 3600" },
	{ "keepalive_s = 0\n", false, "keepalive_s" },
	{ "keepalive_s = 5 # fifteen\n", false, "keepalive_s" },
	{ "keepalive_s = 99999999999999999999\n", false, "keepalive_s" },
	{ "poll_interval_ms = 5\n", false, "poll_interval_ms" },
	{ "max_body = 100\n", false, "max_body" },
	{ "retention = 0\n", false, "retention" },
	{ "keepalive_s = 5\nkeepalive_s = 6\n", false, "set twice" },
	{ "allowed_origins = example.org\n", false, "allowed_origins" },
	{ "allowed_origins = https://a.example/path\n", false, "allowed_origins" },
	{ "database =\n", false, "database must be a file path" },
	{ "\n\nbad line\n", false, "test.conf:3" },
	{ "token_secret_file = secret\ntoken_secret_file_previous = /x/old\n", true, NULL },
	{ "token_secret_file =\n", false, "token_secret_file must be a file path" },
	{ "token_cookie = my_app.token-1\n", true, NULL },
	{ "token_cookie = a b\n", false, "token_cookie must be" },
	{ "token_cookie = a;b\n", false, "token_cookie must be" },
	{ "token_cookie =\n", false, "token_cookie must be" },
	{ "private_channels = user-* staff [ab]?.x !\n", true, NULL },
	{ "private_channels = user/*\n", false, "private_channels must be" },
	{ "private_channels = 'user-*'\n", false, "private_channels must be" },
	{ "publish_requires_token = yes\n", true, NULL },
	{ "publish_requires_token = no\n", true, NULL },
	{ "publish_requires_token = true\n", false, "publish_requires_token must be yes or no" },
	{ "publish_requires_token = Yes\n", false, "yes or no" },
	{ "metrics_listen = 127.0.0.1:18799\n", true, NULL },
	{ "metrics_listen = [::1]:9100\n", true, NULL },
	{ "metrics_listen = unix:/run/sse/metrics.sock\n", true, NULL },
	{ "metrics_listen =\n", true, NULL },   /* off, as by default */
	{ "metrics_listen = localhost:9100\n", false, "localhost: not a numeric IPv4" },
	{ "metrics_listen = 127.0.0.1\n", false,
	  "metrics_listen must be 127.0.0.1:PORT, [::1]:PORT or unix:/absolute/path" },
	{ "metrics_listen = 127.0.0.1:0\n", false, "metrics_listen must be" },
	{ "metrics_listen = 127.0.0.1:65536\n", false, "metrics_listen must be" },
	{ "metrics_listen = unix:metrics.sock\n", false, "the path must be absolute" },
	{ "metrics_listen = unix:/\n", true, NULL },
	{ "metrics_listen = fd:3\n", false, "fd:N is for --listen only" },
	{ "metrics_listen = unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", false, "too long" },
	{ "metrics_listen = unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", false, "the path must be 1-107 bytes" },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config cfg;
		char err[CONFIG_ERROR_MAX] = "";
		config_defaults(&cfg);
		bool ok = config_parse(&cfg, cases[i].text, strlen(cases[i].text),
		                       "test.conf", err, sizeof(err));
		if (ok != cases[i].ok)
			fail_msg("'%s': ok=%d err=%s", cases[i].text, ok, err);
		if (!ok && strstr(err, cases[i].error_has) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", cases[i].text, err,
			         cases[i].error_has);
	}
}

static void test_defaults_match_spec(void **state)
{
	(void)state;
	struct config cfg;
	config_defaults(&cfg);
	assert_int_equal(cfg.poll_interval_ms, 250);
	assert_int_equal(cfg.keepalive_s, 15);
	assert_int_equal(cfg.lifetime_s, 240);
	assert_int_equal(cfg.retry_ms, 2000);
	assert_int_equal(cfg.max_streams, 16);
	assert_int_equal(cfg.listen_max_streams, 10000);
	assert_int_equal(cfg.history, 50);
	assert_int_equal(cfg.retention, 1000);
	assert_int_equal(cfg.max_body, 8192);
	assert_int_equal(cfg.rate_limit, 30);
	assert_string_equal(cfg.allowed_origins, "");
	assert_string_equal(cfg.metrics_listen, "");   /* off */
	assert_true(cfg.database[0] == '/');
}

static void test_values_applied(void **state)
{
	(void)state;
	struct config cfg;
	char err[CONFIG_ERROR_MAX];
	config_defaults(&cfg);
	const char *text = "keepalive_s = 5\nhistory = 0\nallowed_origins = https://a.example\n"
	                   "metrics_listen = 127.0.0.1:9100\n";
	assert_true(config_parse(&cfg, text, strlen(text), "t", err, sizeof(err)));
	assert_int_equal(cfg.keepalive_s, 5);
	assert_int_equal(cfg.history, 0);
	assert_string_equal(cfg.allowed_origins, "https://a.example");
	assert_string_equal(cfg.metrics_listen, "127.0.0.1:9100");
}

/* A fake environment for the overrides. */
static char *fake_env(const char *name)
{
	if (strcmp(name, "SSE_KEEPALIVE_S") == 0)
		return "7";
	if (strcmp(name, "SSE_DATABASE") == 0)
		return "/tmp/from-env.db";
	return NULL;
}

static char *bad_env(const char *name)
{
	return strcmp(name, "SSE_RETENTION") == 0 ? "lots" : NULL;
}

static char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

static void test_env_overrides(void **state)
{
	(void)state;
	struct config cfg;
	char err[CONFIG_ERROR_MAX] = "";
	config_defaults(&cfg);
	assert_true(config_apply_env(&cfg, fake_env, err, sizeof(err)));
	assert_int_equal(cfg.keepalive_s, 7);
	assert_string_equal(cfg.database, "/tmp/from-env.db");
	assert_false(config_apply_env(&cfg, bad_env, err, sizeof(err)));
	assert_non_null(strstr(err, "SSE_RETENTION"));
}

/* The file beside the binary wins; relative database paths are its own. */
static void test_load_beside_binary(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 32], err[CONFIG_ERROR_MAX] = "";
	tu_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, CONFIG_FILE_NAME);
	tu_write_file(path, "database = ../data/x.db\nkeepalive_s = 3\n");
	struct config cfg;
	assert_true(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_int_equal(cfg.keepalive_s, 3);
	char want[PATH_MAX + 32];
	snprintf(want, sizeof(want), "%s/../data/x.db", dir);
	assert_string_equal(cfg.database, want);
	assert_string_equal(cfg.source, path);

	/* Secret files are relative to the config file too; unset stays "". */
	tu_write_file(path, "token_secret_file = ../keys/now\n");
	assert_true(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s/../keys/now", dir);
	assert_string_equal(cfg.token_secret_file, want);
	assert_string_equal(cfg.token_secret_file_previous, "");
	assert_string_equal(cfg.token_cookie, "sse_token");
	assert_false(cfg.publish_requires_token);
	tu_write_file(path, "database = ../data/x.db\nkeepalive_s = 3\n");

	/* The environment beats the file. */
	assert_true(config_load(&cfg, dir, NULL, fake_env, err, sizeof(err)));
	assert_int_equal(cfg.keepalive_s, 7);

	/* A bad file is an error naming the file and line, not a default. */
	tu_write_file(path, "keepalive_s = 3\nretention = -1\n");
	assert_false(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_non_null(strstr(err, CONFIG_FILE_NAME ":2"));
	tu_rmtree(dir);
}

/* The database as a Redis URL (dburl.h): what is taken, what is refused. */
static const struct {
	const char *url;
	bool ok;
	const char *host_or_path;   /* or the reason's words when refused */
	int port, db;
} urls[] = {
	{ "redis://127.0.0.1:18400", true, "127.0.0.1", 18400, 0 },
	{ "redis://cache.example/3", true, "cache.example", 6379, 3 },
	{ "redis://[::1]:18401/2", true, "::1", 18401, 2 },
	{ "redis://localhost/", true, "localhost", 6379, 0 },
	{ "redis+unix:///run/redis/redis.sock", true, "/run/redis/redis.sock", 0, 0 },
	{ "redis+unix:///run/r.sock?db=5", true, "/run/r.sock", 0, 5 },
	{ "redis://", false, "no host", 0, 0 },
	{ "redis://user:pw@host:6379", false, "redis_password_file", 0, 0 },
	{ "redis://host:0", false, "port", 0, 0 },
	{ "redis://host:70000", false, "port", 0, 0 },
	{ "redis://host/db1", false, "database after /", 0, 0 },
	{ "redis://[::1", false, "IPv6", 0, 0 },
	{ "redis+unix://relative.sock", false, "absolute", 0, 0 },
	{ "redis+unix:///r.sock?database=1", false, "?db=N", 0, 0 },
	{ "redis+unix:///r.sock?db=10000", false, "?db=N", 0, 0 },
};

static void test_redis_urls(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(urls); i++) {
		struct dburl u;
		const char *why = NULL;
		assert_true(dburl_is_redis(urls[i].url));
		bool ok = dburl_parse(urls[i].url, &u, &why);
		if (ok != urls[i].ok)
			fail_msg("%s: ok=%d (%s)", urls[i].url, ok, why ? why : "");
		if (!ok) {
			if (strstr(why, urls[i].host_or_path) == NULL)
				fail_msg("%s: reason '%s' lacks '%s'", urls[i].url, why,
				         urls[i].host_or_path);
			continue;
		}
		assert_string_equal(u.unix_socket ? u.path : u.host, urls[i].host_or_path);
		assert_int_equal(u.port, urls[i].port);
		assert_int_equal(u.db, urls[i].db);
	}
	assert_false(dburl_is_redis("/var/lib/sse-cgi/sse.db"));
	assert_false(dburl_is_redis("redis.db"));   /* a relative SQLite path */
}

/* A Redis URL is not a path made absolute; a bad one stops the load. */
static void test_load_redis_database(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 32], err[CONFIG_ERROR_MAX] = "";
	struct config cfg;
	tu_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/" CONFIG_FILE_NAME, dir);
	tu_write_file(path, "database = redis://127.0.0.1:18402/1\n"
	              "redis_password_file = secret\n");
	assert_true(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_string_equal(cfg.database, "redis://127.0.0.1:18402/1");
	assert_true(strncmp(cfg.redis_password_file, dir, strlen(dir)) == 0);
	tu_write_file(path, "database = redis://127.0.0.1:99999\n");
	assert_false(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_non_null(strstr(err, "port"));
	/* A password in the URL is refused without being repeated. */
	tu_write_file(path, "database = redis://u:hunter2@127.0.0.1\n");
	assert_false(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_non_null(strstr(err, "redis_password_file"));
	assert_null(strstr(err, "hunter2"));
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_defaults_match_spec),
		cmocka_unit_test(test_values_applied),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_load_beside_binary),
		cmocka_unit_test(test_redis_urls),
		cmocka_unit_test(test_load_redis_database),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
