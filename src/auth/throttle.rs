//! Sign-in throttling: after [`FREE_FAILURES`] failed attempts for an account, or from an
//! address, each further attempt must wait a delay that doubles with every failure (1 s, 2 s,
//! 4 s … up to [`MAX_DELAY`]). A success clears the account's count (not the address's: one
//! good password must not buy more guesses at other accounts); counts are forgotten after
//! [`FORGET_AFTER`] without failures.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Entries kept per map before the old ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Failures {
    /// When the next attempt may be made.
    fn next_allowed(&self) -> Instant {
        if self.count < FREE_FAILURES {
            return self.last;
        }
        let doublings = (self.count - FREE_FAILURES).min(20);
        let delay = Duration::from_secs(1 << doublings).min(MAX_DELAY);
        self.last + delay
    }
}

#[derive(Default)]
pub struct SignInThrottle {
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl SignInThrottle {
    /// How long the caller must wait before trying this account from this address, if at all.
    pub fn wait(&self, account: &str, address: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let account = wait_of(&self.accounts, &account.to_lowercase(), now);
        let address = wait_of(&self.addresses, &address, now);
        account.max(address)
    }

    pub fn failed(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        record(&self.accounts, account.to_lowercase(), now);
        record(&self.addresses, address, now);
    }

    pub fn succeeded(&self, account: &str) {
        lock(&self.accounts).remove(&account.to_lowercase());
    }
}

fn wait_of<K: Eq + Hash>(
    map: &Mutex<HashMap<K, Failures>>,
    key: &K,
    now: Instant,
) -> Option<Duration> {
    let next = lock(map).get(key)?.next_allowed();
    (next > now).then(|| next - now)
}

fn record<K: Eq + Hash>(map: &Mutex<HashMap<K, Failures>>, key: K, now: Instant) {
    let mut map = lock(map);
    if map.len() >= SWEEP_AT {
        map.retain(|_, failures| now.duration_since(failures.last) < FORGET_AFTER);
    }
    let entry = map.entry(key).or_insert(Failures {
        count: 0,
        last: now,
    });
    if now.duration_since(entry.last) >= FORGET_AFTER {
        entry.count = 0;
    }
    entry.count += 1;
    entry.last = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

    #[test]
    fn five_failures_are_free_then_the_delay_doubles() {
        let throttle = SignInThrottle::default();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed("alice", HOME);
            assert_eq!(throttle.wait("alice", HOME), None);
        }
        throttle.failed("alice", HOME);
        let first = throttle.wait("alice", HOME).expect("a delay after five");
        assert!(first <= Duration::from_secs(1) && first > Duration::from_millis(900));
        throttle.failed("alice", HOME);
        let second = throttle.wait("Alice", HOME).expect("names fold case");
        assert!(second > Duration::from_millis(1900), "{second:?}");
    }

    #[test]
    fn accounts_and_addresses_are_throttled_apart_and_a_success_clears_the_account() {
        let throttle = SignInThrottle::default();
        for name in ["a", "b", "c", "d", "e", "f"] {
            throttle.failed(name, HOME);
        }
        assert!(
            throttle.wait("g", HOME).is_some(),
            "the address guessed too much"
        );
        assert!(
            throttle.wait("g", ELSEWHERE).is_none(),
            "another address is free"
        );
        for _ in 0..6 {
            throttle.failed("bob", ELSEWHERE);
        }
        assert!(
            throttle.wait("bob", HOME).is_some(),
            "the account guessed too much"
        );
        throttle.succeeded("bob");
        assert!(
            throttle.wait("bob", HOME).is_some(),
            "the address still waits"
        );
        assert!(
            throttle.wait("bob", ELSEWHERE).is_some(),
            "so does the address that guessed"
        );
        assert!(throttle.wait("bob", "10.0.0.10".parse().unwrap()).is_none());
    }
}
