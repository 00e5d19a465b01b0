/*
 * test_shm.c — shared memory between processes on one host (lib/codec/shm.c and the tensor
 * references of lib/codec/wire.c): regions made, sent (a real descriptor over a real unix
 * socket pair) and checked; messages whose large tensors travel by reference into the sender's
 * region or back into the receiver's; small and bool tensors inline; and every bad descriptor
 * and bad reference rejected with a clear error, never followed.
 *
 * With TFN_SHM_SEEDS=dir it writes the fuzz seed corpus (fuzz/corpus/shm) into dir.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "codec/codec_internal.h"
#include "core/value_internal.h"

#define MIN TFN__SHM_MIN_TENSOR_BYTES

static tfn_value_t *f32(tfn_arena_t *a, int64_t n, float base)
{
    int64_t shape[] = {n};
    tfn_value_t *t = tfn_tensor(a, TFN_DTYPE_F32, 1, shape);
    float *f = tfn_tensor_data(t);
    for (int64_t i = 0; i < n; i++)
        f[i] = base + (float)i * 0.5f;
    return t;
}

/* {"big": 300,000 floats, "small": 6 ints, "mask": a large bool tensor, "name": "x"} */
static tfn_value_t *sample(tfn_arena_t *a)
{
    tfn_value_t *o = tfn_object(a);
    int64_t small_shape[] = {2, 3}, mask_shape[] = {(int64_t)MIN * 2};
    tfn_value_t *small = tfn_tensor(a, TFN_DTYPE_I32, 2, small_shape);
    for (int i = 0; i < 6; i++)
        ((int32_t *)tfn_tensor_data(small))[i] = i - 3;
    tfn_value_t *mask = tfn_tensor(a, TFN_DTYPE_BOOL, 1, mask_shape);
    for (int64_t i = 0; i < mask_shape[0]; i++)
        ((unsigned char *)tfn_tensor_data(mask))[i] = (unsigned char)(i % 3 == 0);
    tfn_object_set(a, o, "big", f32(a, 300000, 1.0f));
    tfn_object_set(a, o, "small", small);
    tfn_object_set(a, o, "mask", mask);
    tfn_object_set(a, o, "name", tfn_string(a, "x"));
    return o;
}

static bool inside(const tfn__shm_region_t *r, const tfn_value_t *t)
{
    return tfn__shm_contains(r, tfn_tensor_data(t), tfn_tensor_nbytes(t));
}

/* Sends `fd` over a socket pair with one byte and returns what the other end received. */
static int pass_fd(int fd)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    char byte = 'x';
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    CHECK(sendmsg(sv[0], &msg, 0) == 1);
    memset(&control, 0, sizeof control);
    CHECK(recvmsg(sv[1], &msg, 0) == 1);
    int got = -1;
    c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(&got, CMSG_DATA(c), sizeof got);
    close(sv[0]);
    close(sv[1]);
    return got;
}

/* The whole protocol in one process: the client's region goes to the server (as a descriptor
 * over a socket), a request by reference, an answer that points back into the client's region
 * (pass-through) and one from the server's own region. */
static void test_round_trips(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn_error_t err;
    /* client side: its region, sized by what the message needs */
    tfn__shm_pair_t client = {0}, server = {0};
    tfn_value_t *v = sample(a);
    size_t need = tfn__wire_shm_need(v, &client);
    CHECK_EQ_INT((int)need, (int)((300000 * 4 + 63) / 64 * 64)); /* only "big": bool stays inline */
    CHECK_EQ_INT(tfn__shm_region_create(tfn__shm_region_size(need), &client.own), 0);
    CHECK(client.own->len == (size_t)2 << 20);
    int seals = fcntl(client.own->fd, F_GET_SEALS);
    CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) ==
          (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    CHECK(ftruncate(client.own->fd, 0) != 0); /* nobody can cut it short under a reader */
    tfn__buf_t req;
    tfn__buf_init(&req, 1 << 30);
    CHECK_EQ_INT(tfn__wire_encode_shm(v, &req, &client), 0);
    CHECK(req.len < 2 * MIN + 400); /* the mask and small values inline, "big" a reference */

    /* server side: maps what it received, decodes in place */
    int fd = pass_fd(client.own->fd);
    CHECK(fd >= 0);
    CHECK_EQ_INT(tfn__shm_region_open(fd, client.own->len, TFN__SHM_MAX_BYTES, &server.peer, &err),
                 0);
    tfn_arena_t *sa = tfn_arena_new(0);
    tfn_value_t *in;
    tfn__shm_use_t use;
    CHECK_EQ_INT(tfn__wire_decode_shm(sa, req.data, req.len, &server, false, &use, &in, &err), 0);
    CHECK(tfn_value_equal(v, in));
    CHECK(use.peer && !use.own && use.bytes == 300000 * 4);
    CHECK(inside(server.peer, tfn_object_get(in, "big"))); /* zero-copy */
    /* a handler may write into its input: the client sees it when the tensor comes back */
    ((float *)tfn_tensor_data(tfn_object_get(in, "big")))[0] = 42.0f;

    /* the answer: "big" passed through (a reference into the client's region, no copy) and a
     * new tensor (into the server's own region, made now) */
    tfn_value_t *out = tfn_object(sa);
    tfn_object_set(sa, out, "same", tfn_object_get(in, "big"));
    tfn_object_set(sa, out, "made", f32(sa, 100000, 7.0f));
    need = tfn__wire_shm_need(out, &server);
    CHECK_EQ_INT((int)need, 400000); /* only "made", a multiple of 64 already */
    CHECK_EQ_INT(tfn__shm_region_create(tfn__shm_region_size(need), &server.own), 0);
    tfn__buf_t resp;
    tfn__buf_init(&resp, 1 << 30);
    CHECK_EQ_INT(tfn__wire_encode_shm(out, &resp, &server), 0);
    CHECK(resp.len < 200);

    /* client: decodes the answer from both regions */
    fd = pass_fd(server.own->fd);
    CHECK_EQ_INT(tfn__shm_region_open(fd, server.own->len, TFN__SHM_MAX_BYTES, &client.peer, &err),
                 0);
    tfn_value_t *back;
    CHECK_EQ_INT(tfn__wire_decode_shm(a, resp.data, resp.len, &client, false, &use, &back, &err),
                 0);
    CHECK(use.own && use.peer);
    const tfn_value_t *same = tfn_object_get(back, "same"), *made = tfn_object_get(back, "made");
    CHECK(inside(client.own, same) && inside(client.peer, made));
    CHECK(((float *)tfn_tensor_data(same))[0] == 42.0f &&
          ((float *)tfn_tensor_data(same))[1] == 1.5f);
    CHECK(tfn_value_equal(made, f32(a, 100000, 7.0f)));
    /* copying: the same values, in the arena, no region used */
    CHECK_EQ_INT(tfn__wire_decode_shm(a, resp.data, resp.len, &client, true, &use, &back, &err), 0);
    CHECK(!use.own && !use.peer && use.bytes == 1600000);
    CHECK(!inside(client.own, tfn_object_get(back, "same")));
    CHECK(tfn_value_equal(tfn_object_get(back, "made"), made));
    /* without the regions the references are rejected, never followed */
    CHECK_EQ_INT(tfn__wire_decode(a, resp.data, resp.len, &back, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "there is none") != NULL);
    tfn__shm_pair_t swapped = {.own = client.peer, .peer = client.own}; /* too small for "same" */
    tfn__shm_region_t *tiny;
    CHECK_EQ_INT(tfn__shm_region_create(4096, &tiny), 0);
    swapped.own = tiny;
    CHECK_EQ_INT(tfn__wire_decode_shm(a, resp.data, resp.len, &swapped, false, NULL, &back, &err),
                 TFN_EBADWIRE);
    CHECK(strstr(err.message, "outside the 4096-byte region") != NULL);
    tfn__shm_region_unref(tiny);

    /* a region outlives its creator's reference while someone still holds one */
    tfn__shm_region_ref(client.peer);
    tfn__shm_region_unref(server.own);
    CHECK(((float *)tfn_tensor_data(made))[1] == 7.5f);
    tfn__shm_region_unref(client.peer);
    tfn__shm_region_unref(client.peer);
    tfn__shm_region_unref(client.own);
    tfn__shm_region_unref(server.peer);
    tfn__buf_free(&req);
    tfn__buf_free(&resp);
    tfn_arena_free(sa);
    tfn_arena_free(a);
}

/* Nothing large, or a tensor already in the encoder's own region: inline, as tfn__wire_encode. */
static void test_inline_cases(void)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__shm_pair_t regions = {0};
    CHECK_EQ_INT(tfn__shm_region_create(1 << 20, &regions.own), 0);
    int64_t shape[] = {100};
    tfn_value_t *small = tfn_tensor(a, TFN_DTYPE_F64, 1, shape);
    int64_t bshape[] = {(int64_t)MIN * 4};
    tfn_value_t *mask = tfn_tensor(a, TFN_DTYPE_BOOL, 1, bshape);
    /* a tensor wrapped over our own region (an earlier answer's bytes): copying it into the
     * region could overwrite itself, so it goes inline */
    int64_t oshape[] = {(int64_t)MIN};
    tfn_value_t *mine = tfn_tensor_wrap(a, TFN_DTYPE_U8, 1, oshape, regions.own->map + 4096);
    tfn_value_t *vals[] = {small, mask, mine};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT((int)tfn__wire_shm_need(vals[i], &regions), 0);
        tfn__buf_t b, plain;
        tfn__buf_init(&b, 1 << 22);
        tfn__buf_init(&plain, 1 << 22);
        CHECK_EQ_INT(tfn__wire_encode_shm(vals[i], &b, &regions), 0);
        CHECK_EQ_INT(tfn__wire_encode(vals[i], &plain), 0);
        CHECK(b.len == plain.len && memcmp(b.data, plain.data, b.len) == 0);
        tfn__buf_free(&b);
        tfn__buf_free(&plain);
    }
    /* a region smaller than tfn__wire_shm_need said: refused, not overrun */
    tfn_value_t *big = f32(a, 1 << 19, 0); /* 2 MiB */
    tfn__buf_t b;
    tfn__buf_init(&b, 1 << 22);
    CHECK_EQ_INT((int)tfn__wire_shm_need(big, &regions), 2 << 20);
    CHECK_EQ_INT(tfn__wire_encode_shm(big, &b, &regions), TFN_EINVAL);
    CHECK_EQ_INT((int)b.len, 0);
    tfn__buf_free(&b);
    tfn__shm_region_unref(regions.own);
    tfn_arena_free(a);
}

/* Descriptors that are not what they claim: the reader refuses each, and closes it. */
static void test_bad_descriptors(void)
{
    tfn_error_t err;
    tfn__shm_region_t *r = NULL;
    int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 1 << 20, TFN__SHM_MAX_BYTES, &r, &err),
                 TFN_EBADWIRE);
    CHECK(strstr(err.message, "not sealed") != NULL);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0); /* it could still grow: refused */
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 1 << 20, TFN__SHM_MAX_BYTES, &r, &err),
                 TFN_EBADWIRE);
    CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW) == 0);
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 2 << 20, TFN__SHM_MAX_BYTES, &r, &err),
                 TFN_EBADWIRE);
    CHECK(strstr(err.message, "were announced") != NULL);
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 1 << 20, 1 << 19, &r, &err), TFN_EBADWIRE);
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 0, 1 << 20, &r, &err), TFN_EBADWIRE);
    CHECK_EQ_INT(tfn__shm_region_open(dup(fd), 1 << 20, TFN__SHM_MAX_BYTES, &r, &err), 0);
    CHECK(r && r->len == 1 << 20 && r->fd == -1);
    tfn__shm_region_unref(r);
    close(fd);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ_INT(tfn__shm_region_open(p[0], 4096, 1 << 20, &r, &err), TFN_EBADWIRE);
    CHECK(strstr(err.message, "not a memfd") != NULL);
    CHECK(fcntl(p[0], F_GETFD) == -1); /* closed: taken whatever happens */
    close(p[1]);
    CHECK_EQ_INT(tfn__shm_region_create(0, &r), TFN_ETOOBIG);
    CHECK_EQ_INT(tfn__shm_region_create(TFN__SHM_MAX_BYTES + 1, &r), TFN_ETOOBIG);
}

/* One hand-made reference: tag 0A, dtype, ndim 1, shape {n}, region, offset. */
static size_t make_ref(unsigned char *enc, unsigned dtype, int64_t n, unsigned region,
                       uint64_t offset)
{
    static const unsigned char head[] = {0x89, 'T', 'F', 'N', 1, 0, 0, 0, 0x0A};
    memcpy(enc, head, sizeof head);
    enc[9] = (unsigned char)dtype;
    enc[10] = 1;
    memcpy(enc + 11, &n, 8);
    enc[19] = (unsigned char)region;
    memcpy(enc + 20, &offset, 8);
    return 28;
}

static void test_bad_references(void)
{
    tfn__shm_pair_t regions = {0};
    CHECK_EQ_INT(tfn__shm_region_create(4096, &regions.peer), 0);
    struct {
        const char *what;
        unsigned dtype, region;
        int64_t n;
        uint64_t offset;
        size_t cut;        /* bytes cut off the end */
        const char *error; /* NULL: accepted */
    } cases[] = {
        {"fits", 0, 0, 16, 0, 0, NULL},
        {"fits at the very end", 0, 0, 16, 4096 - 64, 0, NULL},
        {"one element past the end", 0, 0, 16, 4096 - 56, 0, "outside"},
        {"offset past the end", 0, 0, 1, 8192, 0, "outside"},
        {"offset near 2^64", 0, 0, 4, UINT64_MAX - 7, 0, "outside"},
        {"misaligned", 0, 0, 4, 4, 0, "multiple of 8"},
        {"region 2", 0, 2, 4, 0, 0, "region 2"},
        {"the receiver's, none", 0, 1, 4, 0, 0, "there is none"},
        {"bool", 5, 0, 8, 0, 0, "bool tensors travel inline"},
        {"unknown dtype", 9, 0, 8, 0, 0, "unknown dtype"},
        {"truncated offset", 0, 0, 4, 0, 3, "truncated"},
        {"no region byte", 0, 0, 4, 0, 9, "truncated"},
        {"huge shape", 0, 0, INT64_MAX / 2, 0, 0, "shape"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t buf[8] = {0};
        unsigned char *enc = (unsigned char *)buf;
        size_t len = make_ref(enc, cases[i].dtype, cases[i].n, cases[i].region, cases[i].offset);
        tfn_arena_t *a = tfn_arena_new(0);
        tfn_value_t *v;
        tfn_error_t err;
        int rc = tfn__wire_decode_shm(a, enc, len - cases[i].cut, &regions, false, NULL, &v, &err);
        int want = cases[i].error ? TFN_EBADWIRE : 0;
        if (rc != want || (rc && !strstr(err.message, cases[i].error)))
            fprintf(stderr, "  case '%s': %d (%s)\n", cases[i].what, rc, rc ? err.message : "");
        CHECK_EQ_INT(rc, want);
        if (rc)
            CHECK(strstr(err.message, cases[i].error) != NULL);
        else
            CHECK(inside(regions.peer, v));
        tfn_arena_free(a);
    }
    tfn__shm_region_unref(regions.peer);
}

/* Writes the seed corpus of fuzz/fuzz_shm.c: a message followed by its region's bytes. */
static void write_seeds(const char *dir)
{
    tfn_arena_t *a = tfn_arena_new(0);
    tfn__shm_pair_t regions = {0};
    tfn_value_t *o = tfn_object(a);
    tfn_object_set(a, o, "t", f32(a, MIN / 4, 1.0f));
    tfn_object_set(a, o, "u", f32(a, MIN / 2, 2.0f));
    tfn_object_set(a, o, "s", tfn_string(a, "small"));
    size_t need = tfn__wire_shm_need(o, &regions);
    CHECK_EQ_INT(tfn__shm_region_create(need, &regions.own), 0);
    tfn__buf_t b;
    tfn__buf_init(&b, 1 << 22);
    CHECK_EQ_INT(tfn__wire_encode_shm(o, &b, &regions), 0);
    uint64_t ref[8] = {0};
    size_t rlen = make_ref((unsigned char *)ref, 0, 16, 1, 64);
    struct {
        const char *name;
        const void *msg;
        size_t len;
    } seeds[] = {{"object_two_refs", b.data, b.len}, {"ref_to_receiver", ref, rlen}};
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (!f)
            continue;
        /* fuzz_shm's format: u32 message length, the message, then the regions' bytes */
        uint32_t n = (uint32_t)seeds[i].len;
        fwrite(&n, 4, 1, f);
        fwrite(seeds[i].msg, 1, seeds[i].len, f);
        fwrite(regions.own->map, 1, need < 4096 ? need : 4096, f);
        fclose(f);
    }
    tfn__buf_free(&b);
    tfn__shm_region_unref(regions.own);
    tfn_arena_free(a);
}

int main(void)
{
    RUN(test_round_trips);
    RUN(test_inline_cases);
    RUN(test_bad_descriptors);
    RUN(test_bad_references);
    const char *seeds = getenv("TFN_SHM_SEEDS");
    if (seeds)
        write_seeds(seeds);
    return check_summary("shm");
}
