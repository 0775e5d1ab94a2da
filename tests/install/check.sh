#!/usr/bin/env bash
# Install check: installs the build in $1 (default build/release) into a scratch prefix,
# then builds tests/install/outside.c against it four ways and runs each binary:
#   pkg-config (shared), pkg-config --static (libcoio.a), find_package(coio) with
#   coio::coio and with coio::coio_static.
# Also checks the libraries' symbols: libcoio.so exports only coio_* (never the internal
# coio__*), and libcoio.a defines no global symbol outside the coio_ namespace.
# Leaves everything in build/install-check for inspection.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$(cd "${1:-build/release}" && pwd)
work=$root/build/install-check
prefix=$work/prefix
src=$root/tests/install
cc=${CC:-cc}
strict=(-std=c11 -Wall -Wextra -Werror -pedantic -Wstrict-prototypes -Wmissing-prototypes)

fail() { echo "install-check: FAIL: $*" >&2; exit 1; }
step() { echo "install-check: $*"; }
expect_ok() { # runs "$@" and requires that it prints exactly OK
    local out
    out=$("$@") || fail "$* exited with $?"
    [[ $out == OK ]] || fail "$* printed '$out', want OK"
}
not_needing_libcoio() {
    if readelf -d "$1" | grep -q 'NEEDED.*libcoio'; then
        fail "$1 should not need libcoio.so (static link)"
    fi
}

rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || {
    cat "$work/install.log"; fail "cmake --install"; }

so=$(find "$prefix" -name libcoio.so -print -quit)
[[ -n $so ]] || fail "libcoio.so not installed"
libdir=$(dirname "$so")
[[ -f $libdir/libcoio.a ]] || fail "libcoio.a not installed next to libcoio.so"
[[ -f $prefix/include/coio.h ]] || fail "include/coio.h not installed"
[[ -f $libdir/pkgconfig/coio.pc ]] || fail "coio.pc not installed"
[[ -f $libdir/cmake/coio/coioConfig.cmake ]] || fail "coioConfig.cmake not installed"
[[ -f $prefix/share/coio/coio-gdb.py ]] || fail "share/coio/coio-gdb.py not installed"

step "symbols"
readelf -d "$so" | grep -q 'SONAME.*\[libcoio\.so\.0\]' || fail "SONAME is not libcoio.so.0"
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }')
[[ -n $exported ]] || fail "libcoio.so exports nothing"
bad=$(grep -v '^coio_' <<<"$exported" || true)
[[ -z $bad ]] || fail "libcoio.so exports symbols outside coio_*:"$'\n'"$bad"
bad=$(grep '^coio__' <<<"$exported" || true)
[[ -z $bad ]] || fail "libcoio.so exports internal coio__ symbols:"$'\n'"$bad"
bad=$(nm -g --defined-only "$libdir/libcoio.a" | awk 'NF == 3 { print $3 }' | grep -v '^coio_' || true)
[[ -z $bad ]] || fail "libcoio.a defines global symbols outside coio_*:"$'\n'"$bad"
step "  $(wc -l <<<"$exported") exported symbols, all coio_*"

export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}

step "pkg-config, shared, as the README says: -Wl,-rpath for a private prefix"
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" "${strict[@]}" -o "$work/outside_pc_shared" "$src/outside.c" $(pkg-config --cflags --libs coio) \
    -Wl,-rpath,"$libdir"
# No LD_LIBRARY_PATH: the binary must find libcoio.so.0 on its own, as a user's would.
(unset LD_LIBRARY_PATH; expect_ok "$work/outside_pc_shared")

step "pkg-config --static, libcoio.a"
# -l:libcoio.a: with both libraries in one directory, -lcoio would pick the .so.
static_libs=$(pkg-config --static --libs coio | sed 's/-lcoio\b/-l:libcoio.a/')
# shellcheck disable=SC2046,SC2086
"$cc" "${strict[@]}" -o "$work/outside_pc_static" "$src/outside.c" $(pkg-config --cflags coio) $static_libs
not_needing_libcoio "$work/outside_pc_static"
expect_ok "$work/outside_pc_static"

step "find_package(coio): coio::coio and coio::coio_static"
cmake -S "$src" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="${strict[*]}" >"$work/cmake.log" || { cat "$work/cmake.log"; fail "configure"; }
cmake --build "$work/cmake" >>"$work/cmake.log" || { cat "$work/cmake.log"; fail "build"; }
expect_ok "$work/cmake/outside_cmake_shared" # CMake sets the build RPATH to $libdir
not_needing_libcoio "$work/cmake/outside_cmake_static"
expect_ok "$work/cmake/outside_cmake_static"

if command -v "${CXX:-c++}" >/dev/null; then
    step "header in C++"
    echo '#include <coio.h>' | "${CXX:-c++}" -x c++ -fsyntax-only -Wall -Wextra -Werror \
        -I"$prefix/include" - || fail "coio.h does not compile as C++"
fi

step "OK"
