#!/usr/bin/env bash
# `make test`: lint once, unit and bus tiers on both dependency sets, the Debian package, the
# system tier (all of it on bookworm, the marked subset on trixie).
# Every step runs even when an earlier one failed; the summary at the end decides.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rm -rf build/results
mkdir -p build/results
failed=()
step() {
    local name=$1 start=$SECONDS; shift
    echo
    echo "##### $name"
    if "$@"; then echo "$name: ok ($((SECONDS - start)) s)" >>build/results/steps.txt
    else failed+=("$name"); echo "$name: FAILED ($((SECONDS - start)) s)" >>build/results/steps.txt
    fi
}
step deps make --no-print-directory deps
step lint make --no-print-directory lint
for tier in unit bus; do
    if [ -d "tests/$tier" ]; then
        step "test-$tier" make --no-print-directory "test-$tier"
    fi
done
# The Debian package (lintian-clean) is what the system tier installs, on bookworm and trixie.
step deb make --no-print-directory deb
if [ -d tests/system ]; then
    step test-system make --no-print-directory test-system
fi
echo
/usr/bin/python3 tools/summary.py build/results
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
    exit 1
fi
