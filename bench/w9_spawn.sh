#!/usr/bin/env bash
# W9 spawn, standalone: coio and the plain C posix_spawn + wait loop, 2,000 runs of
# /bin/true with 16 in flight, from a small parent and from one holding 2 GiB of touched
# memory; rounds interleaved (this VM drifts over minutes). One JSON line per run (impl
# "floor" for the plain loop; coio on the backend COIO_BACKEND names, io_uring by default).
# `bench/run.sh W9` measures the same points beside the peers.
#   bench/w9_spawn.sh [BUILD=build/release] [ROUNDS=3] [TOTAL=2000] [MIB=2048]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/release}
ROUNDS=${2:-3}
TOTAL=${3:-2000}
MIB=${4:-2048}
cmake --build "$BUILD" -j2 --target bench_w9_spawn >/dev/null
BIN=$BUILD/bench/w9_spawn
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs" >&2
for ((r = 1; r <= ROUNDS; r++)); do
    for mib in 0 "$MIB"; do
        for impl in plain coio; do
            "$BIN" "$impl" "$TOTAL" 16 "$mib"
        done
    done
done
