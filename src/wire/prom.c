/* prom: see prom.h. */
#include "prom.h"

#include <inttypes.h>

/* Copies s, escaping what the format escapes there (quotes: label values). */
static void put_escaped(struct strbuf *out, const char *s, int quotes)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_puts(out, "\\\\");
		else if (*s == '\n')
			sb_puts(out, "\\n");
		else if (*s == '"' && quotes)
			sb_puts(out, "\\\"");
		else
			sb_putc(out, *s);
	}
}

void prom_family(struct strbuf *out, const char *name, const char *type,
                 const char *help)
{
	sb_printf(out, "# HELP %s ", name);
	put_escaped(out, help, 0);
	sb_printf(out, "\n# TYPE %s %s\n", name, type);
}

void prom_sample(struct strbuf *out, const char *name, const char *label,
                 const char *value, uint64_t n)
{
	sb_puts(out, name);
	if (label != NULL) {
		sb_printf(out, "{%s=\"", label);
		put_escaped(out, value, 1);
		sb_puts(out, "\"}");
	}
	sb_printf(out, " %" PRIu64 "\n", n);
}

void prom_histogram(struct strbuf *out, const char *name, const double *bounds,
                    const uint64_t *counts, size_t n, double sum)
{
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		total += counts[i];
		/* %g: the shortest text of a bound ("0.0025", "1"), as clients do */
		sb_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bounds[i], total);
	}
	total += counts[n];
	sb_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, total);
	sb_printf(out, "%s_sum %.6f\n", name, sum);
	sb_printf(out, "%s_count %" PRIu64 "\n", name, total);
}
