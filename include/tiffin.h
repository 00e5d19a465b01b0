/*
 * tiffin.h — the whole public API of libtiffin.
 *
 * Tiffin serves machine-learning models and processing steps written in C as composable HTTP
 * services. Include this one header; link with `pkg-config --cflags --libs tiffin`.
 *
 *   tiffin/error.h    error codes (negative TFN_E*), tfn_strerror, structured tfn_error_t
 *   tiffin/value.h    arenas and values: null, bool, int, float, string, bytes, list, object, tensor
 *   tiffin/service.h  defining a service: APIs, declared inputs, resources, traffic, hooks
 *   tiffin/call.h     calling dependencies from a handler: tfn_call, tfn_call_async, tfn_await
 *   tiffin/testing.h  running a whole service graph in one process, for unit tests
 *   tiffin/main.h     tfn_main: the command line (serve, call, openapi)
 *   tiffin/onnx.h     ONNX models: load and run one in a service, or serve a model file as one
 */
#ifndef TIFFIN_H
#define TIFFIN_H

#include "tiffin/call.h"
#include "tiffin/error.h"
#include "tiffin/main.h"
#include "tiffin/onnx.h"
#include "tiffin/service.h"
#include "tiffin/testing.h"
#include "tiffin/value.h"

#endif
