// A Timer's action may run after the function that made it returned, so it must be `'static`:
// it may not borrow a local variable (move it in, or share it with an `Arc`).
use std::time::Duration;

use event::{Event, Timer};

fn main() {
    let done = Event::new();
    let timer = Timer::new(Duration::from_millis(10), || done.set());
    timer.start().unwrap();
}
