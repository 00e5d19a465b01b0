# Observability cost (issue 13): metrics and tracing on vs off, for hello and the sequential
# pipeline — req/s and CPU per request (run.sh), user-space instructions per request under
# callgrind (instructions.sh). Results in docs/benchmarks.md, "Observability cost".
.PHONY: bench-observe
bench-observe: $(BUILD)/examples/hello $(BUILD)/examples/sequential
	scripts/install-deps.sh build bench
	bench/observe/run.sh
	bench/observe/instructions.sh
