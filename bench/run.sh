#!/usr/bin/env bash
# make bench:   bench/run.sh SET... [-- PYTEST_ARGS...]
# 1. the pull benchmark once per dependency set, merged into build/bench/pull.json;
# 2. the in-container measurements (bench/system, pytest on the system tier's fixtures);
# 3. the plot (build/venv-bench) and the Markdown table.
# Every step runs; the exit status is non-zero if any failed. BENCH_RUNS=N overrides the run
# counts of the in-container measurements, BENCH_WAKEUP_WINDOW=S the 60 s idle window.
# A partial run (no SET, or pytest arguments such as -k hal0ctl) keeps the other results.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sets+=("$1"); shift; done
[ $# -gt 0 ] && shift
started=$SECONDS
status=0
mkdir -p build/bench/parts
if [ $# -eq 0 ] && [ ${#sets[@]} -gt 0 ]; then  # a whole run: no earlier result survives
    rm -f build/bench/*.json build/bench/parts/*.json
fi
echo "=== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for set_name in "${sets[@]+"${sets[@]}"}"; do
    echo "=== 1. pull, $set_name dependency set"
    "build/venv-$set_name/bin/python" -m bench.pull --set "$set_name" || status=1
done
if [ ${#sets[@]} -gt 0 ]; then
    /usr/bin/python3 -m bench.merge build/bench/parts/pull-*.json || status=1
fi
echo "=== 2-7. in the container (the system tier's fixtures)"
build/venv-system/bin/python -m pytest -p no:cacheprovider bench/system -s -q \
    -o python_files='bench_*.py' -o python_functions='bench_*' "$@" || status=1
build/venv-bench/bin/python -m bench.plot || status=1
/usr/bin/python3 -m bench.report || status=1
echo "=== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "=== make bench took $((SECONDS - started)) s (exit $status)"
exit $status
