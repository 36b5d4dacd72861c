//! The grader's backend: seeded schedule perturbation.
//!
//! Each thread draws from its own xorshift stream, seeded from the trial's seed and the thread's
//! [`crate::thread::current_id`], so two runs with one seed make similar (not identical: the OS
//! still schedules) choices. `rand::below` has streams of its own, seeded from the trial's seed
//! and the order in which threads first draw in the trial (not from thread ids, which earlier
//! trials of the process used up), so a replayed trial draws the same numbers as far as its
//! threads start drawing in the same order.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

// Relaxed throughout: these only steer randomness, they order no other memory.
static SEED: AtomicU64 = AtomicU64::new(0);
/// Probability, in thousandths, that a synchronization point yields. 0: perturbation off.
static PER_MILLE: AtomicU32 = AtomicU32::new(0);
/// Bumped by `configure` so that every thread reseeds its stream.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Threads that drew from `rand::below` since the last `configure`.
static DRAWERS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (epoch the stream was seeded in, xorshift state)
    static STREAM: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
    /// (epoch the stream was seeded in, SplitMix64 counter) of `rand::below`.
    static RANDOM: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

/// Turns perturbation on (`per_mille` > 0) or off, with a new seed.
pub fn configure(seed: u64, per_mille: u32) {
    SEED.store(seed, Relaxed);
    PER_MILLE.store(per_mille.min(1000), Relaxed);
    DRAWERS.store(0, Relaxed);
    EPOCH.fetch_add(1, Relaxed);
}

fn next() -> u64 {
    let epoch = EPOCH.load(Relaxed);
    STREAM.with(|s| {
        let (seen, mut x) = s.get();
        if seen != epoch {
            x = SEED.load(Relaxed)
                ^ crate::thread::current_id().wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x |= 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set((epoch, x));
        x
    })
}

#[inline]
pub fn sync_point() {
    if super::explore::inside() {
        return super::explore::switch();
    }
    let per_mille = PER_MILLE.load(Relaxed);
    if per_mille == 0 {
        return;
    }
    let x = next();
    let roll = (x % 1000) as u32;
    if roll < per_mille / 16 {
        std::thread::sleep(Duration::from_micros(20 + (x >> 32) % 200));
    } else if roll < per_mille {
        std::thread::yield_now();
    }
}

/// One sleeping wait in eight returns at once: the contract allows it, and code that trusts a
/// wake-up without re-checking its condition must be caught.
#[inline]
pub fn spurious_wake() -> bool {
    PER_MILLE.load(Relaxed) != 0 && next() % 8 == 0
}

/// A random word for `rand::below`, from the trial's seed and this thread's rank among the
/// trial's drawers.
pub fn random_u64() -> u64 {
    if super::explore::inside() {
        return super::explore::random_u64();
    }
    let epoch = EPOCH.load(Relaxed);
    RANDOM.with(|r| {
        let (seen, mut counter) = r.get();
        if seen != epoch {
            let rank = DRAWERS.fetch_add(1, Relaxed);
            counter = crate::rand::mix(SEED.load(Relaxed) ^ 0x5EED_0FBA_C0FF)
                ^ (rank + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        counter = counter.wrapping_add(0x9E37_79B9_7F4A_7C15);
        r.set((epoch, counter));
        crate::rand::mix(counter)
    })
}
