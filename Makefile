# sse-cgi: Server-Sent Events for shared hosting.  See README.md.
#
#   make            build cgi-bin/events.fcgi, cgi-bin/post.fcgi and ssectl;
#                   only compiles (pkg-config finds the libraries), never
#                   installs anything, so it works on any Linux
#   make deps       install every Debian package the project needs
#                   (scripts/deps.sh all; as root, else it prints the line)
#   make check      the quick tests: unit tests and the binaries end to end
#                   as CGI and FastCGI processes; no root, Apache or browser
#   make test       make deps, then everything (make test-all): make check,
#                   the slow unit cases (slow-test), the first-try build
#                   test, all again under ASan+UBSan and built without
#                   inotify/statx/getrandom (nofeature-test), the fuzz
#                   corpora, the integration tests behind a real Apache,
#                   nginx and lighttpd, the fault tests, the browser tests
#   make run        install what building and serving need (scripts/deps.sh
#                   run: compiler, libraries, Apache with mod_fcgid), then
#                   serve the chat page through a local Apache (PORT=8080,
#                   MODE=fcgid|cgid; make serve skips the install); make
#                   stop ends a background run
#   make static     the same binaries linked statically (for any host)
#   make install    DESTDIR=... PREFIX=... lays out what a host needs
#   make bench      the benchmark (never part of make test)
#   make fuzz       each fuzz target FUZZ_SECONDS (60); make fuzz-long: each
#                   to 10^7 executions, keeping its corpus (2-3 hours;
#                   never in make test or CI); see tests/fuzz/README.md

CC       ?= cc
# pkg-config modules: the binaries need PKGS, the test programs TEST_PKGS.
PKGS      = fcgi sqlite3 jansson libsodium hiredis
TEST_PKGS = $(PKGS) cmocka
# Deferred (=, not :=), and used only inside recipes: "make deps all" in one
# command installs the libraries after this Makefile was read, and a value
# taken at reading time would then be empty (a link without -lfcgi).
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

# Build-time defaults (docs/PROTOCOL.md, Configuration): a database outside any
# document root, and a config path used when none sits beside the binary.
DEFAULT_DATABASE ?= /var/lib/sse-cgi/sse.db
DEFAULT_CONFIG   ?= /etc/sse-cgi.conf

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
# assert() is on in every build here, tests and binaries alike: nothing in
# this Makefile defines NDEBUG, and nothing should.  The asserts check
# invariants of our own code (record boundaries in fcgi_wire.c, ids and
# batch bounds in store.c, ...), never outside input.
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -fstack-protector-strong
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 $(addprefix -I,$(SRC_DIRS)) $(PKG_CFLAGS) \
            -DSSE_DEFAULT_DATABASE='"$(DEFAULT_DATABASE)"' \
            -DSSE_DEFAULT_CONFIG='"$(DEFAULT_CONFIG)"'
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all

# One module per responsibility; see the comment at the top of each, and
# the code tour in README.md for the folders.  Every src/*/*.c but the
# three mains (src/main/) goes into libsse.a, so a new module needs no edit
# here.  Headers are included by their bare name: each folder is on the
# include path.  Sorted: the same archive whatever order the directory lists.
SRC_DIRS = $(sort $(dir $(wildcard src/*/*.c src/*/*.h)))
MAIN_SRC = $(wildcard src/main/*.c)
LIB_SRC = $(sort $(filter-out $(MAIN_SRC),$(wildcard src/*/*.c)))
SRC_HDRS = $(wildcard src/*/*.h)
BINS    = cgi-bin/events.fcgi cgi-bin/post.fcgi ssectl
# Listed, not globbed, in the order they run: the quick table tests first,
# then the slower end-to-end ones (test_cgi, test_fastcgi).
UNIT_TESTS = test_machine test_channels test_sse test_html test_utf8 test_form test_request test_token test_secret test_origin test_prom test_scrape test_config test_ring test_wake test_publish \
             test_chatmsg test_store test_cgi test_fastcgi test_portability \
             test_fcgi_wire test_hub test_listen test_cases test_feed test_redis
# Programs with a second group of cases too slow for make check (hundreds
# of processes forked per case): with SSE_TEST_SLOW=1 such a program runs
# that group, and only it.  make test runs them (slow-test, and san-test
# under ASan+UBSan); make check runs the quick group of every UNIT_TESTS.
UNIT_TESTS_SLOW = test_hub test_redis
# $(1): a build dir.  One scripts/run-tests.sh argument per slow group.
slow_runs = $(foreach t,$(UNIT_TESTS_SLOW),"SSE_TEST_SLOW=1 $(1)/tests/$(t)")

PREFIX  ?= /usr/local
BUILD   ?= build

.PHONY: all help check unit-test slow-test first-try-test test test-all san-test \
        nofeature-test integration-test vps-test browser-test fault-test \
        static install run serve stop bench fuzz deps clean need-libs \
        need-test-libs

# Only compiles: installing is make deps' job alone, so that plain make
# works unchanged on Alpine or Fedora and never surprises anyone with apt.
all: $(BINS)

help:
	@sed -n '3,/^$$/s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# --- the libraries --------------------------------------------------------
# Every compile and link waits for these (order-only prerequisites), so a
# missing library stops the build with a message that names the pkg-config
# modules and the packages that provide them, instead of a compiler or
# linker error.  Targets that build nothing (clean, deps, help, stop) do not
# depend on them and keep working without the libraries.
need-libs:
	@scripts/need-libs.sh $(PKGS)
need-test-libs:
	@scripts/need-libs.sh $(TEST_PKGS)

# --- binaries -------------------------------------------------------------
# $(1): build dir, $(2): extra flags.  Each variant gets its own objects.
define variant
$(1)/obj/%.o: src/%.c $(SRC_HDRS) Makefile | need-libs
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $(2) -c -o $$@ $$<
$(1)/libsse.a: $(patsubst src/%.c,$(1)/obj/%.o,$(LIB_SRC))
	rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call variant,$(BUILD),))
$(eval $(call variant,$(BUILD)/san,$(SAN_FLAGS)))
$(eval $(call variant,$(BUILD)/static,))

# $(1): build dir, $(2): where its binaries go, $(3): extra link flags,
# $(4): libraries.  Pass $$(PKG_LIBS), not $(PKG_LIBS): then the recipe
# reads pkg-config when it links, not when make reads this file (see
# PKG_LIBS above).
define binaries
$(2)cgi-bin/events.fcgi: $(1)/obj/main/events_main.o $(1)/libsse.a | need-libs
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
$(2)cgi-bin/post.fcgi: $(1)/obj/main/post_main.o $(1)/libsse.a | need-libs
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
$(2)ssectl: $(1)/obj/main/ssectl.o $(1)/libsse.a | need-libs
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
endef
$(eval $(call binaries,$(BUILD),,,$$(PKG_LIBS)))
# Sanitizer builds of the binaries, for the end-to-end tests.
$(eval $(call binaries,$(BUILD)/san,$(BUILD)/san/,$(SAN_FLAGS),$$(PKG_LIBS)))
SAN_BINS = $(addprefix $(BUILD)/san/,$(BINS))

# --- static build ---------------------------------------------------------
# Debian ships libfcgi.a, libsqlite3.a, libjansson.a, libsodium.a and
# libhiredis.a; with glibc's own
# static archive the binaries need nothing at all from the host (we call no
# NSS function).
$(eval $(call binaries,$(BUILD)/static,$(BUILD)/static/dist/,-static -s,-lfcgi -lsqlite3 -ljansson -lsodium -lhiredis -lm -lpthread))
STATIC_BINS = $(addprefix $(BUILD)/static/dist/,$(BINS))
static: $(STATIC_BINS)
	@echo "static binaries in $(BUILD)/static/dist/"

# --- tests ----------------------------------------------------------------
$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/redisutil.h $(BUILD)/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)
$(BUILD)/san/tests/%: tests/%.c tests/testutil.h $(BUILD)/san/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -Wno-strict-prototypes -o $@ $< $(BUILD)/san/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# The edit-compile-test loop: the unit tests and the binaries end to end as
# CGI and FastCGI child processes (SSE_TEST_BIN_DIR), which need no root,
# Apache or browser; well under a minute (the slow cases are in slow-test).
# need-test-libs first, so that a missing library is named with cmocka in
# the list rather than after half a build.
check: need-test-libs $(BINS) $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
	@SSE_TEST_BIN_DIR=$(CURDIR) \
	  scripts/run-tests.sh plain $(addprefix $(BUILD)/tests/,$(UNIT_TESTS)) \
	    "SSE_TEST_ENGINE=redis $(BUILD)/tests/test_cases"
unit-test: check

# The cases make check leaves out (UNIT_TESTS_SLOW); part of make test.
slow-test: need-test-libs $(BINS) $(addprefix $(BUILD)/tests/,$(UNIT_TESTS_SLOW))
	@SSE_TEST_BIN_DIR=$(CURDIR) \
	  scripts/run-tests.sh slow $(call slow_runs,$(BUILD))

# A fresh copy of the tree builds with plain make, or stops with a clear
# message when the libraries are missing, and never calls apt or dpkg.
first-try-test:
	@tests/first_try.sh

# The unit tests, their slow groups included, under ASan+UBSan.
san-test: need-test-libs $(SAN_BINS) \
          $(addprefix $(BUILD)/san/tests/,$(sort $(UNIT_TESTS) $(UNIT_TESTS_SLOW)))
	@SSE_TEST_BIN_DIR=$(CURDIR)/$(BUILD)/san SSE_TEST_SAN=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  scripts/run-tests.sh asan+ubsan $(addprefix $(BUILD)/san/tests/,$(UNIT_TESTS)) \
	    $(call slow_runs,$(BUILD)/san)

# --- builds without inotify, statx and getrandom ------------------------------
# Each has a fallback (src/base/platform.h); this build takes all three, so that
# code compiles (-Werror) and passes the tests that exercise it: the store,
# the ring, streams by polling (CGI and FastCGI), and test_portability,
# which checks the build really goes without.
NOFEATURE_FLAGS = -DSSE_NO_FUTEX -DSSE_NO_INOTIFY -DSSE_NO_STATX -DSSE_NO_GETRANDOM
NOFEATURE_TESTS = test_store test_ring test_wake test_cgi test_fastcgi test_portability
$(eval $(call variant,$(BUILD)/nofeature,$(NOFEATURE_FLAGS)))
$(eval $(call binaries,$(BUILD)/nofeature,$(BUILD)/nofeature/,,$$(PKG_LIBS)))
$(BUILD)/nofeature/tests/%: tests/%.c tests/testutil.h $(BUILD)/nofeature/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(NOFEATURE_FLAGS) -Wno-strict-prototypes -o $@ $< $(BUILD)/nofeature/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

nofeature-test: need-test-libs $(addprefix $(BUILD)/nofeature/,$(BINS)) \
                $(addprefix $(BUILD)/nofeature/tests/,$(NOFEATURE_TESTS))
	@SSE_TEST_BIN_DIR=$(CURDIR)/$(BUILD)/nofeature \
	  scripts/run-tests.sh nofeature $(addprefix $(BUILD)/nofeature/tests/,$(NOFEATURE_TESTS))

$(BUILD)/tests/test_apache: tests/integration/test_apache.c tests/httpclient.h tests/privatecheck.h tests/testutil.h $(BUILD)/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# Behind a real Apache: both modes with the normal binaries, fcgid mode with
# the sanitizer builds, and the static binaries (quick list + ldd check).
integration-test: $(BINS) $(SAN_BINS) $(STATIC_BINS) $(BUILD)/tests/test_apache
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 scripts/run-tests.sh integration \
	  "SSE_IT_MODE=fcgid $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=cgid $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=fcgid SSE_IT_QUICK=1 SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/san/cgi-bin $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=cgid SSE_IT_QUICK=1 SSE_IT_STATIC=1 SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin SSE_TEST_SSECTL=$(CURDIR)/$(BUILD)/static/dist/ssectl $(BUILD)/tests/test_apache"

$(BUILD)/tests/test_vps: tests/integration/test_vps.c tests/httpclient.h tests/privatecheck.h tests/testutil.h $(BUILD)/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# The same binaries as FastCGI servers (spawn-fcgi) behind nginx, lighttpd
# and Apache's mod_proxy_fcgi, as the README's VPS section sets them up.
vps-test: $(BINS) $(STATIC_BINS) $(BUILD)/tests/test_vps
	@scripts/run-tests.sh vps "$(BUILD)/tests/test_vps" \
	  "SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin $(BUILD)/tests/test_vps"

$(BUILD)/tests/test_faults: tests/integration/test_faults.c tests/httpclient.h tests/testutil.h $(BUILD)/libsse.a | need-test-libs
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# Fault injection and abuse limits behind Apache: locked and full
# databases, deleted/replaced files, SIGKILLed posts, signals, slow clients,
# the stream cap under 200 attempts.  Part of make test; about 100 s per
# mode.
fault-test: $(BINS) $(BUILD)/tests/test_faults
	@scripts/run-tests.sh faults \
	  "SSE_IT_MODE=fcgid $(BUILD)/tests/test_faults" \
	  "SSE_IT_MODE=cgid $(BUILD)/tests/test_faults"

# The chat page in a real headless Chromium behind the Apache harness.
browser-test: $(BINS)
	@tests/browser/run.sh

# Two make invocations: the second one reads this Makefile only after make
# deps has installed the libraries, so nothing in it can have been worked
# out while they were missing.  That is what lets "git clone; make test"
# pass the first time on a fresh Debian.  Elsewhere (not Debian, or all
# installed by hand) make test-all runs the same tests without installing.
test: deps
	@$(MAKE) --no-print-directory test-all

test-all: check slow-test first-try-test san-test nofeature-test fuzz-replay \
          integration-test vps-test fault-test browser-test

# --- make run / make stop -------------------------------------------------
PORT ?= 8080
MODE ?= fcgid
RUN_DIR ?= $(CURDIR)/run
# Like test: install in one make, build and serve in a second one.  Only
# what those two need (scripts/deps.sh run: the compiler, make, pkg-config,
# the libraries' -dev packages, Apache and mod_fcgid), not everything make
# test needs (make deps).
run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory serve

serve: $(BINS)
	@scripts/apache.sh fg $(RUN_DIR) $(PORT) $(MODE)

stop:
	@scripts/apache.sh stop $(RUN_DIR)

deps:
	@scripts/deps.sh all

clean:
	rm -rf $(BUILD) $(BINS) tests/out

# --- install --------------------------------------------------------------
# The files a host needs, laid out as on a shared host:
#   $(DESTDIR)$(PREFIX)/share/sse-cgi/htdocs/     the chat page
#   $(DESTDIR)$(PREFIX)/share/sse-cgi/cgi-bin/    binaries + .htaccess
#   $(DESTDIR)$(PREFIX)/bin/ssectl
install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/sse-cgi/cgi-bin \
	           $(DESTDIR)$(PREFIX)/share/sse-cgi/htdocs
	install -m 755 ssectl $(DESTDIR)$(PREFIX)/bin/ssectl
	install -m 755 cgi-bin/events.fcgi cgi-bin/post.fcgi $(DESTDIR)$(PREFIX)/share/sse-cgi/cgi-bin/
	install -m 644 cgi-bin/.htaccess $(DESTDIR)$(PREFIX)/share/sse-cgi/cgi-bin/.htaccess
	cp -R htdocs/. $(DESTDIR)$(PREFIX)/share/sse-cgi/htdocs/

# --- fuzzing (make fuzz, make fuzz-replay) ----------------------------------
include tests/fuzz/fuzz.mk
# The same clear message as the other builds when a library is missing.
$(FUZZ_OBJS) $(FUZZ_BINS): | need-libs

# --- benchmark (make bench; never part of make test) --------------------------
include bench/bench.mk
