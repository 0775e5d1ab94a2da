#!/usr/bin/env bash
# W10 HTTPS: wrk (one thread, GET /, TLS) against a "Hello, World!" HTTPS server pinned to
# CPU 0, wrk pinned to CPU 1 (https://localhost:PORT/), with one ECDSA P-256 certificate
# made here and TLS 1.3:
#   W10a  keep-alive, c=100: req_per_s and cpu_us_per_req (the server's utime+stime
#         over the measured run, per request)
#   W10b  a new TLS connection per request (wrk sends "Connection: close"), c=100:
#         handshakes_per_s and cpu_us_per_handshake
# Each point: a W10_WARMUP-second wrk run, then a W10_SECONDS-second measured one. Prints
# JSON lines in W5's schema ("metric":"<name> c=C"). The coio server is
# examples/http_hello.c --tls-cert/--tls-key; nginx (Debian's) runs one worker with the
# same certificate and ssl_protocols TLSv1.3, its session settings left at their
# defaults (tickets on), as coio's server sends tickets too. wrk does not resume
# sessions, so every connection of W10b is a full handshake on both.
#
#   bench/w10_https.sh IMPL MODE     one point (MODE: keepalive or close); exit 77 when
#                                    IMPL's peer is not installed
#   bench/w10_https.sh               every IMPL x MODE
#
# IMPL: coio (COIO_BACKEND=epoll), coio_uring (io_uring), nginx, go (bench/peers/go/
# w10_https.go: net/http and crypto/tls, GOMAXPROCS=1, built with `GO111MODULE=off go
# build`), node (bench/peers/node/w10_https.js: the https module), tokio
# (bench/peers/tokio_tls: tokio-rustls on the current_thread runtime, built offline by its
# build.sh from Debian's crates; skipped when librust-tokio-rustls-dev or
# librust-rustls-pemfile-dev is missing). Uses $BUILD/examples/http_hello (BUILD:
# COIO_BENCH_BUILD, COIO_BUILD_DIR or build/release; `make build`).
# Environment: W10_WARMUP (1), W10_SECONDS (5), W10_SERVER_CPU (0), W10_CLIENT_CPU (1),
# W10_C (100). Debian packages: wrk, nginx, openssl, golang-go, nodejs, cargo + rustc +
# librust-tokio-dev + librust-tokio-rustls-dev + librust-rustls-pemfile-dev.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD # the servers run from other directories
WARM=${W10_WARMUP:-1}
SECS=${W10_SECONDS:-5}
SCPU=${W10_SERVER_CPU:-0}
CCPU=${W10_CLIENT_CPU:-1}
C=${W10_C:-100}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
GO=$(command -v go || echo /usr/lib/go/bin/go)
NODE=$(command -v node || echo /usr/bin/node)
HELLO=$BUILD/examples/http_hello
BIN=$BUILD/bench-w10
W=w10
LISTEN_SCHEME=https:// # the servers print "listening on https://127.0.0.1:PORT"
# shellcheck source=bench/http_lib.sh
. "$ROOT/bench/http_lib.sh"

have() {
    case $1 in
    coio | coio_uring)
        [ -x "$HELLO" ] || { say "w10: no $HELLO (make build)"; return 1; } ;;
    nginx) [ -x "$NGINX" ] || { say "w10: skip nginx: not installed (apt-get install nginx)"; return 1; } ;;
    go)
        [ -x "$GO" ] || { say "w10: skip go: no go (apt-get install golang-go)"; return 1; }
        build_go || { say "w10: skip go"; return 1; }
        ;;
    node) [ -x "$NODE" ] || { say "w10: skip node: no node (apt-get install nodejs)"; return 1; } ;;
    tokio) build_tokio || return 1 ;;
    *) say "w10: unknown impl $1 (coio coio_uring nginx go node tokio)"; return 2 ;;
    esac
}

build_go() {
    local src=$ROOT/bench/peers/go/w10_https.go
    mkdir -p "$BIN"
    [ -x "$BIN/w10_https_go" ] && ! [ "$src" -nt "$BIN/w10_https_go" ] && return 0
    (cd "$ROOT/bench/peers/go" && GOCACHE=$BUILD/go-cache GOPATH=$BUILD/go-path \
        GO111MODULE=off "$GO" build -o "$BIN/w10_https_go" w10_https.go) >"$BIN/go-build.log" 2>&1 ||
        { say "w10: go build w10_https.go failed: $(tail -c 300 "$BIN/go-build.log")"; return 1; }
}

# The Tokio server: built (or found up to date) by its build.sh; 77 means a missing crate.
build_tokio() {
    local rc
    mkdir -p "$BIN"
    bash "$ROOT/bench/peers/tokio_tls/build.sh" "$BUILD" >"$BIN/tokio-build.log" 2>&1
    rc=$?
    [ $rc = 0 ] && return 0
    if [ $rc = 77 ]; then
        say "w10: skip tokio: not available: $(tail -n 1 "$BIN/tokio-build.log")"
    else
        say "w10: skip tokio: its build failed: $(tail -c 300 "$BIN/tokio-build.log")"
    fi
    return 1
}

emit() { # impl metric value unit n
    printf '{"workload":"W10","impl":"%s","metric":"%s c=%s","value":%s,"unit":"%s","n":%s}\n' \
        "$1" "$2" "$C" "$3" "$4" "$5"
}

# The certificate: ECDSA P-256, self-signed for localhost (wrk does not verify).
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$1/key.pem" -out "$1/cert.pem" -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
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
    ssl_protocols TLSv1.3;
    server {
        listen 127.0.0.1:$port ssl backlog=4096;
        ssl_certificate $1/cert.pem;
        ssl_certificate_key $1/key.pem;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
}

# shellcheck disable=SC2317 # called by measure
wrk_run() { # mode seconds outfile
    local hdr=()
    [ "$1" = close ] && hdr=(-H "Connection: close")
    # localhost, not 127.0.0.1: wrk sends the URL's host as SNI, and rustls 0.20 (the Tokio
    # peer's) refuses a ClientHello whose SNI is an IP address. The servers listen on
    # 127.0.0.1 only, the one address of localhost wrk finds accepting.
    taskset -c "$CCPU" wrk -t1 -c"$C" -d"$2"s "${hdr[@]}" "https://localhost:$port/" >"$3" 2>&1
}

point() { # impl mode
    local impl=$1 mode=$2 tmp pid port rc=0 t0 t1 out n secs rps p50 p99 ct
    have "$impl"
    rc=$?
    [ $rc = 0 ] || { [ $rc = 1 ] && return 77; return $rc; }
    tmp=$(mktemp -d)
    make_cert "$tmp" || { say "w10: openssl could not make the certificate"; rm -rf "$tmp"; return 1; }
    case $impl in
    coio | coio_uring)
        start_server "$tmp" env COIO_BACKEND="$([ "$impl" = coio ] && echo epoll || echo io_uring)" \
            "$HELLO" --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" 0 ;;
    nginx) start_nginx "$tmp" nginx_conf ;;
    go) start_server "$tmp" env GOMAXPROCS=1 "$BIN/w10_https_go" "$tmp/cert.pem" "$tmp/key.pem" ;;
    node) start_server "$tmp" "$NODE" "$ROOT/bench/peers/node/w10_https.js" "$tmp/cert.pem" "$tmp/key.pem" ;;
    tokio) start_server "$tmp" "$BUILD/bench-tokio-tls/target/release/w10_https" "$tmp/cert.pem" "$tmp/key.pem" ;;
    esac || { rm -rf "$tmp"; return 1; }
    out=$tmp/wrk
    measure "$impl $mode" wrk_run "$mode" || rc=1
    stop_server
    # a server closing after each answer shows as read errors in wrk: expected in close
    # mode, a failure in keep-alive mode
    [ $rc = 0 ] && wrk_errors "$out" "$impl $mode" 'Non-2xx' &&
        { [ "$mode" != keepalive ] || wrk_errors "$out" "$impl $mode" 'Socket errors'; } &&
        wrk_parse "$out" "$impl $mode" || rc=1
    if [ $rc = 0 ]; then
        local cpu
        cpu=$(per_op_us $((t1 - t0)) "$n")
        if [ "$mode" = keepalive ]; then
            emit "$impl" req_per_s "$rps" req/s "$n"
            emit "$impl" cpu_us_per_req "$cpu" us "$n"
        else
            emit "$impl" handshakes_per_s "$rps" 1/s "$n"
            emit "$impl" cpu_us_per_handshake "$cpu" us "$n"
        fi
    fi
    rm -rf "$tmp"
    return $rc
}

command -v wrk >/dev/null || { say "w10: no wrk (apt-get install wrk)"; exit 1; }
command -v taskset >/dev/null || { say "w10: no taskset (util-linux)"; exit 1; }
command -v openssl >/dev/null || { say "w10: no openssl (apt-get install openssl)"; exit 1; }
if [ $# -ge 2 ]; then
    point "$1" "$2"
    exit $?
fi
[ $# = 0 ] || { say "usage: bench/w10_https.sh [IMPL keepalive|close]"; exit 2; }
failed=0
for mode in keepalive close; do
    for impl in coio coio_uring nginx go node tokio; do
        point "$impl" "$mode"
        rc=$?
        [ $rc = 0 ] || [ $rc = 77 ] || { say "w10: $impl $mode failed"; failed=1; }
    done
done
exit $failed
