# Streaming (issue 17): time to first piece through examples/streaming, tiffin vs BentoML 1.4.40.
.PHONY: bench-streaming
bench-streaming: $(BUILD)/examples/streaming
	BUILD=$(BUILD) bench/streaming/run.sh
