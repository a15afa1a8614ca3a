//! Hostile module `memory-bomb`: allocates and touches memory, 64 KiB at a time, forever.
//!
//! Must happen: linear memory cannot grow past the scenario's `memory_mib`; the job ends with
//! `limit:memory` (the allocator's failure may surface as `trap:unreachable` right after the
//! refused growth, which the host must still attribute to the limit), and the host stays up.

use core::hint::black_box;

/// Entry point (ABI v1). Never returns normally.
#[unsafe(no_mangle)]
pub extern "C" fn shuyu_main() -> i32 {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with a nonzero byte so every page is written, not just reserved.
        let chunk = vec![0xA5u8; 64 * 1024];
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}
