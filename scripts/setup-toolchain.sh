#!/usr/bin/env bash
# Makes a toolchain for building shuyu guest modules (wasm32-unknown-unknown) available.
#
# Two routes, tried in this order:
#   rustup  the rustup target is installed (`rustup target add wasm32-unknown-unknown`): plain cargo.
#   debian  Debian's rustc-web + rust-web-src + lld-22: the standard library is built from source
#           with -Zbuild-std (see scripts/build-guests.sh). Installed here with apt-get when running
#           as root on a machine without either route.
#
# Quiet when a route is already there. With --route, prints "<route> <linker>" on stdout
# ("rustup -" or "debian wasm-ld-22") for scripts/build-guests.sh. With --check, installs nothing:
# succeeds when a route is there or this script could install one, so that `./run demo` can stop
# at once rather than after the host's build.
set -euo pipefail

readonly TARGET=wasm32-unknown-unknown
readonly DEBIAN_PACKAGES=(rustc-web rust-web-src lld-22)
readonly DEBIAN_RUSTC=/usr/bin/rustc
readonly DEBIAN_LIBRARY=/usr/lib/rustlib/src/rust/library

print_route=0
check_only=0
case "${1:-}" in
"") ;;
--route) print_route=1 ;;
--check) check_only=1 ;;
-h | --help)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "setup-toolchain.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

say() { echo "setup-toolchain: $*" >&2; }

report() {
    if [[ $print_route == 1 ]]; then
        echo "$1 $2"
    fi
    exit 0
}

# Route 1: rustup with the target's prebuilt standard library.
rustup_route() {
    command -v rustc >/dev/null 2>&1 || return 1
    local libdir
    libdir="$(rustc --print target-libdir --target "$TARGET" 2>/dev/null)" || return 1
    [[ -n $libdir && -d $libdir ]]
}

# The wasm linker of the Debian route; prints its name.
find_wasm_ld() {
    local candidate
    for candidate in wasm-ld-22 wasm-ld; do
        if command -v "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# Route 2: Debian's compiler with its matching library source, and a wasm linker.
debian_route() {
    [[ -x $DEBIAN_RUSTC && -d $DEBIAN_LIBRARY ]] && find_wasm_ld >/dev/null
}

need_cargo() {
    if ! command -v cargo >/dev/null 2>&1; then
        say "cargo is not on PATH; install Rust (rustup, or Debian's cargo) first"
        exit 1
    fi
}

need_cargo
if rustup_route; then
    report rustup -
fi
if debian_route; then
    report debian "$(find_wasm_ld)"
fi

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    if [[ $check_only == 1 ]]; then
        exit 0
    fi
    say "installing ${DEBIAN_PACKAGES[*]} with apt-get (about 45 MB)"
    export DEBIAN_FRONTEND=noninteractive
    # Always refresh: a machine's lists can be stale enough to offer an old rustc-web (too old for
    # the guests' dependencies) and no lld-22 at all.
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${DEBIAN_PACKAGES[@]}" >&2
    if debian_route; then
        say "ready: $("$DEBIAN_RUSTC" --version) with $(find_wasm_ld)"
        report debian "$(find_wasm_ld)"
    fi
    say "apt-get installed ${DEBIAN_PACKAGES[*]}, but $DEBIAN_RUSTC, $DEBIAN_LIBRARY or wasm-ld is still missing"
    exit 1
fi

cat >&2 <<EOF
setup-toolchain: no toolchain for $TARGET guest modules. Either:
  - with rustup and internet access:  rustup target add $TARGET
  - on Debian, as root:               apt-get install --no-install-recommends ${DEBIAN_PACKAGES[*]}
then run this script again.
EOF
exit 1
