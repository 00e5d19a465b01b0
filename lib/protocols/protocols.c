/*
 * protocols.c — the route table of lib/protocols, handed to dispatch by the program (cli.c).
 * Routes are tried in order, before tiffin's own endpoints and APIs. No API can be shadowed: API
 * names have no '.' or '/', and GET /v2 declines anything but GET (POST /v2 stays an API's).
 */
#include "protocols/protocols_internal.h"

const tfn__route_t tfn__protocol_routes[] = {
    {.path = "/schema.json", .serve = tfn__serve_bentoml_schema},
    {0},
};
