#!/bin/sh
# Builds the stream fuzzer with clang (libFuzzer + ASan + UBSan) and runs it.
#
#   tests/fuzz/run.sh [SECONDS]        (default 20)
#
# The library sources are compiled straight into the fuzzer with coverage
# instrumentation (-fsanitize=fuzzer on every file), so no CMake tree is needed. Output
# goes to build/fuzz-stream/; the corpus persists there across runs, seeded from
# tests/fuzz/corpus/stream if that exists. Environment: CLANG (default clang),
# FUZZ_ARGS (extra libFuzzer options). Exits non-zero when the fuzzer finds a crash
# (the reproducer is left in build/fuzz-stream/).
set -eu

seconds=${1:-20}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/fuzz-stream
cc=${CLANG:-clang}

command -v "$cc" >/dev/null || { echo "run.sh: $cc not found (Debian package clang)"; exit 1; }
mkdir -p "$out/corpus"

uring=""
if pkg-config --exists liburing 2>/dev/null; then
    uring="-DCOIO_HAVE_LIBURING=1 $(pkg-config --cflags --libs liburing)"
fi

# shellcheck disable=SC2086 # $uring is a list of flags
"$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/include" -I"$root/src" \
    "$root"/src/*.c "$root/tests/fuzz/stream_fuzz.c" \
    $uring -lpthread -o "$out/fuzz_stream"

seeds=""
[ -d "$root/tests/fuzz/corpus/stream" ] && seeds="$root/tests/fuzz/corpus/stream"

cd "$out"
# -timeout: one input must not take long (a hang is a bug: e.g. a lost wake-up).
# shellcheck disable=SC2086
exec ./fuzz_stream -max_total_time="$seconds" -timeout=10 -max_len=8192 \
    -print_final_stats=1 ${FUZZ_ARGS:-} corpus $seeds
