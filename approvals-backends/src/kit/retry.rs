//! Retries of a service that is rate-limited or failing, in one budget.

use std::time::Duration;

/// How a channel retries a call to its service (Slack's Web API, the Bot
/// Connector, a webhook receiver).
///
/// A `429` waits for the service's `Retry-After` (or
/// [`default_wait`](RetryPolicy::default_wait) without one); a transport
/// error or a `5xx` backs off exponentially from
/// [`first_backoff`](RetryPolicy::first_backoff). Either way at most
/// [`max_retries`](RetryPolicy::max_retries) retries are made, and a wait
/// longer than [`max_wait`](RetryPolicy::max_wait) ends the call at once
/// rather than holding a request that long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest wait before a retry.
    pub max_wait: Duration,
    /// The first back-off after a failure; it doubles with each retry.
    pub first_backoff: Duration,
    /// The wait after a `429` without a usable `Retry-After`.
    pub default_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three retries, waits of at most 30 seconds, back-off from 500 ms, and
    /// one second after a `429` that names no wait.
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_wait: Duration::from_secs(30),
            first_backoff: Duration::from_millis(500),
            default_wait: Duration::from_secs(1),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Wait this long, then try again.
    After(Duration),
    /// Stop: the budget is spent, or the wait asked for is too long.
    GiveUp,
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Sets the number of retries.
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Sets the longest wait.
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Sets the first back-off.
    #[must_use]
    pub fn first_backoff(mut self, backoff: Duration) -> Self {
        self.first_backoff = backoff;
        self
    }

    /// After `retries` retries already made, a `429` that asked to wait
    /// `retry_after` (`None`: it did not say).
    pub fn after_rate_limit(&self, retries: u32, retry_after: Option<Duration>) -> Retry {
        let wait = retry_after.unwrap_or(self.default_wait);
        self.within_budget(retries, wait)
    }

    /// After `retries` retries already made, a transport error or a `5xx`.
    pub fn after_failure(&self, retries: u32) -> Retry {
        let wait = self
            .first_backoff
            .saturating_mul(2u32.saturating_pow(retries.min(16)));
        self.within_budget(retries, wait.min(self.max_wait))
    }

    fn within_budget(&self, retries: u32, wait: Duration) -> Retry {
        if retries >= self.max_retries || wait > self.max_wait {
            Retry::GiveUp
        } else {
            Retry::After(wait)
        }
    }
}

/// Reads a `Retry-After` header value given in seconds (the form Slack,
/// the Bot Connector and most APIs send). An HTTP date, a negative or
/// unreadable value is `None`.
pub fn retry_after_header(value: Option<&[u8]>) -> Option<Duration> {
    let text = std::str::from_utf8(value?).ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_wait_as_asked_within_the_budget() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_rate_limit(0, Some(Duration::from_secs(7))),
            Retry::After(Duration::from_secs(7))
        );
        assert_eq!(
            policy.after_rate_limit(0, None),
            Retry::After(Duration::from_secs(1))
        );
        assert_eq!(
            policy.after_rate_limit(0, Some(Duration::from_secs(31))),
            Retry::GiveUp,
            "a longer wait than allowed ends the call"
        );
        assert_eq!(policy.after_rate_limit(3, None), Retry::GiveUp);
    }

    #[test]
    fn failures_back_off_exponentially() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_failure(0),
            Retry::After(Duration::from_millis(500))
        );
        assert_eq!(
            policy.after_failure(1),
            Retry::After(Duration::from_secs(1))
        );
        assert_eq!(
            policy.after_failure(2),
            Retry::After(Duration::from_secs(2))
        );
        assert_eq!(policy.after_failure(3), Retry::GiveUp);
        assert_eq!(RetryPolicy::none().after_failure(0), Retry::GiveUp);
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(retry_after_header(Some(b"7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after_header(Some(b" 12 ")),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_after_header(Some(b"-1")), None);
        assert_eq!(
            retry_after_header(Some(b"Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(retry_after_header(None), None);
    }
}
