// A Timer runs its action on another thread, so the action must be `Send`
// (`Timer::new<F: FnOnce() + Send + 'static>`). An `Rc`'s count is not atomic: it must not go.
use std::rc::Rc;
use std::time::Duration;

use event::Timer;

fn main() {
    let shared = Rc::new(0u64);
    let timer = Timer::new(Duration::from_millis(10), move || println!("{shared}"));
    timer.start().unwrap();
}
