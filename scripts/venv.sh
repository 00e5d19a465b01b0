#!/usr/bin/env bash
# Creates .venv with the pinned Python tools of the integration tests (pytest, the OpenAPI
# validator), reinstalling only when tests/integration/requirements.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/integration/requirements.txt
stamp=.venv/.requirements
if [ -x .venv/bin/python ] && cmp -s "$req" "$stamp"; then exit 0; fi
# Debian's python3 (python3-venv) is preferred over any other python on PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
