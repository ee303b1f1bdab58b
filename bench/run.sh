#!/usr/bin/env bash
# make bench: run the pull benchmark once per dependency set, then merge the results into
# build/bench/pull.json.   bench/run.sh SET...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build/bench
parts=()
for set_name in "$@"; do
    echo "=== pull benchmark, $set_name dependency set"
    "build/venv-$set_name/bin/python" -m bench.pull --set "$set_name" --out "build/bench/pull-$set_name.json"
    parts+=("build/bench/pull-$set_name.json")
done
/usr/bin/python3 -m bench.merge build/bench/pull.json "${parts[@]}"
