# tests/fuzz/fuzz.mk: libFuzzer targets for the parsers that see outside
# input.  Included from the top Makefile (paths are relative to the repo
# root; uses CPPFLAGS, PKG_LIBS, LIB_SRC and BUILD from there).
#
#   make fuzz          each target fuzzed for FUZZ_SECONDS (default 60), one
#                      at a time; prints the executions per target, saves any
#                      crash under tests/out/fuzz/ (and new inputs under
#                      tests/out/fuzz/corpus/, never in the seed corpus)
#   make fuzz-long     each target in turn to FUZZ_LONG_RUNS executions
#                      (default 10^7; FUZZ_LONG_SECONDS, default 7200, is a
#                      safety cap per target, and stopping short fails),
#                      from the seeds plus the kept corpus
#                      tests/fuzz/corpus-long/NAME, which it then minimises
#                      (-merge=1) to what adds features to the seeds; never
#                      in make test or CI (2-3 hours on one core)
#   make fuzz-replay   each target run once over its seed corpus
#                      (tests/fuzz/corpus/NAME), no fuzzing: the regression
#                      test, for make test; ends "fuzz-replay: N passed, N failed"
#
# The library is compiled again with clang, with coverage (fuzzer-no-link)
# and ASan+UBSan, into $(BUILD)/fuzz/: build/libsse.a is gcc-built without
# coverage, so libFuzzer could not see inside it.

__fuzz_goal := $(.DEFAULT_GOAL)

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_LONG_RUNS    ?= 10000000
FUZZ_LONG_SECONDS ?= 7200
FUZZ_LONG_KEEP     = tests/fuzz/corpus-long
FUZZ_TARGETS  = form query config utf8 frame chatmsg json fcgi token html scrape
FUZZ_BUILD    = $(BUILD)/fuzz
FUZZ_OUT      = tests/out/fuzz
FUZZ_BINS     = $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))
FUZZ_OBJS     = $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC))
# _FORTIFY_SOURCE off: ASan's own checks of memcpy & co. see more.
FUZZ_CFLAGS   = -std=c11 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all \
                -Wall -Wextra -Wshadow -Wformat=2 -U_FORTIFY_SOURCE

$(FUZZ_BUILD)/obj/%.o: src/%.c $(SRC_HDRS) Makefile tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) \
	  -Werror -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/libsse.a: $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_ref.h $(FUZZ_BUILD)/libsse.a
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_BUILD)/libsse.a $(PKG_LIBS)

.PHONY: fuzz fuzz-long fuzz-replay fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_OUT) $(FUZZ_BINS)

fuzz-long: $(FUZZ_BINS)
	@tests/fuzz/run.sh long $(FUZZ_LONG_RUNS) $(FUZZ_LONG_SECONDS) $(FUZZ_OUT) \
	  $(FUZZ_LONG_KEEP) $(FUZZ_BINS)

fuzz-replay: $(FUZZ_BINS)
	@tests/fuzz/run.sh replay $(FUZZ_OUT) $(FUZZ_BINS)

# Including this file does not change the top Makefile's default goal.
.DEFAULT_GOAL := $(__fuzz_goal)
