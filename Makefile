# sse-cgi: Server-Sent Events for shared hosting.  See README.md.
#
#   make            build cgi-bin/events.fcgi, cgi-bin/post.fcgi and ssectl
#   make test       unit + CGI end-to-end tests, again under ASan+UBSan,
#                   then the integration tests behind a real Apache
#   make run        serve the chat page through a local Apache (PORT=8080,
#                   MODE=fcgid|cgid); make stop ends a background run
#   make static     the same binaries linked statically (for any host)
#   make install    DESTDIR=... PREFIX=... lays out what a host needs
#   make bench      the benchmark (never part of make test)

CC       ?= cc
PKGS      = fcgi sqlite3
# Deferred (=, not :=): on a fresh machine deps-build installs pkg-config
# and the libraries during this very make, after the Makefile was read.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

# Build-time defaults (docs/PROTOCOL.md, Configuration): a database outside any
# document root, and a config path used when none sits beside the binary.
DEFAULT_DATABASE ?= /var/lib/sse-cgi/sse.db
DEFAULT_CONFIG   ?= /etc/sse-cgi.conf

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 $(WARN) -fstack-protector-strong
CPPFLAGS += -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -Isrc $(PKG_CFLAGS) \
            -DSSE_DEFAULT_DATABASE='"$(DEFAULT_DATABASE)"' \
            -DSSE_DEFAULT_CONFIG='"$(DEFAULT_CONFIG)"'
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all

# One module per responsibility; see the comment at the top of each.  Every
# src/*.c but the three mains goes into libsse.a, so a new module needs no
# edit here.  Sorted: the same archive whatever order the directory lists.
MAIN_SRC = src/events_main.c src/post_main.c src/ssectl.c
LIB_SRC = $(sort $(filter-out $(MAIN_SRC),$(wildcard src/*.c)))
BINS    = cgi-bin/events.fcgi cgi-bin/post.fcgi ssectl
# Listed, not globbed, in the order they run: the quick table tests first,
# then the slower end-to-end ones (test_cgi, test_fastcgi).
UNIT_TESTS = test_sse test_utf8 test_form test_request test_config test_ring \
             test_chatmsg test_store test_cgi test_fastcgi

PREFIX  ?= /usr/local
BUILD   ?= build

.PHONY: all test unit-test san-test integration-test vps-test browser-test static \
        install run stop bench fuzz deps deps-build deps-test deps-browser fault-test clean

# deps-build names (or, as root, installs) any missing Debian package.
all: deps-build
	@$(MAKE) --no-print-directory $(BINS)

# --- binaries -------------------------------------------------------------
# $(1): build dir, $(2): extra flags.  Each variant gets its own objects.
define variant
$(1)/obj/%.o: src/%.c $(wildcard src/*.h) Makefile | $(1)/obj
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) $(2) -c -o $$@ $$<
$(1)/obj:
	mkdir -p $$@
$(1)/libsse.a: $(patsubst src/%.c,$(1)/obj/%.o,$(LIB_SRC))
	rm -f $$@ && ar rcs $$@ $$^
endef
$(eval $(call variant,$(BUILD),))
$(eval $(call variant,$(BUILD)/san,$(SAN_FLAGS)))
$(eval $(call variant,$(BUILD)/static,))

# $(1): build dir, $(2): where its binaries go, $(3): extra link flags.
define binaries
$(2)cgi-bin/events.fcgi: $(1)/obj/events_main.o $(1)/libsse.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
$(2)cgi-bin/post.fcgi: $(1)/obj/post_main.o $(1)/libsse.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
$(2)ssectl: $(1)/obj/ssectl.o $(1)/libsse.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $(3) -o $$@ $$^ $(4)
endef
$(eval $(call binaries,$(BUILD),,,$(PKG_LIBS)))
# Sanitizer builds of the binaries, for the end-to-end tests.
$(eval $(call binaries,$(BUILD)/san,$(BUILD)/san/,$(SAN_FLAGS),$(PKG_LIBS)))
SAN_BINS = $(addprefix $(BUILD)/san/,$(BINS))

# --- static build ---------------------------------------------------------
# Debian ships libfcgi.a and libsqlite3.a; with glibc's own static archive
# the binaries need nothing at all from the host (we call no NSS function).
$(eval $(call binaries,$(BUILD)/static,$(BUILD)/static/dist/,-static -s,-lfcgi -lsqlite3 -lm -lpthread))
STATIC_BINS = $(addprefix $(BUILD)/static/dist/,$(BINS))
static: $(STATIC_BINS)
	@echo "static binaries in $(BUILD)/static/dist/"

# --- tests ----------------------------------------------------------------
$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libsse.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)
$(BUILD)/san/tests/%: tests/%.c tests/testutil.h $(BUILD)/san/libsse.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS) -Wno-strict-prototypes -o $@ $< $(BUILD)/san/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# The CGI end-to-end tests run these binaries (SSE_TEST_BIN_DIR).
unit-test: deps-build $(BINS) $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
	@SSE_TEST_BIN_DIR=$(CURDIR) \
	  scripts/run-tests.sh plain $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))

san-test: deps-build $(SAN_BINS) $(addprefix $(BUILD)/san/tests/,$(UNIT_TESTS))
	@SSE_TEST_BIN_DIR=$(CURDIR)/$(BUILD)/san SSE_TEST_SAN=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  scripts/run-tests.sh asan+ubsan $(addprefix $(BUILD)/san/tests/,$(UNIT_TESTS))

$(BUILD)/tests/test_apache: tests/integration/test_apache.c tests/httpclient.h tests/testutil.h $(BUILD)/libsse.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# Behind a real Apache: both modes with the normal binaries, fcgid mode with
# the sanitizer builds, and the static binaries (quick list + ldd check).
integration-test: deps-test $(BINS) $(SAN_BINS) $(STATIC_BINS) $(BUILD)/tests/test_apache
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 scripts/run-tests.sh integration \
	  "SSE_IT_MODE=fcgid $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=cgid $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=fcgid SSE_IT_QUICK=1 SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/san/cgi-bin $(BUILD)/tests/test_apache" \
	  "SSE_IT_MODE=cgid SSE_IT_QUICK=1 SSE_IT_STATIC=1 SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin SSE_TEST_SSECTL=$(CURDIR)/$(BUILD)/static/dist/ssectl $(BUILD)/tests/test_apache"

$(BUILD)/tests/test_vps: tests/integration/test_vps.c tests/httpclient.h tests/testutil.h $(BUILD)/libsse.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# The same binaries as FastCGI servers (spawn-fcgi) behind nginx, lighttpd
# and Apache's mod_proxy_fcgi, as the README's VPS section sets them up.
vps-test: deps-test $(BINS) $(STATIC_BINS) $(BUILD)/tests/test_vps
	@scripts/run-tests.sh vps "$(BUILD)/tests/test_vps" \
	  "SSE_TEST_BINARIES=$(CURDIR)/$(BUILD)/static/dist/cgi-bin $(BUILD)/tests/test_vps"

$(BUILD)/tests/test_faults: tests/integration/test_faults.c tests/httpclient.h tests/testutil.h $(BUILD)/libsse.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -Wno-strict-prototypes -o $@ $< $(BUILD)/libsse.a $(PKG_LIBS) $(CMOCKA_LIBS)

# Fault injection and abuse limits behind Apache: locked and full
# databases, deleted/replaced files, SIGKILLed posts, signals, slow clients,
# the stream cap under 200 attempts.  Part of make test; about 100 s per
# mode.
fault-test: deps-test $(BINS) $(BUILD)/tests/test_faults
	@scripts/run-tests.sh faults \
	  "SSE_IT_MODE=fcgid $(BUILD)/tests/test_faults" \
	  "SSE_IT_MODE=cgid $(BUILD)/tests/test_faults"

# The chat page in a real headless Chromium behind the Apache harness.
browser-test: deps-browser $(BINS)
	@tests/browser/run.sh

test: unit-test san-test fuzz-replay integration-test vps-test fault-test browser-test

deps-build:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test fuzz

deps-browser:
	@scripts/deps.sh browser

# --- make run / make stop -------------------------------------------------
PORT ?= 8080
MODE ?= fcgid
RUN_DIR ?= $(CURDIR)/run
run: deps-test $(BINS)
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

# --- benchmark (make bench; never part of make test) --------------------------
include bench/bench.mk
