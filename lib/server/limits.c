/*
 * limits.c — process limits a worker raises for itself at start.
 *
 * Every connection is a descriptor, and a request parked at an entry awaiting a dependency holds
 * two (its client's and its call's pooled connection). The soft RLIMIT_NOFILE is often 1024
 * while the hard limit is far higher: a worker raises the soft limit to the hard one, as nginx's
 * worker_rlimit_nofile or Go's runtime do. A privileged worker (CAP_SYS_RESOURCE, e.g. root in a
 * container) also raises a hard limit below MIN_NOFILE to it, so that 10,000 parked requests fit
 * (20,000 descriptors plus a few); without the privilege that attempt fails quietly.
 */
#include <sys/resource.h>

#include "server/server_internal.h"

#define MIN_NOFILE 65536

void tfn__raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < MIN_NOFILE) {
        struct rlimit more = {MIN_NOFILE, MIN_NOFILE};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) /* fails without CAP_SYS_RESOURCE, or above
                                                     fs.nr_open: then the hard limit it is */
            return;
    }
    if (rl.rlim_cur >= rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        tfn__log("warn", "cannot raise the open-file limit to %llu",
                 (unsigned long long)rl.rlim_max);
}
