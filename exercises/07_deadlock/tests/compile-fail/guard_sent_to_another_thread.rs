// A TrackedGuard stands for "this thread holds the lock" (Lockdep's held set is per thread), so
// it must stay on the thread that locked (`!Send`).
use std::sync::Arc;

use deadlock::{Lockdep, TrackedMutex};

// What `blocks::thread::spawn` asks of a new thread's closure (declared here so that the expected
// error quotes this file, not the standard library's source).
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let lockdep: Arc<Lockdep> = Lockdep::new();
    let mutex: &'static TrackedMutex<u64> = Box::leak(Box::new(lockdep.mutex("a", 0)));
    let guard = mutex.lock().unwrap();
    spawn(move || drop(guard));
}
