# Streaming (issue 17): time to first piece through examples/streaming.
.PHONY: bench-streaming
bench-streaming: $(BUILD)/examples/streaming
	BUILD=$(BUILD) bench/streaming/run.sh
