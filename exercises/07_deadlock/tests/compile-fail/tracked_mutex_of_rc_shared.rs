// A TrackedMutex<T> may be shared between threads only when `T: Send`, like any mutex. An `Rc`'s
// count is not atomic, so a TrackedMutex<Rc<_>> must not be shared.
use std::rc::Rc;
use std::sync::Arc;

use deadlock::{Lockdep, TrackedMutex};

// What `blocks::thread::spawn` asks of a new thread's closure.
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let lockdep: Arc<Lockdep> = Lockdep::new();
    let mutex: &'static TrackedMutex<Rc<u64>> =
        Box::leak(Box::new(lockdep.mutex("a", Rc::new(0))));
    spawn(move || drop(mutex.lock()));
}
