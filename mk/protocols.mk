# Protocols (lib/protocols) and HTTP hardening: long fuzzing runs.
#
#   make fuzz-long               every fuzz/fuzz_*.c target for FUZZ_SECONDS each (default 300),
#                                starting from its committed corpus; new inputs go to
#                                $(BUILD)/fuzz-corpus/NAME (the committed corpus is not touched),
#                                a log per target to $(BUILD)/fuzz/NAME.long.log, and the last
#                                "DONE" line of each (executions, coverage) is printed at the end.

FUZZ_SECONDS ?= 300

.PHONY: fuzz-long
fuzz-long: fuzz
	@for f in $(FUZZERS); do \
	    name=$${f##*/fuzz_}; \
	    mkdir -p $(BUILD)/fuzz-corpus/$$name $(BUILD)/fuzz/artifacts/$$name; \
	    echo "fuzz-long: $$name for $(FUZZ_SECONDS) s"; \
	    nice $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/artifacts/$$name/ \
	        $(BUILD)/fuzz-corpus/$$name fuzz/corpus/$$name > $(BUILD)/fuzz/$$name.long.log 2>&1 \
	        || { tail -n 60 $(BUILD)/fuzz/$$name.long.log; exit 1; }; \
	done; \
	for f in $(FUZZERS); do \
	    name=$${f##*/fuzz_}; \
	    printf '%-14s %s\n' $$name "$$(grep -E '^stat::number_of_executed_units|^Done' \
	        $(BUILD)/fuzz/$$name.long.log | tr '\n' ' ')"; \
	done
