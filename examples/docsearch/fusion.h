/*
 * fusion.h — the arithmetic after the models: sentence embeddings from MiniLM's token states,
 * the relevance of each recognised line to the query, and the top k.
 *
 *   ds_mean_pool:  embedding = L2-normalised mean of the token states where the attention mask
 *                  is 1 (sentence-transformers' mean pooling + Normalize, as all-MiniLM-L6-v2
 *                  is meant to be used);
 *   ds_fuse:       score_i = cos(query, line_i) * confidence_i (the OCR confidence: a line read
 *                  badly counts for less);
 *   ds_top_k:      indices of the k highest scores, highest first, ties by lower index.
 *
 * Threads: pure functions; any number at once.
 */
#ifndef DOCSEARCH_FUSION_H
#define DOCSEARCH_FUSION_H

#include <stddef.h>
#include <stdint.h>

/**
 * Mean pooling and L2 normalisation: hidden[b][s][d] (the model's last_hidden_state), mask[b][s]
 * (1 for a token, 0 for padding) -> out[b][d] (the caller's). A row whose mask is all 0, or whose
 * mean is the zero vector, gives zeros. All pointers borrowed.
 */
void ds_mean_pool(const float *hidden, const int64_t *mask, size_t b, size_t s, size_t d,
                  float *out);

/** Cosine similarity of a and b (d values each); 0 if either is the zero vector. */
double ds_cosine(const float *a, const float *b, size_t d);

/**
 * Scores n lines against the query: query[d], lines[n][d], confidences[n] (in [0, 1]) ->
 * similarities[n] (cosine) and scores[n] (cosine * confidence), both the caller's.
 */
void ds_fuse(const float *query, const float *lines, const float *confidences, size_t n, size_t d,
             float *similarities, float *scores);

/**
 * The indices of the min(k, n) highest of scores[0..n), highest first, ties by lower index, into
 * order[] (room for min(k, n)). Returns how many were written. NaN scores rank last.
 */
size_t ds_top_k(const float *scores, size_t n, size_t k, size_t *order);

#endif
