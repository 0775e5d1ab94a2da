#!/usr/bin/env bash
# W4 echo: C connections x M-byte messages, each waiting for its full echo, against an
# echo server pinned to CPU 0, driven by a plain-epoll load client pinned to CPU 1
# (bench/w4_echo_client.c): 1 s warm-up, then 5 s measured. Prints the client's JSON
# lines: req_per_s, p50_us, p99_us and cpu_us_per_req (the server's utime+stime from
# /proc/<pid>/stat over the measured 5 s, per request) with " c=C m=M" in the metric.
#
#   bench/w4_echo.sh IMPL C M      one point; IMPL: coio (epoll), coio_uring, libuv, floor
#   bench/w4_echo.sh               every IMPL x C in {100, 1000} x M in {64, 4096}
#
# Builds what it needs into $BUILD/bench-w4 (BUILD: COIO_BENCH_BUILD, COIO_BUILD_DIR or
# build/release, which must hold libcoio.so): the client, the floor server and the
# libuv server with cc (libuv from pkg-config; Debian: libuv1-dev), and the coio server
# against $BUILD's libcoio unless CMake already built $BUILD/bench/w4_echo_server.
# Environment: W4_WARMUP (1), W4_SECONDS (5), W4_SERVER_CPU (0), W4_CLIENT_CPU (1).
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
BIN=$BUILD/bench-w4
WARM=${W4_WARMUP:-1}
SECS=${W4_SECONDS:-5}
SCPU=${W4_SERVER_CPU:-0}
CCPU=${W4_CLIENT_CPU:-1}
CC=${CC:-cc}
CFLAGS=(-O2 -g -Wall -Wextra)

say() { printf '%s\n' "$*" >&2; }

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
}

# point IMPL C M: one measured run, JSON lines on stdout
point() {
    local impl=$1 c=$2 m=$3 server env=() out port pid rc
    case $impl in
    coio) server=("$BIN/w4_echo_server"); env=(COIO_BACKEND=epoll) ;;
    coio_uring) server=("$BIN/w4_echo_server"); env=(COIO_BACKEND=io_uring) ;;
    libuv) server=("$BIN/libuv_echo") ;;
    floor) server=("$BIN/w4_echo_floor") ;;
    *) say "w4: unknown impl $impl"; return 2 ;;
    esac
    [ -x "${server[0]}" ] || { say "w4: ${server[0]} missing"; return 1; }
    out=$(mktemp)
    env "${env[@]}" taskset -c "$SCPU" "${server[@]}" 0 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on' "$out" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
    if [ -z "$port" ]; then
        say "w4: $impl server did not start: $(head -c 300 "$out")"
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null
        rm -f "$out"
        return 1
    fi
    taskset -c "$CCPU" "$BIN/w4_echo_client" "$port" "$c" "$m" "$pid" "$impl" "$WARM" "$SECS"
    rc=$?
    kill $pid 2>/dev/null
    wait $pid 2>/dev/null
    rm -f "$out"
    return $rc
}

build || { say "w4: build failed"; exit 1; }
if [ $# -ge 3 ]; then
    point "$1" "$2" "$3"
    exit $?
fi
IMPLS=(coio coio_uring libuv floor)
[ -x "$BIN/libuv_echo" ] || IMPLS=(coio coio_uring floor)
for c in 100 1000; do
    for m in 64 4096; do
        for impl in "${IMPLS[@]}"; do
            point "$impl" "$c" "$m" || say "w4: $impl c=$c m=$m failed"
        done
    done
done
