// A ReentrantMutex<T> may be shared between threads only when `T: Send` (not `T: Sync`: one
// thread at a time uses the data). An `Rc`'s count is not atomic, so an Rc inside must not be.
use std::rc::Rc;

use rlock::ReentrantMutex;

// What `blocks::thread::spawn` asks of a new thread's closure.
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let mutex: &'static ReentrantMutex<Rc<u64>> =
        Box::leak(Box::new(ReentrantMutex::new(Rc::new(0))));
    spawn(move || drop(mutex.lock()));
}
