/*
 * main.c — the `digits` program: the digits ensemble of services.h behind tiffin's command line.
 *
 *   build/examples/digits serve --port 3000          the whole graph, one process per service
 *   build/examples/digits call classify --json '{"pixels": [...64 values 0..16...]}'
 *   build/examples/digits serve --service SVM --unix /tmp/svm.sock     one service alone
 */
#include <stdlib.h>

#include "services.h"

int main(int argc, char **argv)
{
    /* One thread per BLAS call and no OpenMP pool: each service already runs its handlers on
     * its own threads, and the processes share the machine. `serve` re-executes this program
     * for every service, so the children see these from their start (OpenBLAS and libgomp read
     * them when the libraries load, which for this process was before main). */
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    setenv("OMP_NUM_THREADS", "1", 0);
    return tfn_main(argc, argv, &digits_service);
}
