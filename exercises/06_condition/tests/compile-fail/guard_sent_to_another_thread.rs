// A ConditionGuard stands for "this thread holds the condition's lock": it must stay on the
// thread that locked (`!Send`), so moving it into another thread must not compile.
use condition::Condition;

// What `blocks::thread::spawn` asks of a new thread's closure (declared here so that the expected
// error quotes this file, not the standard library's source).
fn spawn<F: FnOnce() + Send + 'static>(_thread: F) {}

fn main() {
    let condition: &'static Condition<u64> = Box::leak(Box::new(Condition::new(0)));
    let guard = condition.lock();
    spawn(move || drop(guard));
}
