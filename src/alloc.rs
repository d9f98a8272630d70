//! The allocator of a process that lives a few milliseconds: a bump allocator over one
//! static arena, with a bounded fallback to the system allocator.
//!
//! A probe allocates a few hundred small blocks and exits. musl's allocator (mallocng)
//! spends ~40k instructions on them, more than the rest of the start-up; handing out the
//! next bytes of an arena costs a handful each. Memory given back is reused only when it is
//! the newest block (the common push-then-drop and grow-in-place cases); everything else is
//! reclaimed by the exit. The arena is .bss: only the pages used are ever resident. When it is
//! full (a long `--wait` loop, a huge response), every later block comes from the system
//! allocator, so the memory used stays bounded by ARENA plus what the system allocator holds.
//! (The only unsafe here: the lead folds it into src/sys.rs.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Enough for a probe of a few targets; a healthy HTTP probe uses about a quarter.
const ARENA: usize = 256 * 1024;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA]>);

// SAFETY: the bytes are handed out in disjoint blocks, claimed with an atomic bump.
unsafe impl Sync for Arena {}

static MEMORY: Arena = Arena(UnsafeCell::new([0; ARENA]));
/// Bytes of the arena handed out so far (its first free offset).
static USED: AtomicUsize = AtomicUsize::new(0);
/// The highest offset ever handed out: the bytes above it were never written (still zero).
static TOUCHED: AtomicUsize = AtomicUsize::new(0);

pub struct Bump;

/// Claims the next block of the arena for `layout`: its offset, and whether its bytes were
/// never handed out before (still zero). None when the arena is full.
fn claim(layout: Layout) -> Option<(usize, bool)> {
    let address = base() as usize;
    let mut used = USED.load(Relaxed);
    loop {
        // The first offset past `used` that is aligned in memory, not just in the arena.
        let start = (address + used).next_multiple_of(layout.align()) - address;
        let end = start
            .checked_add(layout.size())
            .filter(|&end| end <= ARENA)?;
        match USED.compare_exchange_weak(used, end, Relaxed, Relaxed) {
            Ok(_) => return Some((start, TOUCHED.fetch_max(end, Relaxed) <= start)),
            Err(now) => used = now,
        }
    }
}

fn base() -> *mut u8 {
    MEMORY.0.get().cast::<u8>()
}

/// The arena offset of `ptr`, when it points into the arena.
fn offset_of(ptr: *mut u8) -> Option<usize> {
    let offset = (ptr as usize).wrapping_sub(base() as usize);
    (offset < ARENA).then_some(offset)
}

// SAFETY: every block is `layout.size()` bytes aligned to `layout.align()`, inside the arena
// and claimed by one successful compare-exchange (so no two blocks overlap), or the system
// allocator's; each block is given back to whichever allocator it came from.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match claim(layout) {
            Some((start, _)) => base().wrapping_add(start),
            // SAFETY: the caller's layout, handed on as it came.
            None => unsafe { System.alloc(layout) },
        }
    }

    /// Fresh arena bytes are zero already (.bss): zeroing them would only fault their pages
    /// in (ureq asks for zeroed buffers it fills in part).
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match claim(layout) {
            // Never handed out before: still zero.
            Some((start, true)) => base().wrapping_add(start),
            Some((start, false)) => {
                let ptr = base().wrapping_add(start);
                // SAFETY: a block of layout.size() bytes, just claimed.
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
                ptr
            }
            // SAFETY: the caller's layout, handed on as it came.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match offset_of(ptr) {
            // The newest block: its bytes are free again. Any other: kept until the exit.
            Some(start) => {
                let _ = USED.compare_exchange(start + layout.size(), start, Relaxed, Relaxed);
            }
            // SAFETY: not in the arena, so the system allocator's, with this layout.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(start) = offset_of(ptr) else {
            // SAFETY: the system allocator's block, with the caller's layout and size.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        // The newest block grows or shrinks in place.
        if start + new_size <= ARENA
            && USED
                .compare_exchange(start + layout.size(), start + new_size, Relaxed, Relaxed)
                .is_ok()
        {
            TOUCHED.fetch_max(start + new_size, Relaxed);
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the caller guarantees new_size, rounded up to align, fits in isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a layout of non-zero size (it is larger than the old one).
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least layout.size() bytes and do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}
