/* endpoint: see endpoint.h for what the two endpoints share. */
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"

struct endpoint {
	const char *name;                     /* "events", "post": log component */
	struct config cfg;
	char config_error[CONFIG_ERROR_MAX];  /* "" when the config loaded */
	struct token_keys keys;               /* the token secrets, if any */
	struct feed *feed;
};

/* The token secrets: a refusal is a configuration error, named with the
 * config file (never with a byte of the secret). */
static bool load_secrets(struct endpoint *ep)
{
	char err[CONFIG_ERROR_MAX];
	if (secret_load(&ep->cfg, &ep->keys, err, sizeof(err)))
		return true;
	snprintf(ep->config_error, sizeof(ep->config_error), "%.*s%s%.*s",
	         128, ep->cfg.source, ep->cfg.source[0] ? ": " : "", 360, err);
	return false;
}

/* Reads the configuration; a failure is kept for every request to see. */
static void load_config(struct endpoint *ep, const char *argv0)
{
	if (config_load_for_program(&ep->cfg, argv0, NULL, ep->config_error,
	                            sizeof(ep->config_error)) &&
	    load_secrets(ep))
		return;
	log_msg(ep->name, "%s", ep->config_error);
	if (ep->config_error[0] == '\0')
		strcpy(ep->config_error, "configuration error");
}

struct endpoint *endpoint_start(const char *name, const char *argv0)
{
	store_process_init();
	struct endpoint *ep = calloc(1, sizeof(*ep));
	if (ep != NULL) {
		ep->name = name;
		load_config(ep, argv0);
		ep->feed = feed_new_for(&ep->cfg, name);
	}
	if (ep == NULL || ep->feed == NULL) {
		log_msg(name, "cannot start: out of memory");
		free(ep);
		return NULL;
	}
	return ep;
}

void endpoint_finish(struct endpoint *ep)
{
	if (ep == NULL)
		return;
	feed_free(ep->feed);
	token_keys_wipe(&ep->keys);
	free(ep);
}

int endpoint_main(const char *name, const char *argv0, request_handler handler)
{
	struct endpoint *ep = endpoint_start(name, argv0);
	if (ep == NULL)
		return 1;
	int rc = transport_serve(handler, ep);
	endpoint_finish(ep);
	return rc;
}

const struct config *endpoint_config(const struct endpoint *ep)
{
	return &ep->cfg;
}

const struct token_keys *endpoint_keys(const struct endpoint *ep)
{
	return &ep->keys;
}

bool endpoint_config_broken(const struct endpoint *ep)
{
	return ep->config_error[0] != '\0';
}

struct feed *endpoint_feed(struct endpoint *ep)
{
	return ep->feed;
}

enum store_status endpoint_ready(struct endpoint *ep, bool *reopened)
{
	return feed_ready(ep->feed, reopened);
}

enum store_status endpoint_ready_for_writing(struct endpoint *ep)
{
	bool reopened;
	return feed_ready_for(ep->feed, FEED_FOR_WRITING, &reopened);
}
