/* sidecar: see sidecar.h. */
#include "sidecar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dburl.h"
#include "fnv.h"

bool sidecar_path(char *out, size_t outlen, const char *database,
                  const char *suffix)
{
	int n = dburl_is_redis(database)
	      ? snprintf(out, outlen, "%s/sse-cgi-%ld-%016llx%s", SIDECAR_REDIS_DIR,
	                 (long)getuid(),
	                 (unsigned long long)fnv1a64(database, strlen(database)),
	                 suffix)
	      : snprintf(out, outlen, "%s%s", database, suffix);
	return n >= 0 && (size_t)n < outlen;
}

int sidecar_open(const char *database, const char *suffix, int flags,
                 mode_t mode)
{
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), database, suffix)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, flags | O_CLOEXEC, mode);
}
