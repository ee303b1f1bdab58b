#!/usr/bin/env bash
# Build the Debian package from a copy of the tree and check it with lintian.
#
#   tools/build-deb.sh WORKDIR OUTDIR     (make deb: build/deb dist)
#
# dpkg-buildpackage writes its results next to the source directory and leaves debian/hal0d/
# behind, so the build runs in WORKDIR/src, a fresh copy of the tree (without build/, dist/,
# .git). The package's Build-Depends are installed from debian/control when missing. The .debs
# (hal0d and hal0-applet) end up in OUTDIR (older ones there are removed); lintian fails on any error or
# warning that debian/hal0d.lintian-overrides does not explain.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 WORKDIR OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "$1")
out=$(realpath -m "$2")
src=$work/src
cd "$top"

rm -rf "$work"
mkdir -p "$src" "$out"
tar --exclude=./build --exclude=./dist --exclude=./.git --exclude='__pycache__' \
    --exclude='*.egg-info' --exclude=./.mypy_cache --exclude=./.ruff_cache -cf - . \
    | tar -xf - -C "$src"

if ! (cd "$src" && dpkg-checkbuilddeps >/dev/null 2>&1); then
    echo "deb: installing the build dependencies of debian/control"
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=600 \
        --no-install-recommends build-dep "$src" >"$work/build-dep.log" 2>&1 \
        || { tail -n 30 "$work/build-dep.log" >&2; exit 1; }
fi

start=$(date +%s)
# Debian's own tools only: a python3 earlier on PATH (pyenv, a venv) must not build it.
(cd "$src" && env PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; echo "deb: dpkg-buildpackage failed ($work/build.log)" >&2; exit 1; }
debs=()
for package in hal0d hal0-applet; do
    found=("$work"/${package}_*_all.deb)
    [ -f "${found[0]}" ] && [ ${#found[@]} -eq 1 ] \
        || { echo "deb: expected one ${package}_*_all.deb in $work" >&2; exit 1; }
    debs+=("${found[0]}")
done
echo "deb: built ${debs[*]} in $(($(date +%s) - start)) s"

rm -f "$out"/hal0d_*.deb "$out"/hal0-applet_*.deb
lintian --fail-on error,warning --display-info "${debs[@]}"
cp "${debs[@]}" "$out/"
echo "deb: lintian clean; ${debs[*]##*/} in $out"
