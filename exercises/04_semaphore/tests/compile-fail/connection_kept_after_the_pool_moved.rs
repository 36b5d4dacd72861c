// A Connection goes back to its pool when dropped, so it borrows the pool: the pool cannot be
// moved (or dropped) while a connection is out.
use semaphore::ConnectionPool;

fn main() {
    let pool = ConnectionPool::new(2);
    let connection = pool.get();
    let moved = pool;
    println!("{} {}", connection.id(), moved.available());
}
