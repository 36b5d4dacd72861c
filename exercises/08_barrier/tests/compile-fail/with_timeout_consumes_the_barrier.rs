// `with_timeout(self, ..)` is a builder: it takes the barrier and returns the configured one, so
// the old binding cannot be used afterwards (no barrier is ever configured while threads wait).
use std::time::Duration;

use barrier::Barrier;

fn main() {
    let barrier = Barrier::new(2);
    let timed = barrier.with_timeout(Duration::from_secs(1));
    println!("{} {}", barrier.parties(), timed.parties());
}
