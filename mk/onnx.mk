# mk/onnx.mk — the ONNX backend (lib/backends/onnx*.c), the `tiffin` program and their deps.
#
#   onnx-deps            fetch ONNX Runtime, its C header and the test models into build/deps,
#                        once (scripts/fetch-onnx.sh); shared by every build folder (build,
#                        build-san), so it downloads once
#   $(BUILD)/tiffin      the program: `tiffin serve MODEL.onnx` (src/tiffin.c)
#
# libtiffin opens the runtime with dlopen (no link flag); its default path is compiled in as
# the absolute path of the cache, and $TFN_ONNXRUNTIME overrides it at run time.

ONNX_DEPS := build/deps
ONNX_RUNTIME := $(ONNX_DEPS)/onnxruntime/lib/libonnxruntime.so.1
ONNX_STAMP := $(ONNX_DEPS)/onnxruntime/include/onnxruntime_c_api.h

CPPFLAGS += -I$(ONNX_DEPS)/onnxruntime/include

.PHONY: onnx-deps

onnx-deps: $(ONNX_STAMP)

$(ONNX_STAMP):
	scripts/fetch-onnx.sh $(ONNX_DEPS)

# The backend needs the header; every object of the library waits for it (the fuzzers compile
# the library's sources themselves).
ONNX_OBJS := $(filter %/backends/onnx.o,$(LIB_OBJS) $(PIC_OBJS))
$(ONNX_OBJS): CPPFLAGS += -DTFN__ONNXRUNTIME_DEFAULT='"$(abspath $(ONNX_RUNTIME))"'
$(LIB_OBJS) $(PIC_OBJS) $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard fuzz/fuzz_*.c)): \
    | $(ONNX_STAMP)

# The program.
TIFFIN_PROG := $(BUILD)/tiffin
all: $(TIFFIN_PROG)
$(TIFFIN_PROG): src/tiffin.c $(BUILD)/libtiffin.a
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) $< $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) -o $@

# `make install` also installs the program, and the runtime beside libtiffin (where dlopen's
# search finds it when the cache is gone).
install: install-onnx
.PHONY: install-onnx
install-onnx: $(TIFFIN_PROG)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib
	install -m 755 $(TIFFIN_PROG) $(DESTDIR)$(PREFIX)/bin/tiffin
	install -m 644 $(ONNX_DEPS)/onnxruntime/lib/libonnxruntime.so.1.31.1 $(DESTDIR)$(PREFIX)/lib/
	ln -sf libonnxruntime.so.1.31.1 $(DESTDIR)$(PREFIX)/lib/libonnxruntime.so.1

# The digits MLP for tests/test_onnx.c, exported with skl2onnx in the test venv; the held-out
# rows and Python onnxruntime's answers beside it.
ONNX_DIGITS := $(ONNX_DEPS)/models/digits-mlp.onnx
tests: $(ONNX_DIGITS)
$(ONNX_DIGITS): tests/onnx/export_digits.py tests/integration/requirements.txt | $(ONNX_STAMP)
	scripts/venv.sh
	.venv/bin/python tests/onnx/export_digits.py $(@D)

# bench/onnx: the backend's overhead over the runtime called directly (overhead.c), and
# `tiffin serve` under wrk (run.sh).
benches: $(BUILD)/bench/onnx
$(BUILD)/bench/onnx: CPPFLAGS += -DTFN__ONNXRUNTIME_DEFAULT='"$(abspath $(ONNX_RUNTIME))"'
