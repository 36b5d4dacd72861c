// A guard borrows its mutex (`MutexGuard<'_, T>`), so it cannot outlive it.
use lock::Mutex;

fn main() {
    let guard;
    {
        let mutex = Mutex::new(0u64);
        guard = mutex.lock();
    }
    drop(guard);
}
