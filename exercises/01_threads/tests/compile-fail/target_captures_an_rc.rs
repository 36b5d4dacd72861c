// A Thread's target runs on another thread, so everything it takes along must be `Send`
// (`Thread::new<F: FnOnce() + Send + 'static>`). An `Rc`'s count is not atomic: it must not go.
use std::rc::Rc;

use threads::Thread;

fn main() {
    let shared = Rc::new(0u64);
    let thread = Thread::new(move || println!("{shared}"));
    thread.start().unwrap();
}
