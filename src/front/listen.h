/*
 * listen: the socket a one-process server accepts on (events.fcgi --listen),
 * and the open-file limit that decides how many streams it can hold.
 *
 * ADDR is one of
 *   unix:/path        a new socket file (a stale socket file is replaced;
 *                     anything else at the path is an error)
 *   127.0.0.1:9000    a numeric IPv4 address and port
 *   [::1]:9000        a numeric IPv6 address and port
 *   fd:0              a socket already listening, inherited: spawn-fcgi
 *                     hands it over as fd 0, systemd socket units as fd 3
 * Only numeric addresses: a name lookup would need NSS modules, which the
 * static build cannot load.
 *
 * Every stream is a socket, so RLIMIT_NOFILE is the ceiling; its soft limit
 * is often 1024 while the hard limit allows far more, so the server raises
 * the soft limit to the hard one at start and says what it got.
 */
#ifndef SSE_LISTEN_H
#define SSE_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define LISTEN_BACKLOG 4096   /* connections the kernel queues for accept */

/*
 * Fills *ss from unix:/path, IPv4:port or [IPv6]:port (not fd:N), touching
 * nothing: how config.c checks metrics_listen.  False with the reason.
 */
bool listen_parse(const char *addr, struct sockaddr_storage *ss,
                  socklen_t *len, char *err, size_t errlen);

/* A listening, non-blocking socket for addr; -1 with the reason in err. */
int listen_open(const char *addr, char *err, size_t errlen);

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
 * now in force, *before the one found.
 */
long listen_raise_nofile(long *before);

#endif
