// A Permit borrows its semaphore (`Permit<'_>`) and gives the slot back when dropped, so it
// cannot outlive the semaphore.
use semaphore::Semaphore;

fn main() {
    let permit;
    {
        let semaphore = Semaphore::new(1);
        permit = semaphore.permit();
    }
    drop(permit);
}
