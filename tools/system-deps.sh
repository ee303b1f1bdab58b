#!/usr/bin/env bash
# Everything the system tier needs on the host, idempotent (a warm machine pays a few seconds):
#   tools/system-deps.sh VENV DEB RELEASE...
# host packages (requirements/apt-system.txt), the tier's own venv VENV (newest runtime deps,
# pinned test tools, gguf + numpy from requirements/test-system.txt, hal0d editable),
# llama-server (tools/llama-server.sh) and one cached container rootfs per RELEASE holding
# DEB's dependencies (tools/rootfs.sh). The rootfs builds (network-bound) run while
# llama-server is fetched or compiled (CPU-bound).
set -euo pipefail
venv=$1 deb=$2
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
pip=(-m pip install -q --disable-pip-version-check)
tools/apt-install.sh requirements/apt-system.txt
log=build/rootfs-build.log
mkdir -p build
(
    for release in "$@"; do tools/rootfs.sh "$release" "$deb" >/dev/null || exit 1; done
) >"$log" 2>&1 &
rootfs=$!
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" "${pip[@]}" --upgrade \
    -r requirements/runtime-pypi.txt -r requirements/dev.txt -r requirements/test-system.txt
"$venv/bin/python" "${pip[@]}" --no-deps -e .
llama=0
tools/llama-server.sh "$venv/bin/python" || llama=$?
wait "$rootfs" || { cat "$log" >&2; echo "system deps: building a rootfs failed" >&2; exit 1; }
cat "$log" >&2
exit "$llama"
