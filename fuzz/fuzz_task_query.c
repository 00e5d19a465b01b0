/*
 * fuzz_task_query.c — libFuzzer target for the task id parser of the task endpoints
 * (lib/server/tasks.c: GET /{api}/status?task_id=..., get, retry, cancel): the query string of
 * a request, untrusted.
 *
 * Invariants: the parser reads only the bytes it is given (exact-size copy, no NUL after it);
 * it returns 0, TFN_EMISSING or TFN_EINVAL; on 0 the id is exactly 32 lowercase hex digits, and
 * a query made of just "task_id=" and that id parses to the same id; on failure the id is "".
 * Build: make fuzz; run: build/fuzz/fuzz_task_query fuzz/corpus/task_query
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/tasks_internal.h"
#include "tiffin.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_task_query: %s failed at line %d\n", #cond, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    char id[TFN__TASK_ID_LEN + 1];
    memset(id, 'X', sizeof id);
    int rc = tfn__task_id_parse(copy, size, id);
    free(copy);
    REQUIRE(rc == 0 || rc == TFN_EMISSING || rc == TFN_EINVAL);
    if (rc != 0) {
        REQUIRE(id[0] == '\0');
        return 0;
    }
    REQUIRE(strlen(id) == TFN__TASK_ID_LEN);
    for (size_t i = 0; i < TFN__TASK_ID_LEN; i++)
        REQUIRE((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
    char again[TFN__TASK_ID_LEN + 1], query[64];
    int n = snprintf(query, sizeof query, "task_id=%s", id);
    REQUIRE(tfn__task_id_parse(query, (size_t)n, again) == 0 && strcmp(again, id) == 0);
    return 0;
}
