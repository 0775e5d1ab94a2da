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
# among them, as w8e_server writes the headers and then sends the file without corking).
# The file is $BUILD/bench-out/w8e/file.bin (BUILD: COIO_BENCH_BUILD, COIO_BUILD_DIR or
# build/release), made once and read before every point so the cache is warm.
# Environment: W8E_WARMUP (1), W8E_SECONDS (5), W8E_SERVER_CPU (0), W8E_CLIENT_CPU (1),
# W8E_C (100).
# Debian packages: wrk, nginx, curl.
set -u -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${COIO_BENCH_BUILD:-${COIO_BUILD_DIR:-$ROOT/build/release}}
SERVER=$BUILD/bench/w8e_server
DATA=$BUILD/bench-out/w8e
FILE=$DATA/file.bin
SIZE=1048576
WARM=${W8E_WARMUP:-1}
SECS=${W8E_SECONDS:-5}
SCPU=${W8E_SERVER_CPU:-0}
CCPU=${W8E_CLIENT_CPU:-1}
HZ=$(getconf CLK_TCK)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

say() { printf '%s\n' "$*" >&2; }

have() {
    case $1 in
    coio | coio_uring)
        [ -x "$SERVER" ] || { say "w8e: no $SERVER (cmake --build $BUILD --target bench_w8e_server)"; return 1; } ;;
    nginx) [ -x "$NGINX" ] || { say "w8e: skip nginx: not installed (apt-get install nginx)"; return 1; } ;;
    *) say "w8e: unknown impl $1 (coio coio_uring nginx)"; return 2 ;;
    esac
}

# The 1 MiB file, made once; read here so that every point finds it in the page cache.
make_file() {
    mkdir -p "$DATA" || return 1
    if [ "$(stat -c %s "$FILE" 2>/dev/null)" != $SIZE ]; then
        head -c $SIZE /dev/urandom >"$FILE.tmp" && mv "$FILE.tmp" "$FILE" || return 1
    fi
    cat "$FILE" >/dev/null
}

# cpu_ticks PID: utime+stime of PID and its descendants, all threads.
cpu_ticks() {
    local total=0 p s f q
    local todo=("$1")
    while [ ${#todo[@]} -gt 0 ]; do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        if read -r s </proc/"$p"/stat 2>/dev/null; then
            s=${s##*) }
            read -ra f <<<"$s"
            total=$((total + f[11] + f[12]))
        fi
        # shellcheck disable=SC2013
        for q in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
            todo+=("$q")
        done
    done
    echo $total
}

to_us() { # wrk's "1.29ms" / "652.00us" / "2.01s" in microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        m = u == "us" ? 1 : u == "ms" ? 1e3 : u == "s" ? 1e6 : u == "m" ? 6e7 : -1
        if (m < 0) exit 1
        printf "%.6g\n", n * m }'
}

emit() { # impl metric value unit n
    printf '{"workload":"W8e","impl":"%s","metric":"%s c=%s open=%s","value":%s,"unit":"%s","n":%s}\n' \
        "$1" "$2" "$C" "$OPEN" "$3" "$4" "$5"
}

wait_port() { # pid
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

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
    sendfile on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    $([ "$OPEN" = cached ] && echo "open_file_cache max=16 inactive=60s; open_file_cache_valid 60s;")
    client_body_temp_path $tmp/tmp; proxy_temp_path $tmp/tmp; fastcgi_temp_path $tmp/tmp;
    uwsgi_temp_path $tmp/tmp; scgi_temp_path $tmp/tmp;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $DATA;
    }
}
EOF
        taskset -c "$SCPU" "$NGINX" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log" \
            >"$tmp/out" 2>&1 &
        pid=$!
        wait_port $pid && return 0
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null
    done
    say "w8e: nginx did not start: $(tail -c 300 "$tmp/error.log" 2>/dev/null)"
    return 1
}

# start_server TMP COMMAND...: a server that prints "listening on 127.0.0.1:PORT".
start_server() {
    local tmp=$1
    shift
    : >"$tmp/out"
    taskset -c "$SCPU" "$@" >"$tmp/out" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        grep -q '^listening on' "$tmp/out" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && return 0
    say "w8e: server did not start: $(head -c 300 "$tmp/out")"
    return 1
}

# wrk_run SECONDS OUTFILE: wrk pinned to the client CPU; appends "client_ticks N" (its
# utime+stime: the wrapper shell's cutime+cstime once wrk is reaped) to OUTFILE.
wrk_run() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    taskset -c "$CCPU" bash -c 'wrk "$@"; rc=$?; read -r s </proc/$$/stat; s=${s##*) }
        read -ra f <<<"$s"; echo "client_ticks $((f[13] + f[14]))"; exit $rc' \
        wrk -t1 -c"$C" -d"$1"s --latency "http://127.0.0.1:$port/file.bin" >"$2" 2>&1
}

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
    nginx) start_nginx "$tmp" ;;
    esac || { rm -rf "$tmp"; return 1; }
    # the bytes: one GET with curl, compared with the file
    if ! curl -sf -o "$tmp/got" "http://127.0.0.1:$port/file.bin" || ! cmp -s "$tmp/got" "$FILE"; then
        say "w8e: $impl sent other bytes than $FILE ($(stat -c %s "$tmp/got" 2>/dev/null || echo no) bytes)"
        rc=1
    fi
    out=$tmp/wrk
    if [ $rc = 0 ] && [ "$WARM" != 0 ]; then
        wrk_run "$WARM" "$out" || { say "w8e: $impl: warm-up: $(tail -c 300 "$out")"; rc=1; }
    fi
    if [ $rc = 0 ]; then
        t0=$(cpu_ticks "$pid")
        wrk_run "$SECS" "$out" || { say "w8e: $impl: wrk failed: $(tail -c 300 "$out")"; rc=1; }
        t1=$(cpu_ticks "$pid")
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ $rc = 0 ]; then
        if grep -qE 'Non-2xx|Socket errors' "$out"; then
            say "w8e: $impl failed: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' \n' ' ')"
            rc=1
        fi
        read -r n secs < <(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)\(m\?s\).*/\1 \2 \3/p' "$out" |
            awk '{ print $1, $3 == "ms" ? $2 / 1000 : $2 }')
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
        p50=$(awk '$1 == "50%" { print $2 }' "$out")
        p99=$(awk '$1 == "99%" { print $2 }' "$out")
        ct=$(sed -n 's/^client_ticks \([0-9]*\)$/\1/p' "$out")
        if [ $rc = 0 ] && { [ -z "${n:-}" ] || [ "$n" = 0 ] || [ -z "$rps" ] || [ -z "$p99" ]; }; then
            say "w8e: $impl: cannot parse wrk's output: $(head -c 400 "$out")"
            rc=1
        fi
    fi
    if [ $rc = 0 ]; then
        emit "$impl" req_per_s "$rps" req/s "$n"
        emit "$impl" p50_us "$(to_us "$p50")" us "$n"
        emit "$impl" p99_us "$(to_us "$p99")" us "$n"
        emit "$impl" cpu_us_per_req \
            "$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.6g", d * 1e6 / hz / n }')" us "$n"
        emit "$impl" client_cpu_pct \
            "$(awk -v t="$ct" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.6g", t / hz / s * 100 }')" % "$n"
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
    for impl in coio coio_uring nginx; do
        point "$impl"
        rc=$?
        [ $rc = 0 ] || [ $rc = 77 ] || { say "w8e: $impl $OPEN failed"; failed=1; }
    done
done
exit $failed
