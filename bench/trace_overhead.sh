#!/usr/bin/env bash
# The execution trace's cost: the server CPU per request of W4 (echo, c=100 m=64) and W5
# (HTTP, c=100) with COIO_TRACE unset and set, the two runs interleaved ROUNDS times with
# the same client, so that a loaded machine moves both alike. Prints each run's
# cpu_us_per_req and, per workload, the medians and their ratio (on / off).
#
#   bench/trace_overhead.sh [ROUNDS]      (default 15: one pair of runs scatters by
#                                          +-20 % here, so few rounds mislead)
#
# BUILD as for bench/w4_echo.sh (COIO_BENCH_BUILD, COIO_BUILD_DIR or build/release).
# Environment: TRACE_ONLY_W4 (set: W5 is left out), TRACE_SECONDS (3) per run,
# TRACE_BACKEND (epoll), TRACE_EVENTS (the
# ring size, default the library's). The traced server is killed at the end of its run,
# so the trace file stays empty: this measures recording, not writing.
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-15}
SECS=${TRACE_SECONDS:-3}
impl=coio
[ "${TRACE_BACKEND:-epoll}" = io_uring ] && impl=coio_uring
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cpu_of() { sed -n 's/.*"cpu_us_per_req[^"]*","value":\([0-9.]*\).*/\1/p'; }

run() { # workload mode
    local env=(env -u COIO_TRACE)
    [ "$2" = on ] && env=(env COIO_TRACE="$out/trace.json" ${TRACE_EVENTS:+COIO_TRACE_EVENTS=$TRACE_EVENTS})
    case $1 in
    W4) W4_WARMUP=1 W4_SECONDS=$SECS "${env[@]}" bash "$ROOT/bench/w4_echo.sh" $impl 100 64 ;;
    W5) W5_WARMUP=1 W5_SECONDS=$SECS "${env[@]}" bash "$ROOT/bench/w5_http.sh" $impl 100 ;;
    esac 2>/dev/null | cpu_of
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
workloads=(W4 W5)
[ -n "${TRACE_ONLY_W4:-}" ] && workloads=(W4)
for w in "${workloads[@]}"; do
    : >"$out/$w.off"
    : >"$out/$w.on"
    for r in $(seq "$ROUNDS"); do
        for mode in off on; do
            v=$(run $w $mode)
            echo "$w $mode round $r cpu_us_per_req=${v:-?}"
            echo "${v:-nan}" >>"$out/$w.$mode"
        done
    done
    python3 - "$w" "$out/$w.off" "$out/$w.on" <<'EOF'
import statistics, sys
w = sys.argv[1]
pairs = [(float(a), float(b)) for a, b in zip(open(sys.argv[2]), open(sys.argv[3]))]
pairs = [(a, b) for a, b in pairs if a == a and b == b]  # a failed run drops its round
if pairs:
    a = statistics.median(p[0] for p in pairs)
    b = statistics.median(p[1] for p in pairs)
    r = statistics.median(p[1] / p[0] for p in pairs)
    print("%s median cpu_us_per_req: off %.3f, on %.3f, on/off %.3f; median of the rounds' "
          "ratios %.3f (%d rounds)" % (w, a, b, b / a, r, len(pairs)))
EOF
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
