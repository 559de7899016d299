/*
 * secret: the token secrets of sse-cgi.conf, read from their files
 * (token_secret_file, token_secret_file_previous) once per process.
 *
 * A secret is the file's bytes less one trailing newline (what `echo` or
 * an editor adds), TOKEN_KEY_MIN to TOKEN_KEY_MAX bytes.  The file must
 * be a regular file that neither group nor others may read or write: on
 * a shared host other accounts' scripts can often read a 644 file, and
 * whoever reads the secret can mint any token.  A refusal is a
 * configuration error (the binaries answer as for a broken file), so a
 * secret that does not load never means "no private channels".
 *
 * The settings must agree: private_channels or publish_requires_token
 * without token_secret_file would lock everyone out (or, read the other
 * way, let everyone in), and a previous secret without a current one is
 * a rotation half done; both are errors.
 *
 * Errors name the file and what is wrong with it, never a byte of it.
 */
#ifndef SSE_SECRET_H
#define SSE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "token.h"

/*
 * Fills keys (current first, then previous) from cfg's secret files;
 * no file configured: keys->n == 0.  False with the reason in err.
 */
bool secret_load(const struct config *cfg, struct token_keys *keys, char *err,
                 size_t errlen);

#endif
