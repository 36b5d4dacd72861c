// A Barrier may be used by threads that outlive this function, so its action must be `'static`:
// it may not borrow a local variable (move it in, or share it with an `Arc`).
use blocks::sync::atomic::{AtomicU64, Ordering};

use barrier::Barrier;

fn main() {
    let generations = AtomicU64::new(0);
    let barrier = Barrier::with_action(2, || {
        generations.fetch_add(1, Ordering::Relaxed);
    });
    barrier.wait().unwrap();
}
