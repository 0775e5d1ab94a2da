#!/bin/sh
# Builds libcoio's sources and tests/cross/smoke.c for aarch64 with Debian's cross compiler
# and runs the result under qemu-user: the aarch64 context switch is exercised on an x86
# machine. Exits 77 (skipped) when the cross tools are not installed.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/cross-aarch64}
cc=aarch64-linux-gnu-gcc
command -v $cc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1 || {
    echo "aarch64 cross compiler or qemu-user missing: skipped"; exit 77; }
mkdir -p "$out"
# Every library source except the io_uring backend (no arm64 liburing here).
srcs=$(ls "$top"/src/*.c | grep -v backend_uring)
$cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I"$top/include" \
    $srcs "$top/tests/cross/smoke.c" -lpthread -lm -o "$out/smoke"
$cc -std=c11 -D_GNU_SOURCE -O2 -I"$top/include" $srcs "$top/examples/countasync.c" \
    -lpthread -lm -o "$out/countasync"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/smoke"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/countasync" | tee "$out/countasync.out"
[ "$(grep -c '^One$' "$out/countasync.out")" = 3 ] && [ "$(grep -c '^Two$' "$out/countasync.out")" = 3 ]
