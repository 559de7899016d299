/* clock: see clock.h. */
#include "clock.h"

#include <time.h>
#include <unistd.h>

#include "platform.h"

long long clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long clock_epoch_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec;
}

long long clock_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

unsigned clock_random_word(void)
{
#if SSE_HAVE_GETRANDOM
	unsigned w;
	if (getrandom(&w, sizeof(w), GRND_NONBLOCK) == (ssize_t)sizeof(w))
		return w;
#endif
	return (unsigned)getpid() * 2654435761u ^ (unsigned)clock_now_ms();
}
