#!/bin/sh
# Runs gdb_target under gdb with tools/coio-gdb.py and checks that "coio tasks" lists the
# suspended task and "coio bt" shows its frames. Usage: check.sh GDB_TARGET COIO_GDB_PY
command -v gdb >/dev/null 2>&1 || { echo "gdb not installed: skipped"; exit 77; }
out=$(gdb -nx -batch -ex "source $2" -ex "break gdb_stop_here" -ex run \
    -ex "coio tasks" -ex "coio bt 2" -ex "coio bt 1" -ex kill "$1" 2>&1)
echo "$out"
fail() { echo "FAIL: $1"; exit 1; }
echo "$out" | grep -Eq '^2 +sleeper +waiting +sleep' || fail "coio tasks does not list task 2 sleeping"
echo "$out" | grep -Eq '^1 +main +running' || fail "coio tasks does not show main running"
[ "$(echo "$out" | grep -c 'deep_sleeper')" -ge 4 ] || fail "coio bt 2 lacks the deep_sleeper frames"
echo "$out" | grep -q 'in sleeper ' || fail "coio bt 2 lacks sleeper()"
echo "$out" | grep -q 'gdb_stop_here' || fail "coio bt 1 lacks gdb_stop_here()"
echo PASS
