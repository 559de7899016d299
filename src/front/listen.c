/* listen: see listen.h. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "digits.h"

/* A fd given as "fd:N" must already be a listening socket. */
static int inherited(const char *num, char *err, size_t errlen)
{
	long long fd;
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (!parse_digits(num, &fd) || fd > INT_MAX) {
		snprintf(err, errlen, "fd:%s: not a descriptor number", num);
		return -1;
	}
	if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
	    !listening) {
		snprintf(err, errlen, "fd:%s: not a listening socket", num);
		return -1;
	}
	return (int)fd;
}

/* Replaces a stale socket file at path, never anything else. */
static bool clear_path(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s: exists and is not a socket", path);
		return false;
	}
	if (unlink(path) != 0) {
		snprintf(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
		return false;
	}
	return true;
}

bool listen_parse(const char *addr, struct sockaddr_storage *ss,
                  socklen_t *len, char *err, size_t errlen)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		size_t n = strlen(addr + 5);
		if (n == 0 || n >= sizeof(un->sun_path)) {
			snprintf(err, errlen, "%s: the path must be 1-%zu bytes", addr,
			         sizeof(un->sun_path) - 1);
			return false;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, addr + 5, n + 1);
		*len = sizeof(*un);
		return true;
	}
	const char *colon = strrchr(addr, ':');
	long long port;
	if (colon == NULL || !parse_digits(colon + 1, &port) || port < 1 || port > 65535) {
		snprintf(err, errlen, "%s: expected unix:/path, HOST:PORT or fd:N", addr);
		return false;
	}
	char host[64];
	size_t hl = (size_t)(colon - addr);
	bool v6 = hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']';
	if (v6)
		addr++, hl -= 2;
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "%s: address too long", addr);
		return false;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (!v6 && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof(*in4);
		return true;
	}
	if (v6 && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return true;
	}
	snprintf(err, errlen, "%s: not a numeric IPv4 or [IPv6] address", host);
	return false;
}

int listen_open(const char *addr, char *err, size_t errlen)
{
	int fd;
	if (strncmp(addr, "fd:", 3) == 0) {
		fd = inherited(addr + 3, err, errlen);
	} else {
		struct sockaddr_storage ss;
		socklen_t len;
		if (!listen_parse(addr, &ss, &len, err, errlen) ||
		    (ss.ss_family == AF_UNIX &&
		     !clear_path(((struct sockaddr_un *)&ss)->sun_path, err, errlen)))
			return -1;
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0 && ss.ss_family != AF_UNIX)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 ||
		    listen(fd, LISTEN_BACKLOG) != 0) {
			snprintf(err, errlen, "%s: %s", addr, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	if (fd >= 0) {
		int flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
			snprintf(err, errlen, "%s: %s", addr, strerror(errno));
			return -1;
		}
	}
	return fd;
}

long listen_raise_nofile(long *before)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return *before = -1;
	*before = rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			return *before;
	}
	return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}
