// A Thread may outlive the function that started it, so its target must be `'static`: it may not
// borrow a local variable (move it in, or share it with an `Arc`).
use threads::Thread;

fn main() {
    let name = String::from("worker");
    let thread = Thread::new(|| println!("{name}"));
    thread.start().unwrap();
}
