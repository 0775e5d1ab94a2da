#!/usr/bin/env bash
# Builds the Tokio peer of W10 (HTTPS) in release mode, offline, with Debian's toolchain
# and crates, as bench/peers/tokio/build.sh builds the other Tokio peers: /usr/bin/cargo
# and /usr/bin/rustc against /usr/share/cargo/registry, which `apt-get install cargo rustc
# librust-tokio-dev librust-tokio-rustls-dev librust-rustls-pemfile-dev` fills. A project
# of its own, so that the other Tokio peers do not need the rustls crates. bench/run.sh
# installs those packages when it runs as root.
#
#   bench/peers/tokio_tls/build.sh BUILD   BUILD/bench-tokio-tls/target/release/w10_https
#
# The project and bench/peers/tokio/src (whose HTTP code and helpers it shares) are copied
# to BUILD/bench-tokio-tls/project and built there; Cargo.lock is made there from the
# installed crates and not committed (see bench/peers/tokio/build.sh). The code is written
# for the API of tokio-rustls 0.23 (rustls 0.20) and rustls-pemfile 1, bookworm's: other
# versions count as missing. Exit status: 0 built, 77 the toolchain or a crate is not
# installed (the reason on stderr), 1 the build failed.
set -u -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=$(cd "$SRC/../tokio" && pwd)
[ $# = 1 ] || { echo "usage: $0 BUILD" >&2; exit 2; }
mkdir -p "$1" && DIR=$(cd "$1" && pwd)/bench-tokio-tls || exit 1
CARGO=/usr/bin/cargo
RUSTC=/usr/bin/rustc
REGISTRY=/usr/share/cargo/registry
PKGS="cargo rustc librust-tokio-dev librust-tokio-rustls-dev librust-rustls-pemfile-dev"

for f in $CARGO $RUSTC; do
    [ -x "$f" ] || { echo "no $f (apt-get install $PKGS)" >&2; exit 77; }
done
for c in tokio-1. tokio-rustls-0.23. rustls-pemfile-1.; do
    compgen -G "$REGISTRY/$c*" >/dev/null ||
        { echo "no crate ${c%?}* in $REGISTRY (apt-get install $PKGS)" >&2; exit 77; }
done

# Nothing changed since the last build (sources, or the crates installed): done.
STAMP=$DIR/built
if [ -f "$STAMP" ] && [ -x "$DIR/target/release/w10_https" ] &&
    [ -z "$(find "$SRC/Cargo.toml" "$SRC/src" "$SRC/.cargo" "$SHARED/src/http.rs" \
        "$SHARED/src/lib.rs" -newer "$STAMP" -print -quit)" ] &&
    [ -z "$(find "$REGISTRY" -maxdepth 1 -newer "$STAMP" -print -quit)" ]; then
    exit 0
fi
mkdir -p "$DIR/project/tokio_tls" "$DIR/project/tokio/src"
rm -rf "$DIR/project/tokio_tls/src" "$DIR/project/tokio_tls/.cargo"
# the layout of bench/peers, for the #[path]s of src/main.rs; -p keeps the sources' times
cp -pR "$SRC/Cargo.toml" "$SRC/src" "$SRC/.cargo" "$DIR/project/tokio_tls/"
cp -p "$SHARED/src/http.rs" "$SHARED/src/lib.rs" "$DIR/project/tokio/src/"
cd "$DIR/project/tokio_tls" || exit 1
# CARGO_HOME here: no ~/.cargo/config.toml of the user's (a rustup install's) applies
env CARGO_HOME="$DIR/cargo-home" CARGO_TARGET_DIR="$DIR/target" RUSTC=$RUSTC \
    RUSTDOC=/usr/bin/rustdoc PATH="/usr/bin:/bin:$PATH" \
    $CARGO build --release --offline --quiet >"$DIR/build.log" 2>&1 ||
    { echo "cargo build of the Tokio W10 peer failed:" >&2; tail -n 30 "$DIR/build.log" >&2; exit 1; }
touch "$STAMP"
