/*
 * test_json_tensor.c — the lean JSON edge (lib/codec/json_tensor.c): the same answers as jansson
 * plus validation on hand-picked and random bodies, and a large tensor decoded without a value
 * per element.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "json_tensor_diff.h"

static int diff(const char *s) { return json_tensor_diff(s, strlen(s), NULL); }

static void test_agrees_on_hand_picked_bodies(void)
{
    static const char *const cases[] = {
        "{\"t\":[[1.5,-2],[3e2,0.1]]}",
        "{\"d\":[1,2.5,-0.0,1e-300,123456789012345678,0.30000000000000004]}",
        "{\"d\":[2.2250738585072014e-308]}",
        "{\"d\":[1.7976931348623157e308, 4.9e-324, 1e400]}",
        "{\"t\":[3.4028235e38, 3.4028236e38, 1e-46, -1.17549435e-38]}",
        "{\"i\":[[1,2],[3,4]],\"l\":[9007199254740993,-1,-9223372036854775808],\"u\":[0,255]}",
        "{\"u\":[256]}",
        "{\"u\":[1.0]}",
        "{\"i\":[[1,2.0],[3,4]]}",
        "{\"i\":[[1,2,3]]}",
        "{\"l\":[9223372036854775808]}",
        "{\"t\":[[1],[2,3]]}",
        "{\"t\":[[1,2],[3]]}",
        "{\"t\":[1,2],\"t\":[3]}",
        "{\"t\":[]}",
        "{\"t\":[[]]}",
        "{\"t\":5}",
        "{\"t\":[1,null]}",
        "{\"t\":[1,\"2\"]}",
        "{\"t\":[01]}",
        "{\"t\":[1.]}",
        "{\"t\":[.5]}",
        "{\"t\":[-]}",
        "{\"t\":[1e]}",
        "{\"t\":[1,]}",
        "{\"t\":[1 2]}",
        "{\"t\":[1]",
        "{\"t\":[1]} x",
        "{\"t\":[[[[[[[[[1]]]]]]]]]}",
        " {\"a\":{\"t\":[1]},\"t\" : [ [ 1 , 2 ] ] ,\"s\":\"\\u00e9\"}\n",
        "{\"s\":\"a,b]}\\\"\",\"t\":[7]}",
        "{\"t\\u0000\":[1]}",
        "{\"x\":1}",
        "{}",
        "[]",
        "",
        "{\"b\":[true,false]}",
        "{\"t\":[0.1,0.2,0.3,0.7,1e-7,123.456e-2,-0.0000001]}",
        "{\"t\":[12345678901234567890123]}",
        "{\"d\":[0.1234567890123456789012345]}",
        "{\"t\":[1],\"a\":[1,2,{\"k\":[3]}]}",
        "{\"a\":}",
        "{\"t\":[1]}\0",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int where = diff(cases[i]);
        if (where)
            fprintf(stderr, "  differs (line %d) on: %s\n", where, cases[i]);
        CHECK(where == 0);
    }
}

/* Random nested lists of random number texts, sometimes broken. */
static void test_agrees_on_random_bodies(void)
{
    srand(15);
    static const char *const keys[] = {"t", "d", "i", "l", "u", "a"};
    char *buf = malloc(1 << 16);
    for (int round = 0; round < 3000; round++) {
        size_t n = 0;
        n += (size_t)sprintf(buf + n, "{\"%s\":", keys[rand() % 6]);
        int rows = 1 + rand() % 3, cols = 1 + rand() % 4;
        n += (size_t)sprintf(buf + n, "[");
        for (int r = 0; r < rows; r++) {
            n += (size_t)sprintf(buf + n, "%s[", r ? "," : "");
            int c_here = rand() % 20 == 0 ? cols + 1 : cols;
            for (int c = 0; c < c_here; c++) {
                const char *sep = c ? (rand() % 50 ? "," : " ") : "";
                switch (rand() % 6) {
                case 0: n += (size_t)sprintf(buf + n, "%s%d", sep, rand() % 600 - 300); break;
                case 1:
                    n += (size_t)sprintf(buf + n, "%s%.9g", sep, (rand() - RAND_MAX / 2) / 7.0);
                    break;
                case 2: n += (size_t)sprintf(buf + n, "%s%.17g", sep, rand() / 3.0e9); break;
                case 3:
                    n += (size_t)sprintf(buf + n, "%s%de%d", sep, rand() % 100, rand() % 80 - 40);
                    break;
                case 4:
                    n += (size_t)sprintf(buf + n, "%s%lld", sep, (long long)rand() * rand());
                    break;
                default:
                    n += (size_t)sprintf(buf + n, "%s%d.%05d", sep, rand() % 10, rand() % 100000);
                }
            }
            n += (size_t)sprintf(buf + n, "]");
        }
        n += (size_t)sprintf(buf + n, "]%s}", rand() % 2 ? ",\"s\":\"z\"" : "");
        int where = json_tensor_diff(buf, n, NULL);
        if (where)
            fprintf(stderr, "  differs (line %d) on: %s\n", where, buf);
        CHECK(where == 0);
        if (where)
            break;
    }
    free(buf);
}

/* 512 x 512 float32 as JSON (about 2.6 MB, as bench/vs-bentoml sends): the lean path's arena
 * holds the tensor and little else. */
static void test_large_tensor_takes_its_size(void)
{
    size_t cap = (size_t)8 << 20, n = 0;
    char *buf = malloc(cap);
    n += (size_t)sprintf(buf + n, "{\"t\":[");
    for (int r = 0; r < 512; r++) {
        n += (size_t)sprintf(buf + n, "%s[", r ? "," : "");
        for (int c = 0; c < 512; c++)
            n += (size_t)sprintf(buf + n, "%s%.6g", c ? "," : "", (r * 512 + c) / 1000.0);
        n += (size_t)sprintf(buf + n, "]");
    }
    n += (size_t)sprintf(buf + n, "]}");
    size_t used = 0;
    CHECK_EQ_INT(json_tensor_diff(buf, n, &used), 0);
    CHECK(used < (size_t)(512 * 512 * 4) + 65536); /* the 1 MiB tensor, and no tree */
    printf("  %zu bytes of JSON decoded into %zu bytes of arena\n", n, used);
    free(buf);
}

int main(void)
{
    RUN(test_agrees_on_hand_picked_bodies);
    RUN(test_agrees_on_random_bodies);
    RUN(test_large_tensor_takes_its_size);
    return check_summary("json_tensor");
}
