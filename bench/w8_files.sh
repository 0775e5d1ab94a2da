#!/usr/bin/env bash
# W8 files: coio's files API (bench/w8_files.c) on both backends beside fio (psync and
# io_uring engines) and dd, on a warm page cache, everything pinned to CPU 0.
#
#   bench/w8_files.sh [a] [b] [c] [d]      (no argument: all of them)
#   bench/w8_files.sh prepare DIR          make the data of W8a-c in DIR, warm it, keep it
#   bench/w8_files.sh peer IMPL W DIR      one peer point on DIR's data, its JSON line:
#                                          IMPL fio-psync, fio-io_uring or dd, W a or c;
#                                          fio-psync-fsync, W d (bench/run.sh uses these)
#
# Data lives in $COIO_W8_DIR (default a fresh /tmp/coio-w8.XXXXXX) and is deleted at the
# end: a 1 GiB file (W8a, W8c), 10,000 files of 4 KiB (W8b), 1,000 files of 64 KiB
# written by W8d. The page cache is warmed by reading the data once before measuring;
# fio runs with --invalidate=0, else it drops the file's cache before each job and a
# "warm" run reads from the disk. One run per point (COIO_W8_REPS to repeat). Prints the
# JSON lines of every implementation, then a table: coio on epoll (the worker pool), on
# io_uring (native file operations) and on io_uring with COIO_URING_FILES=0 (the pool).
# W8e (sendfile HTTP) is not here yet.
# Environment: COIO_BENCH_BUILD (default build/release).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-$ROOT/build/release}
BIN=$BUILD/bench/w8_files
REPS=${COIO_W8_REPS:-1}
PIN=(taskset -c 0)
command -v taskset >/dev/null || PIN=()
say() { printf '%s\n' "$*" >&2; }

SUB=${1:-}
if [ "$SUB" = prepare ] || [ "$SUB" = peer ]; then
    [ "$SUB" = prepare ] && DIR=${2:?DIR} || DIR=${4:?DIR}
    RAW=/dev/null
else
    [ -x "$BIN" ] || { say "w8: build first: $BIN missing"; exit 1; }
    WANT=" ${*:-a b c d} "
    DIR=${COIO_W8_DIR:-$(mktemp -d /tmp/coio-w8.XXXXXX)}
    trap 'rm -rf "$DIR"' EXIT
    RAW=$DIR/raw.jsonl
    : >"$RAW"
fi

# jq-free JSON line for the peers
line() { # workload impl metric value unit
    printf '{"workload":"%s","impl":"%s","metric":"%s","value":%s,"unit":"%s"}\n' "$@" | tee -a "$RAW"
}
fio_run() { # workload impl metric unit fio-args...: one fio job, its rate on the line
    local w=$1 impl=$2 metric=$3 unit=$4
    shift 4
    command -v fio >/dev/null || { say "w8: no fio (apt-get install fio)"; return; }
    local out
    out=$("${PIN[@]}" fio --output-format=terse --terse-version=3 --invalidate=0 \
        --filename="$DIR/w8.dat" --size=1G --name=w8 "$@" 2>/dev/null) || return
    # terse v3: fields 7/8 read bandwidth (KiB/s) and IOPS, 48/49 the same for writes
    local bw iops
    bw=$(cut -d';' -f7 <<<"$out")
    iops=$(cut -d';' -f8 <<<"$out")
    [ "$metric" = write_iops ] && iops=$(cut -d';' -f49 <<<"$out")
    if [ "$unit" = GB/s ]; then
        line "$w" "$impl" "$metric" "$(awk -v b="$bw" 'BEGIN{printf "%.3f", b*1024/1e9}')" "$unit"
    else
        line "$w" "$impl" "$metric" "$iops" "$unit"
    fi
}
coio_run() { # mode args...: epoll (pool), io_uring (native), io_uring with the pool
    for be in epoll io_uring io_uring-pool; do
        local files=1
        [ $be = io_uring-pool ] && files=0
        for _ in $(seq "$REPS"); do
            COIO_BACKEND=${be%-pool} COIO_URING_FILES=$files "${PIN[@]}" "$BIN" "$@" |
                sed "s/\"impl\":\"coio-io_uring\"/\"impl\":\"coio-$be\"/" | tee -a "$RAW"
        done
    done
}

make_big() {
    say "w8: writing a 1 GiB file"
    head -c $((1 << 30)) /dev/urandom >"$DIR/w8.dat"
    cat "$DIR/w8.dat" >/dev/null # warm
}
make_small() { # 10,000 files f00000..f09999 of 4 KiB, by one split rather than 10,000 cp
    say "w8: writing 10,000 files of 4 KiB"
    mkdir -p "$DIR/b"
    head -c $((4096 * 10000)) /dev/urandom | split -b 4096 -a 5 -d - "$DIR/b/f"
    cat "$DIR"/b/* >/dev/null
}
peer() { # impl w
    case $1-$2 in
    fio-psync-a) fio_run W8a fio-psync GB_per_s GB/s --rw=read --bs=128k --ioengine=psync ;;
    fio-io_uring-a) fio_run W8a fio-io_uring GB_per_s GB/s --rw=read --bs=128k --ioengine=io_uring --iodepth=4 ;;
    dd-a)
        local s
        s=$( { "${PIN[@]}" dd if="$DIR/w8.dat" of=/dev/null bs=128k 2>&1 >/dev/null; } | tail -1)
        line W8a dd GB_per_s "$(awk '{for(i=1;i<NF;i++) if($(i+1) ~ /^s,?$/) t=$i; print 1073741824/t/1e9}' <<<"${s//,/ }")" GB/s
        ;;
    fio-psync-c) fio_run W8c fio-psync iops ops/s --rw=randread --bs=4k --ioengine=psync --number_ios=200000 ;;
    fio-io_uring-c) fio_run W8c fio-io_uring iops ops/s --rw=randread --bs=4k --ioengine=io_uring --iodepth=64 --number_ios=200000 ;;
    fio-psync-fsync-d)
        fio_run W8d fio-psync-fsync write_iops ops/s --rw=write --bs=64k --ioengine=psync --fsync=1 --number_ios=1000 --filename="$DIR/w8d.dat"
        rm -f "$DIR/w8d.dat"
        ;;
    *) say "w8: no peer $1 for W8$2"; return 2 ;;
    esac
}
if [ "$SUB" = prepare ]; then
    mkdir -p "$DIR" && make_big && make_small
    exit
elif [ "$SUB" = peer ]; then
    command -v fio >/dev/null || [ "$2" = dd ] || { say "w8: no fio (apt-get install fio)"; exit 77; }
    out=$(peer "$2" "$3") || exit
    grep -q '^{' <<<"$out" || { say "w8: $2 W8$3 gave no value"; exit 1; }
    echo "$out"
    exit
fi

say "w8: load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
if [[ $WANT == *" a "* || $WANT == *" c "* ]]; then
    make_big
fi
if [[ $WANT == *" a "* ]]; then
    coio_run a "$DIR"
    peer fio-psync a
    peer fio-io_uring a
    peer dd a
fi
if [[ $WANT == *" b "* ]]; then
    make_small
    coio_run b "$DIR"
fi
if [[ $WANT == *" c "* ]]; then
    coio_run c "$DIR"
    peer fio-psync c
    peer fio-io_uring c
fi
if [[ $WANT == *" d "* ]]; then
    coio_run d "$DIR"
    rm -rf "$DIR/d"
    peer fio-psync-fsync d
fi
say "w8: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-6s %-20s %-28s %12s %-8s %10s %8s\n' W8 impl metric value unit cpu_us/op threads
sed -E 's/[{}"]//g' "$RAW" | awk -F, '{
    delete v; for (i = 1; i <= NF; i++) { split($i, kv, ":"); v[kv[1]] = kv[2] }
    printf "%-6s %-20s %-28s %12s %-8s %10s %8s\n", v["workload"], v["impl"], v["metric"],
        v["value"], v["unit"], v["cpu_us_per_op"], v["peak_threads"] }'
