/*
 * shm.c — the shared-memory regions of connections between tiffin processes on one host.
 *
 * A region is a memfd that its writer creates once per connection (and again, larger, when a
 * message does not fit), seals against shrinking and growing, and sends with SCM_RIGHTS; the
 * reader checks the descriptor — a memfd, exactly the announced size, those seals — before it
 * maps it. The seals are what make a hostile or dying peer harmless to the mapping: the pages
 * can never be taken away under a reader (no SIGBUS), and every reference into them is checked
 * against the size (wire.c). The bytes themselves stay writable by both sides: a handler may
 * write into its input tensors, as it may into an inline body. docs/design.md, "Shared memory on
 * one host", has the protocol and lifetimes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/codec_internal.h"

#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

static tfn__shm_region_t *region_new(int fd, void *map, size_t len)
{
    tfn__shm_region_t *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    *r = (tfn__shm_region_t){.refs = 1, .fd = fd, .map = map, .len = len};
    return r;
}

int tfn__shm_region_create(size_t len, tfn__shm_region_t **out)
{
    if (len == 0 || len > TFN__SHM_MAX_BYTES)
        return TFN_ETOOBIG;
    int fd = memfd_create("tiffin-tensors", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return TFN_ENOMEM;
    void *map = MAP_FAILED;
    if (ftruncate(fd, (off_t)len) == 0 && fcntl(fd, F_ADD_SEALS, REQUIRED_SEALS | F_SEAL_SEAL) == 0)
        /* MAP_POPULATE: every page allocated now, in one go, not one fault per page later */
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    tfn__shm_region_t *r = map != MAP_FAILED ? region_new(fd, map, len) : NULL;
    if (!r) {
        if (map != MAP_FAILED)
            munmap(map, len);
        close(fd);
        return TFN_ENOMEM;
    }
    *out = r;
    return 0;
}

int tfn__shm_region_open(int fd, size_t len, size_t max, tfn__shm_region_t **out, tfn_error_t *err)
{
    struct stat st;
    int rc = 0;
    if (len == 0 || len > max)
        rc = tfn_error_set(err, TFN_EBADWIRE,
                           "a shared memory region of %zu bytes was announced (1 to %zu allowed)",
                           len, max);
    else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = tfn_error_set(err, TFN_EBADWIRE, "the shared memory descriptor is not a memfd");
    else if ((uint64_t)st.st_size != (uint64_t)len)
        rc = tfn_error_set(err, TFN_EBADWIRE, "shared memory of %lld bytes, %zu were announced",
                           (long long)st.st_size, len);
    else {
        int seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & REQUIRED_SEALS) != REQUIRED_SEALS)
            rc = tfn_error_set(err, TFN_EBADWIRE,
                               "shared memory that is not sealed against shrinking and growing");
    }
    void *map = MAP_FAILED;
    if (rc == 0) {
        /* Not MAP_POPULATE: a hostile peer could announce a large sparse region and have us
         * allocate all of it. Pages are mapped as references touch them (each request's bytes
         * bounded by max_body_bytes), once per page for the region's life. */
        map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED)
            rc = tfn_error_set(err, TFN_ENOMEM, "cannot map %zu bytes of shared memory: %s", len,
                               strerror(errno));
    }
    close(fd); /* the mapping keeps the memory */
    if (rc)
        return rc;
    tfn__shm_region_t *r = region_new(-1, map, len);
    if (!r) {
        munmap(map, len);
        return tfn_error_set(err, TFN_ENOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

tfn__shm_region_t *tfn__shm_region_ref(tfn__shm_region_t *r)
{
    if (r)
        r->refs++;
    return r;
}

void tfn__shm_region_unref(tfn__shm_region_t *r)
{
    if (!r || --r->refs > 0)
        return;
    munmap(r->map, r->len);
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

size_t tfn__shm_region_size(size_t need)
{
    size_t len = (size_t)1 << 20;
    while (len < need && len <= TFN__SHM_MAX_BYTES / 2)
        len *= 2;
    return len < need ? need : len;
}

bool tfn__shm_contains(const tfn__shm_region_t *r, const void *p, size_t n)
{
    if (!r || !p)
        return false;
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)r->map;
    return a >= base && a - base <= r->len && n <= r->len - (a - base);
}
