/*
 * prom: Prometheus's text exposition format, version 0.0.4, written into a
 * strbuf.  Pure, so tests/test_prom.c pins its bytes; the metrics sse-cgi
 * exposes (names, help, where each is counted) are listed in README.md.
 *
 * Each family is its "# HELP" and "# TYPE" lines, then its samples, all in
 * one block: the format allows a family only once.  Help text is escaped
 * (backslash, newline) and label values too (and '"'), though every label
 * value written here is one of ours.
 */
#ifndef SSE_PROM_H
#define SSE_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The HELP and TYPE lines ("counter", "gauge" or "histogram"). */
void prom_family(struct strbuf *out, const char *name, const char *type,
                 const char *help);

/* name{label="value"} n, or name n when label is NULL. */
void prom_sample(struct strbuf *out, const char *name, const char *label,
                 const char *value, uint64_t n);

/*
 * A histogram's samples: one cumulative _bucket per bound (seconds), the
 * +Inf bucket, _sum (seconds) and _count.  counts[i] holds the
 * observations at or below bounds[i] and above the bound before it;
 * counts[n] those above every bound.
 */
void prom_histogram(struct strbuf *out, const char *name, const double *bounds,
                    const uint64_t *counts, size_t n, double sum);

#endif
