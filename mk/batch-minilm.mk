# mk/batch-minilm.mk — bench/batch-minilm: adaptive batching on int8 MiniLM (ONNX) against the
# offline limit (a plain C loop over ONNX Runtime), BentoML's adaptive batching and Triton's
# dynamic batcher. Not part of `make test`.
#
#   build/bench/batch-minilm    the offline loop (bench/batch-minilm/offline.c)
#   make bench-batch-minilm     builds everything, then runs bench/batch-minilm/run.sh
#                               (installs its BentoML/onnxruntime venv and unpacks Triton under
#                               build/batch-minilm once); `make bench` runs it too.
benches: $(BUILD)/bench/batch-minilm
$(BUILD)/bench/batch-minilm: CPPFLAGS += -DTFN__ONNXRUNTIME_DEFAULT='"$(abspath $(ONNX_RUNTIME))"'
$(BUILD)/bench/batch-minilm: | $(ONNX_STAMP)

.PHONY: bench-batch-minilm
bench-batch-minilm:
	scripts/install-deps.sh build bench
	$(MAKE) all
	bench/batch-minilm/run.sh

bench: bench-batch-minilm
