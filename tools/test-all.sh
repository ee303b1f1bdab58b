#!/usr/bin/env bash
# `make test`: lint once, unit and bus tiers on both dependency sets, the Debian package, the
# system tier (all of it on bookworm, the marked subset on trixie), then `make run EXIT=1`.
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
# Every Debian package the host needs, first and alone (apt allows one apt-get update at a time).
step deps-apt tools/apt-install.sh requirements/apt-*.txt
# The system tier's dependencies (the .deb, a rootfs per release, llama-server: on a CPU
# without AVX-512 a source build of many minutes) are prepared in the background from then on,
# on the core the single-process lint, unit and bus steps leave free.
make --no-print-directory deps-system >build/results/deps-system.log 2>&1 &
system_deps=$!
step deps make --no-print-directory deps
step lint make --no-print-directory lint
for tier in unit bus; do
    if [ -d "tests/$tier" ]; then
        step "test-$tier" make --no-print-directory "test-$tier"
    fi
done
# The Debian package (lintian-clean) is what the system tier installs, on bookworm and trixie.
step deb make --no-print-directory deb
echo
echo "##### deps-system (started in the background)"
waited=$SECONDS
if wait "$system_deps"; then
    echo "deps-system: ok (waited $((SECONDS - waited)) s of $SECONDS s)" >>build/results/steps.txt
else
    failed+=(deps-system)
    echo "deps-system: FAILED (waited $((SECONDS - waited)) s)" >>build/results/steps.txt
fi
cat build/results/deps-system.log
if [ -d tests/system ]; then
    step test-system make --no-print-directory test-system
    # The README's first command, end to end (10–30 s warm; its state apart from a `make run`
    # someone may have up in this tree).
    step run env HAL0_RUN_DIR="$top/build/results/run" make --no-print-directory run EXIT=1
fi
echo
/usr/bin/python3 tools/summary.py build/results
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed steps: ${failed[*]}"
    exit 1
fi
