/*
 * main.c — the `docsearch` program: the search graph of models.h behind tiffin's command line.
 *
 *   build/examples/docsearch serve --port 3000      the whole graph, one process per service
 *   curl -d @examples/docsearch/request.json -H 'Content-Type: application/json' \
 *        127.0.0.1:3000/search
 */
#include <stdlib.h>

#include "models.h"

int main(int argc, char **argv)
{
    /* ONNX Runtime sizes its own pools from resources.cpu; no OpenMP pool beside them. */
    setenv("OMP_NUM_THREADS", "1", 0);
    return tfn_main(argc, argv, &ds_search_service);
}
