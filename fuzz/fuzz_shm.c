/*
 * fuzz_shm.c — libFuzzer target for tensor references into shared memory (lib/codec/wire.c,
 * tag 0x0A): what a peer on the same host sends when large tensors travel by region.
 *
 * Input: a u32 message length n, n bytes of message (the binary encoding), then the bytes of
 * the shared region (both the sender's and, shifted by 64, the receiver's). On every input:
 *   - decoding never reads outside the message or the regions (ASan sees any overread: each is
 *     an exact-size allocation), and fails only with TFN_EBADWIRE or TFN_ENOMEM and a message;
 *   - every tensor of a decoded value lies inside the message or one of the regions, and the
 *     bytes referenced add up to what the decoder reports;
 *   - decoding with `copy` gives an equal value pointing into neither region;
 *   - the value re-encodes inline (tfn__wire_encode) and decodes back equal.
 * Build: see the Makefile's fuzz target; run: build/fuzz/fuzz_shm fuzz/corpus/shm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "core/value_internal.h"

#define ARENA_MAX ((size_t)16 << 20)

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_shm: %s failed at line %d\n", #cond, __LINE__);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Bytes of tensor data in `v` that lie inside `r`, and whether every tensor lies in one of the
 * places it may. */
static bool placed(const tfn_value_t *v, const void *msg, size_t len, const tfn__shm_region_t *a,
                   const tfn__shm_region_t *b, size_t *in_regions)
{
    size_t n;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_TENSOR: {
        const unsigned char *p = tfn_tensor_data(v);
        size_t nb = tfn_tensor_nbytes(v);
        if (!nb)
            return true;
        if (tfn__shm_contains(a, p, nb) || tfn__shm_contains(b, p, nb)) {
            *in_regions += nb;
            return true;
        }
        return p >= (const unsigned char *)msg && p + nb <= (const unsigned char *)msg + len;
    }
    case TFN_TYPE_LIST:
    case TFN_TYPE_OBJECT:
        n = tfn_len(v);
        for (size_t i = 0; i < n; i++)
            if (!placed(v->type == TFN_TYPE_LIST ? v->u.list.items[i] : v->u.obj.members[i].value,
                        msg, len, a, b, in_regions))
                return false;
        return true;
    default: return true;
    }
}

/* Bytes of tensor data of `v` that lie inside `a` or `b`. */
static size_t region_bytes(const tfn_value_t *v, const tfn__shm_region_t *a,
                           const tfn__shm_region_t *b)
{
    size_t n, sum = 0;
    switch (tfn_typeof(v)) {
    case TFN_TYPE_TENSOR:
        n = tfn_tensor_nbytes(v);
        return n && (tfn__shm_contains(a, tfn_tensor_data(v), n) ||
                     tfn__shm_contains(b, tfn_tensor_data(v), n))
                   ? n
                   : 0;
    case TFN_TYPE_LIST:
    case TFN_TYPE_OBJECT:
        n = tfn_len(v);
        for (size_t i = 0; i < n; i++)
            sum += region_bytes(
                v->type == TFN_TYPE_LIST ? v->u.list.items[i] : v->u.obj.members[i].value, a, b);
        return sum;
    default: return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint32_t n;
    memcpy(&n, data, 4);
    if (n > size - 4)
        return 0;
    size_t rlen = size - 4 - n;
    /* 8-aligned exact-size copies: ASan sees any read past their ends */
    unsigned char *msg = malloc(n ? n : 1), *region = malloc(rlen + 64 ? rlen + 64 : 1);
    REQUIRE(msg && region);
    memcpy(msg, data + 4, n);
    memset(region, 0, 64);
    memcpy(region + 64, data + 4 + n, rlen);
    /* Not from shm.c (no memfd per input): the same struct over plain memory, never unref'd */
    tfn__shm_region_t peer = {.refs = 1, .fd = -1, .map = region + 64, .len = rlen};
    tfn__shm_region_t own = {.refs = 1, .fd = -1, .map = region, .len = rlen + 64};
    tfn__shm_pair_t regions = {.own = &own, .peer = &peer};

    tfn_arena_t *arena = tfn_arena_new(ARENA_MAX);
    tfn_value_t *v = NULL, *copied = NULL, *back = NULL;
    tfn_error_t err;
    tfn__shm_use_t use;
    int rc = tfn__wire_decode_shm(arena, msg, n, &regions, false, &use, &v, &err);
    if (rc) {
        REQUIRE(rc == TFN_EBADWIRE || rc == TFN_ENOMEM);
        REQUIRE(err.message[0] != '\0' && err.code == rc);
    } else {
        size_t in_regions = 0;
        REQUIRE(placed(v, msg, n, &own, &peer, &in_regions));
        REQUIRE(in_regions == use.bytes);
        tfn__shm_use_t cuse;
        rc = tfn__wire_decode_shm(arena, msg, n, &regions, true, &cuse, &copied, &err);
        REQUIRE(rc == 0 || rc == TFN_ENOMEM);
        if (rc == 0) {
            REQUIRE(!cuse.own && !cuse.peer && cuse.bytes == use.bytes);
            REQUIRE(region_bytes(copied, &own, &peer) == 0);
            REQUIRE(tfn_value_equal(v, copied));
        }
        tfn__buf_t out;
        tfn__buf_init(&out, (size_t)64 << 20);
        rc = tfn__wire_encode(v, &out);
        REQUIRE(rc == 0 || rc == TFN_ETOOBIG || rc == TFN_ENOMEM);
        if (rc == 0) {
            rc = tfn__wire_decode(arena, out.data, out.len, &back, &err);
            REQUIRE(rc == 0 || rc == TFN_ENOMEM);
            REQUIRE(rc || tfn_value_equal(v, back));
        }
        tfn__buf_free(&out);
    }
    tfn_arena_free(arena);
    free(msg);
    free(region);
    return 0;
}
