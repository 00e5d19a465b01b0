/*
 * fuzz_json_tensor.c — libFuzzer target for the lean JSON edge (lib/codec/json_tensor.c), the
 * scanner that reads declared tensors of a request body straight into their buffers: on every
 * input it must agree exactly with jansson plus validation (tests/json_tensor_diff.h).
 * Build: see the Makefile's fuzz target; run: build/fuzz/fuzz_json_tensor fuzz/corpus/json_tensor
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tests/json_tensor_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1); /* request bodies are NUL-terminated (tfn__buf_t) */
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int where = json_tensor_diff(text, size, NULL);
    if (where) {
        fprintf(stderr, "fuzz_json_tensor: the lean path differs (json_tensor_diff.h:%d)\n", where);
        abort();
    }
    free(text);
    return 0;
}
