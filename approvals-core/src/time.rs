//! Wall-clock timestamps for records and deadlines.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in wall-clock time, serialized as RFC 3339 in UTC with
/// millisecond precision (`2026-11-21T19:42:16.123Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(SystemTime::now())
    }

    /// The timestamp for a system time.
    pub fn from_system_time(time: SystemTime) -> Self {
        Self(time)
    }

    /// The system time of this timestamp.
    pub fn as_system_time(self) -> SystemTime {
        self.0
    }

    /// Milliseconds since the Unix epoch (0 for earlier times).
    pub fn unix_millis(self) -> u128 {
        self.0
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis())
    }

    /// This timestamp moved `duration` later (saturating).
    #[must_use]
    pub fn after(self, duration: Duration) -> Self {
        Self(self.0.checked_add(duration).unwrap_or(self.0))
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-21T19:42:16Z`.
    pub fn parse(text: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(text).ok().map(Self)
    }
}

/// Where the gate reads the time: for a request's deadline when it is
/// opened, and to judge whether a vote arrived before it.
///
/// The default is [`SystemClock`]; tests inject their own with
/// [`GateBuilder::clock`](crate::GateBuilder::clock). Timers that wake a
/// waiting caller use Tokio's clock; the deadline rule uses this one, so a
/// vote judged after the deadline never counts, however late the caller's
/// timer fires on a busy runtime.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_millis(self.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp::from_system_time(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        let json = serde_json::to_string(&t).unwrap_or_default();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        let back: Option<Timestamp> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(t));
    }
}
