//! Under the grader's backend, a trial's seed replays what `rand::below` draws in each thread.
//! (A binary of its own: the streams are ranked by first draw, which other tests would share.)
#![cfg(feature = "perturb")]

use blocks::__grader::configure;
use blocks::rand::below;

fn draws(seed: u64) -> (Vec<u64>, u64) {
    configure(seed, 0);
    let here: Vec<u64> = (0..4).map(|_| below(1 << 40)).collect();
    let there = std::thread::spawn(|| below(1 << 40)).join().unwrap();
    (here, there)
}

#[test]
fn a_seed_replays_the_draws_of_each_thread() {
    let first = draws(42);
    assert_eq!(first, draws(42));
    assert_ne!(first, draws(43));
    assert!(!first.0.contains(&first.1), "two threads share a stream");
}
