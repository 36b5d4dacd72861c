// A Mutex<T> may be shared between threads only when `T: Send`: whoever locks it gets the `T`.
// An `Rc`'s count is not atomic, so a Mutex<Rc<_>> must not be shared.
use std::rc::Rc;

use lock::Mutex;

// What `blocks::thread::spawn` asks of a new thread's closure.
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let mutex: &'static Mutex<Rc<u64>> = Box::leak(Box::new(Mutex::new(Rc::new(0))));
    spawn(move || drop(mutex.lock()));
}
