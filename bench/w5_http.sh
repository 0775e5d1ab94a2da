#!/usr/bin/env bash
# W5 HTTP: wrk (one thread, C keep-alive connections, GET /) against a "Hello, World!"
# HTTP/1.1 server pinned to CPU 0, wrk pinned to CPU 1: a W5_WARMUP-second wrk run, then
# a W5_SECONDS-second measured one. The coio server is examples/http_hello.c (requests
# parsed with coio_stream_readline, answers held by COIO_STREAM_FLUSH_ON_READ). Prints
# JSON lines in W4's schema, " c=C" in the metric: req_per_s, p50_us and p99_us (wrk's
# latency distribution), cpu_us_per_req (utime+stime of the server's processes and all
# their threads, from /proc/PID/stat, over the measured run, per request) and
# client_cpu_pct (wrk's own CPU over the run).
#
#   bench/w5_http.sh IMPL C      one point; exit 77 when IMPL's peer is not installed
#   bench/w5_http.sh             every IMPL x C in {100, 1000}; missing peers skipped
#
# IMPL: coio (COIO_BACKEND=epoll), coio_uring (io_uring), nginx (Debian's; one worker,
# master_process on as deployed: the idle master is counted too, access_log off),
# go (bench/peers/go/w5_http.go, net/http, GOMAXPROCS=1), tokio (bench/peers/tokio, a
# task per connection parsing requests by hand on the current_thread runtime; built by
# bench/peers/tokio/build.sh with Debian's cargo and crates), node (bench/peers/node,
# the http module), uvloop and asyncio (bench/peers/python/w5_http.py, an asyncio
# Protocol, under /usr/bin/python3: Debian's python3-uvloop is for that one).
# A point fails (exit 1, the reason on stderr) when wrk reports non-2xx/3xx answers or
# socket errors. Builds into $BUILD/bench-w5 (BUILD: COIO_BENCH_BUILD, COIO_BUILD_DIR or
# build/release): http_hello against $BUILD's libcoio unless CMake already built
# $BUILD/examples/http_hello, and the Go peer with `GO111MODULE=off go build`.
# Environment: W5_WARMUP (1), W5_SECONDS (5), W5_SERVER_CPU (0), W5_CLIENT_CPU (1).
# Debian packages: wrk, nginx, golang-go, cargo + rustc + librust-tokio-dev, nodejs,
# python3-uvloop.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD # the servers run from other directories
BIN=$BUILD/bench-w5
TOKIO_BIN=$BUILD/bench-tokio/target/release
WARM=${W5_WARMUP:-1}
SECS=${W5_SECONDS:-5}
SCPU=${W5_SERVER_CPU:-0}
CCPU=${W5_CLIENT_CPU:-1}
CC=${CC:-cc}
CFLAGS=(-O2 -g -Wall -Wextra)
SYSPY=/usr/bin/python3 # Debian's: the pyenv python3 on PATH has no uvloop
W=w5
# shellcheck source=bench/http_lib.sh
. "$ROOT/bench/http_lib.sh"

# ---------------------------------------------------------------- build and peers

build() {
    mkdir -p "$BIN"
    if [ -x "$BUILD/examples/http_hello" ] &&
        ! [ "$ROOT/examples/http_hello.c" -nt "$BUILD/examples/http_hello" ]; then
        ln -sf "$BUILD/examples/http_hello" "$BIN/http_hello"
    elif [ ! -x "$BIN/http_hello" ] || [ -L "$BIN/http_hello" ] ||
        [ "$ROOT/examples/http_hello.c" -nt "$BIN/http_hello" ] ||
        [ "$BUILD/libcoio.so" -nt "$BIN/http_hello" ]; then
        [ -f "$BUILD/libcoio.so" ] || { say "w5: no $BUILD/libcoio.so (make build)"; return 1; }
        rm -f "$BIN/http_hello"
        "$CC" "${CFLAGS[@]}" -I"$ROOT/include" -o "$BIN/http_hello" \
            "$ROOT/examples/http_hello.c" -L"$BUILD" -lcoio -Wl,-rpath,"$BUILD" || return 1
    fi
}

GO=$(command -v go || echo /usr/lib/go/bin/go)
NODE=$(command -v node || echo /usr/bin/node)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

build_go() {
    local src=$ROOT/bench/peers/go/w5_http.go
    [ -x "$BIN/w5_http_go" ] && ! [ "$src" -nt "$BIN/w5_http_go" ] && return 0
    (cd "$ROOT/bench/peers/go" && GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path \
        GO111MODULE=off "$GO" build -o "$BIN/w5_http_go" w5_http.go) >"$BIN/go-build.log" 2>&1 ||
        { say "w5: go build w5_http.go failed: $(tail -c 300 "$BIN/go-build.log")"; return 1; }
}

# have IMPL: whether the peer can run here (else says why on stderr)
have() {
    case $1 in
    coio | coio_uring) return 0 ;;
    nginx) [ -x "$NGINX" ] || { say "w5: skip nginx: not installed (apt-get install nginx)"; return 1; } ;;
    go)
        [ -x "$GO" ] || { say "w5: skip go: no go (apt-get install golang-go)"; return 1; }
        build_go || { say "w5: skip go"; return 1; }
        ;;
    tokio)
        bash "$ROOT/bench/peers/tokio/build.sh" "$BUILD" >&2 && [ -x "$TOKIO_BIN/w5_http" ] ||
            { say "w5: skip tokio: not built (apt-get install cargo rustc librust-tokio-dev)"; return 1; }
        ;;
    node) [ -x "$NODE" ] || { say "w5: skip node: no node (apt-get install nodejs)"; return 1; } ;;
    asyncio) [ -x $SYSPY ] || { say "w5: skip asyncio: no $SYSPY"; return 1; } ;;
    uvloop)
        $SYSPY -c 'import uvloop' 2>/dev/null ||
            { say "w5: skip uvloop: no uvloop for $SYSPY (apt-get install python3-uvloop)"; return 1; }
        ;;
    *) say "w5: unknown impl $1 (coio coio_uring nginx go tokio node uvloop asyncio)"; return 2 ;;
    esac
}

# ---------------------------------------------------------------- measuring

emit() { # impl metric value unit n (c: point's)
    printf '{"workload":"W5","impl":"%s","metric":"%s c=%s","value":%s,"unit":"%s","n":%s}\n' \
        "$1" "$2" "$c" "$3" "$4" "$5"
}

# shellcheck disable=SC2317 # called by start_nginx
nginx_conf() { # tmp: the http block of the config
    nginx_conf_head "$1"
    cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
    default_type text/plain;
    client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
    uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
}

# wrk_run C SECONDS OUTFILE
# shellcheck disable=SC2317 # called by measure
wrk_run() { wrk_ticks "$2" "$3" "$1" "http://127.0.0.1:$port/"; }

# point IMPL C: one measured run, JSON lines on stdout
point() {
    local impl=$1 c=$2 tmp pid port rc=0 t0 t1 out n secs rps p50 p99 ct
    have "$impl"
    rc=$?
    [ $rc = 0 ] || { [ $rc = 1 ] && return 77; return $rc; }
    tmp=$(mktemp -d)
    case $impl in
    coio) start_server "$tmp" env COIO_BACKEND=epoll "$BIN/http_hello" 0 ;;
    coio_uring) start_server "$tmp" env COIO_BACKEND=io_uring "$BIN/http_hello" 0 ;;
    nginx) start_nginx "$tmp" nginx_conf ;;
    go) start_server "$tmp" env GOMAXPROCS=1 "$BIN/w5_http_go" 0 ;;
    tokio) start_server "$tmp" "$TOKIO_BIN/w5_http" 0 ;;
    node) start_server "$tmp" "$NODE" "$ROOT/bench/peers/node/w5_http.js" 0 ;;
    uvloop | asyncio) start_server "$tmp" $SYSPY "$ROOT/bench/peers/python/w5_http.py" "$impl" 0 ;;
    esac || { rm -rf "$tmp"; return 1; }
    out=$tmp/wrk
    wrk_point "$impl" "$impl c=$c" wrk_run "$c" || rc=1
    rm -rf "$tmp"
    return $rc
}

command -v wrk >/dev/null || { say "w5: no wrk (apt-get install wrk)"; exit 1; }
command -v taskset >/dev/null || { say "w5: no taskset (util-linux)"; exit 1; }
build || { say "w5: build failed"; exit 1; }
if [ $# -ge 2 ]; then
    point "$1" "$2"
    exit $?
fi
[ $# = 0 ] || { say "usage: bench/w5_http.sh [IMPL C]"; exit 2; }
failed=0
for c in 100 1000; do
    for impl in coio coio_uring nginx go tokio node uvloop asyncio; do
        point "$impl" "$c"
        rc=$?
        [ $rc = 0 ] || [ $rc = 77 ] || { say "w5: $impl c=$c failed"; failed=1; }
    done
done
exit $failed
