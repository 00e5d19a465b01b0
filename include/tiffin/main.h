/*
 * tiffin/main.h — the command line every tiffin program gets.
 */
#ifndef TIFFIN_MAIN_H
#define TIFFIN_MAIN_H

#include "service.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the library, "MAJOR.MINOR.PATCH". */
#define TFN_VERSION "0.1.0"

/**
 * Runs the command line for `service` and returns the process exit status. Commands:
 *
 *   serve   [--host H] [--port P] [--unix PATH] [--max-body BYTES] [--timeout MS]
 *           [--max-concurrency N]   serve the service over HTTP until SIGTERM/SIGINT
 *   call    API [--json TEXT | --file PATH] [--url URL | --unix PATH]
 *           call an API of a running server and print the JSON response
 *   openapi print the OpenAPI 3.0 document of the service
 *
 * Each command accepts --help. `service` is borrowed and must outlive the call.
 * Exit status: 0 on success, 1 on a runtime failure, 2 on bad usage.
 */
int tfn_main(int argc, char **argv, const tfn_service_t *service);

#ifdef __cplusplus
}
#endif
#endif
