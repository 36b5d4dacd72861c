//! Randomness for worker threads.
//!
//! The trial's own generator ([`Trial::rng`](crate::Trial::rng)) lives on the check's thread.
//! Workers that need random choices of their own get an [`XorShift`] each, derived from the
//! trial's seed, so that a seed replays the same choices and workers share no random state.

/// The multiplier that spreads seeds and stream numbers over the 64 bits (2^64 / φ).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A tiny xorshift64 generator (13, 7, 17): deterministic, cheap, and good enough to pick
/// operations and timeouts.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// The generator seeded with `seed` alone (callers derive `seed` from the trial's seed and a
    /// worker number themselves, e.g. `t.seed().wrapping_add(17 * i as u64 + 5)`).
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(GOLDEN) | 1)
    }

    /// Stream number `stream` of `seed`: one per worker thread, e.g. `XorShift::stream(seed, i)`.
    pub fn stream(seed: u64, stream: usize) -> XorShift {
        XorShift((seed ^ (stream as u64 + 1).wrapping_mul(GOLDEN)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` must not be 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let (mut a, mut b) = (XorShift::stream(7, 0), XorShift::stream(7, 0));
        let mut c = XorShift::stream(7, 1);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!((0..1000).all(|_| a.below(3) < 3));
    }
}
