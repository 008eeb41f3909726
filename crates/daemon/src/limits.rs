//! Daemon-wide bounds on what clients can make oxvirtd hold: connections (in total, per uid,
//! with slots only privileged clients may use, TLS handshakes in progress), call worker
//! threads, and bytes of client input held in memory. Every grant is a guard that gives its
//! share back when dropped, so a client that leaves, however it leaves, frees what it held.
//!
//! Privileged clients are unix clients whose peer is root or the daemon's own user (they could
//! stop the daemon anyway); they have no per-uid limits and may use the reserved slots and
//! bytes, so unprivileged users exhausting the read-only socket never lock root out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;

/// Who a client is, for accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A unix client running as root or as the daemon's user.
    Privileged,
    /// A unix client of another user (read-only socket).
    Local(u32),
    /// A TCP or TLS client (no uid).
    Remote,
}

impl Class {
    pub fn of_unix_peer(uid: u32, euid: u32) -> Class {
        if uid == 0 || uid == euid {
            Class::Privileged
        } else {
            Class::Local(uid)
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many clients (max_clients = {0})")]
    TooMany(usize),
    #[error("too many unprivileged clients ({0} of max_clients are reserved for root)")]
    Reserved(usize),
    #[error("too many clients of uid {uid} (max_clients_per_uid = {max})")]
    PerUid { uid: u32, max: usize },
    #[error("too many TLS handshakes in progress (max_anonymous_clients = {0})")]
    Anonymous(usize),
}

#[derive(Default)]
struct Use {
    clients: usize,
    bytes: usize,
}

#[derive(Default)]
struct State {
    clients: usize,
    /// Clients that are not privileged.
    unprivileged: usize,
    bytes: usize,
    per_uid: HashMap<u32, Use>,
}

/// The daemon's limits and what is in use.
pub struct Limits {
    max_clients: usize,
    reserved_clients: usize,
    max_clients_per_uid: usize,
    max_anonymous: usize,
    max_workers: usize,
    max_bytes: usize,
    /// Bytes of `max_bytes` only privileged clients may use: one largest message.
    reserved_bytes: usize,
    max_bytes_per_uid: usize,
    state: Mutex<State>,
    anonymous: AtomicUsize,
    workers: AtomicUsize,
    /// Refusals are logged at most this often, with a count of those not logged.
    refusal_log: RateLimit,
}

impl Limits {
    pub fn new(cfg: &Config) -> Arc<Limits> {
        Arc::new(Limits {
            max_clients: cfg.max_clients,
            reserved_clients: cfg.reserved_rw_clients.min(cfg.max_clients),
            max_clients_per_uid: cfg.max_clients_per_uid,
            max_anonymous: cfg.max_anonymous_clients,
            max_workers: cfg.max_workers,
            max_bytes: cfg.max_partial_bytes,
            reserved_bytes: cfg.max_message_size.min(cfg.max_partial_bytes),
            max_bytes_per_uid: cfg.max_partial_bytes_per_uid,
            state: Mutex::new(State::default()),
            anonymous: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
            refusal_log: RateLimit::per_period(Duration::from_secs(10)),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a connection slot for a client of `class`.
    pub fn admit(self: &Arc<Self>, class: Class) -> Result<ClientSlot, Refusal> {
        let mut s = self.state();
        if s.clients >= self.max_clients {
            return Err(Refusal::TooMany(self.max_clients));
        }
        if class != Class::Privileged && s.unprivileged >= self.max_clients - self.reserved_clients {
            return Err(Refusal::Reserved(self.reserved_clients));
        }
        if let Class::Local(uid) = class {
            let u = s.per_uid.entry(uid).or_default();
            if u.clients >= self.max_clients_per_uid {
                return Err(Refusal::PerUid { uid, max: self.max_clients_per_uid });
            }
            u.clients += 1;
        }
        s.clients += 1;
        if class != Class::Privileged {
            s.unprivileged += 1;
        }
        Ok(ClientSlot { limits: self.clone(), class })
    }

    /// Takes one of `max_anonymous_clients` slots for a client still authenticating.
    pub fn admit_anonymous(self: &Arc<Self>) -> Result<AnonymousSlot, Refusal> {
        let n = self.anonymous.fetch_add(1, Ordering::AcqRel);
        if n >= self.max_anonymous {
            self.anonymous.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Anonymous(self.max_anonymous));
        }
        Ok(AnonymousSlot { limits: self.clone() })
    }

    /// One of `max_workers` call worker threads, if any is left.
    pub fn try_worker(self: &Arc<Self>) -> Option<WorkerSlot> {
        let n = self.workers.fetch_add(1, Ordering::AcqRel);
        if n >= self.max_workers {
            self.workers.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(WorkerSlot { limits: self.clone() })
    }

    /// Logs a refused connection, at most once per period (with how many went unlogged).
    pub fn log_refusal(&self, r: &Refusal, pid: i32, peer: &str) {
        if let Some(suppressed) = self.refusal_log.allow() {
            tracing::warn!(pid, peer, suppressed, "refusing a client: {r}");
        }
    }

    /// Reserves `n` more bytes for `class`; `force` ignores the caps (for bytes that are only
    /// moving from one reservation to another).
    fn reserve(&self, class: Class, n: usize, force: bool) -> bool {
        let mut s = self.state();
        if !force {
            // Unprivileged clients leave the reserved bytes free for root.
            let cap = if class == Class::Privileged { self.max_bytes } else { self.max_bytes - self.reserved_bytes };
            if s.bytes + n > cap {
                return false;
            }
            if let Class::Local(uid) = class {
                if s.per_uid.get(&uid).map_or(0, |u| u.bytes) + n > self.max_bytes_per_uid {
                    return false;
                }
            }
        }
        s.bytes += n;
        if let Class::Local(uid) = class {
            s.per_uid.entry(uid).or_default().bytes += n;
        }
        true
    }

    fn release(&self, class: Class, n: usize) {
        if n == 0 {
            return;
        }
        let mut s = self.state();
        s.bytes = s.bytes.saturating_sub(n);
        if let Class::Local(uid) = class {
            if let Some(u) = s.per_uid.get_mut(&uid) {
                u.bytes = u.bytes.saturating_sub(n);
                if u.clients == 0 && u.bytes == 0 {
                    s.per_uid.remove(&uid);
                }
            }
        }
    }

    /// Bytes of client input held now, daemon-wide.
    pub fn bytes_in_use(&self) -> usize {
        self.state().bytes
    }
}

/// A client's connection slot; freed on drop.
pub struct ClientSlot {
    limits: Arc<Limits>,
    class: Class,
}

impl ClientSlot {
    pub fn class(&self) -> Class {
        self.class
    }
    /// An empty byte reservation of this client, to grow as its input arrives.
    pub fn bytes(&self) -> Bytes {
        Bytes { limits: self.limits.clone(), class: self.class, n: 0 }
    }
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut s = self.limits.state();
        s.clients = s.clients.saturating_sub(1);
        if self.class != Class::Privileged {
            s.unprivileged = s.unprivileged.saturating_sub(1);
        }
        if let Class::Local(uid) = self.class {
            if let Some(u) = s.per_uid.get_mut(&uid) {
                u.clients = u.clients.saturating_sub(1);
                if u.clients == 0 && u.bytes == 0 {
                    s.per_uid.remove(&uid);
                }
            }
        }
    }
}

pub struct AnonymousSlot {
    limits: Arc<Limits>,
}

impl Drop for AnonymousSlot {
    fn drop(&mut self) {
        self.limits.anonymous.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A running worker thread's share of `max_workers`.
pub struct WorkerSlot {
    limits: Arc<Limits>,
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        self.limits.workers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Bytes of client input reserved from the budget; released on drop.
pub struct Bytes {
    limits: Arc<Limits>,
    class: Class,
    n: usize,
}

impl Bytes {
    pub fn held(&self) -> usize {
        self.n
    }

    /// Grows the reservation to `n` bytes; false (and nothing reserved) if a cap forbids it.
    pub fn grow_to(&mut self, n: usize) -> bool {
        if n <= self.n {
            return true;
        }
        if !self.limits.reserve(self.class, n - self.n, false) {
            return false;
        }
        self.n = n;
        true
    }

    /// Shrinks the reservation to `n` bytes.
    pub fn shrink_to(&mut self, n: usize) {
        if n < self.n {
            self.limits.release(self.class, self.n - n);
            self.n = n;
        }
    }

    /// A second reservation of `n` bytes for the same client, granted even over the caps: for
    /// a message copied out of the input buffer, whose bytes the buffer gives back next.
    pub fn split_forced(&self, n: usize) -> Bytes {
        self.limits.reserve(self.class, n, true);
        Bytes { limits: self.limits.clone(), class: self.class, n }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        self.limits.release(self.class, self.n);
    }
}

/// A token bucket for log lines that clients cause: any local user can connect, misbehave and
/// be refused in a loop, and must not grow root's log without bound. Within the budget a line is
/// logged as usual; beyond it the caller stays quiet (or drops to debug level), and the next line
/// allowed says how many were quieted.
pub struct RateLimit {
    per_sec: f64,
    burst: f64,
    state: Mutex<(f64, Instant, u64)>,
}

impl RateLimit {
    /// `per_sec` lines a second on average, bursts of `burst`.
    pub fn new(per_sec: f64, burst: f64) -> RateLimit {
        RateLimit { per_sec, burst, state: Mutex::new((burst, Instant::now(), 0)) }
    }

    /// At most one line per `period` (every line with a zero period).
    pub fn per_period(period: Duration) -> RateLimit {
        let per_sec = if period.is_zero() { f64::INFINITY } else { 1.0 / period.as_secs_f64() };
        RateLimit::new(per_sec, 1.0)
    }

    /// `Some(lines quieted since the last one allowed)`, or `None`: stay quiet about this one.
    pub fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill =
            if self.per_sec.is_infinite() { self.burst } else { now.duration_since(s.1).as_secs_f64() * self.per_sec };
        s.0 = (s.0 + refill).min(self.burst);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            Some(std::mem::take(&mut s.2))
        } else {
            s.2 += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_budget_quiets_a_flood_and_says_so() {
        let b = RateLimit::new(1.0, 3.0);
        assert_eq!((0..3).filter_map(|_| b.allow()).count(), 3);
        assert_eq!((0..100).filter_map(|_| b.allow()).count(), 0);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(b.allow(), Some(100));
    }

    fn cfg() -> Config {
        Config {
            max_clients: 10,
            reserved_rw_clients: 2,
            max_clients_per_uid: 3,
            max_anonymous_clients: 1,
            max_workers: 2,
            max_message_size: 100,
            max_partial_bytes: 1000,
            max_partial_bytes_per_uid: 300,
            ..Config::default()
        }
    }

    #[test]
    fn client_caps_and_reserve() {
        let l = Limits::new(&cfg());
        let mut a: Vec<_> = (0..3).map(|_| l.admit(Class::Local(1000)).unwrap()).collect();
        assert_eq!(l.admit(Class::Local(1000)).err(), Some(Refusal::PerUid { uid: 1000, max: 3 }));
        a.extend((0..3).map(|_| l.admit(Class::Local(1001)).unwrap()));
        a.extend((0..2).map(|_| l.admit(Class::Remote).unwrap()));
        // 8 unprivileged: the last 2 slots are root's.
        assert_eq!(l.admit(Class::Local(1002)).err(), Some(Refusal::Reserved(2)));
        let r1 = l.admit(Class::Privileged).unwrap();
        let _r2 = l.admit(Class::Privileged).unwrap();
        assert_eq!(l.admit(Class::Privileged).err(), Some(Refusal::TooMany(10)));
        drop(r1);
        assert!(l.admit(Class::Privileged).is_ok());
        a.clear();
        assert!(l.state().per_uid.is_empty());
        let _b = l.admit(Class::Local(1000)).unwrap();
        let an = l.admit_anonymous().unwrap();
        assert!(l.admit_anonymous().is_err());
        drop(an);
        assert!(l.admit_anonymous().is_ok());
        let w: Vec<_> = (0..2).map(|_| l.try_worker().unwrap()).collect();
        assert!(l.try_worker().is_none());
        drop(w);
        assert!(l.try_worker().is_some());
    }

    #[test]
    fn byte_budget() {
        let l = Limits::new(&cfg());
        let a = l.admit(Class::Local(1000)).unwrap();
        let mut b1 = a.bytes();
        assert!(b1.grow_to(300));
        assert!(!b1.grow_to(301), "per-uid cap");
        let others: Vec<_> = (0..3).map(|i| l.admit(Class::Local(2000 + i)).unwrap()).collect();
        let mut bs: Vec<_> = others.iter().map(|c| c.bytes()).collect();
        assert!(bs[0].grow_to(300) && bs[1].grow_to(300));
        // 900 used; unprivileged may use 1000 - 100 (one message is root's).
        assert!(!bs[2].grow_to(1));
        let root = l.admit(Class::Privileged).unwrap();
        let mut rb = root.bytes();
        assert!(rb.grow_to(100));
        assert!(!rb.grow_to(101), "global cap");
        drop(bs);
        assert!(rb.grow_to(400));
        let m = b1.split_forced(50);
        b1.shrink_to(0);
        assert_eq!(l.bytes_in_use(), 450);
        drop((m, rb));
        assert_eq!(l.bytes_in_use(), 0);
    }

    #[test]
    fn rate_limit() {
        let r = RateLimit::per_period(Duration::from_secs(3600));
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), None);
        assert_eq!(r.allow(), None);
        let r2 = RateLimit::per_period(Duration::ZERO);
        assert_eq!(r2.allow(), Some(0));
    }
}
