//! Sign-in throttling: after [`FREE_FAILURES`] failed attempts for an account, or from an
//! address, each further attempt must wait a delay that doubles with every failure (1 s, 2 s,
//! 4 s … up to [`MAX_DELAY`]). An attempt counts as a failure from the moment it is let in, so
//! guesses sent at once cannot all pass before the first is checked; a success takes its own
//! count back and clears the account's (not the address's: one good password must not buy more
//! guesses at other accounts). Counts are forgotten after [`FORGET_AFTER`] without failures.
//! Addresses are counted per IPv4 address and per IPv6 /64 (what one host usually holds).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
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
    /// Lets an attempt at `account` from `address` in, counted as a failure until
    /// [`SignInThrottle::succeeded`] says otherwise; or says how long the caller must wait.
    pub fn attempt(&self, account: &str, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let (account, address) = (account_key(account), address_key(address));
        // Both maps stay locked from the check to the count: no attempt slips in between.
        let mut accounts = lock(&self.accounts);
        let mut addresses = lock(&self.addresses);
        let wait = wait_of(&accounts, &account, now).max(wait_of(&addresses, &address, now));
        if let Some(wait) = wait {
            return Err(wait);
        }
        record(&mut accounts, account, now);
        record(&mut addresses, address, now);
        Ok(())
    }

    /// The attempt let in by [`SignInThrottle::attempt`] was right.
    pub fn succeeded(&self, account: &str, address: IpAddr) {
        lock(&self.accounts).remove(&account_key(account));
        if let Some(failures) = lock(&self.addresses).get_mut(&address_key(address)) {
            failures.count = failures.count.saturating_sub(1);
        }
    }
}

/// Names fold case and are cut to a valid name's length, so odd input cannot grow the map.
fn account_key(account: &str) -> String {
    account
        .trim()
        .chars()
        .take(64)
        .collect::<String>()
        .to_lowercase()
}

fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}

fn wait_of<K: Eq + Hash>(map: &HashMap<K, Failures>, key: &K, now: Instant) -> Option<Duration> {
    let next = map.get(key)?.next_allowed();
    (next > now).then(|| next - now)
}

fn record<K: Eq + Hash>(map: &mut HashMap<K, Failures>, key: K, now: Instant) {
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
    fn five_attempts_are_free_then_the_delay_doubles() {
        let throttle = SignInThrottle::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(throttle.attempt("alice", HOME), Ok(()));
        }
        let first = throttle
            .attempt("alice", HOME)
            .expect_err("a delay after five");
        assert!(first <= Duration::from_secs(1) && first > Duration::from_millis(900));
        let mut failures = lock(&throttle.accounts)["alice"];
        failures.last -= Duration::from_secs(1);
        lock(&throttle.accounts).insert("alice".into(), failures);
        lock(&throttle.addresses).clear();
        assert_eq!(throttle.attempt(" ALICE ", HOME), Ok(()), "names fold case");
        let second = throttle.attempt("alice", HOME).expect_err("the delay grew");
        assert!(second > Duration::from_millis(1900), "{second:?}");
    }

    #[test]
    fn a_success_takes_its_attempt_back() {
        let throttle = SignInThrottle::default();
        for _ in 0..20 {
            throttle.attempt("alice", HOME).unwrap();
            throttle.succeeded("alice", HOME);
        }
        assert_eq!(throttle.attempt("bob", HOME), Ok(()));
    }

    #[test]
    fn ipv6_hosts_count_per_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_host: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(one), address_key(same_host));
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(address_key(mapped), ELSEWHERE);
    }

    #[test]
    fn accounts_and_addresses_are_throttled_apart() {
        let throttle = SignInThrottle::default();
        for name in ["a", "b", "c", "d", "e"] {
            throttle.attempt(name, HOME).unwrap();
        }
        assert!(
            throttle.attempt("g", HOME).is_err(),
            "the address guessed too much"
        );
        assert!(
            throttle.attempt("g", ELSEWHERE).is_ok(),
            "another address is free"
        );
        let third: IpAddr = "10.0.0.10".parse().unwrap();
        for _ in 0..FREE_FAILURES {
            throttle.attempt("bob", third).unwrap();
        }
        assert!(
            throttle
                .attempt("bob", "10.0.0.11".parse().unwrap())
                .is_err(),
            "the account guessed too much, from anywhere"
        );
    }
}
