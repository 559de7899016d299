/*
 * clock: the two things the drivers take from the system and hand to the
 * stream machine (which has no clock of its own, so its tests choose the
 * time): the monotonic time in ms, the wall clock in seconds (a token's
 * exp is a date), and a random word for the lifetime's jitter.
 */
#ifndef SSE_CLOCK_H
#define SSE_CLOCK_H

/* CLOCK_MONOTONIC in ms. */
long long clock_now_ms(void);

/* CLOCK_REALTIME in seconds since the epoch: for token times (exp). */
long long clock_epoch_s(void);

/* CLOCK_MONOTONIC in microseconds (how long a commit took: metrics). */
long long clock_now_us(void);

/* A random word (getrandom, else the pid and the clock: platform.h). */
unsigned clock_random_word(void);

#endif
