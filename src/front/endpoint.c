/* endpoint: see endpoint.h for what the two endpoints share. */
#include "endpoint.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Reads the configuration; a failure is kept for every request to see. */
static void load_config(struct endpoint *ep, const char *argv0)
{
	if (config_load_for_program(&ep->cfg, argv0, NULL, ep->config_error,
	                            sizeof(ep->config_error)))
		return;
	log_msg(ep->name, "%s", ep->config_error);
	if (ep->config_error[0] == '\0')
		strcpy(ep->config_error, "configuration error");
}

void endpoint_start(struct endpoint *ep, const char *name, const char *argv0)
{
	store_process_init();
	memset(ep, 0, sizeof(*ep));
	ep->name = name;
	load_config(ep, argv0);
}

void endpoint_finish(struct endpoint *ep)
{
	store_close(ep->store);
	ep->store = NULL;
}

int endpoint_main(const char *name, const char *argv0, request_handler handler)
{
	struct endpoint ep;
	endpoint_start(&ep, name, argv0);
	int rc = transport_serve(handler, &ep);
	endpoint_finish(&ep);
	return rc;
}

enum store_status endpoint_store(struct endpoint *ep, bool for_writing)
{
	const char *database = ep->cfg.database;
	char error[STORE_ERROR_MAX];
	if (for_writing && access(database, W_OK) != 0 && errno != ENOENT) {
		log_msg(ep->name, "%s: not writable: %s", database, strerror(errno));
		return STORE_READONLY;
	}
	if (ep->store != NULL && store_same_file(ep->store))
		return STORE_OK;
	store_close(ep->store);   /* replaced or removed: open the new one */
	enum store_status s = store_open(database, true, &ep->store, error,
	                                 sizeof(error));
	if (s != STORE_OK)
		log_msg(ep->name, "%s: %s", database, error);
	else
		ep->generation++;
	return s;
}
