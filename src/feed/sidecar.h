/*
 * sidecar: the files that live beside the database, named by a suffix:
 *
 *   DATABASE.notify   the ring of newest messages and the streams' wake
 *                     (ring.h, watch.h)
 *   DATABASE.streams  the stream cap's byte locks (slots.h)
 *   DATABASE.metrics  the counters every process adds to (tally.h)
 *
 * One helper builds their paths and opens them, so a path too long for
 * PATH_MAX fails the same way (ENAMETOOLONG) wherever it is used, and no
 * module keeps its own copy of "database + suffix".
 *
 * A Redis database (dburl.h) has no folder of ours: its files are
 * SIDECAR_REDIS_DIR/sse-cgi-UID-HASH.SUFFIX (HASH: of the URL), one set per
 * user and server on this machine.  That is what they count: the stream
 * cap is about this machine's processes, and the metrics are this
 * machine's, whatever other machines share the server.  (The ring is
 * SQLite's alone: the Redis engine wakes through XREAD.)  There, a file is
 * opened without following a symlink and used only if it is a regular
 * file of our user that no one else may write (EPERM otherwise: the slots
 * then serve one-shot, the counters count nothing, each says why once).
 */
#ifndef SSE_SIDECAR_H
#define SSE_SIDECAR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SIDECAR_NOTIFY ".notify"
#define SIDECAR_STREAMS ".streams"
#define SIDECAR_METRICS ".metrics"
#define SIDECAR_REDIS_DIR "/tmp"

/* The file of that suffix for database, in out; false when it does not fit. */
bool sidecar_path(char *out, size_t outlen, const char *database,
                  const char *suffix);

/* open(2) of the sidecar file with O_CLOEXEC added; -1 with errno set. */
int sidecar_open(const char *database, const char *suffix, int flags,
                 mode_t mode);

#endif
