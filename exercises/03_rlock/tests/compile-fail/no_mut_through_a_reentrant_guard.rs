// The owner may hold several guards of a ReentrantMutex at once, so a guard lends only `&T`
// (`Deref`, no `DerefMut`): to change the data, put a `Cell` or `RefCell` inside.
use rlock::ReentrantMutex;

fn main() {
    let mutex = ReentrantMutex::new(0u64);
    let guard = mutex.lock();
    *guard += 1;
}
