//! The allocator of plugin instances.
//!
//! A plugin instance lives for one call: the host creates it, calls one
//! entry point with a batch of records and throws its memory away. Scoring
//! and validating allocate many small, short-lived values (parsed fields,
//! reasons, patches), and a general-purpose allocator spends a large share
//! of a call on them: dlmalloc, the wasm default, took about a quarter of
//! the lead-scoring plugin's time in wasm.
//!
//! [`SizeClasses`] serves blocks of 8 bytes to 2 KiB from power-of-two size
//! classes: a freed block goes on its class's free list and the next
//! allocation of that class takes it back; new blocks are cut from 64 KiB
//! chunks of the backing allocator, which also serves larger requests. Each
//! operation is a few instructions. Memory is reused within a class, never
//! returned: fine for an instance that lives for one call under the host's
//! memory limit.
//!
//! On `wasm32` with the default `allocator` feature it is the global
//! allocator of every plugin built with the SDK; a plugin that wants its own
//! turns the feature off (`default-features = false`).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::null_mut;

const CLASSES: usize = 9;
/// The smallest class: 8 bytes, room for the free-list link.
const MIN_SHIFT: u32 = 3;
/// The largest class: 2 KiB.
const MAX_SMALL: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
/// Blocks are cut from chunks this large.
const CHUNK: usize = 64 << 10;

/// A size-class allocator over `A` (see the module docs). Not thread-safe:
/// a plugin instance has one thread.
pub struct SizeClasses<A> {
    backing: A,
    free: [Cell<*mut u8>; CLASSES],
    bump: Cell<usize>,
    end: Cell<usize>,
}

impl<A: GlobalAlloc> SizeClasses<A> {
    /// An allocator that takes its chunks (and large blocks) from `backing`.
    pub const fn new(backing: A) -> Self {
        SizeClasses {
            backing,
            free: [const { Cell::new(null_mut()) }; CLASSES],
            bump: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// The class serving `layout`, or `None` for the backing allocator.
    fn class(layout: Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
        if size > MAX_SMALL {
            return None;
        }
        Some((size.next_power_of_two().trailing_zeros() - MIN_SHIFT) as usize)
    }

    fn alloc_small(&self, class: usize) -> *mut u8 {
        let head = self.free[class].get();
        if !head.is_null() {
            // SAFETY: a free block holds the link to the next free block of
            // its class, written by `dealloc`; blocks are at least 8 bytes
            // and aligned to their size.
            let next = unsafe { head.cast::<*mut u8>().read() };
            self.free[class].set(next);
            return head;
        }
        let size = 1usize << (class as u32 + MIN_SHIFT);
        // Blocks are aligned to their size, which covers their layout's
        // alignment (a class is at least the alignment).
        let mut start = self.bump.get().next_multiple_of(size);
        if self.bump.get() == 0 || start + size > self.end.get() {
            // SAFETY: CHUNK and MAX_SMALL are non-zero powers of two.
            let layout = unsafe { Layout::from_size_align_unchecked(CHUNK, MAX_SMALL) };
            // SAFETY: the layout has a non-zero size.
            let chunk = unsafe { self.backing.alloc(layout) };
            if chunk.is_null() {
                return null_mut();
            }
            // The rest of the previous chunk is abandoned (under a block).
            start = chunk as usize;
            self.end.set(start + CHUNK);
        }
        self.bump.set(start + size);
        start as *mut u8
    }
}

// SAFETY: blocks are at least `layout.size()` bytes, aligned to the class
// size, which is at least `layout.align()`; a block is handed out at most
// once until freed; other layouts go to the backing allocator unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::class(layout) {
            Some(class) => self.alloc_small(class),
            // SAFETY: the caller's layout contract, passed on.
            None => unsafe { self.backing.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match Self::class(layout) {
            Some(class) => {
                // SAFETY: `ptr` is a block of this class (same layout as at
                // allocation), at least 8 bytes and pointer-aligned.
                unsafe { ptr.cast::<*mut u8>().write(self.free[class].get()) };
                self.free[class].set(ptr);
            }
            // SAFETY: allocated by the backing allocator with `layout`.
            None => unsafe { self.backing.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (Self::class(layout), Self::class(new)) {
            // The block is already big enough (or still the right class).
            (Some(a), Some(b)) if a == b => ptr,
            // SAFETY: both sizes belong to the backing allocator.
            (None, None) => unsafe { self.backing.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: `new` is a valid layout (see above).
                let moved = unsafe { self.alloc(new) };
                if !moved.is_null() {
                    // SAFETY: both blocks hold at least the smaller size and
                    // do not overlap (`ptr` is still allocated).
                    unsafe {
                        core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(all(
    feature = "allocator",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
mod global {
    use super::SizeClasses;

    struct PluginAllocator(SizeClasses<std::alloc::System>);

    // SAFETY: wasm32 without the atomics feature has exactly one thread.
    unsafe impl Sync for PluginAllocator {}

    // SAFETY: delegates to `SizeClasses`, whose contract is above.
    unsafe impl core::alloc::GlobalAlloc for PluginAllocator {
        unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
            unsafe { self.0.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
            unsafe { self.0.dealloc(ptr, layout) }
        }
        unsafe fn realloc(
            &self,
            ptr: *mut u8,
            layout: core::alloc::Layout,
            new_size: usize,
        ) -> *mut u8 {
            unsafe { self.0.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: PluginAllocator = PluginAllocator(SizeClasses::new(std::alloc::System));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused_per_class() {
        let a = SizeClasses::new(System);
        unsafe {
            let mut seen = vec![];
            for (size, align) in [(1, 1), (8, 8), (24, 8), (100, 4), (64, 64), (2048, 1)] {
                let p = a.alloc(layout(size, align));
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "alignment of {size}/{align}");
                // Writable over its whole size.
                p.write_bytes(0xAB, size);
                seen.push((p, size, align));
            }
            let mut starts: Vec<usize> = seen.iter().map(|s| s.0 as usize).collect();
            starts.sort();
            starts.dedup();
            assert_eq!(starts.len(), seen.len(), "every block is distinct");

            // A freed 24-byte block (class 32) comes back for a 30-byte one.
            let (p24, _, _) = seen[2];
            a.dealloc(p24, layout(24, 8));
            assert_eq!(a.alloc(layout(30, 8)), p24);
            // ... but not for another class.
            a.dealloc(p24, layout(30, 8));
            assert_ne!(a.alloc(layout(100, 8)), p24);
        }
    }

    #[test]
    fn large_and_over_aligned_blocks_use_the_backing_allocator() {
        let a = SizeClasses::new(System);
        unsafe {
            let big = a.alloc(layout(100_000, 8));
            assert!(!big.is_null());
            big.write_bytes(1, 100_000);
            a.dealloc(big, layout(100_000, 8));
            let aligned = a.alloc(layout(16, 4096));
            assert_eq!(aligned as usize % 4096, 0);
            a.dealloc(aligned, layout(16, 4096));
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes() {
        let a = SizeClasses::new(System);
        unsafe {
            let mut p = a.alloc(layout(5, 1));
            p.copy_from_nonoverlapping(b"hello".as_ptr(), 5);
            // Same class: the same block.
            assert_eq!(a.realloc(p, layout(5, 1), 8), p);
            let mut size = 8;
            // Small to small, small to large, large to large, large to small.
            for next in [40, 1000, 5000, 70_000, 3] {
                p = a.realloc(p, layout(size, 1), next);
                assert!(!p.is_null());
                assert_eq!(std::slice::from_raw_parts(p, 3), b"hel");
                size = next;
            }
            a.dealloc(p, layout(size, 1));
        }
    }

    #[test]
    fn many_small_blocks_span_chunks() {
        let a = SizeClasses::new(System);
        unsafe {
            // 100 chunks' worth of 1 KiB blocks, all distinct and writable.
            let ps: Vec<*mut u8> = (0..6400).map(|_| a.alloc(layout(1024, 8))).collect();
            for (i, p) in ps.iter().enumerate() {
                assert!(!p.is_null());
                p.write_bytes(i as u8, 1024);
            }
            for (i, p) in ps.iter().enumerate() {
                assert_eq!(*p.add(1023), i as u8);
            }
        }
    }
}
