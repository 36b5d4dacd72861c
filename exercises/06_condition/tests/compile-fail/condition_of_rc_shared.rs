// A Condition<T> owns its data like a mutex, so it may be shared between threads only when
// `T: Send`. An `Rc`'s count is not atomic, so a Condition<Rc<_>> must not be shared.
use std::rc::Rc;

use condition::Condition;

// What `blocks::thread::spawn` asks of a new thread's closure.
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let condition: &'static Condition<Rc<u64>> =
        Box::leak(Box::new(Condition::new(Rc::new(0))));
    spawn(move || drop(condition.lock()));
}
