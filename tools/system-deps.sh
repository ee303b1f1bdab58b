#!/usr/bin/env bash
# Everything the system tier needs on the host, idempotent (a warm machine pays a few seconds):
#   tools/system-deps.sh VENV
# host packages (requirements/apt-system.txt), the tier's own venv VENV (newest runtime deps,
# pinned test tools, gguf + numpy from requirements/test-system.txt, hal0d editable),
# llama-server (tools/llama-server.sh) and the cached container rootfs (tools/rootfs.sh).
set -euo pipefail
venv=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pip=(-m pip install -q --disable-pip-version-check)
tools/apt-install.sh requirements/apt-system.txt
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" "${pip[@]}" --upgrade \
    -r requirements/runtime-pypi.txt -r requirements/dev.txt -r requirements/test-system.txt
"$venv/bin/python" "${pip[@]}" --no-deps -e .
tools/llama-server.sh "$venv/bin/python"
tools/rootfs.sh >/dev/null
