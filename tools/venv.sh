#!/usr/bin/env bash
# Create or refresh one of the two dependency sets, with hal0d installed (editable) into it.
#   tools/venv.sh pypi   DIR  - newest PyPI releases of the runtime deps + pinned dev tools
#   tools/venv.sh debian DIR  - Debian's /usr/bin/python3 seeing bookworm's packaged runtime
#                               deps (system site-packages); test-only extras are added with
#                               --no-deps so they never pull a newer runtime package in front
#                               of Debian's.
set -euo pipefail
set_name=$1 dir=$2
top=$(cd "$(dirname "$0")/.." && pwd)
pip=(-m pip install -q --disable-pip-version-check)
extra="$top/requirements/test-extra.txt"
case "$set_name" in
pypi)
    [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
    "$dir/bin/python" "${pip[@]}" --upgrade pip
    "$dir/bin/python" "${pip[@]}" --upgrade \
        -r "$top/requirements/runtime-pypi.txt" -r "$top/requirements/dev.txt" -r "$extra"
    "$dir/bin/python" "${pip[@]}" --no-deps -e "$top"
    ;;
debian)
    "$top/tools/apt-install.sh" "$top/requirements/apt-debian.txt"
    [ -x "$dir/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$dir"
    "$dir/bin/python" "${pip[@]}" --no-deps -r "$extra"
    "$dir/bin/python" "${pip[@]}" --no-deps --no-build-isolation -e "$top"
    ;;
*)
    echo "usage: $0 pypi|debian DIR" >&2
    exit 2
    ;;
esac
