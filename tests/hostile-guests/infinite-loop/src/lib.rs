//! Hostile module `infinite-loop`: spins forever without calling the host.
//!
//! Must happen: the job ends with `limit:fuel` (or the deadline that replaces it), the host stays
//! up and responsive, and no release is made.

/// Entry point (ABI v1). Never returns.
#[unsafe(no_mangle)]
pub extern "C" fn shuyu_main() -> i32 {
    let mut n: u64 = 0;
    loop {
        // black_box makes each iteration observable, so LLVM can neither delete the loop nor
        // treat it as undefined behaviour.
        n = core::hint::black_box(n.wrapping_add(1));
    }
}
