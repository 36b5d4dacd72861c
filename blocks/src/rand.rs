//! Randomness for back-off: [`below`].
//!
//! The backend seeds it: with the default backend each thread draws from its own stream seeded
//! from the clock and the thread; under the grader, from the trial's seed, so that a trial
//! replays its draws (and under the grader's lock-step schedule, exactly).

use crate::backend;

/// A number drawn uniformly from `0..n`, for a randomized back-off.
///
/// # Panics
/// If `n` is 0 (the range `0..0` is empty).
///
/// # Examples
/// ```
/// let roll = blocks::rand::below(6);
/// assert!(roll < 6);
/// assert_eq!(blocks::rand::below(1), 0);
/// ```
pub fn below(n: u64) -> u64 {
    assert!(n > 0, "blocks::rand::below(0): there is no number below 0");
    if let Some(participant) = backend::lockstep::participant() {
        if participant.turn() {
            return participant.below(n);
        }
    }
    uniform(n, backend::random_u64)
}

/// A uniform draw from `0..n` (`n > 0`) out of 64-bit random words: Lemire's multiply-and-reject,
/// so no value is favoured (as `x % n` would favour the small ones).
pub(crate) fn uniform(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    let mut product = u128::from(next()) * u128::from(n);
    if (product as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (product as u64) < threshold {
            product = u128::from(next()) * u128::from(n);
        }
    }
    (product >> 64) as u64
}

/// SplitMix64's finalizer: a well-spread 64-bit word from a counter.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_cover_it() {
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 0), "{seen:?}");
        assert_eq!(below(1), 0);
        assert!(below(u64::MAX) < u64::MAX);
    }

    #[test]
    #[should_panic(expected = "below(0)")]
    fn an_empty_range_panics() {
        below(0);
    }

    #[test]
    fn uniform_rejects_the_biased_tail() {
        // With n = 3 and words 0, 1, 2, ... the first word's low product (0) is under the
        // threshold 2^64 % 3 = 1, so it is rejected; the next is kept.
        let mut words = [0u64, u64::MAX].into_iter();
        assert_eq!(uniform(3, || words.next().unwrap()), 2);
    }
}
