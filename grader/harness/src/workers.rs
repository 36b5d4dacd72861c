//! Worker threads: starting them together, joining them within a time limit, and giving them
//! time to block.
//!
//! Every check binary is compiled once per graded submission, so these helpers keep their
//! generic parts thin: the threads are spawned and watched by non-generic functions working on
//! type-erased values (`Box<dyn Any + Send>`), and only a downcast is instantiated per result
//! type. `std::thread::spawn` is then compiled once for all workers instead of once per closure.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::{fail, wait_sleeping, wait_until};

/// A value of any type, as it travels through the non-generic helpers.
pub(crate) type Erased = Box<dyn Any + Send>;

/// Unboxes a value that a generic wrapper boxed itself: the type is known to match.
pub(crate) fn downcast<T: 'static>(value: Erased) -> T {
    match value.downcast::<T>() {
        Ok(value) => *value,
        Err(_) => unreachable!("a type-erased result changed its type"),
    }
}

/// A thread started by [`spawn_together`]: a `JoinHandle<T>` under another name.
pub struct Worker<T> {
    handle: JoinHandle<Erased>,
    result: PhantomData<fn() -> T>,
}

impl<T: 'static> Worker<T> {
    /// Waits for the thread to end: its result, or the payload of its panic.
    pub fn join(self) -> thread::Result<T> {
        self.handle.join().map(downcast)
    }

    /// Whether the thread has ended (its result can be joined without waiting).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The thread itself.
    pub fn thread(&self) -> &thread::Thread {
        self.handle.thread()
    }
}

/// A thread that can be joined: a `std::thread::JoinHandle` or a [`Worker`]. The joining
/// helpers ([`join_all`](crate::join_all), [`join_failing_fast`], [`join_all_within`]) take
/// either.
pub trait Joinable {
    /// What the thread returns.
    type Output;
    /// Whether the thread has ended.
    fn is_finished(&self) -> bool;
    /// Waits for the thread to end: its result, or the payload of its panic.
    fn join(self) -> thread::Result<Self::Output>;
}

impl<T> Joinable for JoinHandle<T> {
    type Output = T;
    fn is_finished(&self) -> bool {
        JoinHandle::is_finished(self)
    }
    fn join(self) -> thread::Result<T> {
        JoinHandle::join(self)
    }
}

impl<T: 'static> Joinable for Worker<T> {
    type Output = T;
    fn is_finished(&self) -> bool {
        Worker::is_finished(self)
    }
    fn join(self) -> thread::Result<T> {
        Worker::join(self)
    }
}

/// A [`Joinable`] whose result is boxed: what the non-generic joining code works on.
trait ErasedJoin {
    fn finished(&self) -> bool;
    fn join_erased(self: Box<Self>) -> thread::Result<Erased>;
}

impl<H> ErasedJoin for H
where
    H: Joinable,
    H::Output: Send + 'static,
{
    fn finished(&self) -> bool {
        Joinable::is_finished(self)
    }
    fn join_erased(self: Box<Self>) -> thread::Result<Erased> {
        Joinable::join(*self).map(|value| Box::new(value) as Erased)
    }
}

fn erase<H>(handles: Vec<H>) -> Vec<Box<dyn ErasedJoin>>
where
    H: Joinable + 'static,
    H::Output: Send + 'static,
{
    handles
        .into_iter()
        .map(|handle| Box::new(handle) as Box<dyn ErasedJoin>)
        .collect()
}

/// Starts a thread running `f`: `std::thread::spawn`, compiled once for every call (see the
/// module's documentation). Join it like a `JoinHandle`.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Worker<T> {
    Worker {
        handle: spawn_erased(Box::new(move || Box::new(f()) as Erased)),
        result: PhantomData,
    }
}

fn spawn_erased(f: Box<dyn FnOnce() -> Erased + Send>) -> JoinHandle<Erased> {
    thread::spawn(f)
}

/// Starts `n` threads together: each waits at a barrier (so that they race from the same
/// instant), then runs `body(index)` with its index in `0..n`.
pub fn spawn_together<T: Send + 'static>(
    n: usize,
    body: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<Worker<T>> {
    let body: Arc<dyn Fn(usize) -> Erased + Send + Sync> =
        Arc::new(move |index| Box::new(body(index)) as Erased);
    spawn_together_erased(n, body)
        .into_iter()
        .map(|handle| Worker {
            handle,
            result: PhantomData,
        })
        .collect()
}

fn spawn_together_erased(
    n: usize,
    body: Arc<dyn Fn(usize) -> Erased + Send + Sync>,
) -> Vec<JoinHandle<Erased>> {
    let start = Arc::new(Barrier::new(n));
    (0..n)
        .map(|i| {
            let (start, body) = (Arc::clone(&start), Arc::clone(&body));
            thread::spawn(move || {
                start.wait();
                body(i)
            })
        })
        .collect()
}

/// Joins the workers, failing as soon as one fails (re-raising its own panic, so that its
/// message is the verdict) instead of waiting for the others, which may be stuck behind a lock
/// the failed one held; fails the trial if they have not all finished within `limit`.
///
/// Compare [`join_all_within`], which lets every worker finish before it reports a failure.
pub fn join_failing_fast<H>(limit: Duration, what: &str, handles: Vec<H>) -> Vec<H::Output>
where
    H: Joinable + 'static,
    H::Output: Send + 'static,
{
    join_failing_fast_erased(limit, what, erase(handles))
        .into_iter()
        .map(downcast)
        .collect()
}

fn join_failing_fast_erased(
    limit: Duration,
    what: &str,
    handles: Vec<Box<dyn ErasedJoin>>,
) -> Vec<Erased> {
    let deadline = Instant::now() + limit;
    let mut handles: Vec<Option<Box<dyn ErasedJoin>>> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<Erased>> = handles.iter().map(|_| None).collect();
    loop {
        let mut pending = 0;
        for (slot, result) in handles.iter_mut().zip(results.iter_mut()) {
            if slot.as_ref().is_some_and(|h| h.finished()) {
                let handle = slot.take().expect("a finished handle is still in its slot");
                match handle.join_erased() {
                    Ok(value) => *result = Some(value),
                    Err(payload) => std::panic::resume_unwind(payload),
                }
            } else if slot.is_some() {
                pending += 1;
            }
        }
        if pending == 0 {
            return results
                .into_iter()
                .map(|r| r.expect("every worker was joined"))
                .collect();
        }
        if Instant::now() >= deadline {
            fail!("{what}: {pending} thread(s) still blocked after {limit:?} (deadlock or lost wake-up?)");
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until every worker has finished, at most `limit` (failing the trial with how many are
/// still blocked if they have not), then joins them like [`join_all`](crate::join_all): the
/// first failure in order of the handles is re-raised.
///
/// Compare [`join_failing_fast`], which reports a failure as soon as one worker has one.
pub fn join_all_within<H>(limit: Duration, what: &str, handles: Vec<H>) -> Vec<H::Output>
where
    H: Joinable + 'static,
    H::Output: Send + 'static,
{
    let erased = erase(handles);
    wait_all_finished(limit, what, &erased);
    crate::join_all_erased(&mut erased.into_iter().map(|h| h.join_erased()))
        .into_iter()
        .map(downcast)
        .collect()
}

fn wait_all_finished(limit: Duration, what: &str, handles: &[Box<dyn ErasedJoin>]) {
    let finished = wait_until(limit, || handles.iter().all(|h| h.finished()));
    if !finished {
        let blocked = handles.iter().filter(|h| !h.finished()).count();
        fail!(
            "{what}: {blocked} of {} threads still blocked after {limit:?}",
            handles.len()
        );
    }
}

/// Gives threads just started time to block: waits until `n` more threads than `baseline`
/// sleep in the kernel (at most a second: a spinning waiter never sleeps, and that is a
/// performance check's business, not this one's), then 20 ms longer.
///
/// `baseline` is [`sleeping_threads`](crate::sleeping_threads) before the threads started.
pub fn settle(baseline: usize, n: usize) {
    wait_sleeping(baseline, n, Duration::from_secs(1));
    thread::sleep(Duration::from_millis(20));
}

/// Like [`settle`], for code that can say itself when its waiters are in place: waits until
/// `ready()` (at most a second), or if it never says so, until `n` more threads than `baseline`
/// sleep (at most another second); then `pause` longer.
pub fn settle_until(ready: impl FnMut() -> bool, baseline: usize, n: usize, pause: Duration) {
    if !wait_until(Duration::from_secs(1), ready) {
        wait_sleeping(baseline, n, Duration::from_secs(1));
    }
    thread::sleep(pause);
}

/// A waiter with no deadline beside timed waiters that give up, set up by
/// [`timed_beside_untimed`]: the check wakes the primitive, then asks [`woken`](Self::woken).
pub struct Beside {
    untimed: JoinHandle<Erased>,
    /// What each timed wait returned (they have all returned).
    pub timed_results: Vec<bool>,
    /// Which waiters fell asleep first, for messages.
    pub order: &'static str,
}

impl Beside {
    /// Whether the untimed waiter returned within `limit` (its own failure is re-raised). A
    /// waiter that never returns is left behind: the check fails with its own message.
    pub fn woken(self, limit: Duration) -> bool {
        if !wait_until(limit, || self.untimed.is_finished()) {
            return false;
        }
        if let Err(payload) = self.untimed.join() {
            std::panic::resume_unwind(payload);
        }
        true
    }
}

/// The lost wake-up that only a timed waiter's giving up causes: a waiter with no deadline
/// (`untimed`) asleep on a primitive beside `timed` threads waiting at most `timeout`
/// (`timed(timeout)`, returning whether it succeeded) that all time out. Either the untimed
/// waiter falls asleep first and the timed ones come and go, or the timed ones fall asleep
/// first (with a timeout five times longer) and the untimed one joins them before they give up.
/// Returns once every timed waiter has returned; the primitive must be held or unset all along.
///
/// Sleeping is waited for at most `patience` (a spinning waiter never sleeps, and that is a
/// performance check's business). Run such a check without perturbation: its spurious
/// wake-ups would let a waiter that nobody wakes find its way out.
pub fn timed_beside_untimed(
    untimed_first: bool,
    timed: usize,
    timeout: Duration,
    patience: Duration,
    untimed: impl FnOnce() + Send + 'static,
    timed_wait: impl Fn(Duration) -> bool + Send + Sync + 'static,
) -> Beside {
    timed_beside_untimed_erased(
        (untimed_first, timed, timeout, patience),
        Box::new(untimed),
        Arc::new(timed_wait),
    )
}

fn timed_beside_untimed_erased(
    (untimed_first, timed, timeout, patience): (bool, usize, Duration, Duration),
    untimed: Box<dyn FnOnce() + Send>,
    timed_wait: Arc<dyn Fn(Duration) -> bool + Send + Sync>,
) -> Beside {
    let (tx, rx) = std::sync::mpsc::channel();
    let start_untimed = |tx: std::sync::mpsc::Sender<crate::KernelTid>| {
        spawn_erased(Box::new(move || {
            tx.send(crate::KernelTid::current()).unwrap();
            untimed();
            Box::new(()) as Erased
        }))
    };
    let start_timed = |timeout: Duration, tx: std::sync::mpsc::Sender<crate::KernelTid>| {
        let body: Arc<dyn Fn(usize) -> Erased + Send + Sync> = Arc::new(move |_| {
            tx.send(crate::KernelTid::current()).unwrap();
            Box::new(timed_wait(timeout)) as Erased
        });
        spawn_together_erased(timed, body)
    };
    let (untimed, timed_out) = if untimed_first {
        let untimed = start_untimed(tx.clone());
        crate::wait_asleep(&[rx.recv().unwrap()], patience);
        (untimed, start_timed(timeout, tx))
    } else {
        let long = timeout * 5;
        let timed_out = start_timed(long, tx.clone());
        let tids: Vec<_> = (0..timed).map(|_| rx.recv().unwrap()).collect();
        crate::wait_asleep(&tids, long / 2);
        let untimed = start_untimed(tx);
        crate::wait_asleep(&[rx.recv().unwrap()], long / 2);
        (untimed, timed_out)
    };
    let timed_results = timed_out
        .into_iter()
        .map(|handle| match handle.join() {
            Ok(got) => downcast::<bool>(got),
            Err(payload) => std::panic::resume_unwind(payload),
        })
        .collect();
    Beside {
        untimed,
        timed_results,
        order: if untimed_first {
            "the untimed waiter asleep first"
        } else {
            "the timed waiters asleep first"
        },
    }
}
