/*
 * services.h — the docsearch services that need no model runtime (services.c). The graph they
 * belong to (issue 12; the model services come with the ONNX backend):
 *
 *   Search (entry) ── search {"query", "images": [PNG...], "k"}
 *     1. Preprocessor.tokenize {"texts": [query]}          -> token ids
 *        Preprocessor.prepare_images {"images": [PNG...]}  -> the recogniser's input
 *     2. in parallel: TextModel (query embedding), ImageModel (OCR + CTC decoding)
 *     3. Preprocessor.tokenize {"texts": recognised lines} -> TextModel, one batched call
 *     4. Fusion.fuse   cosine(query, line) * OCR confidence
 *     5. Ranker.rank   the top k with text, confidence and score
 *
 * Preprocessor.tokenize
 *   in:  texts: list of 1..DS_MAX_TEXTS strings; max_len: int, optional, 2..512 (default 128)
 *   out: {input_ids, attention_mask, token_type_ids}: int64 [n][L], L the longest sequence;
 *        shorter rows padded with [PAD] (0), mask 0
 * Preprocessor.prepare_images
 *   in:  images: list of 1..DS_MAX_IMAGES PNGs (bytes; base64 strings in JSON)
 *   out: {x: float32 [n][3][48][W], widths: int64 [n] (each picture's resized width),
 *        ratios: float64 [n] (width / height)}; W = ds_rec_batch_width(the largest ratio);
 *        n x W at most DS_BATCH_MAX_COLUMNS
 * Fusion.fuse
 *   in:  query: float32 [d]; lines: float32 [n][d]; confidences: float32 [n], each 0..1
 *   out: {scores: float32 [n], similarities: float32 [n]}
 * Ranker.rank
 *   in:  scores: float32 [n]; k: int, optional (default 3, 1..n, more is clipped to n);
 *        texts: list of n strings, optional; confidences: float32 [n], optional
 *   out: {results: [{line, score, text?, confidence?}, ...]} best first
 *
 * Bad input is a 400 naming the field. Environment: DOCSEARCH_DATA, the folder of vocab.txt
 * (default: build/deps/docsearch found from the program's folder; see ds_data_dir).
 */
#ifndef DOCSEARCH_SERVICES_H
#define DOCSEARCH_SERVICES_H

#include <stddef.h>
#include <tiffin.h>

/** Most texts one tokenize call takes. */
#define DS_MAX_TEXTS 256
/** Most pictures one prepare_images call takes (32 x 3 x 48 x 2048 floats = 37.7 MB at most). */
#define DS_MAX_IMAGES 32
/** Most columns (pictures x W) of one prepare_images answer: 24 MiB of float32. */
#define DS_BATCH_MAX_COLUMNS 43690
/** Longest sequence a caller may ask tokenize for (the model's position embeddings). */
#define DS_SEQ_MAX 512

extern const tfn_service_t ds_preprocessor_service;
extern const tfn_service_t ds_fusion_service;
extern const tfn_service_t ds_ranker_service;

/**
 * The folder of the model files: $DOCSEARCH_DATA, else the first of PROGRAM_DIR/../deps/docsearch
 * and PROGRAM_DIR/../../build/deps/docsearch that has a vocab.txt (build/examples and
 * build-san/tests both find build/deps/docsearch), else "build/deps/docsearch". Written into buf
 * (len bytes); returns buf.
 */
const char *ds_data_dir(char *buf, size_t len);

#endif
