# Shared by the wrk benchmarks (bench/w5_http.sh, bench/w8e_http.sh, bench/w10_https.sh)
# and, for starting its servers, bench/w4_echo.sh: sourced, not run. The sourcing script
# sets, before calling these:
#   W      its name in messages (w5, w8e, w10)
#   SCPU   the CPU the server is pinned to, CCPU the client's (wrk's)
#   WARM   the warm-up seconds (0: none), SECS the measured seconds
#   NGINX  the nginx binary (start_nginx)
# and, in the function that calls them, pid, port, out, t0 and t1 (local there).
# shellcheck shell=bash disable=SC2153,SC2154 # the sourcing script's variables

say() { printf '%s\n' "$*" >&2; }

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

# per_op_us TICKS N: TICKS clock ticks of CPU time per operation, in microseconds
per_op_us() {
    awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.6g", d * 1e6 / hz / n }'
}

HZ=$(getconf CLK_TCK)

# wait_port PID: waits for 127.0.0.1:$port to accept; fails when PID exits or after 5 s
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# start_nginx TMP CONF_FUNCTION: nginx on a free port, its config written to stdout by
# CONF_FUNCTION TMP (which reads $port); sets pid and port.
start_nginx() {
    local tmp=$1 conf=$2
    mkdir -p "$tmp/tmp"
    for _ in 1 2 3 4 5; do # a random port may be taken: try another
        port=$((20000 + RANDOM % 40000))
        "$conf" "$tmp" >"$tmp/nginx.conf"
        taskset -c "$SCPU" "$NGINX" -c "$tmp/nginx.conf" -p "$tmp" -e "$tmp/error.log" \
            >"$tmp/out" 2>&1 &
        pid=$!
        wait_port $pid && return 0
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null
    done
    say "$W: nginx did not start: $(tail -c 300 "$tmp/error.log" 2>/dev/null)"
    return 1
}

# nginx_conf_head TMP: the first lines of every nginx config here (one worker, master on
# as deployed, its files in TMP); the caller writes the http block.
nginx_conf_head() {
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $1/nginx.pid;
error_log $1/error.log;
worker_rlimit_nofile 65536;
events { worker_connections 65536; }
EOF
}

# start_server TMP COMMAND...: a server that prints "listening on ${LISTEN_SCHEME}127.0.0.1:PORT"
# (LISTEN_SCHEME: empty or https://); sets pid and port.
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
    port=$(sed -n "s|^listening on ${LISTEN_SCHEME:-}127\.0\.0\.1:\([0-9]*\)\$|\1|p" "$tmp/out")
    [ -n "$port" ] && return 0
    say "$W: server did not start: $(head -c 300 "$tmp/out")"
    return 1
}

# stop_server: ends the server started above ($pid) and reaps it
stop_server() {
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

# wrk_ticks SECONDS OUTFILE C URL [WRK_ARG...]: wrk -t1 -cC --latency pinned to the client
# CPU; appends "client_ticks N" (its utime+stime: the wrapper shell's cutime+cstime once wrk
# is reaped) to OUTFILE.
wrk_ticks() {
    local secs=$1 outfile=$2 c=$3 url=$4
    shift 4
    # shellcheck disable=SC2016 # expanded by the inner shell
    taskset -c "$CCPU" bash -c 'wrk "$@"; rc=$?; read -r s </proc/$$/stat; s=${s##*) }
        read -ra f <<<"$s"; echo "client_ticks $((f[13] + f[14]))"; exit $rc' \
        wrk -t1 -c"$c" -d"$secs"s --latency "$@" "$url" >"$outfile" 2>&1
}

# measure LABEL COMMAND...: "COMMAND... SECONDS $out" for the warm-up (unless WARM is 0),
# then for the measured run between t0 and t1 ($pid's CPU ticks). Fails, saying why, when
# a run fails.
measure() {
    local label=$1
    shift
    if [ "$WARM" != 0 ]; then
        "$@" "$WARM" "$out" || { say "$W: $label: warm-up: $(tail -c 300 "$out")"; return 1; }
    fi
    t0=$(cpu_ticks "$pid")
    "$@" "$SECS" "$out" || { say "$W: $label: wrk failed: $(tail -c 300 "$out")"; return 1; }
    t1=$(cpu_ticks "$pid")
}

# wrk_errors OUTFILE LABEL PATTERN: fails, saying which, when wrk's output has lines
# matching PATTERN (an ERE: 'Non-2xx', 'Socket errors')
wrk_errors() {
    grep -qE "$3" "$1" || return 0
    say "$W: $2 failed: $(grep -E "$3" "$1" | tr -s ' \n' ' ')"
    return 1
}

# wrk_parse OUTFILE LABEL [latency]: sets n (requests), secs (the run's seconds), rps,
# p50, p99 and ct (client_ticks) from wrk's output; fails, saying why, without n, rps
# or, given "latency", p99.
wrk_parse() {
    read -r n secs < <(sed -n 's/^ *\([0-9]*\) requests in \([0-9.]*\)\(m\?s\|m\).*/\1 \2 \3/p' "$1" |
        awk '{ print $1, $3 == "ms" ? $2 / 1000 : $3 == "m" ? $2 * 60 : $2 }')
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1")
    p50=$(awk '$1 == "50%" { print $2 }' "$1")
    p99=$(awk '$1 == "99%" { print $2 }' "$1")
    ct=$(sed -n 's/^client_ticks \([0-9]*\)$/\1/p' "$1")
    if [ -z "${n:-}" ] || [ "$n" = 0 ] || [ -z "$rps" ] || { [ "${3:-}" = latency ] && [ -z "$p99" ]; }; then
        say "$W: $2: cannot parse wrk's output: $(head -c 400 "$1")"
        return 1
    fi
}

# wrk_point IMPL LABEL COMMAND...: the W5 and W8e point once its server runs: measure
# COMMAND, stop the server, check and parse wrk's output, emit_wrk IMPL. Fails (saying
# why) when one of those does.
wrk_point() {
    local impl=$1 label=$2 ok=0
    shift 2
    measure "$label" "$@" || ok=1
    stop_server
    [ $ok = 0 ] && wrk_errors "$out" "$label" 'Non-2xx|Socket errors' &&
        wrk_parse "$out" "$label" latency && emit_wrk "$impl"
}

# emit_wrk IMPL: the five lines of W5's schema from what measure and wrk_parse set, through
# the caller's emit IMPL METRIC VALUE UNIT N
emit_wrk() {
    emit "$1" req_per_s "$rps" req/s "$n"
    emit "$1" p50_us "$(to_us "$p50")" us "$n"
    emit "$1" p99_us "$(to_us "$p99")" us "$n"
    emit "$1" cpu_us_per_req "$(per_op_us $((t1 - t0)) "$n")" us "$n"
    emit "$1" client_cpu_pct \
        "$(awk -v t="$ct" -v hz="$HZ" -v s="$secs" 'BEGIN { printf "%.6g", t / hz / s * 100 }')" % "$n"
}
