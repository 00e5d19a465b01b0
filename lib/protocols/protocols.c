/*
 * protocols.c — the route table of lib/protocols, handed to dispatch by the program (cli.c).
 * Routes are tried in order, before tiffin's own endpoints and APIs. No API can be shadowed: API
 * names have no '.' or '/', and GET /v2 declines anything but GET (POST /v2 stays an API's).
 */
#include "protocols/protocols_internal.h"

const tfn__route_t tfn__protocol_routes[] = {
    {.path = "/schema.json", .serve = tfn__serve_bentoml_schema},
    {.path = "/", .serve = tfn__serve_docs_page},
    {.path = "/graph.json", .serve = tfn__serve_graph},
    {.path = "/v2", .serve = tfn__serve_kserve},
    {.path = "/v2/", .prefix = true, .serve = tfn__serve_kserve},
    {0},
};
