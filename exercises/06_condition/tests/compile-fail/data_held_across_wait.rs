// `wait` releases the lock while it sleeps, so no reference into the data may live across it:
// another thread may change the data meanwhile. The borrow checker says so, because `wait`
// takes the guard by `&mut`.
use condition::Condition;

fn main() {
    let condition = Condition::new(vec![1u64]);
    let mut guard = condition.lock();
    let first = &guard[0];
    guard.wait();
    println!("{first}");
}
