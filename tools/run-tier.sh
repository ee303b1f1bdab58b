#!/usr/bin/env bash
# Run one test tier once per dependency set:  tools/run-tier.sh TIER SET... [-- PYTEST_ARGS]
# Each run reports the runtime packages it imported (tests/test_dependency_set.py asserts
# them) and leaves junit XML in build/results/SET-TIER.xml for tools/summary.py.
set -uo pipefail
tier=$1; shift
sets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sets+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p build/results
status=0
for set_name in "${sets[@]}"; do
    python="build/venv-$set_name/bin/python"
    echo "=== $tier tier, $set_name dependency set ($python)"
    HAL0_DEPSET=$set_name "$python" -m pytest -p no:cacheprovider "tests/$tier" tests/test_dependency_set.py \
        --junitxml="build/results/$set_name-$tier.xml" -o junit_suite_name="$set_name-$tier" "$@" \
        || status=1
done
exit $status
