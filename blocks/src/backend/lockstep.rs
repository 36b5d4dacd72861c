//! Lock-step scheduling: the grader's deterministic stage for livelock and deadlock checks.
//!
//! A check makes a [`Lockstep`] for `n` participant threads, and each of them enters it with a
//! [`Ticket`]. From then on every operation of a participant on a [`crate::sync::Lock`], every
//! `thread::sleep`, `yield_now`, `park`/`park_timeout`, `futex::wait`/`wait_timeout` and
//! `rand::below` is a scheduling point: the participant stops there until the check's
//! [`Lockstep::step`] gives it the turn, so exactly one participant runs at a time and the
//! interleaving is a function of the seed alone. Sleeping advances the participant's virtual
//! clock instead of the real one; the turn goes to the waiting participant with the smallest
//! virtual time, ties to the one that waited longest (strict alternation). Blocking on a held
//! lock parks the participant here, so a cycle of waiting participants is a
//! [`Step::Deadlock`] at once, and blocking while holding a lock is reported as
//! [`Step::HoldAndWait`] the moment it happens.
//!
//! Threads that never entered a schedule pay one relaxed load per hook.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Participants inside a schedule, process-wide. Relaxed: it only short-cuts the thread-local
/// look-up; a thread's own registration is ordered by its own program order.
static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The schedule the calling thread takes part in, and its seat.
    static SEAT: RefCell<Option<Participant>> = const { RefCell::new(None) };
}

/// What `rand::below` gives participants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandMode {
    /// A stream per participant, derived from this seed and the participant's index.
    Seeded(u64),
    /// Always the middle of the range, `(n - 1) / 2`: a back-off then depends on the attempt
    /// alone, so whether it grows can be read off exactly.
    Median,
}

/// One operation of a participant, as it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub participant: usize,
    /// The participant's virtual time when the operation ran (after it, for a sleep).
    pub clock: Duration,
    pub op: Op,
    /// The locks the participant holds after the operation (taken by it and not released).
    pub holding: usize,
}

/// What a participant did at a scheduling point. Locks are named by [`lock_id`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `try_acquire` or `acquire_timeout(0)`: whether it took the lock.
    TryAcquire {
        lock: usize,
        taken: bool,
    },
    /// A blocking `acquire` or `acquire_timeout(t > 0)`, when it returned.
    Acquire {
        lock: usize,
        taken: bool,
    },
    Release {
        lock: usize,
        ok: bool,
    },
    Locked {
        lock: usize,
        locked: bool,
    },
    /// `sleep`, `park_timeout`, or a `futex::wait_timeout` that would sleep: virtual time.
    Sleep(Duration),
    Yield,
    Rand {
        n: u64,
        value: u64,
    },
    /// An untimed `park` or `futex::wait`: the real call follows.
    Park,
}

/// A participant blocked on a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub participant: usize,
    pub lock: usize,
    /// The locks it holds meanwhile.
    pub holding: Vec<usize>,
}

/// What [`Lockstep::step`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// This participant was given one turn.
    Ran(usize),
    /// Every participant has left the schedule.
    Finished,
    /// Some participants wait on locks, and none can run to release them.
    Deadlock(Vec<Blocked>),
    /// A participant blocked on a held lock while holding other locks.
    HoldAndWait(Blocked),
    /// The participant that had the turn did not reach its next scheduling point within the
    /// limit: it spins or blocks outside the building blocks the schedule sees (or it never
    /// entered the schedule).
    Stuck(usize),
}

/// A lock's name in events: its address.
pub fn lock_id(lock: &crate::sync::Lock) -> usize {
    lock as *const crate::sync::Lock as usize
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Not entered yet.
    Absent,
    /// Stopped at a scheduling point, ready to go at its clock.
    Waiting,
    /// Waiting for a lock; also ready at `deadline` (virtual) if it has one.
    Blocked {
        lock: usize,
        deadline: Option<u64>,
    },
    /// Has the turn.
    Running,
    Done,
}

struct Seat {
    status: Status,
    /// Virtual time, in nanoseconds.
    clock: u64,
    /// The turn number it last ran in (0: never), for strict alternation.
    last_turn: u64,
    /// Set by the driver with the turn; taken by the participant.
    granted: bool,
    /// The turn was given at the deadline of a timed acquire.
    timed_out: bool,
    rng: u64,
}

struct State {
    seats: Vec<Seat>,
    turns: u64,
    rand: RandMode,
    /// Which participant holds each lock it took (by lock id).
    holders: HashMap<usize, usize>,
    events: Vec<Event>,
    hold_and_wait: Option<Blocked>,
    abandoned: bool,
}

struct Shared {
    state: Mutex<State>,
    /// The driver waits here for the participant with the turn to stop.
    driver: Condvar,
    /// One per participant: it waits there for its turn.
    seats: Vec<Condvar>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn holding(&self, index: usize) -> Vec<usize> {
        let mut held: Vec<usize> = self
            .holders
            .iter()
            .filter(|(_, &holder)| holder == index)
            .map(|(&lock, _)| lock)
            .collect();
        held.sort_unstable();
        held
    }

    fn record(&mut self, index: usize, op: Op) {
        let holding = self.holders.values().filter(|&&h| h == index).count();
        let clock = Duration::from_nanos(self.seats[index].clock);
        self.events.push(Event {
            participant: index,
            clock,
            op,
            holding,
        });
    }

    /// `lock` is free again: participants blocked on it may retry, at the earliest at `at`.
    fn unblock(&mut self, lock: usize, at: u64) {
        self.holders.remove(&lock);
        for seat in &mut self.seats {
            if let Status::Blocked { lock: l, .. } = seat.status {
                if l == lock {
                    seat.status = Status::Waiting;
                    seat.clock = seat.clock.max(at);
                }
            }
        }
    }
}

/// The check's side of a schedule. Dropping it abandons the schedule: participants then run
/// freely (as if they had never entered), so that a failed check never leaves them waiting for
/// a turn.
pub struct Lockstep {
    shared: Arc<Shared>,
}

/// A participant's admission, to move into its thread and [`Ticket::enter`] there.
pub struct Ticket {
    shared: Arc<Shared>,
    index: usize,
}

/// A thread's participation; it leaves the schedule when this is dropped (also on panic).
pub struct Participation {
    shared: Arc<Shared>,
    index: usize,
}

impl Lockstep {
    /// A schedule for `participants` threads, and their tickets (ticket `i` is participant `i`).
    pub fn new(participants: usize, rand: RandMode) -> (Lockstep, Vec<Ticket>) {
        let seats = (0..participants)
            .map(|i| Seat {
                status: Status::Absent,
                clock: 0,
                last_turn: 0,
                granted: false,
                timed_out: false,
                rng: match rand {
                    RandMode::Seeded(seed) => {
                        seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    }
                    RandMode::Median => 0,
                },
            })
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                seats,
                turns: 0,
                rand,
                holders: HashMap::new(),
                events: Vec::new(),
                hold_and_wait: None,
                abandoned: false,
            }),
            driver: Condvar::new(),
            seats: (0..participants).map(|_| Condvar::new()).collect(),
        });
        let tickets = (0..participants)
            .map(|index| Ticket {
                shared: Arc::clone(&shared),
                index,
            })
            .collect();
        (Lockstep { shared }, tickets)
    }

    /// Gives one participant one turn and waits until it stops at its next scheduling point (or
    /// leaves), so that between steps every participant stands still and the check may look at
    /// (and change) what they share. The first step first waits for every participant to enter.
    /// `limit` is real time, for each of those waits.
    pub fn step(&self, limit: Duration) -> Step {
        let (mut state, settled) = self.settle(self.shared.lock(), limit);
        if let Err(busy) = settled {
            return Step::Stuck(busy);
        }
        if let Some(blocked) = state.hold_and_wait.take() {
            return Step::HoldAndWait(blocked);
        }
        if state.seats.iter().all(|s| s.status == Status::Done) {
            return Step::Finished;
        }
        let next = state
            .seats
            .iter()
            .enumerate()
            .filter_map(|(i, seat)| match seat.status {
                Status::Waiting => Some((seat.clock, seat.last_turn, i)),
                Status::Blocked {
                    deadline: Some(d), ..
                } => Some((d, seat.last_turn, i)),
                _ => None,
            })
            .min();
        let Some((ready, _, index)) = next else {
            let blocked = state
                .seats
                .iter()
                .enumerate()
                .filter_map(|(i, seat)| match seat.status {
                    Status::Blocked { lock, .. } => Some(Blocked {
                        participant: i,
                        lock,
                        holding: state.holding(i),
                    }),
                    _ => None,
                })
                .collect();
            return Step::Deadlock(blocked);
        };
        state.turns += 1;
        let turn = state.turns;
        let seat = &mut state.seats[index];
        seat.timed_out = matches!(seat.status, Status::Blocked { .. });
        seat.clock = seat.clock.max(ready);
        seat.last_turn = turn;
        seat.status = Status::Running;
        seat.granted = true;
        self.shared.seats[index].notify_one();
        match self.settle(state, limit).1 {
            Ok(()) => Step::Ran(index),
            Err(busy) => Step::Stuck(busy),
        }
    }

    /// Waits until every participant has entered and none has the turn; else the one that
    /// kept the schedule busy for `limit`.
    fn settle<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        limit: Duration,
    ) -> (MutexGuard<'a, State>, Result<(), usize>) {
        let deadline = Instant::now() + limit;
        loop {
            let busy = state
                .seats
                .iter()
                .position(|s| matches!(s.status, Status::Absent | Status::Running));
            let Some(busy) = busy else {
                return (state, Ok(()));
            };
            let now = Instant::now();
            if now >= deadline {
                return (state, Err(busy));
            }
            state = self
                .shared
                .driver
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The check released `lock` itself (from outside the schedule), between two steps.
    pub fn released(&self, lock: &crate::sync::Lock) {
        self.shared.lock().unblock(lock_id(lock), 0);
    }

    /// The events since the last call, in the order they ran.
    pub fn events(&self) -> Vec<Event> {
        std::mem::take(&mut self.shared.lock().events)
    }

    /// The participant that took `lock` and has not released it, if any.
    pub fn holder(&self, lock: &crate::sync::Lock) -> Option<usize> {
        self.shared.lock().holders.get(&lock_id(lock)).copied()
    }

    /// Participant `index`'s virtual time.
    pub fn clock(&self, index: usize) -> Duration {
        Duration::from_nanos(self.shared.lock().seats[index].clock)
    }
}

impl Drop for Lockstep {
    fn drop(&mut self) {
        self.shared.lock().abandoned = true;
        for seat in &self.shared.seats {
            seat.notify_all();
        }
    }
}

impl Ticket {
    /// Makes the calling thread participant `index` of the schedule, and waits for its first
    /// turn.
    pub fn enter(self) -> Participation {
        LIVE.fetch_add(1, Relaxed);
        let participant = Participant {
            shared: Arc::clone(&self.shared),
            index: self.index,
        };
        SEAT.with(|seat| *seat.borrow_mut() = Some(participant.clone()));
        participant.turn();
        Participation {
            shared: self.shared,
            index: self.index,
        }
    }
}

impl Drop for Participation {
    fn drop(&mut self) {
        SEAT.with(|seat| seat.borrow_mut().take());
        LIVE.fetch_sub(1, Relaxed);
        let mut state = self.shared.lock();
        state.seats[self.index].status = Status::Done;
        drop(state);
        self.shared.driver.notify_one();
    }
}

/// The calling thread's seat in a schedule, as the hooks of `blocks` see it.
#[derive(Clone)]
pub(crate) struct Participant {
    shared: Arc<Shared>,
    index: usize,
}

/// How a blocked participant got its turn back.
pub(crate) enum Wake {
    /// The lock was released: try again.
    Retry,
    /// The deadline passed: try once more, then give up.
    TimedOut,
    /// The schedule was abandoned: go on as an ordinary thread.
    Abandoned,
}

/// The calling thread's seat, if it takes part in a live schedule.
#[inline]
pub(crate) fn participant() -> Option<Participant> {
    if LIVE.load(Relaxed) == 0 {
        return None;
    }
    SEAT.with(|seat| seat.borrow().clone())
}

impl Participant {
    /// Stops at a scheduling point until the driver gives this participant the turn. `false`
    /// if the schedule was abandoned (or this thread is unwinding): go on unscheduled.
    pub(crate) fn turn(&self) -> bool {
        self.wait_for_turn(Status::Waiting).is_some()
    }

    /// Parks in `status` until granted; the state, or `None` if abandoned.
    fn wait_for_turn(&self, status: Status) -> Option<MutexGuard<'_, State>> {
        let mut state = self.shared.lock();
        if state.abandoned || std::thread::panicking() {
            return None;
        }
        state.seats[self.index].status = status;
        self.shared.driver.notify_one();
        while !state.seats[self.index].granted {
            if state.abandoned {
                state.seats[self.index].status = Status::Running;
                return None;
            }
            state = self.shared.seats[self.index]
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.seats[self.index].granted = false;
        Some(state)
    }

    /// Records an operation that ran in this participant's turn.
    pub(crate) fn record(&self, op: Op) {
        self.shared.lock().record(self.index, op);
    }

    /// An acquisition attempt ran: `taken` or not.
    pub(crate) fn acquired(&self, lock: usize, taken: bool, blocking: bool) {
        let mut state = self.shared.lock();
        if taken {
            state.holders.insert(lock, self.index);
        }
        let op = if blocking {
            Op::Acquire { lock, taken }
        } else {
            Op::TryAcquire { lock, taken }
        };
        state.record(self.index, op);
    }

    /// A release ran (`ok`: the lock was locked): participants blocked on it may retry.
    pub(crate) fn released(&self, lock: usize, ok: bool) {
        let mut state = self.shared.lock();
        if ok {
            let now = state.seats[self.index].clock;
            state.unblock(lock, now);
        }
        state.record(self.index, Op::Release { lock, ok });
    }

    /// The virtual deadline `timeout` from now.
    pub(crate) fn deadline(&self, timeout: Duration) -> u64 {
        let clock = self.shared.lock().seats[self.index].clock;
        clock.saturating_add(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Waits for `lock`, held by someone else, until it is released or the virtual `deadline`
    /// passes. Blocking while holding other locks is reported to the driver.
    pub(crate) fn block(&self, lock: usize, deadline: Option<u64>) -> Wake {
        {
            let mut state = self.shared.lock();
            let holding = state.holding(self.index);
            if !holding.is_empty() && state.hold_and_wait.is_none() {
                state.hold_and_wait = Some(Blocked {
                    participant: self.index,
                    lock,
                    holding,
                });
            }
        }
        match self.wait_for_turn(Status::Blocked { lock, deadline }) {
            None => Wake::Abandoned,
            Some(state) if state.seats[self.index].timed_out => Wake::TimedOut,
            Some(_) => Wake::Retry,
        }
    }

    /// Sleeps `duration` of virtual time (in this participant's turn).
    pub(crate) fn sleep(&self, duration: Duration) {
        let mut state = self.shared.lock();
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let seat = &mut state.seats[self.index];
        seat.clock = seat.clock.saturating_add(nanos);
        state.record(self.index, Op::Sleep(duration));
    }

    /// A number below `n` (> 0), as the schedule's [`RandMode`] says.
    pub(crate) fn below(&self, n: u64) -> u64 {
        let mut state = self.shared.lock();
        let value = match state.rand {
            RandMode::Median => (n - 1) / 2,
            RandMode::Seeded(_) => {
                let seat = &mut state.seats[self.index];
                crate::rand::uniform(n, || {
                    seat.rng = seat.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    crate::rand::mix(seat.rng)
                })
            }
        };
        state.record(self.index, Op::Rand { n, value });
        value
    }
}
