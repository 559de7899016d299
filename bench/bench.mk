# bench/bench.mk: the benchmark, included by the top-level Makefile.
#
#   make bench          build the binaries and the bench tools, run the whole
#                       matrix (bench/run.sh, a few minutes), write
#                       bench/results/latest.md and latest.json
#   make bench-tools    only build build/bench/{loadclient,sampler,postbench,jsonbench}
#   make bench-json     only jsonbench: the cost of reading one JSON post body
#                       in process (json_read_strings; ~1 s), into
#                       BENCH_OUT/json-parse.json (bench/results)
#   make bench-vps      only bench/vps.sh at N = 300: events.fcgi --listen behind
#                       nginx, nginx + nchan, Apache fcgid side by side (~4 min;
#                       needs libnginx-mod-nchan, VPS_INSTALL=1 installs it)
#   make bench-rounds   bench/rounds.sh: the hub vs nginx + nchan, 3 alternating
#                       rounds at N = 300 and 3,000, medians and the median
#                       p99 ratio (~15 min; also the last step of make bench)
#   make bench-10k      bench/vps.sh at N = 10000, 1 post/s, hub and nchan
#                       (~4 min, not part of make bench); 2 nginx workers, so
#                       that each needs ~10,000 descriptors (2 per stream)
#   make bench-cluster  bench/cluster.sh: two fronts on one Redis, hubs vs
#                       nginx + nchan, 3 alternating rounds at N = 2,000
#                       (~6 min, not part of make bench; needs redis-server
#                       and libnginx-mod-nchan, CLUSTER_INSTALL=1 installs
#                       them); bench/results/cluster.md
#
# The tools need nothing but libc, but jsonbench, which calls the library's
# JSON reader (build/libsse.a and the PKGS libraries).  Paths are relative to the repo root; CC
# comes from the top-level Makefile.  Knobs for run.sh (BENCH_PORT,
# BENCH_MODES, BENCH_NS, ...) pass through the environment: see bench/README.md.

# Included anywhere in the top Makefile, this must not become the default goal.
bench_saved_goal := $(.DEFAULT_GOAL)

BENCH_DIR    := $(if $(BUILD),$(BUILD),build)/bench
BENCH_CFLAGS ?= -std=c11 -O2 -Wall -Wextra -Werror
BENCH_TOOLS  := $(BENCH_DIR)/loadclient $(BENCH_DIR)/sampler $(BENCH_DIR)/postbench

$(BENCH_TOOLS): $(BENCH_DIR)/%: bench/%.c bench/bench.mk
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

# PKG_LIBS in the recipe, read when it links (see the top Makefile).
$(BENCH_DIR)/jsonbench: bench/jsonbench.c bench/bench.mk $(BUILD)/libsse.a | need-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BENCH_CFLAGS) -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS)

.PHONY: bench bench-tools bench-vps bench-10k bench-json bench-rounds bench-cluster
bench-tools: $(BENCH_TOOLS) $(BENCH_DIR)/jsonbench

bench-json: $(BENCH_DIR)/jsonbench
	@mkdir -p $${BENCH_OUT:-bench/results}
	$(BENCH_DIR)/jsonbench --json $${BENCH_OUT:-bench/results}/json-parse.json

# The static binaries: what the README tells a shared host to upload.
bench: $(STATIC_BINS) $(BENCH_TOOLS) bench-json
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin \
	  SSE_TEST_SSECTL=$(CURDIR)/$(BUILD)/static/dist/ssectl bench/run.sh
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin bench/vps.sh
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin bench/rounds.sh

# The hub against nginx + nchan, 3 alternating rounds at N = 300 and 3,000.
bench-rounds: $(STATIC_BINS) $(BENCH_TOOLS)
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin bench/rounds.sh

bench-vps: $(STATIC_BINS) $(BENCH_TOOLS)
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin bench/vps.sh

bench-10k: $(STATIC_BINS) $(BENCH_TOOLS)
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin \
	  VPS_MODES="$${VPS_MODES:-hub nchan}" VPS_NGINX_WORKERS=$${VPS_NGINX_WORKERS:-2} VPS_N=10000 VPS_RATE=1 VPS_POST_S=20 \
	  VPS_IDLE_S=10 VPS_POST_BENCH_S=0 VPS_TAG=n10k bench/vps.sh

# Two fronts on one Redis (issue 19): the hubs against nginx + nchan.
bench-cluster: $(STATIC_BINS) $(BENCH_TOOLS)
	BENCH_BIN=$(CURDIR)/$(BENCH_DIR) \
	  SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin bench/cluster.sh

.DEFAULT_GOAL := $(bench_saved_goal)
