#!/usr/bin/env bash
# Builds llama.cpp's own llama-server, the reference for bench/llm-serve.sh, from the llama.cpp
# sources vendored in the PyPI sdist of llama-cpp-python (this machine reaches PyPI, not GitHub).
# Same compiler and -march=native as Sovereign's embedded llama.cpp. Prints the binary's path.
#   BENCH_CACHE  where to keep the sources and the build (default /var/cache/sovereign-bench)
set -euo pipefail
version=0.3.36
cache=${BENCH_CACHE:-/var/cache/sovereign-bench}
src=$cache/llama_cpp_python-$version/vendor/llama.cpp
build=$cache/llama-server-build
bin=$build/bin/llama-server
if [[ -x $bin ]]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$cache"
if [[ ! -d $src ]]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache" >&2
    tar xzf "$cache/llama_cpp_python-$version.tar.gz" -C "$cache" "llama_cpp_python-$version/vendor/llama.cpp"
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$build" --target llama-server -j "$(nproc)" >&2
echo "$bin"
