//! The calendar feeds built lately, so that calendar clients polling
//! together (or one polling in a loop) do not build the same feed again
//! and again: a feed of a large wheel reads three years of occurrences
//! from the database. Builds take turns (one at a time), so a flood of
//! feed requests holds the database for one reading at a time and leaves
//! it to passes, completions and `/healthz` in between.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::wheel::Wheel;

/// How long a built feed answers later requests for it: well within the
/// hour the feed asks clients to wait (`REFRESH-INTERVAL`).
pub const FEED_CACHE: Duration = Duration::from_secs(60);

/// Feeds by viewer (`ViewerClaims::viewer.as_key()`), each for the token
/// version and wheel it was built for. Behind a `tokio` mutex held while a
/// feed is built: the turns.
#[derive(Debug, Default)]
pub struct FeedCache {
    feeds: HashMap<String, Built>,
}

#[derive(Debug)]
struct Built {
    at: Instant,
    version: u32,
    /// The wheel it was built from (a reload makes a new one).
    wheel: Arc<Wheel>,
    body: Arc<str>,
}

impl FeedCache {
    /// The feed of `viewer` built at most [`FEED_CACHE`] before `now`,
    /// for this token `version` and this `wheel`.
    pub fn get(
        &self,
        viewer: &str,
        version: u32,
        wheel: &Arc<Wheel>,
        now: Instant,
    ) -> Option<Arc<str>> {
        let b = self.feeds.get(viewer)?;
        (b.version == version
            && Arc::ptr_eq(&b.wheel, wheel)
            && now.saturating_duration_since(b.at) <= FEED_CACHE)
            .then(|| b.body.clone())
    }

    /// Keeps `body`, built at `now`, and forgets the feeds too old to serve.
    pub fn put(
        &mut self,
        viewer: String,
        version: u32,
        wheel: Arc<Wheel>,
        body: Arc<str>,
        now: Instant,
    ) {
        self.feeds
            .retain(|_, b| now.saturating_duration_since(b.at) <= FEED_CACHE);
        self.feeds.insert(
            viewer,
            Built {
                at: now,
                version,
                wheel,
                body,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_serves_a_minute_for_its_version_and_wheel_only() {
        let wheel = Arc::new(
            crate::wheel::parse(include_str!("../../schedule.toml"), "schedule.toml").unwrap(),
        );
        let t0 = Instant::now();
        let mut c = FeedCache::default();
        c.put("p:anna".into(), 2, wheel.clone(), Arc::from("feed"), t0);
        assert_eq!(
            c.get("p:anna", 2, &wheel, t0 + FEED_CACHE).as_deref(),
            Some("feed")
        );
        assert_eq!(
            c.get(
                "p:anna",
                2,
                &wheel,
                t0 + FEED_CACHE + Duration::from_millis(1)
            ),
            None
        );
        assert_eq!(c.get("p:anna", 3, &wheel, t0), None, "revoked since");
        let reloaded = Arc::new((*wheel).clone());
        assert_eq!(c.get("p:anna", 2, &reloaded, t0), None, "reloaded since");
        assert_eq!(c.get("p:bo", 2, &wheel, t0), None);
        // Old feeds are dropped as new ones come.
        c.put(
            "p:bo".into(),
            0,
            wheel.clone(),
            Arc::from("bo"),
            t0 + 2 * FEED_CACHE,
        );
        assert_eq!(c.feeds.len(), 1);
    }
}
