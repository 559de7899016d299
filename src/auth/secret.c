/* secret: see secret.h; reading a token secret without logging a byte. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* Reads the whole file (at most TOKEN_KEY_MAX + 1 bytes, to see a newline
 * after a secret of the largest size) into buf; -1 with errno. */
static ssize_t read_secret(int fd, unsigned char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)got;
		got += (size_t)n;
		if (got == cap)
			return (ssize_t)got;
	}
}

/* The file's mode and kind, checked on the open file (no race). */
static bool check_file(int fd, const char *key, const char *path, char *err,
                       size_t errlen)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", key, path);
		return false;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "%s %s: group or others may read or write it"
		         " (mode %03o); anyone who reads it can mint tokens:"
		         " chmod 600 it", key, path, (unsigned)(st.st_mode & 0777));
		return false;
	}
	return true;
}

static bool load_one(const char *key, const char *path, struct token_keys *keys,
                     char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: cannot open: %s", key, path,
		         strerror(errno));
		return false;
	}
	unsigned char buf[TOKEN_KEY_MAX + 2];
	ssize_t n = -1;
	if (check_file(fd, key, path, err, errlen)) {
		n = read_secret(fd, buf, sizeof(buf));
		if (n < 0)
			snprintf(err, errlen, "%s %s: cannot read: %s", key, path,
			         strerror(errno));
	}
	close(fd);
	if (n > 0 && buf[n - 1] == '\n')
		n--;                   /* one trailing newline is not the secret */
	bool ok = n >= TOKEN_KEY_MIN && n <= TOKEN_KEY_MAX;
	if (n >= 0 && !ok)
		snprintf(err, errlen, "%s %s: a secret must be %d to %d bytes"
		         " (without its trailing newline), this is %s", key, path,
		         TOKEN_KEY_MIN, TOKEN_KEY_MAX,
		         n < TOKEN_KEY_MIN ? "shorter" : "longer");
	if (ok)
		token_keys_add(keys, buf, (size_t)n);
	sodium_memzero(buf, sizeof(buf));
	return ok;
}

bool secret_load(const struct config *cfg, struct token_keys *keys, char *err,
                 size_t errlen)
{
	memset(keys, 0, sizeof(*keys));
	if (cfg->token_secret_file[0] == '\0') {
		const char *needs = cfg->private_channels[0] != '\0' ? "private_channels"
		                  : cfg->publish_requires_token ? "publish_requires_token"
		                  : cfg->token_secret_file_previous[0] != '\0'
		                    ? "token_secret_file_previous" : NULL;
		if (needs != NULL)
			snprintf(err, errlen, "%s needs token_secret_file", needs);
		return needs == NULL;
	}
	if (!load_one("token_secret_file", cfg->token_secret_file, keys, err, errlen))
		return false;
	if (cfg->token_secret_file_previous[0] != '\0' &&
	    !load_one("token_secret_file_previous", cfg->token_secret_file_previous,
	              keys, err, errlen)) {
		token_keys_wipe(keys);
		return false;
	}
	return true;
}
