#!/usr/bin/env bash
# W9 spawn, xargs peer: /bin/true run TOTAL times by `xargs -P INFLIGHT -n 1` (one
# argument, the job's number, per child), timed from before the first spawn to the last
# exit. Prints one JSON line like the other W9 programs. xargs has no way to hold a big
# heap, so it runs from a small parent only.
#   bench/w9_xargs.sh [TOTAL=2000] [INFLIGHT=16]
set -u -o pipefail
export LC_ALL=C # EPOCHREALTIME with a decimal point
TOTAL=${1:-2000}
INFLIGHT=${2:-16}
t0=$EPOCHREALTIME # bash's own clock: no process of its own inside the timed span
seq "$TOTAL" | xargs -P "$INFLIGHT" -n 1 /bin/true || { echo "w9_xargs: xargs failed" >&2; exit 1; }
t1=$EPOCHREALTIME
awk -v t0="$t0" -v t1="$t1" -v n="$TOTAL" 'BEGIN {
    printf "{\"workload\":\"W9\",\"impl\":\"xargs\",\"metric\":\"spawn_per_s\",\"value\":%.6g,\"unit\":\"proc/s\",\"n\":%d}\n", n / (t1 - t0), n }'
