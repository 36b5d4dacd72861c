// An RLockGuard stands for one acquire by its owner thread: only that thread may release it, so
// the guard must stay there (`!Send`).
use rlock::RLock;

// What `blocks::thread::spawn` asks of a new thread's closure (declared here so that the expected
// error quotes this file, not the standard library's source).
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let rlock: &'static RLock = Box::leak(Box::new(RLock::new()));
    let guard = rlock.guard();
    spawn(move || drop(guard));
}
