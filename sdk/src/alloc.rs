//! The module's global allocator (feature `allocator`, on by default): dlmalloc whose first
//! region is a static arena inside the module's initial memory, and whose later regions come
//! from `memory.grow`.
//!
//! Why not Rust's default (also dlmalloc): it takes every region from `memory.grow`, so even a
//! run that allocates a few kilobytes grows its memory. For a per-entity release that is most of
//! the cost: the host runs the module once per entity in a recycled memory slot, and a slot whose
//! memory grew has to be made inaccessible again before the next instance (an `mprotect` that
//! interrupts every other worker thread). With the arena a small run never grows its memory, so
//! its slot is reset by rewriting only the pages it wrote. The arena is zero-initialized data, so
//! it costs nothing in the module file, only [`ARENA_BYTES`] of initial memory; but every reset
//! walks the page table of the whole initial memory to find the pages a run wrote, so the arena
//! is no larger than an entity run needs (256 KiB: a run of a dozen rows allocates a few KiB).
//!
//! Operators who bring their own `#[global_allocator]` turn the feature off.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::ptr;
use dlmalloc::{Allocator, Dlmalloc};

/// Size of the arena: what a run may allocate before its memory grows.
pub(crate) const ARENA_BYTES: usize = 256 << 10;

const WASM_PAGE: usize = 64 * 1024;

/// dlmalloc's flag for a region it did not get from the system and must never release or merge.
const EXTERN_BIT: u32 = 1;

#[repr(C, align(64))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread; the arena is only
// ever handed to the one dlmalloc below.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

/// dlmalloc's source of regions: the arena once, then `memory.grow`.
struct ArenaFirst {
    arena_taken: Cell<bool>,
}

// SAFETY: see `Arena`: one thread.
unsafe impl Send for ArenaFirst {}

// SAFETY: the arena is handed out once, whole, and never again; grown pages are new, zeroed and
// owned by nobody else; nothing is ever freed or remapped.
unsafe impl Allocator for ArenaFirst {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if !self.arena_taken.get() && size <= ARENA_BYTES {
            self.arena_taken.set(true);
            return (ARENA.0.get().cast::<u8>(), ARENA_BYTES, EXTERN_BIT);
        }
        let pages = size.div_ceil(WASM_PAGE);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        // A 32-bit memory of 4 GiB would end at address 0; wasm32 limits keep the host's memory
        // limit far below that, so the region never wraps.
        ((previous * WASM_PAGE) as *mut u8, pages * WASM_PAGE, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        // The arena is zero-initialized data, grown pages are zero, and neither was used before
        // dlmalloc got it.
        true
    }

    fn page_size(&self) -> usize {
        WASM_PAGE
    }
}

/// The global allocator the SDK installs.
pub(crate) struct SdkAllocator(UnsafeCell<Dlmalloc<ArenaFirst>>);

// SAFETY: one thread (see `Arena`), and `GlobalAlloc` calls do not re-enter.
unsafe impl Sync for SdkAllocator {}

#[global_allocator]
static ALLOCATOR: SdkAllocator =
    SdkAllocator(UnsafeCell::new(Dlmalloc::new_with_allocator(ArenaFirst {
        arena_taken: Cell::new(false),
    })));

// SAFETY: each method forwards to dlmalloc with the layout the caller gave, as dlmalloc's own
// `GlobalDlmalloc` does; the `UnsafeCell` is only borrowed for the duration of one call.
unsafe impl GlobalAlloc for SdkAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).malloc(layout.size(), layout.align())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*self.0.get()).calloc(layout.size(), layout.align())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        (*self.0.get()).free(ptr, layout.size(), layout.align())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size)
    }
}
