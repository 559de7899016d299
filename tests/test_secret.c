/*
 * Token secrets (src/auth/secret.c) and `ssectl token`: files with their
 * bytes and modes in, keys or a named refusal out; then what ssectl
 * mints, read back by the verifier.
 */
#include "testutil.h"

#include "config.h"
#include "secret.h"
#include "token.h"

#define KEY32 "0123456789abcdef0123456789abcdef"

struct secret_case {
	const char *what;
	const char *current, *previous;   /* file contents; NULL: key unset */
	mode_t mode;                      /* of both files */
	const char *private_channels;
	bool ok;
	const char *error_has;            /* when not ok */
	size_t keys;                      /* when ok */
	size_t len0;                      /* the current key's length */
};

static const struct secret_case cases[] = {
	{ "no secret, nothing private", NULL, NULL, 0600, "", true, NULL, 0, 0 },
	{ "32 bytes", KEY32, NULL, 0600, "", true, NULL, 1, 32 },
	{ "one trailing newline is dropped", KEY32 "\n", NULL, 0600, "", true, NULL, 1, 32 },
	{ "only one", KEY32 "\n\n", NULL, 0600, "", true, NULL, 1, 33 },
	{ "a CR is kept", KEY32 "\r\n", NULL, 0600, "", true, NULL, 1, 33 },
	{ "31 bytes", "0123456789abcdef0123456789abcde\n", NULL, 0600, "", false, "32 to 1024 bytes", 0, 0 },
	{ "empty", "", NULL, 0600, "", false, "shorter", 0, 0 },
	{ "readable by others", KEY32, NULL, 0644, "", false, "chmod 600", 0, 0 },
	{ "readable by the group", KEY32, NULL, 0640, "", false, "group or others", 0, 0 },
	{ "writable by others", KEY32, NULL, 0602, "", false, "group or others", 0, 0 },
	{ "owner read-only", KEY32, NULL, 0400, "", true, NULL, 1, 32 },
	{ "with the previous", KEY32, "previous-previous-previous-previous", 0600, "", true, NULL, 2, 32 },
	{ "previous too short", KEY32, "short", 0600, "", false, "token_secret_file_previous", 0, 0 },
	{ "private without a secret", NULL, NULL, 0600, "user-*", false, "private_channels needs token_secret_file", 0, 0 },
};

static void write_mode(const char *path, const char *text, mode_t mode)
{
	tu_write_file(path, text);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_secret_files(void **state)
{
	(void)state;
	char dir[256];   /* short: the paths made from it fit PATH_MAX */
	tu_tempdir(dir, sizeof(dir));
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct secret_case *k = &cases[i];
		struct config cfg;
		config_defaults(&cfg);
		snprintf(cfg.private_channels, sizeof(cfg.private_channels), "%s",
		         k->private_channels);
		if (k->current != NULL) {
			snprintf(cfg.token_secret_file, PATH_MAX, "%s/now-%zu", dir, i);
			write_mode(cfg.token_secret_file, k->current, k->mode);
		}
		if (k->previous != NULL) {
			snprintf(cfg.token_secret_file_previous, PATH_MAX, "%s/old-%zu", dir, i);
			write_mode(cfg.token_secret_file_previous, k->previous, k->mode);
		}
		struct token_keys keys;
		char err[CONFIG_ERROR_MAX] = "";
		bool ok = secret_load(&cfg, &keys, err, sizeof(err));
		if (ok != k->ok)
			fail_msg("%s: ok=%d (%s)", k->what, ok, err);
		if (!ok && strstr(err, k->error_has) == NULL)
			fail_msg("%s: error '%s' lacks '%s'", k->what, err, k->error_has);
		if (!ok && k->current != NULL && strstr(err, KEY32) != NULL)
			fail_msg("%s: the error shows the secret", k->what);
		if (ok && (keys.n != k->keys || (keys.n > 0 && keys.len[0] != k->len0)))
			fail_msg("%s: %zu keys, the first %zu bytes", k->what, keys.n,
			         keys.len[0]);
	}
	/* A missing file and a folder are refused by name. */
	struct config cfg;
	struct token_keys keys;
	char err[CONFIG_ERROR_MAX];
	config_defaults(&cfg);
	snprintf(cfg.token_secret_file, PATH_MAX, "%s/missing", dir);
	assert_false(secret_load(&cfg, &keys, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
	snprintf(cfg.token_secret_file, PATH_MAX, "%s", dir);
	chmod(dir, 0700);
	assert_false(secret_load(&cfg, &keys, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
	tu_rmtree(dir);
}

/* Runs ssectl with a site's config; its stdout into out, the exit status. */
static int ssectl(const char *dir, const char *args, struct strbuf *out)
{
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "'%s/ssectl' --config '%s/cgi-bin/sse-cgi.conf' %s 2>&1",
	         dir, dir, args);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_append(out, buf, n);
	int rc = pclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* What ssectl token prints verifies, says what was asked, and expires. */
static void test_ssectl_token(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	tu_tempdir(dir, sizeof(dir));
	tu_make_site(dir, "token_secret_file = secret\n");
	snprintf(path, sizeof(path), "%s/cgi-bin/secret", dir);
	write_mode(path, KEY32 "\n", 0600);
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(ssectl(dir, "token --subscribe user-42 --subscribe staff"
	                        " --publish '*' --name 'Zo\xc3\xab' --ttl 2h", &out), 0);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	struct token_keys keys = { 0 };
	token_keys_add(&keys, KEY32, 32);
	struct token_claims c;
	long long now = (long long)time(NULL);
	assert_int_equal(token_verify(&keys, out.data, out.len - 1, now, &c), TOKEN_OK);
	assert_true(token_grant_covers(&c.subscribe, "user-42"));
	assert_true(token_grant_covers(&c.subscribe, "staff"));
	assert_false(token_grant_covers(&c.subscribe, "user-43"));
	assert_true(c.publish.all);
	assert_string_equal(c.name, "Zo\xc3\xab");
	assert_true(c.exp >= now + 7200 - 5 && c.exp <= now + 7200 + 5);
	assert_int_equal(token_verify(&keys, out.data, out.len - 1, now + 7201, &c),
	                 TOKEN_EXPIRED);

	struct { const char *args; int rc; const char *says; } bad[] = {
		{ "token", 2, "--subscribe or --publish" },
		{ "token --subscribe 'a b'", 2, "--subscribe and --publish" },
		{ "token --subscribe x --ttl 1y", 2, "--ttl" },
		{ "token --subscribe x --ttl 367d", 2, "--ttl" },
		{ "token --subscribe x --ttl 0s", 2, "--ttl" },
		{ "token --subscribe x extra", 2, "unexpected" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		sb_reset(&out);
		int rc = ssectl(dir, bad[i].args, &out);
		if (rc != bad[i].rc || strstr(sb_str(&out), bad[i].says) == NULL)
			fail_msg("ssectl %s: %d, '%s'", bad[i].args, rc, sb_str(&out));
	}
	/* A secret others may read mints nothing, and says so. */
	chmod(path, 0644);
	sb_reset(&out);
	assert_int_equal(ssectl(dir, "token --subscribe x", &out), 1);
	assert_non_null(strstr(sb_str(&out), "chmod 600"));
	assert_null(strstr(sb_str(&out), KEY32));
	sb_free(&out);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_ssectl_token),
	};
	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
