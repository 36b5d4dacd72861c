// The last thread to arrive runs the action, any of them, one generation after another: the
// action is shared by all the threads, so it must be `Sync` as well as `Send`
// (`Barrier::with_action<F: Fn() + Send + Sync + 'static>`). A `Cell` is not.
use std::cell::Cell;

use barrier::Barrier;

fn main() {
    let generations = Cell::new(0u64);
    let barrier = Barrier::with_action(2, move || generations.set(generations.get() + 1));
    barrier.wait().unwrap();
}
