/* sidecar: see sidecar.h. */
#include "sidecar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * A file in the shared SIDECAR_REDIS_DIR is ours only if it is a regular
 * file of our user that no one else may write: another local user could
 * have made it first under its predictable name (to hold the stream slots'
 * locks, or to steer the counters' writes through a symlink).
 */
static bool ours_alone(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	       st.st_uid == geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

int sidecar_open(const char *database, const char *suffix, int flags,
                 mode_t mode)
{
	char path[PATH_MAX];
	if (!sidecar_path(path, sizeof(path), database, suffix)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	bool shared_dir = dburl_is_redis(database);
	int fd = open(path, flags | O_CLOEXEC | (shared_dir ? O_NOFOLLOW : 0), mode);
	if (fd >= 0 && shared_dir && !ours_alone(fd)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}
