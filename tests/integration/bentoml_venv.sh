#!/usr/bin/env bash
# Makes build/venv-bentoml with BentoML's client (bentoml==1.4.40 from PyPI) for
# tests/integration/test_bentoml_client.py. BentoML is heavy (about 150 packages), so it lives in
# its own virtual environment, created on first use and reused while this script is unchanged:
# the main .venv (scripts/venv.sh) stays quick to install. Prints the python to use.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=build/venv-bentoml
stamp=$venv/.stamp
want="bentoml==1.4.40"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$venv/bin/python"; exit 0
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
rm -rf "$venv"
"$py" -m venv "$venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "$want" >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
