#!/usr/bin/env bash
# Builds shuyu's guest modules (wasm32-unknown-unknown, release) and collects them in
# target/wasm-modules/<crate_name>.wasm, printing each module's size and SHA-256.
#
#   scripts/build-guests.sh [--examples-only]
#
# Builds guest-examples/ and, unless --examples-only, tests/hostile-guests/. The toolchain comes
# from scripts/setup-toolchain.sh. Cargo rebuilds only what changed.
#
# Environment: SHUYU_GUEST_TARGET_DIR  cargo's target directory (default: target/guests)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

workspaces=(guest-examples tests/hostile-guests)
case "${1:-}" in
"") ;;
--examples-only) workspaces=(guest-examples) ;;
-h | --help)
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "build-guests.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

# A plain assignment, so that set -e stops here when no toolchain can be set up.
toolchain="$("$here/setup-toolchain.sh" --route)"
read -r route linker <<<"$toolchain"
target_dir="${SHUYU_GUEST_TARGET_DIR:-$root/target/guests}"
out_dir="$root/target/wasm-modules"
mkdir -p "$out_dir"

# Flags meant for the host (or for a parent cargo running a build script) must not reach the
# guest build.
clean_env=(env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_BUILD_TARGET)
case "$route" in
rustup)
    build=("${clean_env[@]}" cargo build)
    extra=()
    ;;
debian)
    # Debian's compiler must compile its own library source: rustup's rustc would come first on
    # PATH and cannot use it.
    build=("${clean_env[@]}" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$linker" cargo build)
    extra=(-Zbuild-std=std,panic_abort)
    ;;
*)
    echo "build-guests.sh: setup-toolchain.sh reported an unknown route '$route'" >&2
    exit 1
    ;;
esac

modules=()
for ws in "${workspaces[@]}"; do
    manifest="$root/$ws/Cargo.toml"
    args=(--release --target wasm32-unknown-unknown --manifest-path "$manifest" --target-dir "$target_dir")
    if [[ -f "$root/$ws/Cargo.lock" ]]; then
        args+=(--locked)
    fi
    # The examples' link settings (a smaller stack) for every guest workspace, so that they share
    # one build of their dependencies; named here because cargo looks for .cargo/config.toml
    # from the directory it runs in, not the manifest's.
    args+=(--config "$root/guest-examples/.cargo/config.toml")
    echo "build-guests: building $ws ($route toolchain)" >&2
    "${build[@]}" "${args[@]}" "${extra[@]}"
    # Every member is a cdylib named after its package (dashes become underscores).
    for member_manifest in "$root/$ws"/*/Cargo.toml; do
        name="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$member_manifest" | head -n 1)"
        modules+=("${name//-/_}")
    done
done

printf '%-28s %10s  %s\n' module bytes sha256
for module in "${modules[@]}"; do
    built="$target_dir/wasm32-unknown-unknown/release/$module.wasm"
    if [[ ! -f $built ]]; then
        echo "build-guests.sh: cargo did not produce $built" >&2
        exit 1
    fi
    dest="$out_dir/$module.wasm"
    # Copy only on change, so the modules' timestamps mean something to whoever watches them.
    if ! cmp -s "$built" "$dest"; then
        cp "$built" "$dest"
    fi
    size="$(wc -c <"$dest" | tr -d ' ')"
    sum="$(sha256sum "$dest" | cut -d ' ' -f 1)"
    printf '%-28s %10s  %s\n' "$module" "$size" "$sum"
done
echo "build-guests: modules in ${out_dir#"$root"/}/" >&2
