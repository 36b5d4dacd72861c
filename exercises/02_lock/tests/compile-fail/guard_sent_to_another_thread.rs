// A MutexGuard stands for "this thread holds the lock": it must stay on the thread that locked
// (`!Send`), so moving it into another thread must not compile.
use lock::Mutex;

// What `blocks::thread::spawn` asks of a new thread's closure (declared here so that the expected
// error quotes this file, not the standard library's source).
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let mutex: &'static Mutex<u64> = Box::leak(Box::new(Mutex::new(0)));
    let guard = mutex.lock();
    spawn(move || drop(guard));
}
