# mk/batch.mk — bench/batch: the offline limit of the digits MLP (a plain C loop over the model).
# Needs the digits model objects (examples/digits/digits.mk); built with `make benches`.
BATCH_OFFLINE := $(BUILD)/bench/batch-offline

benches: $(BATCH_OFFLINE)

$(BATCH_OFFLINE): bench/batch/offline.c $(DIGITS_MODEL_OBJS) | $(BUILD)/bench
	$(CC) $(WARN) $(CPPFLAGS) -I$(DIGITS_SRC) $(CFLAGS) $< $(DIGITS_MODEL_OBJS) $(LDFLAGS) \
	    $(DIGITS_LIBS) -o $@
