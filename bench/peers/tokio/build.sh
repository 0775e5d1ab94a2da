#!/usr/bin/env bash
# Builds the Tokio peers in release mode, offline, with Debian's toolchain and crates:
# /usr/bin/cargo and /usr/bin/rustc (never a rustup toolchain earlier on PATH) against
# /usr/share/cargo/registry, which `apt-get install cargo rustc librust-tokio-dev` fills
# (.cargo/config.toml replaces crates.io with it). bench/run.sh installs those packages
# when it runs as root.
#
#   bench/peers/tokio/build.sh BUILD     binaries in BUILD/bench-tokio/target/release
#
# Nothing is written into the source tree: the project is copied to
# BUILD/bench-tokio/project and built there, so Cargo.lock is made there too, resolved
# from whatever versions the installed Debian packages hold. It is not committed: a lock
# from bookworm (Tokio 1.24.2, libc 0.2.139, ...) would name versions that another Debian
# release does not ship, and offline cargo cannot fetch them. Exit status: 0 built,
# 77 the toolchain or Tokio is not installed (the reason on stderr), 1 the build failed.
set -u -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# = 1 ] || { echo "usage: $0 BUILD" >&2; exit 2; }
DIR=$1/bench-tokio
CARGO=/usr/bin/cargo
RUSTC=/usr/bin/rustc
REGISTRY=/usr/share/cargo/registry

for f in $CARGO $RUSTC; do
    [ -x "$f" ] || { echo "no $f (apt-get install cargo rustc librust-tokio-dev)" >&2; exit 77; }
done
compgen -G "$REGISTRY/tokio-1.*" >/dev/null ||
    { echo "no Tokio in $REGISTRY (apt-get install librust-tokio-dev)" >&2; exit 77; }

# Nothing changed since the last build (sources, or the crates installed): done, without
# the second or so cargo takes to find that out (the W4 and W5 drivers call this per point).
STAMP=$DIR/built
if [ -f "$STAMP" ] && [ -x "$DIR/target/release/w5_http" ] &&
    [ -z "$(find "$SRC/Cargo.toml" "$SRC/src" "$SRC/.cargo" -newer "$STAMP" -print -quit)" ] &&
    [ -z "$(find "$REGISTRY" -maxdepth 1 -newer "$STAMP" -print -quit)" ]; then
    exit 0
fi
mkdir -p "$DIR/project"
rm -rf "$DIR/project/src" "$DIR/project/.cargo"
# -p keeps the sources' times, so cargo sees an unchanged tree as built already
cp -pR "$SRC/Cargo.toml" "$SRC/src" "$SRC/.cargo" "$DIR/project/"
cd "$DIR/project" || exit 1
# CARGO_HOME here: no ~/.cargo/config.toml of the user's (a rustup install's) applies
env CARGO_HOME="$DIR/cargo-home" CARGO_TARGET_DIR="$DIR/target" RUSTC=$RUSTC \
    RUSTDOC=/usr/bin/rustdoc PATH="/usr/bin:/bin:$PATH" \
    $CARGO build --release --offline --quiet >"$DIR/build.log" 2>&1 ||
    { echo "cargo build of the Tokio peers failed:" >&2; tail -n 30 "$DIR/build.log" >&2; exit 1; }
touch "$STAMP"
