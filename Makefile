# tiffin — build, test, install.
#
#   make demo      install what is missing, build, train, serve the digits ensemble (port 3000)
#   make test      install what is missing, build, run every test; then again under ASan+UBSan
#   make           build the library, examples and tests into build/
#   make install   install headers, libraries and tiffin.pc under PREFIX (default /usr/local)
#   make bench     run the benchmarks in bench/
#
# Variables: CC (default cc), BUILD (default build), SAN=1 (AddressSanitizer and
# UndefinedBehaviorSanitizer), PREFIX, DESTDIR.

CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local
SAN ?= 0

PKGS := libuv jansson
CFLAGS ?= -O2 -g
WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
ifeq ($(SAN),1)
  CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=address,undefined
endif
CPPFLAGS += -Iinclude -Ilib $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luv -ljansson) -lhttp_parser -lpthread -lm

LIB_SRCS := $(sort $(wildcard lib/*/*.c))
LIB_HDRS := $(wildcard include/*.h include/tiffin/*.h lib/*/*.h)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
PIC_OBJS := $(LIB_SRCS:%.c=$(BUILD)/pic/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
# Each examples/NAME/ folder of .c files is one program, except folders with a NAME.mk of their
# own rules (the digits demo builds several programs).
MK_EXAMPLES := $(patsubst examples/%/,%,$(dir $(wildcard examples/*/*.mk)))
EXAMPLES := $(filter-out $(MK_EXAMPLES:%=$(BUILD)/examples/%), \
              $(patsubst examples/%/,$(BUILD)/examples/%,$(sort $(dir $(wildcard examples/*/*.c)))))
TEST_SERVICES := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(sort $(wildcard tests/integration/*.c)))

.PHONY: all lib examples tests benches test test-build test-san demo bench install uninstall clean \
        deps deps-test format fuzz

all: lib examples tests benches

lib: $(BUILD)/libtiffin.a $(BUILD)/libtiffin.so
examples: $(EXAMPLES)
tests: $(TESTS) $(TEST_SERVICES)
# Programs the benchmarks serve (built with everything, so they never rot).
BENCHES := $(BUILD)/bench/hop
benches: $(BENCHES)

# lib/ is grouped by layer (lib/core, lib/codec, ...); objects mirror that tree under $(BUILD).
$(BUILD)/lib/%.o: lib/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/pic/lib/%.o: lib/%.c $(LIB_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libtiffin.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libtiffin.so: $(PIC_OBJS)
	$(CC) -shared -Wl,-soname,libtiffin.so.0 $(LDFLAGS) $^ $(LDLIBS) -o $@

# Each example is a folder of .c files linked into one program named after the folder.
$(BUILD)/examples/%: examples/%/*.c $(BUILD)/libtiffin.a | $(BUILD)/examples
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(filter %.c,$^) $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libtiffin.a | $(BUILD)/tests
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $< $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/bench/%: bench/%/*.c $(BUILD)/libtiffin.a | $(BUILD)/bench
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $(filter %.c,$^) $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/tests/integration/%: tests/integration/%.c $(BUILD)/libtiffin.a | $(BUILD)/tests/integration
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $< $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) -o $@

$(BUILD)/examples $(BUILD)/tests $(BUILD)/tests/integration \
$(BUILD)/bench:
	mkdir -p $@

-include $(wildcard examples/*/*.mk)
# Rules of a subsystem that needs more than the patterns above (a backend's runtime, images, ...).
-include $(wildcard mk/*.mk)

# ---- installing what is missing ------------------------------------------------------------------

deps:
	scripts/install-deps.sh build

deps-test:
	scripts/install-deps.sh build test
	scripts/venv.sh

# ---- tests ---------------------------------------------------------------------------------------

# The whole suite twice: a normal build, then clang with AddressSanitizer + UBSan.
test: deps-test
	$(MAKE) test-build
	$(MAKE) test-san
	@tests/summary.sh build build-san

test-build: all
	tests/run.sh $(BUILD)

test-san:
	$(MAKE) BUILD=build-san CC=clang SAN=1 all fuzz-corpus
	tests/run.sh build-san

# ---- fuzzing: libFuzzer targets; fuzz-corpus replays the committed corpus (part of test-san) ----

FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_SRCS:fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRCS) | $(BUILD)/fuzz
	clang $(WARN) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined $< $(LIB_SRCS) $(LDLIBS) -o $@

$(BUILD)/fuzz:
	mkdir -p $@

fuzz: $(FUZZERS)

fuzz-corpus: $(FUZZERS)
	@for f in $(FUZZERS); do \
	    name=$${f##*/fuzz_}; \
	    $$f -runs=0 fuzz/corpus/$$name > $(BUILD)/fuzz/$$name.log 2>&1 \
	        || { cat $(BUILD)/fuzz/$$name.log; exit 1; }; \
	done

# ---- demo, bench ---------------------------------------------------------------------------------

# The digits ensemble (examples/digits): fetch the data, build, train (cached), print how to call
# it with a real held-out image, serve the whole graph on 127.0.0.1:3000 until Ctrl-C.
demo: deps
	$(MAKE) examples digits-models
	examples/digits/demo.sh $(BUILD)

bench:
	scripts/install-deps.sh build bench
	$(MAKE) all
	bench/hello/run.sh
	bench/hop/run.sh
	bench/vs-bentoml/run.sh

# ---- install -------------------------------------------------------------------------------------

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/tiffin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/tiffin.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/tiffin/*.h $(DESTDIR)$(PREFIX)/include/tiffin/
	install -m 644 $(BUILD)/libtiffin.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libtiffin.so $(DESTDIR)$(PREFIX)/lib/libtiffin.so.0
	ln -sf libtiffin.so.0 $(DESTDIR)$(PREFIX)/lib/libtiffin.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell sed -n 's/.*TFN_VERSION "\(.*\)"/\1/p' include/tiffin/main.h)|' \
	    tiffin.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tiffin.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/tiffin $(DESTDIR)$(PREFIX)/include/tiffin.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libtiffin.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/tiffin.pc

format:
	clang-format -i include/*.h include/tiffin/*.h lib/*/*.[ch] src/*.c tests/*.[ch] \
	    tests/integration/*.c examples/*/*.c bench/*/*.c fuzz/*.c 2>/dev/null || true

clean:
	rm -rf build build-san
