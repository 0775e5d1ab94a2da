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
BIN=$BUILD/bench-w5
TOKIO_BIN=$BUILD/bench-tokio/target/release
WARM=${W5_WARMUP:-1}
SECS=${W5_SECONDS:-5}
SCPU=${W5_SERVER_CPU:-0}
CCPU=${W5_CLIENT_CPU:-1}
CC=${CC:-cc}
CFLAGS=(-O2 -g -Wall -Wextra)
SYSPY=/usr/bin/python3 # Debian's: the pyenv python3 on PATH has no uvloop
HZ=$(getconf CLK_TCK)

say() { printf '%s\n' "$*" >&2; }

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

# cpu_ticks PID: utime+stime (clock ticks) of PID and its descendants, all threads
# (a process's /proc/PID/stat sums its threads; nginx's worker is the master's child).
cpu_ticks() {
    local total=0 p s f q
    local todo=("$1")
    while [ ${#todo[@]} -gt 0 ]; do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        if read -r s </proc/"$p"/stat 2>/dev/null; then
            s=${s##*) } # comm may hold spaces: fields from state on
            read -ra f <<<"$s"
            total=$((total + f[11] + f[12]))
        fi
        # shellcheck disable=SC2013 # the file is one line of space-separated pids
        for q in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            todo+=("$q")
        done
    done
    echo $total
}

# to_us VALUE: wrk's "1.29ms" / "652.00us" / "2.01s" / "1.00m" in microseconds
to_us() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = u == "us" ? 1 : u == "ms" ? 1e3 : u == "s" ? 1e6 : u == "m" ? 6e7 : u == "h" ? 3.6e9 : -1
        if (m < 0) exit 1
        printf "%.6g\n", n * m }'
}

emit() { # impl metric c value unit n
    printf '{"workload":"W5","impl":"%s","metric":"%s c=%s","value":%s,"unit":"%s","n":%s}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6"
}

# Starts nginx on a free port with a config in $tmp; sets pid and port.
start_nginx() {
    local tmp=$1
    mkdir -p "$tmp/tmp"
    for _ in 1 2 3 4 5; do # a random port may be taken: try another
        port=$((20000 + RANDOM % 40000))
        cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $tmp/nginx.pid;
error_log $tmp/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 65536; }
http {
    access_log off;
    keepalive_requests 1000000;
    default_type text/plain;
    client_body_temp_path $tmp/tmp; proxy_temp_path $tmp/tmp; fastcgi_temp_path $tmp/tmp;
    uwsgi_temp_path $tmp/tmp; scgi_temp_path $tmp/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / { return 200 "Hello, World!"; }
    }
}
EOF
        taskset -c "$SCPU" "$NGINX" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log" \
            >"$tmp/out" 2>&1 &
        pid=$!
        for _ in $(seq 100); do
            (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
            kill -0 $pid 2>/dev/null || break
            sleep 0.05
        done
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null
    done
    say "w5: nginx did not start: $(tail -c 300 "$tmp/error.log" 2>/dev/null)"
    return 1
}

# Starts a server that prints "listening on 127.0.0.1:PORT"; sets pid and port.
start_server() {
    local tmp=$1
    shift
    : >"$tmp/out" # exists before the server's shell gets to its redirection
    taskset -c "$SCPU" "$@" >"$tmp/out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        grep -q '^listening on' "$tmp/out" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && return 0
    say "w5: server did not start: $(head -c 300 "$tmp/out")"
    return 1
}

# wrk_run C SECONDS OUTFILE: wrk pinned to the client CPU; appends "client_ticks N" (its
# utime+stime: the wrapper shell's cutime+cstime once wrk is reaped) to OUTFILE.
wrk_run() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    taskset -c "$CCPU" bash -c 'wrk "$@"; rc=$?; read -r s </proc/$$/stat; s=${s##*) }
        read -ra f <<<"$s"; echo "client_ticks $((f[13] + f[14]))"; exit $rc' \
        wrk -t1 -c"$1" -d"$2"s --latency "http://127.0.0.1:$port/" >"$3" 2>&1
}

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
    nginx) start_nginx "$tmp" ;;
    go) start_server "$tmp" env GOMAXPROCS=1 "$BIN/w5_http_go" 0 ;;
    tokio) start_server "$tmp" "$TOKIO_BIN/w5_http" 0 ;;
    node) start_server "$tmp" "$NODE" "$ROOT/bench/peers/node/w5_http.js" 0 ;;
    uvloop | asyncio) start_server "$tmp" $SYSPY "$ROOT/bench/peers/python/w5_http.py" "$impl" 0 ;;
    esac || { rm -rf "$tmp"; return 1; }
    out=$tmp/wrk
    if [ "$WARM" != 0 ]; then
        wrk_run "$c" "$WARM" "$out" || { say "w5: $impl c=$c: warm-up: $(tail -c 300 "$out")"; rc=1; }
    fi
    if [ $rc = 0 ]; then
        t0=$(cpu_ticks "$pid")
        wrk_run "$c" "$SECS" "$out" || { say "w5: $impl c=$c: wrk failed: $(tail -c 300 "$out")"; rc=1; }
        t1=$(cpu_ticks "$pid")
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ $rc = 0 ]; then
        if grep -qE 'Non-2xx|Socket errors' "$out"; then
            say "w5: $impl c=$c failed: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' \n' ' ')"
            rc=1
        fi
        read -r n secs < <(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)\(m\?s\).*/\1 \2 \3/p' "$out" |
            awk '{ print $1, $3 == "ms" ? $2 / 1000 : $2 }')
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
        p50=$(awk '$1 == "50%" { print $2 }' "$out")
        p99=$(awk '$1 == "99%" { print $2 }' "$out")
        ct=$(sed -n 's/^client_ticks \([0-9]*\)$/\1/p' "$out")
        if [ $rc = 0 ] && { [ -z "${n:-}" ] || [ "$n" = 0 ] || [ -z "$rps" ] || [ -z "$p99" ]; }; then
            say "w5: $impl c=$c: cannot parse wrk's output: $(head -c 400 "$out")"
            rc=1
        fi
    fi
    if [ $rc = 0 ]; then
        emit "$impl" req_per_s "$c" "$rps" req/s "$n"
        emit "$impl" p50_us "$c" "$(to_us "$p50")" us "$n"
        emit "$impl" p99_us "$c" "$(to_us "$p99")" us "$n"
        emit "$impl" cpu_us_per_req "$c" \
            "$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.6g", d * 1e6 / hz / n }')" us "$n"
        emit "$impl" client_cpu_pct "$c" \
            "$(awk -v t="$ct" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.6g", t / hz / s * 100 }')" % "$n"
    fi
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
