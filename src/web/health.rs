//! What `/healthz` knows besides the database: how the daemon's last pass
//! went and when. The daemon's loop records each pass here; the handler
//! reads it. Ages are measured on the monotonic clock, so a stepped wall
//! clock does not make the daemon look dead or alive.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The last pass, as the loop recorded it.
#[derive(Debug, Clone)]
enum Last {
    /// No pass has ended yet since the start.
    None { started: Instant },
    /// The last pass went through.
    Ok { at: Instant },
    /// The last pass failed (a store or setup error), or the brake held it.
    Bad {
        at: Instant,
        last_ok: Option<Instant>,
        reason: String,
    },
}

/// The daemon's passes, for `/healthz`. Shared between the loop and the
/// listener (`Arc`).
#[derive(Debug)]
pub struct Health {
    last: Mutex<Last>,
    /// A pass that went through longer ago than this makes the daemon
    /// unhealthy: three times the longest the loop sleeps between passes.
    max_age: Duration,
}

impl Health {
    /// Nothing passed yet. Healthy while the latest pass went through at
    /// most `max_age` ago; before the first pass ends, for `max_age` from
    /// `now` (the start), so a first pass that delivers a backlog is not
    /// taken for a dead daemon.
    pub fn new(max_age: Duration, now: Instant) -> Health {
        Health {
            last: Mutex::new(Last::None { started: now }),
            max_age,
        }
    }

    /// The longest a good pass counts.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// A pass went through at `now`.
    pub fn passed(&self, now: Instant) {
        *self.lock() = Last::Ok { at: now };
    }

    /// A pass did not go through at `now`: `what` happened, in words
    /// that follow "the last pass" (`failed: the database is locked`,
    /// `was held by the brake: …`); its first line is kept.
    pub fn failed(&self, now: Instant, what: &str) {
        let mut last = self.lock();
        let last_ok = match &*last {
            Last::Ok { at } => Some(*at),
            Last::Bad { last_ok, .. } => *last_ok,
            Last::None { .. } => None,
        };
        let reason = what.lines().next().unwrap_or("").to_string();
        *last = Last::Bad {
            at: now,
            last_ok,
            reason,
        };
    }

    /// `Ok` when the last pass went through within `max_age` of `now`,
    /// else why not, in one line.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        let secs = |since: Instant| now.saturating_duration_since(since).as_secs();
        match &*self.lock() {
            Last::Ok { at } if now.saturating_duration_since(*at) <= self.max_age => Ok(()),
            Last::Ok { at } => Err(format!(
                "no pass for {} s (at most {} s expected)",
                secs(*at),
                self.max_age.as_secs()
            )),
            // The first pass gets the same time from the start.
            Last::None { started } if now.saturating_duration_since(*started) <= self.max_age => {
                Ok(())
            }
            Last::None { started } => Err(format!(
                "no pass has finished in the {} s since the start",
                secs(*started)
            )),
            Last::Bad { at, reason, .. } => {
                Err(format!("the last pass, {} s ago, {reason}", secs(*at)))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn healthy_while_passes_are_recent_and_the_first_one_gets_as_long() {
        let t0 = Instant::now();
        let h = Health::new(3 * MIN, t0);
        assert_eq!(h.check(t0 + 3 * MIN), Ok(()));
        let e = h.check(t0 + 3 * MIN + Duration::from_secs(1)).unwrap_err();
        assert_eq!(e, "no pass has finished in the 181 s since the start");
        h.passed(t0 + Duration::from_secs(3));
        assert_eq!(h.check(t0 + Duration::from_secs(4)), Ok(()));
        assert_eq!(h.check(t0 + Duration::from_secs(3) + 3 * MIN), Ok(()));
        let e = h.check(t0 + Duration::from_secs(4) + 3 * MIN).unwrap_err();
        assert_eq!(e, "no pass for 181 s (at most 180 s expected)");
    }

    #[test]
    fn a_failed_pass_is_unhealthy_with_its_first_line_until_one_goes_through() {
        let t0 = Instant::now();
        let h = Health::new(3 * MIN, t0);
        h.passed(t0);
        h.failed(t0 + MIN, "failed: the database is locked\nsecond line");
        let e = h.check(t0 + MIN + Duration::from_secs(5)).unwrap_err();
        assert_eq!(e, "the last pass, 5 s ago, failed: the database is locked");
        h.passed(t0 + 2 * MIN);
        assert_eq!(h.check(t0 + 2 * MIN), Ok(()));
    }
}
