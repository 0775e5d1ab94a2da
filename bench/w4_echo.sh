#!/usr/bin/env bash
# W4 echo: C connections x M-byte messages, each waiting for its full echo, against an
# echo server pinned to CPU 0, driven by a plain-epoll load client pinned to CPU 1
# (bench/w4_echo_client.c): 1 s warm-up, then 5 s measured. Prints the client's JSON
# lines: req_per_s, p50_us, p99_us, cpu_us_per_req (the server's utime+stime from
# /proc/<pid>/stat over the measured 5 s, per request) and client_cpu_pct (the client's
# own CPU use over those 5 s) with " c=C m=M" in the metric.
#
#   bench/w4_echo.sh IMPL C M      one point; IMPL: coio (epoll), coio_uring, libuv, floor,
#                                  go, tokio, uvloop, asyncio, node
#   bench/w4_echo.sh               every IMPL x C in {100, 1000} x M in {64, 4096}
#
# Builds what it needs into $BUILD/bench-w4 (BUILD: COIO_BENCH_BUILD, COIO_BUILD_DIR or
# build/release, which must hold libcoio.so): the client, the floor server and the
# libuv server with cc (libuv from pkg-config; Debian: libuv1-dev), the coio server
# against $BUILD's libcoio unless CMake already built $BUILD/bench/w4_echo_server, and
# the Go peer (bench/peers/go/w4_echo.go, run with GOMAXPROCS=1) when go is there, the
# Tokio peers (bench/peers/tokio/build.sh: Debian's cargo, rustc and librust-tokio-dev,
# offline, into $BUILD/bench-tokio; the server runs on Tokio's current_thread runtime). The
# Python peers (bench/peers/python/w4_echo.py) run on /usr/bin/python3, which has
# Debian's python3-uvloop; the Node peer (bench/peers/node/w4_echo.js) on node. A peer
# that is not installed is skipped with a message (exit status 77 for a single point).
# Environment: W4_WARMUP (1), W4_SECONDS (5), W4_SERVER_CPU (0), W4_CLIENT_CPU (1),
# W4_BUILD_ONLY=1 (build, run nothing: bench/run.sh builds before it measures).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD # the servers run from other directories
BIN=$BUILD/bench-w4
TOKIO_BIN=$BUILD/bench-tokio/target/release
WARM=${W4_WARMUP:-1}
SECS=${W4_SECONDS:-5}
SCPU=${W4_SERVER_CPU:-0}
CCPU=${W4_CLIENT_CPU:-1}
CC=${CC:-cc}
CFLAGS=(-O2 -g -Wall -Wextra)
SYSPY=/usr/bin/python3 # Debian's: a python3 earlier on PATH (pyenv) may lack uvloop
GO=$(command -v go || echo /usr/lib/go/bin/go)
SKIPPED=77 # exit status of a point whose peer is not installed (as bench/w5_http.sh)
W=w4
# shellcheck source=bench/http_lib.sh
. "$ROOT/bench/http_lib.sh" # say, start_server, stop_server

build() {
    mkdir -p "$BIN"
    local s
    for s in w4_echo_client w4_echo_floor; do
        if [ ! -x "$BIN/$s" ] || [ "$ROOT/bench/$s.c" -nt "$BIN/$s" ]; then
            "$CC" "${CFLAGS[@]}" -o "$BIN/$s" "$ROOT/bench/$s.c" || return 1
        fi
    done
    if [ -x "$BUILD/bench/w4_echo_server" ] &&
        ! [ "$ROOT/bench/w4_echo_server.c" -nt "$BUILD/bench/w4_echo_server" ]; then
        ln -sf "$BUILD/bench/w4_echo_server" "$BIN/w4_echo_server"
    elif [ ! -x "$BIN/w4_echo_server" ] || [ -L "$BIN/w4_echo_server" ] ||
        [ "$ROOT/bench/w4_echo_server.c" -nt "$BIN/w4_echo_server" ] ||
        [ "$BUILD/libcoio.so" -nt "$BIN/w4_echo_server" ]; then
        [ -f "$BUILD/libcoio.so" ] || { say "w4: no $BUILD/libcoio.so (make build)"; return 1; }
        rm -f "$BIN/w4_echo_server"
        "$CC" "${CFLAGS[@]}" -I"$ROOT/include" -o "$BIN/w4_echo_server" \
            "$ROOT/bench/w4_echo_server.c" -L"$BUILD" -lcoio -Wl,-rpath,"$BUILD" || return 1
    fi
    if pkg-config --exists libuv 2>/dev/null; then
        if [ ! -x "$BIN/libuv_echo" ] || [ "$ROOT/bench/peers/libuv_echo.c" -nt "$BIN/libuv_echo" ]; then
            # shellcheck disable=SC2046
            "$CC" "${CFLAGS[@]}" -o "$BIN/libuv_echo" "$ROOT/bench/peers/libuv_echo.c" \
                $(pkg-config --cflags --libs libuv) || return 1
        fi
    else
        say "w4: no libuv (apt-get install libuv1-dev): libuv points skipped"
    fi
    if [ -x /usr/bin/cargo ]; then # Debian's: build.sh says why when it cannot build
        bash "$ROOT/bench/peers/tokio/build.sh" "$BUILD" ||
            say "w4: the Tokio peers did not build: tokio points skipped"
    fi
    if [ -x "$GO" ]; then
        if [ ! -x "$BIN/go_echo" ] || [ "$ROOT/bench/peers/go/w4_echo.go" -nt "$BIN/go_echo" ]; then
            (cd "$ROOT/bench/peers/go" && GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path \
                GO111MODULE=off "$GO" build -o "$BIN/go_echo" w4_echo.go) ||
                say "w4: go build w4_echo.go failed: go points skipped"
        fi
    fi
    return 0
}

# missing IMPL: prints why IMPL's peer cannot run; fails when it can run
missing() {
    case $1 in
    libuv) [ -x "$BIN/libuv_echo" ] && return 1; echo "no libuv (apt-get install libuv1-dev)" ;;
    go) [ -x "$BIN/go_echo" ] && return 1
        echo "no go, or its build failed (apt-get install golang-go)" ;;
    tokio) [ -x "$TOKIO_BIN/w4_echo" ] && return 1
        echo "no Tokio peer, or its build failed (apt-get install cargo rustc librust-tokio-dev)" ;;
    asyncio) [ -x $SYSPY ] && return 1; echo "no $SYSPY (apt-get install python3)" ;;
    uvloop) $SYSPY -c 'import uvloop' 2>/dev/null && return 1
        echo "no uvloop for $SYSPY (apt-get install python3-uvloop)" ;;
    node) command -v node >/dev/null && return 1; echo "no node (apt-get install nodejs)" ;;
    *) return 1 ;;
    esac
}

# point IMPL C M: one measured run, JSON lines on stdout
point() {
    local impl=$1 c=$2 m=$3 server env=() tmp port pid rc
    case $impl in
    coio) server=("$BIN/w4_echo_server"); env=(COIO_BACKEND=epoll) ;;
    coio_uring) server=("$BIN/w4_echo_server"); env=(COIO_BACKEND=io_uring) ;;
    libuv) server=("$BIN/libuv_echo") ;;
    floor) server=("$BIN/w4_echo_floor") ;;
    go) server=("$BIN/go_echo"); env=(GOMAXPROCS=1) ;;
    tokio) server=("$TOKIO_BIN/w4_echo") ;;
    asyncio | uvloop) server=("$SYSPY" "$ROOT/bench/peers/python/w4_echo.py" "$impl") ;;
    node) server=("$(command -v node || echo node)" "$ROOT/bench/peers/node/w4_echo.js") ;;
    *) say "w4: unknown impl $impl"; return 2 ;;
    esac
    local why
    why=$(missing "$impl") && { say "w4: skip $impl: $why"; return $SKIPPED; }
    [ -x "${server[0]}" ] || { say "w4: ${server[0]} missing"; return 1; }
    tmp=$(mktemp -d)
    if ! start_server "$tmp" env "${env[@]}" "${server[@]}" 0; then
        stop_server
        rm -rf "$tmp"
        return 1
    fi
    taskset -c "$CCPU" "$BIN/w4_echo_client" "$port" "$c" "$m" "$pid" "$impl" "$WARM" "$SECS"
    rc=$?
    stop_server
    rm -rf "$tmp"
    return $rc
}

build || { say "w4: build failed"; exit 1; }
[ -n "${W4_BUILD_ONLY:-}" ] && exit 0
if [ $# -ge 3 ]; then
    point "$1" "$2" "$3"
    exit $?
fi
IMPLS=()
for impl in coio coio_uring libuv floor go tokio uvloop asyncio node; do
    if why=$(missing $impl); then say "w4: skip $impl: $why"; else IMPLS+=("$impl"); fi
done
for c in 100 1000; do
    for m in 64 4096; do
        for impl in "${IMPLS[@]}"; do
            point "$impl" "$c" "$m" || say "w4: $impl c=$c m=$m failed"
        done
    done
done
