// Python's "subclass Thread, override run()": a Runnable is moved to the new thread, so the trait
// asks for `Send + 'static`, and a type holding an `Rc` cannot be one.
use std::rc::Rc;

use threads::Runnable;

struct Counter {
    count: Rc<u64>,
}

impl Runnable for Counter {
    fn run(&mut self) {
        println!("{}", self.count);
    }
}

fn main() {}
