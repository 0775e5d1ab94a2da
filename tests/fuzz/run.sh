#!/bin/sh
# Builds the stream fuzzers with clang (libFuzzer + ASan + UBSan) and runs each of them.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]   (default 20 s each; targets: stream tls)
#
# stream: the stream reader over a pipe or a socketpair (stream_fuzz.c).
# tls:    the same reader and oracle over TLS from an OpenSSL peer whose records the
#         input cuts (tls_stream_fuzz.c); needs OpenSSL 3 (libssl-dev).
# The library sources are compiled straight into each fuzzer with coverage
# instrumentation (-fsanitize=fuzzer on every file), so no CMake tree is needed. Output
# goes to build/fuzz-<target>/; the corpus persists there across runs, seeded from
# tests/fuzz/corpus/<target> if that exists. Environment: CLANG (default clang),
# FUZZ_ARGS (extra libFuzzer options). Exits non-zero when a fuzzer finds a crash
# (the reproducer is left in build/fuzz-<target>/).
set -eu

seconds=${1:-20}
[ $# -gt 0 ] && shift
targets=${*:-stream tls}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CLANG:-clang}

command -v "$cc" >/dev/null || { echo "run.sh: $cc not found (Debian package clang)"; exit 1; }

uring=""
if pkg-config --exists liburing 2>/dev/null; then
    uring="-DCOIO_HAVE_LIBURING=1 $(pkg-config --cflags --libs liburing)"
fi

for target in $targets; do
    case $target in
    stream) src=stream_fuzz.c extra="" ;;
    tls)
        if ! pkg-config --exists 'openssl >= 3' 2>/dev/null; then
            echo "run.sh: OpenSSL 3 not found (libssl-dev): no TLS fuzzing"
            continue
        fi
        src=tls_stream_fuzz.c extra="-DCOIO_HAVE_OPENSSL=1 $(pkg-config --cflags --libs openssl)" ;;
    *) echo "run.sh: unknown target $target"; exit 2 ;;
    esac
    out=$root/build/fuzz-$target
    mkdir -p "$out/corpus"
    # shellcheck disable=SC2086 # $uring and $extra are lists of flags
    "$cc" -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -I"$root/include" -I"$root/src" \
        "$root"/src/*.c "$root/tests/fuzz/$src" \
        $uring $extra -lpthread -o "$out/fuzz_$target"

    seeds=""
    [ -d "$root/tests/fuzz/corpus/$target" ] && seeds="$root/tests/fuzz/corpus/$target"

    echo "run.sh: fuzzing $target for $seconds s"
    # -timeout: one input must not take long (a hang is a bug: e.g. a lost wake-up).
    # shellcheck disable=SC2086
    (cd "$out" && ./fuzz_$target -max_total_time="$seconds" -timeout=10 -max_len=8192 \
        -print_final_stats=1 ${FUZZ_ARGS:-} corpus $seeds)
done
