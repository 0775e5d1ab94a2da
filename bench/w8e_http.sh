#!/usr/bin/env bash
# W8e static file over HTTP: wrk (one thread, 100 keep-alive connections, GET /file.bin)
# against a server of one 1 MiB file (random bytes, warm in the page cache) pinned to
# CPU 0, wrk pinned to CPU 1: a W8E_WARMUP-second wrk run, then a W8E_SECONDS-second
# measured one. Before the warm-up the file is fetched once with curl and compared with
# the original (cmp): a server that sends wrong bytes records no value. Prints JSON lines
# in W5's schema ("metric":"<name> c=C open=OPEN"): req_per_s, p50_us, p99_us, cpu_us_per_req
# (utime+stime of the server's processes and all their threads, /proc/PID/stat, over the
# measured run, per request) and client_cpu_pct (wrk's own CPU over the run).
#
#   bench/w8e_http.sh IMPL OPEN   one point; exit 77 when IMPL is not installed
#   bench/w8e_http.sh             every IMPL x OPEN
#
# OPEN: request (the server opens, stats and closes the file per request: nginx's
# default, without open_file_cache) or cached (the file stays open: w8e_server
# --open-once, nginx with open_file_cache).
# IMPL: coio (bench/w8e_server.c, COIO_BACKEND=epoll), coio_uring (the same on
# io_uring), nginx (Debian's: one worker, master_process on as deployed, the idle master
# counted too, `sendfile on`, access_log off, its defaults otherwise, tcp_nopush off
# among them, as w8e_server writes the headers and then sends the file without corking),
# nginx_aio (the same with `aio threads`: the file is sent from its thread pool, so a
# disk read does not stop its worker, as it never stops coio's loop; its open and stat
# stay in the worker; needs an nginx built --with-threads).
# The file is $BUILD/bench-out/w8e/file.bin (BUILD: COIO_BENCH_BUILD, COIO_BUILD_DIR or
# build/release), made once and read before every point so the cache is warm.
# Environment: W8E_WARMUP (1), W8E_SECONDS (5), W8E_SERVER_CPU (0), W8E_CLIENT_CPU (1),
# W8E_C (100).
# Debian packages: wrk, nginx, curl.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
[[ $BUILD = /* ]] || BUILD=$PWD/$BUILD # the servers run from other directories
SERVER=$BUILD/bench/w8e_server
DATA=$BUILD/bench-out/w8e
FILE=$DATA/file.bin
SIZE=1048576
WARM=${W8E_WARMUP:-1}
SECS=${W8E_SECONDS:-5}
SCPU=${W8E_SERVER_CPU:-0}
CCPU=${W8E_CLIENT_CPU:-1}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
W=w8e
# shellcheck source=bench/http_lib.sh
. "$ROOT/bench/http_lib.sh"

have() {
    case $1 in
    coio | coio_uring)
        [ -x "$SERVER" ] || { say "w8e: no $SERVER (cmake --build $BUILD --target bench_w8e_server)"; return 1; } ;;
    nginx) [ -x "$NGINX" ] || { say "w8e: skip nginx: not installed (apt-get install nginx)"; return 1; } ;;
    nginx_aio)
        [ -x "$NGINX" ] || { say "w8e: skip nginx_aio: no nginx (apt-get install nginx)"; return 1; }
        "$NGINX" -V 2>&1 | grep -q -- --with-threads ||
            { say "w8e: skip nginx_aio: this nginx has no thread pools (--with-threads)"; return 1; } ;;
    *) say "w8e: unknown impl $1 (coio coio_uring nginx nginx_aio)"; return 2 ;;
    esac
}

# The 1 MiB file, made once. Before every point its pages are dropped from the cache and
# read back (readahead, as when a server first reads a file from the disk), so that
# every point finds the same warm cache: how the file entered the cache sets how many
# folios hold it (a file written 4 KiB at a time stays in 256 pages), and the cost of
# the kernel's per-folio work (cachestat, splice) with it.
make_file() {
    mkdir -p "$DATA" || return 1
    if [ "$(stat -c %s "$FILE" 2>/dev/null)" != $SIZE ]; then
        head -c $SIZE /dev/urandom >"$FILE.tmp" && mv "$FILE.tmp" "$FILE" || return 1
    fi
    sync "$FILE" && dd if="$FILE" iflag=nocache count=0 status=none && cat "$FILE" >/dev/null
}

emit() { # impl metric value unit n
    printf '{"workload":"W8e","impl":"%s","metric":"%s c=%s open=%s","value":%s,"unit":"%s","n":%s}\n' \
        "$1" "$2" "$C" "$OPEN" "$3" "$4" "$5"
}

# shellcheck disable=SC2317 # called by start_nginx
nginx_conf() { # tmp: the http block of the config
    nginx_conf_head "$1"
    cat <<EOF
http {
    access_log off;
    sendfile on;
    $([ "$impl" = nginx_aio ] && echo "aio threads;")
    keepalive_requests 1000000;
    default_type application/octet-stream;
    $([ "$OPEN" = cached ] && echo "open_file_cache max=16 inactive=60s; open_file_cache_valid 60s;")
    client_body_temp_path $1/tmp; proxy_temp_path $1/tmp; fastcgi_temp_path $1/tmp;
    uwsgi_temp_path $1/tmp; scgi_temp_path $1/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $DATA;
    }
}
EOF
}

# wrk_run SECONDS OUTFILE
# shellcheck disable=SC2317 # called by measure
wrk_run() { wrk_ticks "$1" "$2" "$C" "http://127.0.0.1:$port/file.bin"; }

point() { # impl
    local impl=$1 tmp pid port rc=0 t0 t1 out n secs rps p50 p99 ct once=()
    [ "$OPEN" = cached ] && once=(--open-once)
    have "$impl"
    rc=$?
    [ $rc = 0 ] || { [ $rc = 1 ] && return 77; return $rc; }
    make_file || { say "w8e: cannot make $FILE"; return 1; }
    tmp=$(mktemp -d)
    case $impl in
    coio) start_server "$tmp" env COIO_BACKEND=epoll "$SERVER" "${once[@]}" "$FILE" 0 ;;
    coio_uring) start_server "$tmp" env COIO_BACKEND=io_uring "$SERVER" "${once[@]}" "$FILE" 0 ;;
    nginx | nginx_aio) start_nginx "$tmp" nginx_conf ;;
    esac || { rm -rf "$tmp"; return 1; }
    # the bytes: one GET with curl, compared with the file
    if ! curl -sf -o "$tmp/got" "http://127.0.0.1:$port/file.bin" || ! cmp -s "$tmp/got" "$FILE"; then
        say "w8e: $impl sent other bytes than $FILE ($(stat -c %s "$tmp/got" 2>/dev/null || echo no) bytes)"
        rc=1
    fi
    out=$tmp/wrk
    if [ $rc = 0 ]; then
        wrk_point "$impl" "$impl" wrk_run || rc=1
    else
        stop_server
    fi
    rm -rf "$tmp"
    return $rc
}

for t in wrk taskset curl cmp; do
    command -v $t >/dev/null || { say "w8e: no $t (apt-get install wrk util-linux curl diffutils)"; exit 1; }
done
C=${W8E_C:-100}
if [ $# = 2 ]; then
    case $2 in request | cached) OPEN=$2 ;; *) say "w8e: OPEN is request or cached"; exit 2 ;; esac
    point "$1"
    exit $?
fi
[ $# = 0 ] || { say "usage: bench/w8e_http.sh [IMPL request|cached]"; exit 2; }
failed=0
for OPEN in request cached; do
    for impl in coio coio_uring nginx nginx_aio; do
        point "$impl"
        rc=$?
        [ $rc = 0 ] || [ $rc = 77 ] || { say "w8e: $impl $OPEN failed"; failed=1; }
    done
done
exit $failed
