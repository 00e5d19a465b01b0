/*
 * models.h — the docsearch services that run models (models.c) and the entry (search.c).
 *
 * TextModel.embed (batchable, handler threads, resources.cpu 1)
 *   in:  input_ids, attention_mask, token_type_ids: int64 [n][s] (Preprocessor.tokenize's answer)
 *   out: {embeddings: float32 [n][384] (mean-pooled over the mask, L2-normalised),
 *         compute_ms: the batch's inference time}
 * ImageModel.read (batchable, handler threads, resources.cpu 1)
 *   in:  x: float32 [n][3][48][W] (Preprocessor.prepare_images's answer)
 *   out: {text: uint8 [n][4T+1] (each line's UTF-8, NUL-padded: a batch splits tensors only),
 *         lengths: int64 [n], confidences: float32 [n], compute_ms}
 *   The CTC dictionary is the model's metadata `character` (tfn_onnx_metadata).
 * Search.search (the entry)
 *   in:  query: string; images: list of 1..32 PNGs (base64 in JSON); k: int, optional (default
 *        every line); timings: bool, optional
 *   out: {results: [{line, text, confidence, score}] best first, missing: [{service, code,
 *         error}], timings_ms?}
 *   When ImageModel fails or times out (DOCSEARCH_OCR_TIMEOUT_MS, default 10000) the answer has
 *   no results and names it in `missing`; when TextModel fails, the recognised lines come back
 *   in their order with no score, and `missing` names TextModel.
 */
#ifndef DOCSEARCH_MODELS_H
#define DOCSEARCH_MODELS_H

#include <tiffin.h>

extern const tfn_service_t ds_text_model_service;
extern const tfn_service_t ds_image_model_service;
extern const tfn_service_t ds_search_service;

#endif
