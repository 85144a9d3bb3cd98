//! Flush strategies: when the lifecycle exports, traded between delivery delay and billed
//! post-runtime duration (config `extensions.lambda.flush`, README "Flush strategies").
//!
//! | strategy | when | post-runtime duration | delivery delay |
//! |---|---|---|---|
//! | `end` | after `platform.runtimeDone`, before `/next` | runtimeDone delay + X-Ray round trip | none |
//! | `periodic,<ms>` | at the start of an invocation once `<ms>` have passed since the last flush, plus a backup timer during long invocations | ~0 (`/next` at once) | up to `<ms>` + the gap between invocations |
//! | `continuous` | starts after runtimeDone, `/next` at once; a flush cut by the freeze resumes on thaw | runtimeDone delay | until the next thaw |
//! | `adaptive` (default) | `end` for the first [`ADAPTIVE_WARMUP`] invocations, then `continuous` while invocations come at least every [`ADAPTIVE_MAX_GAP`] on average, else `end` | | |
//!
//! Nothing is lost either way: a sandbox that is reclaimed gets SHUTDOWN first, and the
//! SHUTDOWN drain delivers what is left. The state here is pure: every method takes `now`,
//! so the choice is unit-tested without sleeping.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Invocations served with `end` before `adaptive` considers switching.
pub const ADAPTIVE_WARMUP: usize = 20;
/// `adaptive` switches to `continuous` when the mean gap between the last
/// [`ADAPTIVE_WARMUP`] invocation starts is below this: data then waits at most about this
/// long for the next thaw, far less than an idle sandbox lives.
pub const ADAPTIVE_MAX_GAP: Duration = Duration::from_secs(60);

/// A configured flush strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushStrategy {
    /// Flush after each invocation, before `/next`.
    End,
    /// Flush when this much time has passed since the last flush.
    Periodic(Duration),
    /// Start flushing after each invocation and ask for `/next` at once.
    Continuous,
    /// `end` at first, `continuous` when invoked often (see the module docs).
    #[default]
    Adaptive,
}

impl fmt::Display for FlushStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlushStrategy::End => f.write_str("end"),
            FlushStrategy::Periodic(d) => write!(f, "periodic,{}", d.as_millis()),
            FlushStrategy::Continuous => f.write_str("continuous"),
            FlushStrategy::Adaptive => f.write_str("adaptive"),
        }
    }
}

/// Why a strategy string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a flush strategy; expected `end`, `periodic,<milliseconds>` (e.g. `periodic,60000`), `continuous` or `adaptive`")]
pub struct FlushStrategyError(pub String);

impl FromStr for FlushStrategy {
    type Err = FlushStrategyError;

    /// `end`, `periodic,<ms>` (ms ≥ 1), `continuous`, `adaptive`; case-insensitive, spaces
    /// around the comma allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let err = || FlushStrategyError(s.to_string());
        match t.as_str() {
            "end" => Ok(FlushStrategy::End),
            "continuous" => Ok(FlushStrategy::Continuous),
            "adaptive" | "default" => Ok(FlushStrategy::Adaptive),
            _ => {
                let (name, ms) = t.split_once(',').ok_or_else(err)?;
                if name.trim() != "periodic" {
                    return Err(err());
                }
                let ms: u64 = ms.trim().parse().map_err(|_| err())?;
                if ms == 0 {
                    return Err(err());
                }
                Ok(FlushStrategy::Periodic(Duration::from_millis(ms)))
            }
        }
    }
}

/// What the lifecycle does for one invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Wait for runtimeDone, flush (awaited), then `/next`.
    End,
    /// Wait for runtimeDone, start a flush in the background, `/next` at once.
    Continuous,
    /// Flush in the background now if `flush_now`, arm a backup timer of `interval` for a
    /// long invocation, and `/next` at once.
    Periodic {
        /// The interval has passed since the last flush.
        flush_now: bool,
        /// The strategy's interval.
        interval: Duration,
    },
}

/// The strategy's memory: invocation starts and the last flush.
#[derive(Debug, Clone)]
pub struct FlushState {
    strategy: FlushStrategy,
    starts: VecDeque<Instant>,
    last_flush: Option<Instant>,
}

impl FlushState {
    /// A fresh state for `strategy`.
    pub fn new(strategy: FlushStrategy) -> Self {
        Self {
            strategy,
            starts: VecDeque::with_capacity(ADAPTIVE_WARMUP + 1),
            last_flush: None,
        }
    }

    /// The configured strategy.
    pub fn strategy(&self) -> FlushStrategy {
        self.strategy
    }

    /// Records an invocation starting at `now` and returns the plan for it.
    pub fn on_invoke(&mut self, now: Instant) -> Plan {
        self.starts.push_back(now);
        if self.starts.len() > ADAPTIVE_WARMUP + 1 {
            self.starts.pop_front();
        }
        match self.strategy {
            FlushStrategy::End => Plan::End,
            FlushStrategy::Continuous => Plan::Continuous,
            FlushStrategy::Periodic(interval) => Plan::Periodic {
                flush_now: self
                    .last_flush
                    .is_none_or(|t| now.saturating_duration_since(t) >= interval),
                interval,
            },
            FlushStrategy::Adaptive => {
                if self.frequent() {
                    Plan::Continuous
                } else {
                    Plan::End
                }
            }
        }
    }

    /// Records that a flush started at `now`.
    pub fn on_flush(&mut self, now: Instant) {
        self.last_flush = Some(now);
    }

    /// Whether the last [`ADAPTIVE_WARMUP`] gaps average below [`ADAPTIVE_MAX_GAP`].
    fn frequent(&self) -> bool {
        if self.starts.len() <= ADAPTIVE_WARMUP {
            return false;
        }
        let (Some(first), Some(last)) = (self.starts.front(), self.starts.back()) else {
            return false;
        };
        let span = last.saturating_duration_since(*first);
        span < ADAPTIVE_MAX_GAP.saturating_mul(ADAPTIVE_WARMUP as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_strategy_and_refuses_the_rest() {
        assert_eq!("end".parse(), Ok(FlushStrategy::End));
        assert_eq!(" Continuous ".parse(), Ok(FlushStrategy::Continuous));
        assert_eq!("adaptive".parse(), Ok(FlushStrategy::Adaptive));
        assert_eq!(
            "periodic, 60000".parse(),
            Ok(FlushStrategy::Periodic(Duration::from_secs(60)))
        );
        for bad in [
            "",
            "periodic",
            "periodic,0",
            "periodic,-5",
            "periodic,abc",
            "sometimes",
            "end,5",
        ] {
            assert!(bad.parse::<FlushStrategy>().is_err(), "{bad:?}");
        }
        assert_eq!(
            FlushStrategy::Periodic(Duration::from_millis(250)).to_string(),
            "periodic,250"
        );
    }

    #[test]
    fn adaptive_is_end_until_warm_then_continuous_while_frequent() {
        let t0 = Instant::now();
        let mut s = FlushState::new(FlushStrategy::Adaptive);
        for i in 0..ADAPTIVE_WARMUP as u64 {
            assert_eq!(
                s.on_invoke(t0 + Duration::from_secs(i)),
                Plan::End,
                "invocation {i}"
            );
        }
        // the next invocation: ADAPTIVE_WARMUP gaps of 1 s → frequent
        let warm = ADAPTIVE_WARMUP as u64;
        assert_eq!(
            s.on_invoke(t0 + Duration::from_secs(warm)),
            Plan::Continuous
        );
        // a long pause: the window now spans more than ADAPTIVE_WARMUP × 60 s → back to end
        assert_eq!(
            s.on_invoke(t0 + Duration::from_secs(warm + 1300)),
            Plan::End
        );
    }

    #[test]
    fn adaptive_stays_end_for_rare_invocations() {
        let t0 = Instant::now();
        let mut s = FlushState::new(FlushStrategy::Adaptive);
        for i in 0..30u64 {
            assert_eq!(s.on_invoke(t0 + Duration::from_secs(i * 120)), Plan::End);
        }
    }

    #[test]
    fn periodic_flushes_when_the_interval_has_passed() {
        let t0 = Instant::now();
        let iv = Duration::from_millis(1000);
        let mut s = FlushState::new(FlushStrategy::Periodic(iv));
        assert_eq!(
            s.on_invoke(t0),
            Plan::Periodic {
                flush_now: true,
                interval: iv
            }
        );
        s.on_flush(t0);
        assert_eq!(
            s.on_invoke(t0 + Duration::from_millis(400)),
            Plan::Periodic {
                flush_now: false,
                interval: iv
            }
        );
        assert_eq!(
            s.on_invoke(t0 + Duration::from_millis(1000)),
            Plan::Periodic {
                flush_now: true,
                interval: iv
            }
        );
    }

    #[test]
    fn end_and_continuous_are_fixed() {
        let t0 = Instant::now();
        let mut e = FlushState::new(FlushStrategy::End);
        let mut c = FlushState::new(FlushStrategy::Continuous);
        for i in 0..20u64 {
            assert_eq!(e.on_invoke(t0 + Duration::from_millis(i)), Plan::End);
            assert_eq!(c.on_invoke(t0 + Duration::from_millis(i)), Plan::Continuous);
        }
    }
}
