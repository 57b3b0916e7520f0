//! Admission control: whether a request is served or answered 503 at once.
//!
//! The rule is a latency budget, not a fixed count: a request is admitted when the wait it can expect,
//! `requests ahead of it × recent service time ÷ workers`, is within `max_wait`, and memory allows it (the bytes
//! that waiting requests may hold — each its declared body size — stay within `max_bytes`, and their number within
//! `max_queue`). So a burst of eager clients queues as long as the answers stay timely, rather than being turned
//! away to retry at once (which costs them and the server more than waiting), and a server that is truly behind
//! says so early with a `Retry-After` of the wait it expects.
//!
//! Refusing must cost far less than serving, or a crowd of clients that retry at once takes the cores the workers
//! need: the decision is taken before the request body is read (a refused upload is never read or drained; the
//! answer closes the connection) and touches two atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Weight of the newest service time in the moving average.
const ALPHA: f64 = 0.2;

/// Shared admission state.
#[derive(Debug)]
pub(crate) struct Admission {
    workers: usize,
    cap: usize,
    max_wait: Duration,
    max_bytes: usize,
    in_system: AtomicUsize,
    bytes: AtomicUsize,
    /// Moving average of one request's time on a worker, in nanoseconds as f64 bits (0: none measured yet).
    service_ns: AtomicU64,
}

/// A request's place in the server; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Ticket {
    admission: Arc<Admission>,
    bytes: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.admission.in_system.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why a request was refused: the wait it would have had (for `Retry-After`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused {
    pub expected_wait: Duration,
}

impl Refused {
    /// `Retry-After` in whole seconds: the expected wait, at least 1.
    pub fn retry_after(&self) -> u32 {
        (self.expected_wait.as_secs_f64().ceil() as u32).clamp(1, 3600)
    }
}

impl Admission {
    /// `workers` run at once; at most `workers + max_queue` requests, holding at most `max_bytes` of bodies, are
    /// in the server; a request is admitted only while its expected wait is within `max_wait`.
    pub fn new(workers: usize, max_queue: usize, max_bytes: usize, max_wait: Duration) -> Arc<Self> {
        Arc::new(Self {
            workers: workers.max(1),
            cap: workers.max(1) + max_queue,
            max_wait,
            max_bytes,
            in_system: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            service_ns: AtomicU64::new(0f64.to_bits()),
        })
    }

    /// The recent time one request takes on a worker (zero before the first one finished).
    pub fn service_time(&self) -> Duration {
        Duration::from_nanos(f64::from_bits(self.service_ns.load(Ordering::Relaxed)) as u64)
    }

    /// The wait a request arriving now can expect.
    pub fn expected_wait(&self) -> Duration {
        let ahead = self.in_system.load(Ordering::Acquire).saturating_sub(self.workers - 1);
        self.wait_for(ahead)
    }

    fn wait_for(&self, ahead: usize) -> Duration {
        self.service_time().mul_f64(ahead as f64 / self.workers as f64)
    }

    /// Admit a request whose body holds (at most) `bytes`, or say how long it would have waited.
    pub fn admit(self: &Arc<Self>, bytes: usize) -> Result<Ticket, Refused> {
        let mut n = self.in_system.load(Ordering::Acquire);
        loop {
            let ahead = (n + 1).saturating_sub(self.workers);
            let wait = self.wait_for(ahead);
            if n >= self.cap || wait > self.max_wait {
                return Err(Refused { expected_wait: wait.max(self.service_time()) });
            }
            match self.in_system.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        // The memory bound: a request that would not fit is refused (one alone always fits).
        let held = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        let ticket = Ticket { admission: self.clone(), bytes };
        if held > 0 && held + bytes > self.max_bytes {
            let wait = self.expected_wait().max(self.service_time());
            drop(ticket);
            return Err(Refused { expected_wait: wait });
        }
        Ok(ticket)
    }

    /// Record how long a request took on a worker.
    pub fn served(&self, took: Duration) {
        let ns = took.as_nanos() as f64;
        let _ = self.service_ns.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let old = f64::from_bits(bits);
            Some(if old == 0.0 { ns } else { old + ALPHA * (ns - old) }.to_bits())
        });
    }

    /// Requests in the server now (waiting or running).
    pub fn in_system(&self) -> usize {
        self.in_system.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_within_the_budget_and_refuses_beyond_it() {
        let a = Admission::new(2, 100, usize::MAX, Duration::from_millis(100));
        // Nothing measured yet: only the cap applies.
        let mut held: Vec<Ticket> = (0..10).map(|_| a.admit(1).expect("admitted")).collect();
        a.served(Duration::from_millis(20));
        // 10 in the server, 2 workers, 20 ms each: the 11th waits (11 - 2) × 20 / 2 = 90 ms: admitted.
        held.push(a.admit(1).expect("within 100 ms"));
        // The 12th would wait 100 ms, the 13th 110 ms: refused, with Retry-After 1 s.
        held.push(a.admit(1).expect("exactly 100 ms"));
        let r = a.admit(1).expect_err("over budget");
        assert!(r.expected_wait > Duration::from_millis(100), "{r:?}");
        assert_eq!(r.retry_after(), 1);
        // Places free as requests finish.
        held.truncate(5);
        assert_eq!(a.in_system(), 5);
        assert!(a.admit(1).is_ok());
    }

    #[test]
    fn the_cap_bounds_requests_in_the_server() {
        let a = Admission::new(1, 2, usize::MAX, Duration::from_secs(3600));
        let held: Vec<Ticket> = (0..3).map(|_| a.admit(1).expect("admitted")).collect();
        assert!(a.admit(1).is_err());
        drop(held);
        assert_eq!(a.in_system(), 0);
    }

    #[test]
    fn bodies_held_are_bounded() {
        let a = Admission::new(2, 100, 1000, Duration::from_secs(3600));
        let big = a.admit(5000).expect("one request alone always fits");
        assert!(a.admit(1).is_err(), "over the byte budget");
        drop(big);
        let held: Vec<Ticket> = (0..4).map(|_| a.admit(250).expect("fits")).collect();
        assert!(a.admit(1).is_err());
        assert_eq!(a.in_system(), 4, "a refused request leaves nothing behind");
        drop(held);
        assert_eq!(a.bytes.load(Ordering::Acquire), 0);
    }

    #[test]
    fn service_time_is_a_moving_average() {
        let a = Admission::new(1, 0, usize::MAX, Duration::from_secs(1));
        a.served(Duration::from_millis(10));
        assert_eq!(a.service_time(), Duration::from_millis(10));
        a.served(Duration::from_millis(60));
        assert_eq!(a.service_time(), Duration::from_millis(20));
    }
}
