#!/usr/bin/env bash
# coio benchmarks W1-W10 and W8e against their peers (libuv, Go, Tokio, Python asyncio,
# uvloop, Node.js, nginx, xargs, fio, dd, and for W4 and W9 a hand-written floor).
#
#   bench/run.sh [W1] [W2] [W3] [W4] [W5] [W6] [W7] [W8] [W8e] [W9] [W10]   (none: all)
#
# Every point runs REPS times (default 3) under a timeout. W1-W3, W6-W9 run pinned to
# CPU 0 with taskset (W9's children inherit the pinning). W8 (files) reads and writes a
# warm data set made once in $BUILD/bench-out/w8data (1 GiB + 10,000 small files, deleted
# at the end). W4 (echo, bench/w4_echo.sh), W5 (HTTP, bench/w5_http.sh), W8e (a static
# file sent with sendfile, bench/w8e_http.sh) and W10 (HTTPS, bench/w10_https.sh) are a
# server and a load client: their drivers pin the server to
# CPU 0 and the client to CPU 1 themselves, so this script runs them unpinned. Before measuring it prints an
# estimate of the whole run's duration. bench/report.py takes the median and the
# min-max spread, prints the table,
# writes bench/results/<W>.json and regenerates docs/benchmarks.md (+ docs/img/*.png
# when gnuplot is there). Benchmarks are not tests: this script fails only when it
# cannot build or report, never because a target is missed.
#
# Environment: COIO_BENCH_BUILD or COIO_BUILD_DIR (default build/release), COIO_BENCH_REPS (3),
# COIO_BENCH_TIMEOUT (seconds per run, 120), COIO_BENCH_POINT_BUDGET (seconds per point,
# 100: a point whose next repeat would pass it is not repeated, so a slow implementation
# cannot stretch the run), COIO_BENCH_NO_INSTALL=1 (never apt-get install a missing peer).
# The Tokio peers (bench/peers/tokio) build offline with Debian's cargo and rustc against
# its packaged crates (apt-get install cargo rustc librust-tokio-dev), in release mode, into
# $BUILD/bench-tokio; a rustup toolchain on PATH is not used. W10's Tokio peer
# (bench/peers/tokio_tls, a project of its own) also needs librust-tokio-rustls-dev and
# librust-rustls-pemfile-dev, and builds into $BUILD/bench-tokio-tls.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
REPS=${COIO_BENCH_REPS:-3}
TMO=${COIO_BENCH_TIMEOUT:-120}
BUDGET=${COIO_BENCH_POINT_BUDGET:-100} # seconds: no further repeat once a point would pass it
OUT=$BUILD/bench-out
BIN=$BUILD/bench
GOBIN_DIR=$BUILD/bench-go
TOKIO_BIN=$BUILD/bench-tokio/target/release
PYPEERS=$ROOT/bench/peers/python
PIN=(taskset -c 0)
SYSPY=/usr/bin/python3 # Debian's: the pyenv python3 on PATH has no uvloop

say() { printf '%s\n' "$*" >&2; }

WORKLOADS=()
for w in "$@"; do
    case "${w^^}" in
    W1 | W2 | W3 | W4 | W5 | W6 | W7 | W8 | W9 | W10) WORKLOADS+=("${w^^}") ;;
    W8E) WORKLOADS+=(W8e) ;;
    *) say "usage: bench/run.sh [W1] [W2] [W3] [W4] [W5] [W6] [W7] [W8] [W8e] [W9] [W10]"; exit 2 ;;
    esac
done
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(W1 W2 W3 W4 W5 W6 W7 W8 W8e W9 W10)
wants() { [[ " ${WORKLOADS[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- peers (apt-get)
apt_updated=0
apt_install() { # pkg...: installs the debs that apt knows, when root and allowed
    [ "$(id -u)" = 0 ] && [ -z "${COIO_BENCH_NO_INSTALL:-}" ] || return 1
    command -v apt-get >/dev/null || return 1
    local want=()
    for p in "$@"; do
        if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            if [ $apt_updated = 0 ]; then
                apt-get update -qq >/dev/null 2>&1
                apt_updated=1
            fi
        fi
        if apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            want+=("$p")
        else
            say "  apt has no candidate for $p"
        fi
    done
    [ ${#want[@]} -gt 0 ] || return 1
    say "  apt-get install ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >"$OUT/apt.log" 2>&1
}
have_tools() { # tool...: whether every tool is on PATH
    local t
    for t in "$@"; do command -v "$t" >/dev/null || return 1; done
}
install_tools() { # tool...: installs those missing, each from the package of its name
    local t need=()
    for t in "$@"; do # nginx is in /usr/sbin, which a user's PATH may lack
        [ "$t" = nginx ] && [ -x /usr/sbin/nginx ] && continue
        command -v "$t" >/dev/null || need+=("$t")
    done
    [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
}

mkdir -p "$OUT/raw" "$ROOT/bench/results"
rm -f "$OUT"/raw/*.jsonl "$OUT"/raw/*.fail "$OUT/commands.txt"

say "== peers"
HAVE_GO=0 HAVE_TOKIO=0 HAVE_ASYNCIO=0 HAVE_UVLOOP=0 HAVE_GNUPLOT=0 HAVE_NODE=0 HAVE_LIBUV=0 HAVE_W5=0 HAVE_XARGS=0 HAVE_FIO=0 HAVE_W10=0 HAVE_W8E=0
GO=$(command -v go || echo /usr/lib/go/bin/go)
[ -x "$GO" ] || { apt_install golang-go; GO=$(command -v go || echo /usr/lib/go/bin/go); }
[ -x "$GO" ] && HAVE_GO=1 || say "  skip Go peers: no go (apt-get install golang-go)"
have_tokio() { # Debian's toolchain and Tokio crate (not a rustup cargo on PATH)
    [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] &&
        compgen -G "/usr/share/cargo/registry/tokio-1.*" >/dev/null
}
have_tokio || apt_install cargo rustc librust-tokio-dev
have_tokio && HAVE_TOKIO=1 ||
    say "  skip Tokio peers: no Debian cargo, rustc and Tokio (apt-get install cargo rustc librust-tokio-dev)"
have_tokio_tls() { # W10's Tokio peer: tokio-rustls and rustls-pemfile too
    compgen -G "/usr/share/cargo/registry/tokio-rustls-*" >/dev/null &&
        compgen -G "/usr/share/cargo/registry/rustls-pemfile-*" >/dev/null
}
if wants W10 && [ $HAVE_TOKIO = 1 ] && ! have_tokio_tls; then
    apt_install librust-tokio-rustls-dev librust-rustls-pemfile-dev
fi
[ -x $SYSPY ] || apt_install python3
if ! $SYSPY -c 'import uvloop' 2>/dev/null; then apt_install python3-uvloop; fi
[ -x $SYSPY ] && HAVE_ASYNCIO=1 || say "  skip asyncio peers: no $SYSPY (apt-get install python3)"
$SYSPY -c 'import uvloop' 2>/dev/null && HAVE_UVLOOP=1 ||
    say "  skip uvloop peers: no python3-uvloop for $SYSPY"
if wants W4 || wants W5 || wants W8 || wants W9 || wants W10; then
    command -v node >/dev/null || apt_install nodejs
    command -v node >/dev/null && HAVE_NODE=1 ||
        say "  skip Node peers: no node (apt-get install nodejs)"
fi
if wants W4 || wants W8 || wants W9; then
    pkg-config --exists libuv 2>/dev/null || apt_install libuv1-dev pkg-config
    pkg-config --exists libuv 2>/dev/null && HAVE_LIBUV=1 ||
        say "  skip the libuv peer: no libuv (apt-get install libuv1-dev)"
fi
if wants W5; then
    install_tools wrk nginx
    if [ ! -f "$ROOT/bench/w5_http.sh" ]; then
        say "  skip W5: no bench/w5_http.sh in this tree"
    elif ! command -v wrk >/dev/null; then
        say "  skip W5: no wrk, its load generator (apt-get install wrk)"
    else
        HAVE_W5=1
        [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null ||
            say "  skip the nginx peer: no nginx (apt-get install nginx)"
    fi
fi
if wants W9; then # xargs is in findutils (essential on Debian), seq in coreutils
    command -v xargs >/dev/null || apt_install findutils
    command -v xargs >/dev/null && HAVE_XARGS=1 || say "  skip the xargs peer: no xargs (apt-get install findutils)"
fi
if wants W8; then # fio: this machine's limit for W8a and W8c; dd is in coreutils
    command -v fio >/dev/null || apt_install fio
    command -v fio >/dev/null && HAVE_FIO=1 || say "  skip the fio peers of W8: no fio (apt-get install fio)"
fi
if wants W10; then
    install_tools wrk openssl nginx
    if have_tools wrk openssl; then
        HAVE_W10=1
    else
        say "  skip W10: it needs wrk and openssl (apt-get install wrk openssl)"
    fi
fi
if wants W8e; then # nginx is its peer; curl checks the bytes each server sends
    install_tools wrk curl nginx
    if have_tools wrk curl; then
        HAVE_W8E=1
    else
        say "  skip W8e: it needs wrk and curl (apt-get install wrk curl)"
    fi
fi
command -v gnuplot >/dev/null || apt_install gnuplot-nox
command -v gnuplot >/dev/null && HAVE_GNUPLOT=1 || say "  no gnuplot: no charts"
command -v taskset >/dev/null || { say "  no taskset: runs are not pinned"; PIN=(); }

# ---------------------------------------------------------------- build
say "== build"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/cmake.log" 2>&1 ||
        { say "cmake configure failed: $OUT/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target bench_sys_costs bench_w1_switch bench_w2_spawn bench_w3_sleep \
    bench_w6_queue bench_w7_lock bench_w8_files bench_w8e_server bench_w9_spawn \
    >"$OUT/build.log" 2>&1 || { say "building the coio benchmarks failed: $OUT/build.log"; exit 1; }
if wants W10; then # its coio server: examples/http_hello with --tls-cert/--tls-key
    cmake --build "$BUILD" -j2 --target http_hello >>"$OUT/build.log" 2>&1 ||
        { say "building examples/http_hello for W10 failed: $OUT/build.log"; exit 1; }
fi
if [ $HAVE_GO = 1 ]; then
    mkdir -p "$GOBIN_DIR"
    for f in w1_switch w2_spawn w3_sleep w6_queue w7_lock w8_files w9_spawn; do
        (cd "$ROOT/bench/peers/go" && GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path \
            GO111MODULE=off "$GO" build -o "$GOBIN_DIR/$f" "$f.go") >>"$OUT/build.log" 2>&1 ||
            { say "  skip Go peers: go build $f.go failed ($OUT/build.log)"; HAVE_GO=0; break; }
    done
fi
if [ $HAVE_TOKIO = 1 ]; then # one cargo project for every workload (a first build: ~1-3 min)
    bash "$ROOT/bench/peers/tokio/build.sh" "$BUILD" >>"$OUT/build.log" 2>&1 ||
        { say "  skip Tokio peers: their cargo build failed ($OUT/build.log)"; HAVE_TOKIO=0; }
fi
W9_LIBUV=0
if wants W9 && [ $HAVE_LIBUV = 1 ]; then # the libuv peer, built like W4's libuv server
    mkdir -p "$BUILD/bench-w9"
    # shellcheck disable=SC2046
    cc -O2 -g -Wall -Wextra -o "$BUILD/bench-w9/libuv_spawn" "$ROOT/bench/peers/libuv_spawn.c" \
        $(pkg-config --cflags --libs libuv) >>"$OUT/build.log" 2>&1 && W9_LIBUV=1 ||
        say "  skip the libuv peer of W9: its build failed ($OUT/build.log)"
fi
W8_LIBUV=0
if wants W8 && [ $HAVE_LIBUV = 1 ]; then
    mkdir -p "$BUILD/bench-w8"
    # shellcheck disable=SC2046
    cc -O2 -g -Wall -Wextra -o "$BUILD/bench-w8/libuv_files" "$ROOT/bench/peers/libuv_files.c" \
        $(pkg-config --cflags --libs libuv) >>"$OUT/build.log" 2>&1 && W8_LIBUV=1 ||
        say "  skip the libuv peer of W8: its build failed ($OUT/build.log)"
fi
if wants W10 && [ $HAVE_W10 = 1 ] && [ $HAVE_GO = 1 ]; then # the Go server, not built while measured
    mkdir -p "$BUILD/bench-w10"
    (cd "$ROOT/bench/peers/go" && GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path \
        GO111MODULE=off "$GO" build -o "$BUILD/bench-w10/w10_https_go" w10_https.go) >>"$OUT/build.log" 2>&1 ||
        say "  the Go peer of W10 did not build ($OUT/build.log)"
fi
if wants W10 && [ $HAVE_W10 = 1 ] && [ $HAVE_TOKIO = 1 ]; then # its Tokio server (~1-2 min at first)
    bash "$ROOT/bench/peers/tokio_tls/build.sh" "$BUILD" >>"$OUT/build.log" 2>&1
    case $? in
    0) ;;
    77) say "  skip the Tokio peer of W10: not available (apt-get install librust-tokio-rustls-dev librust-rustls-pemfile-dev)" ;;
    *) say "  the Tokio peer of W10 did not build ($OUT/build.log)" ;;
    esac
fi
if wants W4; then # its servers, client and peers, so that no measured point builds
    W4_BUILD_ONLY=1 COIO_BENCH_BUILD=$BUILD bash "$ROOT/bench/w4_echo.sh" >>"$OUT/build.log" 2>&1 ||
        { say "building W4 failed: $OUT/build.log"; exit 1; }
fi

# ---------------------------------------------------------------- running points
# point W impl cmd...: runs cmd REPS times, pinned, appending its JSON lines to raw/W.jsonl
point() {
    local w=$1 impl=$2
    shift 2
    local ok=0 t0 t1 i rc why idx
    printf '%s\t%s\t%s\n' "$w" "$impl" "${PIN[*]}${PIN[*]:+ }$*" >>"$OUT/commands.txt"
    idx=$(wc -l <"$OUT/commands.txt")
    t0=$(date +%s%N)
    local r0 r1 last=0 cut=""
    for ((i = 1; i <= REPS; i++)); do
        r0=$(date +%s%N)
        if [ $i -gt 1 ] && [ $(((r0 - t0 + last) / 1000000000)) -gt "$BUDGET" ]; then
            cut=" (repeats cut: ${BUDGET}s budget per point)"
            printf '%s\t%s\t%s\n' "$impl" "$*" "not repeated: another run would pass the ${BUDGET}s budget of a point" >>"$OUT/raw/$w.fail"
            break
        fi
        timeout --signal=KILL "$TMO" "${PIN[@]}" "$@" >"$OUT/run.out" 2>"$OUT/run.err"
        rc=$?
        r1=$(date +%s%N)
        last=$((r1 - r0))
        if [ $rc = 0 ] && grep -q '^{' "$OUT/run.out"; then
            grep '^{' "$OUT/run.out" | sed "s/^/$idx\t/" >>"$OUT/raw/$w.jsonl"
            ok=$((ok + 1))
        else
            [ $rc = 137 ] && why="timed out after ${TMO}s" || why="exit $rc: $(tail -c 300 "$OUT/run.err" | tr '\n' ' ')"
            printf '%s\t%s\t%s\n' "$impl" "$*" "$why" >>"$OUT/raw/$w.fail"
            [ $rc = 137 ] && break # one timeout is enough to know: keep the run bounded
        fi
    done
    t1=$(date +%s%N)
    say "$(printf '  [%s] %-10s %-44s %d/%d ok  %4d.%ds%s' "$w" "$impl" "${*##*/}" \
        $ok "$REPS" $(((t1 - t0) / 1000000000)) $(((t1 - t0) / 100000000 % 10)) "$cut")"
}

# unpinned W impl cmd...: point without taskset, for drivers that pin their own server
# and client to different CPUs (taskset -c 0 around them would put both on CPU 0)
unpinned() {
    local PIN=() # dynamic scope: point sees the empty one
    point "$@"
}

# rounds W SCRIPT "VARIANT..." IMPL...: REPS rounds, interleaved as in W4, of bench/SCRIPT
# IMPL VARIANT for every VARIANT x IMPL
rounds() {
    local w=$1 script=$2 variants=$3 r v impl
    shift 3
    for ((r = 1; r <= REPS; r++)); do
        say "  round $r of $REPS"
        for v in $variants; do
            for impl in "$@"; do
                REPS=1 unpinned "$w" "$impl" env COIO_BENCH_BUILD="$BUILD" \
                    bash "$ROOT/bench/$script" "$impl" "$v"
            done
        done
    done
}

gopeer() { [ $HAVE_GO = 1 ] && point "$1" go env GOMAXPROCS=1 GOGC=100 "$GOBIN_DIR/$2" "${@:3}"; }
tokiopeer() { [ $HAVE_TOKIO = 1 ] && point "$1" tokio "$TOKIO_BIN/$2" "${@:3}"; }
pypeer() {
    local w=$1 script=$2
    shift 2
    [ $HAVE_ASYNCIO = 1 ] && point "$w" asyncio $SYSPY "$PYPEERS/$script" asyncio "$@"
    [ $HAVE_UVLOOP = 1 ] && point "$w" uvloop $SYSPY "$PYPEERS/$script" uvloop "$@"
    return 0
}

# The implementations each workload runs, in the order they run.
W4_IMPLS=(coio coio_uring floor)
[ $HAVE_LIBUV = 1 ] && W4_IMPLS+=(libuv)
[ $HAVE_GO = 1 ] && W4_IMPLS+=(go)
[ $HAVE_TOKIO = 1 ] && W4_IMPLS+=(tokio)
[ $HAVE_UVLOOP = 1 ] && W4_IMPLS+=(uvloop)
[ $HAVE_ASYNCIO = 1 ] && W4_IMPLS+=(asyncio)
[ $HAVE_NODE = 1 ] && W4_IMPLS+=(node)
# W9: every implementation from a small parent, then (all but xargs, which cannot hold a
# heap) from one holding W9_MIB of touched memory.
W9_IMPLS=(coio coio_uring floor)
[ $HAVE_XARGS = 1 ] && W9_IMPLS+=(xargs)
[ $HAVE_GO = 1 ] && W9_IMPLS+=(go)
[ $HAVE_TOKIO = 1 ] && W9_IMPLS+=(tokio)
[ $HAVE_ASYNCIO = 1 ] && W9_IMPLS+=(asyncio)
[ $HAVE_UVLOOP = 1 ] && W9_IMPLS+=(uvloop)
[ $HAVE_NODE = 1 ] && W9_IMPLS+=(node)
[ $W9_LIBUV = 1 ] && W9_IMPLS+=(libuv)
W9_TOTAL=2000 W9_INFLIGHT=16 W9_MIB=2048
# uvloop, Node and libuv (Debian's 1.44) spawn with fork(): from the 2 GiB parent each
# spawn copies its page tables, ~4-8 spawns/s here, so 2,000 would take 5-8 minutes a
# run; they run 100 there (the rate is per process either way).
W9_FORK_TOTAL=100
w9_point() { # impl mib: one W9 point (REPS runs; the W9 loop sets REPS=1 per round)
    local impl=$1 mib=$2 n=$W9_TOTAL
    case $impl in uvloop | node | libuv) [ "$mib" -gt 0 ] && n=$W9_FORK_TOTAL ;; esac
    case $impl in
    coio) point W9 coio env COIO_BACKEND=epoll "$BIN/w9_spawn" coio $n $W9_INFLIGHT "$mib" ;;
    coio_uring) point W9 coio_uring env COIO_BACKEND=io_uring "$BIN/w9_spawn" coio $n $W9_INFLIGHT "$mib" ;;
    floor) point W9 floor "$BIN/w9_spawn" plain $n $W9_INFLIGHT "$mib" ;;
    xargs) [ "$mib" = 0 ] && point W9 xargs bash "$ROOT/bench/w9_xargs.sh" $n $W9_INFLIGHT ;;
    go) gopeer W9 w9_spawn $n $W9_INFLIGHT "$mib" ;;
    tokio) tokiopeer W9 w9_spawn $n $W9_INFLIGHT "$mib" ;;
    asyncio | uvloop) point W9 "$impl" $SYSPY "$PYPEERS/w9_spawn.py" "$impl" $n $W9_INFLIGHT "$mib" ;;
    node) point W9 node "$(command -v node)" "$ROOT/bench/peers/node/w9_spawn.js" $n $W9_INFLIGHT "$mib" ;;
    libuv) point W9 libuv "$BUILD/bench-w9/libuv_spawn" $n $W9_INFLIGHT "$mib" ;;
    esac
    return 0
}
# W8: coio on epoll (the worker pool), on io_uring (native file operations) and on
# io_uring with COIO_URING_FILES=0 (file operations on the pool), then the peers: fio
# (psync and io_uring engines) and dd where they do the same thing (W8a, W8c; fio's
# write+fsync job for W8d), libuv (uv_fs_*), Go (os.File), Tokio (tokio::fs), Node
# (fs.promises) and asyncio (to_thread) for W8b-d.
W8_IMPLS=(coio coio_uring coio_uring_pool)
[ $HAVE_FIO = 1 ] && W8_IMPLS+=(fio-psync fio-io_uring)
W8_IMPLS+=(dd)
[ $W8_LIBUV = 1 ] && W8_IMPLS+=(libuv)
[ $HAVE_GO = 1 ] && W8_IMPLS+=(go)
[ $HAVE_TOKIO = 1 ] && W8_IMPLS+=(tokio)
[ $HAVE_NODE = 1 ] && W8_IMPLS+=(node)
[ $HAVE_ASYNCIO = 1 ] && W8_IMPLS+=(asyncio)
W8DIR=$OUT/w8data
w8_point() { # impl sub (a b c d): one W8 point, when impl does sub
    local impl=$1 sub=$2
    [ "$sub" = d ] && rm -rf "$W8DIR/d"
    case $impl-$sub in
    coio-*) point W8 coio env COIO_BACKEND=epoll "$BIN/w8_files" "$sub" "$W8DIR" ;;
    coio_uring-*) point W8 coio_uring env COIO_BACKEND=io_uring "$BIN/w8_files" "$sub" "$W8DIR" ;;
    coio_uring_pool-*) point W8 coio_uring_pool env COIO_BACKEND=io_uring COIO_URING_FILES=0 \
        "$BIN/w8_files" "$sub" "$W8DIR" ;;
    fio-psync-[acd]) point W8 "$impl" bash "$ROOT/bench/w8_files.sh" peer \
        "$([ "$sub" = d ] && echo fio-psync-fsync || echo fio-psync)" "$sub" "$W8DIR" ;;
    fio-io_uring-[ac] | dd-a) point W8 "$impl" bash "$ROOT/bench/w8_files.sh" peer "$impl" "$sub" "$W8DIR" ;;
    libuv-[bcd]) point W8 libuv "$BUILD/bench-w8/libuv_files" "$sub" "$W8DIR" ;;
    go-[bcd]) gopeer W8 w8_files "$sub" "$W8DIR" ;;
    tokio-[bcd]) tokiopeer W8 w8_files "$sub" "$W8DIR" ;;
    node-[bcd]) point W8 node "$(command -v node)" "$ROOT/bench/peers/node/w8_files.js" "$sub" "$W8DIR" ;;
    # 50,000 preads instead of 200,000: a thread hop each, the run would take ~20 s
    asyncio-c) point W8 asyncio $SYSPY "$PYPEERS/w8_files.py" asyncio c "$W8DIR" 50000 ;;
    asyncio-[bd]) point W8 asyncio $SYSPY "$PYPEERS/w8_files.py" asyncio "$sub" "$W8DIR" ;;
    esac
    return 0
}
W10_IMPLS=(coio coio_uring)
{ [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; } && W10_IMPLS+=(nginx)
[ -x "$BUILD/bench-w10/w10_https_go" ] && W10_IMPLS+=(go)
[ $HAVE_NODE = 1 ] && W10_IMPLS+=(node)
[ -x "$BUILD/bench-tokio-tls/target/release/w10_https" ] && W10_IMPLS+=(tokio)
W8E_IMPLS=(coio coio_uring)
{ [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; } && W8E_IMPLS+=(nginx nginx_aio)
W5_IMPLS=(coio coio_uring)
{ [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null; } && W5_IMPLS+=(nginx)
[ $HAVE_GO = 1 ] && W5_IMPLS+=(go)
[ $HAVE_TOKIO = 1 ] && W5_IMPLS+=(tokio)
[ $HAVE_NODE = 1 ] && W5_IMPLS+=(node)
[ $HAVE_UVLOOP = 1 ] && W5_IMPLS+=(uvloop)
[ $HAVE_ASYNCIO = 1 ] && W5_IMPLS+=(asyncio)

# Estimated duration. Seconds per run of each point, as measured on the 2-core development
# VM with other jobs running (load average ~4), rounded: a quiet machine is faster. A
# point repeats REPS times unless the next run would pass BUDGET (as point does). W4: 7 s
# per implementation and point (1 s warm-up, 5 s measured, start-up and 1,000 connects);
# W5: 8 s (two wrk runs, 1 s and 5 s, plus start-up). `make bench` took 23 min there.
# W9: seconds per run of each implementation from the small parent, then from the 2 GiB
# one (allocating and touching it takes 2-7 s), measured there at load ~6.
declare -A W9_S=([coio]=4 [coio_uring]=4 [floor]=4 [xargs]=5 [go]=5 [tokio]=4 [asyncio]=4
    [uvloop]=15 [node]=8 [libuv]=4)
declare -A W9_BIG_S=([coio]=7 [coio_uring]=7 [floor]=6 [go]=12 [tokio]=7 [asyncio]=9
    [uvloop]=30 [node]=17 [libuv]=22)
runs_s() { # SECONDS...: the sum over points of SECONDS x the runs point will make
    local t n s=0
    for t in "$@"; do
        n=$((BUDGET / t))
        [ $n -gt "$REPS" ] && n=$REPS
        [ $n -lt 1 ] && n=1
        s=$((s + n * t))
    done
    echo $s
}
estimate() {
    local w s=1 i ts
    for w in "${WORKLOADS[@]}"; do
        ts=()
        case $w in
        W1) ts=(1 1 2 2) ;;
        W2) ts=(1 2 4 4 3 3) ;;
        W3) ts=(9 97 3 20 8 10) ;;
        W4) for ((i = 0; i < 4 * ${#W4_IMPLS[@]}; i++)); do ts+=(7); done ;;
        W5) [ $HAVE_W5 = 1 ] && for ((i = 0; i < 2 * ${#W5_IMPLS[@]}; i++)); do ts+=(8); done ;;
        W6) ts=(1 1 7 5) ;;
        W7) ts=(1 1 3 2) ;;
        W8) s=$((s + 40)) # making the data (1 GiB and 10,000 files), then ~1 s a point
            for ((i = 0; i < 4 * ${#W8_IMPLS[@]}; i++)); do ts+=(1); done ;;
        W8e) [ $HAVE_W8E = 1 ] && for ((i = 0; i < 2 * ${#W8E_IMPLS[@]}; i++)); do ts+=(8); done ;;
        W10) [ $HAVE_W10 = 1 ] && for ((i = 0; i < 2 * ${#W10_IMPLS[@]}; i++)); do ts+=(8); done ;;
        W9) for i in "${W9_IMPLS[@]}"; do
                ts+=("${W9_S[$i]}")
                [ -n "${W9_BIG_S[$i]:-}" ] && ts+=("${W9_BIG_S[$i]}")
            done ;;
        esac
        if [ $HAVE_TOKIO = 1 ]; then # the Tokio points, in the order run adds them (W3: a guess)
            case $w in
            W1) ts+=(1 1 1) ;;
            W2) ts+=(1 1) ;;
            W3) ts+=(2 5) ;;
            W6) ts+=(1) ;;
            W7) ts+=(1 1) ;;
            esac
        fi
        [ ${#ts[@]} -gt 0 ] && s=$((s + $(runs_s "${ts[@]}")))
    done
    echo $((s + 15)) # + peers, build and report
}
EST=$(estimate)
say "== running ${WORKLOADS[*]}, $REPS repeats per point: about $((EST / 60)) min $((EST % 60)) s"
T_START=$(date +%s)

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg.start"
say "== machine costs (load average now: $(cat "$OUT/loadavg.start"))"
point SYS machine "$BIN/sys_costs" 200000

for w in "${WORKLOADS[@]}"; do
    say "== $w"
    case $w in
    W1)
        point W1 coio "$BIN/w1_switch" 5000000
        gopeer W1 w1_switch 5000000
        # the fair switch (W1's target): a ping-pong over two tokio::sync::Notify; then
        # yield_now, which waits for a poll of the I/O driver, and a self-waking yield
        tokiopeer W1 w1_switch notify 5000000
        tokiopeer W1 w1_switch yield_now 500000
        tokiopeer W1 w1_switch wake 5000000
        pypeer W1 w1_switch.py 200000
        ;;
    W2)
        point W2 coio "$BIN/w2_spawn" batched 1000000 10000
        point W2 coio "$BIN/w2_spawn" all 1000000
        point W2 coio "$BIN/w2_spawn" vars 1000000 10000 # task-local values: spawn, get, set
        gopeer W2 w2_spawn batched 1000000 10000
        gopeer W2 w2_spawn all 1000000
        tokiopeer W2 w2_spawn batched 1000000 10000
        tokiopeer W2 w2_spawn all 1000000
        pypeer W2 w2_spawn.py batched 200000 10000
        ;;
    W3)
        point W3 coio "$BIN/w3_sleep" 100000
        point W3 coio "$BIN/w3_sleep" 1000000
        gopeer W3 w3_sleep 100000
        gopeer W3 w3_sleep 1000000
        tokiopeer W3 w3_sleep 100000
        tokiopeer W3 w3_sleep 1000000
        pypeer W3 w3_sleep.py 100000 # asyncio at 1 M would take minutes: not run
        ;;
    W4)
        # Repeats interleaved (round r runs every impl once): this VM's speed drifts over
        # minutes, and consecutive repeats of one impl would carry that drift into the
        # ranking. The report groups the rounds by impl and point.
        for ((r = 1; r <= REPS; r++)); do
            say "  round $r of $REPS"
            for c in 100 1000; do
                for m in 64 4096; do
                    for impl in "${W4_IMPLS[@]}"; do
                        REPS=1 unpinned W4 "$impl" bash "$ROOT/bench/w4_echo.sh" "$impl" $c $m
                    done
                done
            done
        done
        ;;
    W5)
        if [ $HAVE_W5 = 1 ]; then
            for ((r = 1; r <= REPS; r++)); do
                say "  round $r of $REPS"
                for c in 100 1000; do
                    for impl in "${W5_IMPLS[@]}"; do
                        REPS=1 unpinned W5 "$impl" bash "$ROOT/bench/w5_http.sh" "$impl" $c
                    done
                done
            done
        fi
        ;;
    W6)
        point W6 coio "$BIN/w6_queue" 2000000
        gopeer W6 w6_queue 2000000
        tokiopeer W6 w6_queue 2000000
        pypeer W6 w6_queue.py 200000
        ;;
    W7)
        point W7 coio "$BIN/w7_lock" 1000000 100
        gopeer W7 w7_lock 1000000 100
        # the yield inside the lock: self-waking (W7's target), then tokio's yield_now
        tokiopeer W7 w7_lock wake 1000000 100
        tokiopeer W7 w7_lock yield_now 200000 100
        pypeer W7 w7_lock.py 100000 100
        ;;
    W8)
        say "  making the data in $W8DIR"
        rm -rf "$W8DIR"
        if bash "$ROOT/bench/w8_files.sh" prepare "$W8DIR"; then
            # rounds interleaved as in W4
            for ((r = 1; r <= REPS; r++)); do
                say "  round $r of $REPS"
                for sub in a b c d; do
                    for impl in "${W8_IMPLS[@]}"; do
                        REPS=1 w8_point "$impl" "$sub"
                    done
                done
            done
        else
            say "  skip W8: could not make its data in $W8DIR"
        fi
        rm -rf "$W8DIR"
        ;;
    W8e)
        if [ $HAVE_W8E = 1 ]; then rounds W8e w8e_http.sh "request cached" "${W8E_IMPLS[@]}"; fi
        ;;
    W10)
        if [ $HAVE_W10 = 1 ]; then rounds W10 w10_https.sh "keepalive close" "${W10_IMPLS[@]}"; fi
        ;;
    W9)
        # Rounds interleaved as in W4: each round runs every implementation once from the
        # small parent, then once from the big one.
        for ((r = 1; r <= REPS; r++)); do
            say "  round $r of $REPS"
            for mib in 0 $W9_MIB; do
                for impl in "${W9_IMPLS[@]}"; do
                    REPS=1 w9_point "$impl" "$mib"
                done
            done
        done
        ;;
    esac
done

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg.end"
T_RUN=$(($(date +%s) - T_START))
echo "$EST $T_RUN" >"$OUT/duration"
say "== measured in $((T_RUN / 60)) min $((T_RUN % 60)) s" \
    "(estimated $((EST / 60)) min $((EST % 60)) s)"
say "== report"
export COIO_BENCH_GNUPLOT=$HAVE_GNUPLOT
PY=$SYSPY
[ -x "$PY" ] || PY=python3
exec "$PY" "$ROOT/bench/report.py" --out "$OUT" --root "$ROOT" "${WORKLOADS[@]}"
