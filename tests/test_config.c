/* Configuration: file text and environment in, values or a named error out. */
#include "testutil.h"

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

	/* The environment beats the file. */
	assert_true(config_load(&cfg, dir, NULL, fake_env, err, sizeof(err)));
	assert_int_equal(cfg.keepalive_s, 7);

	/* A bad file is an error naming the file and line, not a default. */
	tu_write_file(path, "keepalive_s = 3\nretention = -1\n");
	assert_false(config_load(&cfg, dir, NULL, no_env, err, sizeof(err)));
	assert_non_null(strstr(err, CONFIG_FILE_NAME ":2"));
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
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
