# mk/openvino.mk — ONNX Runtime against OpenVINO on the same model (bench/onnx-vs-openvino).
#
#   bench-onnx-vs-openvino   fetch OpenVINO's wheel into build/deps/openvino once
#                            (bench/onnx-vs-openvino/fetch-openvino.sh), build the harness and
#                            run it; the table goes to stdout. Not part of `make test`, `all` or
#                            `benches`: nothing else needs OpenVINO.

OV_DEPS := build/deps/openvino
OV_STAMP := $(OV_DEPS)/include/openvino/c/openvino.h
OV_BENCH := $(BUILD)/bench/onnx-vs-openvino

.PHONY: bench-onnx-vs-openvino

$(OV_STAMP):
	bench/onnx-vs-openvino/fetch-openvino.sh build/deps

# -isystem: OpenVINO's headers lack final newlines, which clang's -Wnewline-eof rejects.
$(OV_BENCH): bench/onnx-vs-openvino/compare.c | $(ONNX_STAMP) $(OV_STAMP)
	@mkdir -p $(@D)
	$(CC) $(WARN) -I$(ONNX_DEPS)/onnxruntime/include -isystem $(OV_DEPS)/include $(CFLAGS) \
	    -DORT_LIB='"$(abspath $(ONNX_RUNTIME))"' \
	    -DOV_LIB='"$(abspath $(OV_DEPS)/lib/libopenvino_c.so.2641)"' $< -ldl -lm -o $@

bench-onnx-vs-openvino: $(OV_BENCH)
	BUILD=$(BUILD) bench/onnx-vs-openvino/run.sh
