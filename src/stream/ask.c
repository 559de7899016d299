/* ask: see ask.h. */
#include "ask.h"

#include "clock.h"

int stream_ask(const struct stream_params *p, struct endpoint *ep,
               struct events_request *er, struct stream_request *sr,
               const char **why)
{
	int status = parse_events_request(p->get(p->ctx, "REQUEST_METHOD"),
	                                  p->get(p->ctx, "QUERY_STRING"),
	                                  p->get(p->ctx, "HTTP_LAST_EVENT_ID"),
	                                  er, why);
	if (status != 0)
		return status;
	*sr = (struct stream_request){
		.channel = er->q.channel,
		.resume = er->resume,
		.head = er->head,
		.config_broken = endpoint_config_broken(ep),
		.feed = STORE_OK,
		.room = STREAM_ROOM,
		.headers = true,
		.keys = endpoint_keys(ep),
		.authorization = p->get(p->ctx, "HTTP_AUTHORIZATION"),
		.cookie = p->get(p->ctx, "HTTP_COOKIE"),
		.epoch_s = clock_epoch_s(),
		.poll = er->q.poll,
		.hello = er->q.hello,
		.html = er->q.html,
	};
	return 0;
}
