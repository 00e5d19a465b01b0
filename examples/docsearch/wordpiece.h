/*
 * wordpiece.h — BERT's uncased WordPiece tokenizer, as all-MiniLM-L6-v2 uses it, giving the same
 * ids as Hugging Face's `tokenizers` (BertNormalizer + BertPreTokenizer + WordPiece, the model's
 * tokenizer.json) for any valid UTF-8 text:
 *
 *   1. clean: drop U+0000, U+FFFD and control characters (category C*, except tab, CR, LF); turn
 *      white space (tab, CR, LF and the Unicode White_Space characters) into ' ';
 *   2. put spaces around CJK ideographs (the CJK Unified Ideograph blocks and extensions A-E,
 *      the compatibility ideographs), so each becomes a word of its own;
 *   3. strip accents: canonical decomposition (NFD), then drop nonspacing marks (Mn);
 *   4. lowercase;
 *   5. split into words at spaces, and make every punctuation character (ASCII punctuation, or
 *      Unicode category P*) a word of its own;
 *   6. WordPiece each word: greedy longest match from the vocabulary, pieces after the first
 *      prefixed "##"; a word longer than 100 characters, or one that cannot be covered, becomes
 *      [UNK];
 *   7. truncate the pieces to max_len - 2 and frame them: [CLS] pieces [SEP].
 *
 * One difference, on purpose: `tokenizers` also recognises its special tokens ("[CLS]", "[MASK]",
 * ...) written in the input text and gives their ids; here they are ordinary text ("[", "cl",
 * "##s", "]"), so a query cannot smuggle control tokens into the model.
 *
 * Unicode data (categories, decomposition, case) comes from Debian's libutf8proc.
 *
 *     char err[200];
 *     ds_vocab_t *v = ds_vocab_load("build/deps/docsearch/vocab.txt", err, sizeof err);
 *     int64_t ids[128];
 *     size_t n;
 *     if (ds_wordpiece_encode(v, text, strlen(text), 128, ids, &n, err, sizeof err) < 0) ...
 *     ds_vocab_free(v);
 *
 * Threads: a vocabulary is read-only once loaded; any number of threads may encode with it.
 */
#ifndef DOCSEARCH_WORDPIECE_H
#define DOCSEARCH_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

/** Longest text ds_wordpiece_encode takes, in bytes (longer is an error, not a truncation). */
#define DS_TEXT_MAX_BYTES (64 * 1024)
/** A word longer than this many characters becomes [UNK] (as in BERT). */
#define DS_WORD_MAX_CHARS 100
/** The sequence length the model was trained with (tokenizer.json's truncation). */
#define DS_SEQ_DEFAULT 128

/** A WordPiece vocabulary: token strings and their ids (the line number, from 0). Opaque. */
typedef struct ds_vocab ds_vocab_t;

/**
 * Reads a vocabulary file (vocab.txt: one token a line, its id the line number from 0, trailing
 * white space ignored). It must contain [UNK], [CLS], [SEP] and [PAD]. Returns the vocabulary,
 * owned by the caller (ds_vocab_free), or NULL with a one-line reason in err (may be NULL).
 */
ds_vocab_t *ds_vocab_load(const char *path, char *err, size_t errlen);

/** As ds_vocab_load, from the file's contents in memory (data, len: borrowed). */
ds_vocab_t *ds_vocab_parse(const char *data, size_t len, char *err, size_t errlen);

/** Frees a vocabulary. NULL is ignored. */
void ds_vocab_free(ds_vocab_t *vocab);

/** Number of tokens. */
size_t ds_vocab_size(const ds_vocab_t *vocab);

/** The id of the token of `len` bytes at `token`, or -1 if it is not in the vocabulary. */
int32_t ds_vocab_id(const ds_vocab_t *vocab, const char *token, size_t len);

/** The token of id `id` (NUL-terminated, owned by the vocabulary), or NULL if out of range. */
const char *ds_vocab_token(const ds_vocab_t *vocab, int32_t id);

/** The ids of the special tokens, from the vocabulary. */
typedef struct ds_special_ids {
    int32_t pad, unk, cls, sep;
} ds_special_ids_t;

/** The special tokens' ids of `vocab` (all present: ds_vocab_load checks). */
ds_special_ids_t ds_vocab_special(const ds_vocab_t *vocab);

/**
 * Tokenizes `text` (`len` bytes of UTF-8, borrowed; need not be NUL-terminated) into ids[0..*n):
 * [CLS], the word pieces (truncated to max_len - 2), [SEP]. `ids` has room for max_len entries;
 * max_len must be 2 or more. Returns 0, or -1 with a reason in err (invalid UTF-8 and the byte
 * offset where it starts, text longer than DS_TEXT_MAX_BYTES, max_len < 2, out of memory); *n
 * is then 0. The attention mask of the result is n ones and its token type ids n zeros.
 */
int ds_wordpiece_encode(const ds_vocab_t *vocab, const char *text, size_t len, size_t max_len,
                        int64_t *ids, size_t *n, char *err, size_t errlen);

#endif
