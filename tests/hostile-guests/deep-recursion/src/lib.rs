//! Hostile module `deep-recursion`: recurses without bound.
//!
//! Must happen: the job ends with `trap:stack_overflow` (wasmtime's 512 KiB stack limit), or
//! `trap:memory_out_of_bounds` should Rust's shadow stack in linear memory run out first; the host
//! stays up and no release is made.

use core::hint::black_box;

/// One level deeper each call. The opaque exit test keeps the compiler from proving the
/// recursion infinite, and the addition after the call keeps it from being a tail call that
/// could be turned into a loop.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    descend(depth + 1).wrapping_add(black_box(depth))
}

/// Entry point (ABI v1). Never returns normally.
#[unsafe(no_mangle)]
pub extern "C" fn shuyu_main() -> i32 {
    black_box(descend(0)) as i32
}
