# examples/digits/digits.mk — the handwritten-digits demo: the data, the trainer, the trained
# models, the `digits` program (the ensemble of services) and their tests. Included by the top
# Makefile (-include examples/*/*.mk); the models part also works alone:
#
#   make -f examples/digits/digits.mk digits-test                       # plain build in build/
#   make -f examples/digits/digits.mk BUILD=build-san CC=clang SAN=1 digits-test
#
# Targets:
#   $(BUILD)/digits/digits.csv.gz         the data (scripts/fetch-digits.sh; from build/ if there)
#   $(BUILD)/examples/digits-train        the trainer (examples/digits/train.c)
#   $(BUILD)/digits/models/.trained       the four models, retrained when the data or the model
#                                         code changes (alias: digits-models); also the fitted
#                                         soft-vote weights (models/weights) and the held-out
#                                         rows as CSV ($(BUILD)/digits/test.csv)
#   $(BUILD)/tests/test_digits_models     the test, run by tests/run.sh with the other unit tests
#   $(BUILD)/examples/digits              the ensemble of services (services.c, service_*.c,
#                                         preprocessing in image.c); needs the top Makefile
#                                         (libtiffin)
#   $(BUILD)/tests/test_digits_graph      its unit test (tests/test_digits_graph.c), a test graph
#   $(BUILD)/fuzz/fuzz_digits_image       libFuzzer target of the PNG/PGM decoders (make fuzz)
#   digits, digits-models, digits-test    all of the above / the models / build and run the test
#
# Needs the Debian packages libxgboost-dev liblinear-dev libsvm-dev libopenblas-dev zlib1g-dev
# libpng-dev, and for the data apt-get and dpkg-deb.

# Used alone: the top Makefile's compiler settings.
ifeq ($(origin WARN),undefined)
  BUILD ?= build
  SAN ?= 0
  CFLAGS ?= -O2 -g
  WARN := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror
  ifeq ($(SAN),1)
    CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
    LDFLAGS += -fsanitize=address,undefined
  endif
endif

# Whatever the position of the include, this file must not change the default goal.
digits_saved_goal := $(.DEFAULT_GOAL)

DIGITS_SRC := examples/digits
DIGITS_DIR := $(BUILD)/digits
DIGITS_OBJ := $(BUILD)/digits/obj
DIGITS_LIBS := -lxgboost -llinear -lsvm -lopenblas -lz -lm -lpthread
DIGITS_HEADERS := $(DIGITS_SRC)/err.h $(DIGITS_SRC)/dataset.h $(DIGITS_SRC)/models.h $(DIGITS_SRC)/weights.h \
                  $(DIGITS_SRC)/image.h $(DIGITS_SRC)/services.h $(DIGITS_SRC)/models_internal.h \
                  $(DIGITS_SRC)/services_internal.h
# The model code: models.c (the public functions) and one file per kind or concern.
DIGITS_MODEL_SRCS := $(addprefix $(DIGITS_SRC)/,models.c model_text_check.c model_xgboost.c \
                       model_logreg_svm.c model_mlp.c)
DIGITS_MODEL_OBJS := $(DIGITS_OBJ)/dataset.o $(DIGITS_OBJ)/weights.o \
                     $(patsubst $(DIGITS_SRC)/%.c,$(DIGITS_OBJ)/%.o,$(DIGITS_MODEL_SRCS))
# The services without main(): the program adds main.o, the graph test its own main.
DIGITS_SERVICE_OBJS := $(DIGITS_OBJ)/services.o $(DIGITS_OBJ)/service_models.o \
                       $(DIGITS_OBJ)/service_steps.o $(DIGITS_OBJ)/image.o $(DIGITS_MODEL_OBJS)
DIGITS_TRAIN := $(BUILD)/examples/digits-train
DIGITS_MODELS_STAMP := $(DIGITS_DIR)/models/.trained
DIGITS_TEST := $(BUILD)/tests/test_digits_models
DIGITS_PROG := $(BUILD)/examples/digits
DIGITS_GRAPH_TEST := $(BUILD)/tests/test_digits_graph

.PHONY: digits digits-models digits-test

digits: $(DIGITS_TRAIN) $(DIGITS_TEST)
digits-models: $(DIGITS_MODELS_STAMP)
digits-test: $(DIGITS_TEST)
	$(DIGITS_TEST)

# Hooks into the top Makefile's `examples` and `tests` (harmless when used alone). The program's
# tests need the trained models and the held-out rows, so `tests` trains.
examples: $(DIGITS_TRAIN) $(DIGITS_PROG)
tests: $(DIGITS_TEST) $(DIGITS_GRAPH_TEST) $(DIGITS_MODELS_STAMP)

$(DIGITS_OBJ)/%.o: $(DIGITS_SRC)/%.c $(DIGITS_HEADERS) $(wildcard include/*.h include/tiffin/*.h)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iinclude -I$(DIGITS_SRC) $(CFLAGS) -c $< -o $@

# The test finds the data and models under $(BUILD)/digits unless DIGITS_DATA / DIGITS_MODELS say.
$(DIGITS_OBJ)/test_models.o: $(DIGITS_SRC)/test_models.c $(DIGITS_HEADERS) tests/check.h
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -I$(DIGITS_SRC) -Itests -DDIGITS_DEFAULT_DIR='"$(DIGITS_DIR)"' \
	    $(CFLAGS) -c $< -o $@

$(DIGITS_TRAIN): $(DIGITS_OBJ)/train.o $(DIGITS_MODEL_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(DIGITS_LIBS) -o $@

# The services link libtiffin (the top Makefile's LDLIBS) and libpng besides the model libraries.
$(DIGITS_PROG): $(DIGITS_OBJ)/main.o $(DIGITS_SERVICE_OBJS) $(BUILD)/libtiffin.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(LDLIBS) $(DIGITS_LIBS) -lpng -o $@

# Overrides the top Makefile's pattern rule for tests/test_*.c: this test needs the services.
$(DIGITS_GRAPH_TEST): tests/test_digits_graph.c tests/check.h $(DIGITS_SERVICE_OBJS) \
                      $(BUILD)/libtiffin.a $(DIGITS_HEADERS) | $(DIGITS_MODELS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CPPFLAGS) -Iinclude -I$(DIGITS_SRC) -Itests $(CFLAGS) $< \
	    $(DIGITS_SERVICE_OBJS) $(BUILD)/libtiffin.a $(LDFLAGS) $(LDLIBS) $(DIGITS_LIBS) -lpng -o $@

$(DIGITS_TEST): $(DIGITS_OBJ)/test_models.o $(DIGITS_MODEL_OBJS) $(DIGITS_MODELS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(filter %.o,$^) $(LDFLAGS) $(DIGITS_LIBS) -o $@

# The image decoders' fuzz target: `make fuzz` and `fuzz-corpus` find it by its name
# (fuzz/fuzz_*.c); this rule overrides the top Makefile's, which links only the library.
$(BUILD)/fuzz/fuzz_digits_image: fuzz/fuzz_digits_image.c $(DIGITS_SRC)/image.c $(DIGITS_SRC)/image.h
	@mkdir -p $(@D)
	clang $(WARN) -I$(DIGITS_SRC) -O1 -g -fsanitize=fuzzer,address,undefined $< \
	    $(DIGITS_SRC)/image.c -lpng -lm -o $@

# The data does not depend on the build: another build folder copies build/'s if it has it.
$(DIGITS_DIR)/digits.csv.gz:
	@if [ "$(DIGITS_DIR)" != build/digits ] && [ -s build/digits/digits.csv.gz ]; then \
	    mkdir -p $(@D) && cp build/digits/digits.csv.gz $@.tmp && mv -f $@.tmp $@; \
	else \
	    scripts/fetch-digits.sh $(@D); \
	fi

# Retrain (--force) when the data or the code that trains changes; a trainer rebuilt for another
# reason (order-only) does not retrain. Training also fits the ensemble's weights by
# cross-validation (models/weights) and writes the held-out rows (test.csv).
$(DIGITS_MODELS_STAMP): $(DIGITS_DIR)/digits.csv.gz $(DIGITS_MODEL_SRCS) $(DIGITS_SRC)/dataset.c \
                        $(DIGITS_SRC)/train.c $(DIGITS_SRC)/weights.c | $(DIGITS_TRAIN)
	$(DIGITS_TRAIN) --data $< --out $(@D) --force --fit-weights --test-csv $(DIGITS_DIR)/test.csv
	touch $@
$(DIGITS_DIR)/test.csv $(DIGITS_DIR)/models/weights: $(DIGITS_MODELS_STAMP) ;

ifeq ($(firstword $(MAKEFILE_LIST)),$(DIGITS_SRC)/digits.mk)
  .DEFAULT_GOAL := digits
else
  .DEFAULT_GOAL := $(digits_saved_goal)
endif
