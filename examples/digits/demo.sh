#!/usr/bin/env bash
# The last step of `make demo`: prints where the digits ensemble will serve and how to call it
# (with a real held-out image, the first row of BUILD/digits/test.csv), then serves the whole
# graph in the foreground until Ctrl-C. Usage: examples/digits/demo.sh [BUILD] (default build);
# HOST (127.0.0.1) and PORT (3000) in the environment.
set -euo pipefail

build=${1:-build}
host=${HOST:-127.0.0.1}
port=${PORT:-3000}
program=$build/examples/digits
case $program in /*) ;; *) program=./$program ;; esac   # copy-pasteable from the repository root
csv=$build/digits/test.csv
for f in "$program" "$csv"; do
    [ -e "$f" ] || { echo "demo: $f is missing (make examples digits-models)" >&2; exit 1; }
done

row=$(head -n 1 "$csv")
pixels=${row%,*}
label=${row##*,}
json="{\"pixels\": [$pixels]}"
url="http://$host:$port"
[ "$host" = 127.0.0.1 ] && short="localhost:$port" || short="$url"

cat <<EOF

  The digits ensemble: Preprocessing -> [XGBoost, LogReg, SVM, MLP] -> Aggregator -> Postprocessing,
  every service its own process (the models on unix sockets), the entry Digits on $url

  A held-out test image (the first row of $csv, a $label):

EOF
# The image, 8 rows of 8 values 0..16, as shades.
awk -F, '{ for (r = 0; r < 8; r++) { line = "      ";
             for (c = 1; c <= 8; c++) { v = $(r * 8 + c);
                 line = line (v > 12 ? "##" : v > 8 ? "++" : v > 4 ? ".." : "  ") }
             print line } }' <<<"$pixels"
cat <<EOF

  Classify it, from another terminal:

    curl -s $short/classify -H 'Content-Type: application/json' \\
         -d '$json'

    $program call classify --json '$json'

  A picture instead (PNG or PGM, any size, dark on light or light on dark):

    curl -s $short/classify -H 'Content-Type: application/json' \\
         -d "{\"png\": \"\$(base64 -w0 digit.png)\"}"

  Also: POST /classify_batch {"images": [[64 values], ...]}; "timings": true for per-stage ms;
  GET $url/docs.json for the OpenAPI document. Ctrl-C stops every service.

EOF
exec "$program" serve --host "$host" --port "$port"
