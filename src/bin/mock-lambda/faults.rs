//! X-Ray endpoint faults (`--xray-fault <spec>`): the spec parser and the queue that hands the
//! faults out in the order given, then normal service.
//!
//! Call-counted faults (`500:N`, `503:N`, `429:N`, `unprocessed:N`, `invalid:N`,
//! `slow:<ms>:N`, `hang:N`) each take the next N `PutTraceSegments` calls that reach the
//! endpoint. A `down:<ms>` window opens when it reaches the head of the queue, but never before
//! the first invocation starts ([`FaultQueue::arm`]); while it is open the endpoint refuses
//! connections. Calls that arrive while a `down` at the head is not armed yet are served
//! normally and do not advance the queue.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// What one call gets instead of normal service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 `{"__type":"InternalFailure"}`.
    InternalFailure,
    /// HTTP 503 `{"__type":"ServiceUnavailableException"}`.
    Unavailable,
    /// HTTP 429 `{"__type":"ThrottledException","message":"Rate exceeded"}`.
    Throttled,
    /// HTTP 200, every document returned in `UnprocessedTraceSegments` with ErrorCode
    /// `ThrottledException` (retryable); nothing recorded.
    Unprocessed,
    /// As `Unprocessed` with ErrorCode `InvalidSegment` (not retryable).
    Invalid,
    /// Normal service, but the answer comes this much later (documents are recorded on arrival).
    Slow(Duration),
    /// The call is read and never answered.
    Hang,
}

impl Fault {
    /// The key in the report's `xray_faults_injected`.
    pub fn key(self) -> &'static str {
        match self {
            Fault::InternalFailure => "500",
            Fault::Unavailable => "503",
            Fault::Throttled => "429",
            Fault::Unprocessed => "unprocessed",
            Fault::Invalid => "invalid",
            Fault::Slow(_) => "slow",
            Fault::Hang => "hang",
        }
    }

    /// HTTP status and AWS JSON error body, for the faults that answer with an error.
    pub fn error_answer(self) -> Option<(u16, serde_json::Value)> {
        use serde_json::json;
        match self {
            Fault::InternalFailure => Some((500, json!({"__type": "InternalFailure"}))),
            Fault::Unavailable => Some((503, json!({"__type": "ServiceUnavailableException"}))),
            Fault::Throttled => Some((
                429,
                json!({"__type": "ThrottledException", "message": "Rate exceeded"}),
            )),
            _ => None,
        }
    }

    /// `ErrorCode` for the faults that answer with every document unprocessed.
    pub fn unprocessed_code(self) -> Option<&'static str> {
        match self {
            Fault::Unprocessed => Some("ThrottledException"),
            Fault::Invalid => Some("InvalidSegment"),
            _ => None,
        }
    }
}

/// Key of `down` windows in `xray_faults_injected`.
pub const DOWN_KEY: &str = "down";

/// One parsed `--xray-fault`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSpec {
    /// The next `n` calls get `fault`.
    Calls { fault: Fault, n: u32 },
    /// Refuse connections for this long.
    Down(Duration),
}

impl FaultSpec {
    /// The report key this spec counts under.
    pub fn key(&self) -> &'static str {
        match self {
            FaultSpec::Calls { fault, .. } => fault.key(),
            FaultSpec::Down(_) => DOWN_KEY,
        }
    }
}

/// Parses `500:N`, `503:N`, `429:N`, `unprocessed:N`, `invalid:N`, `slow:<ms>:N`, `down:<ms>`,
/// `hang:N`.
pub fn parse_fault(spec: &str) -> Result<FaultSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let num = |s: &str, what: &str| -> Result<u64, String> {
        s.parse::<u64>()
            .map_err(|_| format!("--xray-fault {spec:?}: {what} must be a non-negative integer"))
    };
    let count = |s: &str| -> Result<u32, String> {
        s.parse::<u32>()
            .map_err(|_| format!("--xray-fault {spec:?}: N must be a non-negative integer"))
    };
    let calls = |fault, n: &str| -> Result<FaultSpec, String> {
        Ok(FaultSpec::Calls {
            fault,
            n: count(n)?,
        })
    };
    match parts.as_slice() {
        ["500", n] => calls(Fault::InternalFailure, n),
        ["503", n] => calls(Fault::Unavailable, n),
        ["429", n] => calls(Fault::Throttled, n),
        ["unprocessed", n] => calls(Fault::Unprocessed, n),
        ["invalid", n] => calls(Fault::Invalid, n),
        ["hang", n] => calls(Fault::Hang, n),
        ["slow", ms, n] => calls(Fault::Slow(Duration::from_millis(num(ms, "ms")?)), n),
        ["down", ms] => Ok(FaultSpec::Down(Duration::from_millis(num(ms, "ms")?))),
        _ => Err(format!(
            "--xray-fault {spec:?} is not one of 500:N, 503:N, 429:N, unprocessed:N, invalid:N, \
             slow:<ms>:N, down:<ms>, hang:N"
        )),
    }
}

/// What the endpoint does right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Normal service.
    Normal,
    /// This call gets the fault (one unit consumed).
    Fault(Fault),
    /// A `down` window is open until the given instant: refuse.
    Down(Instant),
}

#[derive(Debug)]
struct Step {
    spec: FaultSpec,
    /// For `down`: the window, once opened.
    window: Option<(Instant, Instant)>,
}

/// The faults still to come, in order.
#[derive(Debug)]
pub struct FaultQueue {
    steps: VecDeque<Step>,
    /// When the current head became the head.
    head_since: Instant,
    /// When the first invocation started (`down` windows wait for it).
    armed_at: Option<Instant>,
    /// `down` windows opened so far, not yet reported by [`FaultQueue::opened_windows`].
    newly_opened: u32,
}

impl FaultQueue {
    pub fn new(specs: &[FaultSpec], now: Instant) -> Self {
        Self {
            steps: specs
                .iter()
                .filter(|s| !matches!(s, FaultSpec::Calls { n: 0, .. }))
                .map(|&spec| Step { spec, window: None })
                .collect(),
            head_since: now,
            armed_at: None,
            newly_opened: 0,
        }
    }

    /// The first invocation started at `at`; `down` windows may open from now on. Idempotent.
    pub fn arm(&mut self, at: Instant) {
        self.armed_at.get_or_insert(at);
    }

    /// Pops expired `down` windows; returns the open window's end, if any.
    fn settle(&mut self, now: Instant) -> Option<Instant> {
        while let Some(head) = self.steps.front_mut() {
            let FaultSpec::Down(len) = head.spec else {
                return None;
            };
            let (start, end) = match head.window {
                Some(w) => w,
                None => {
                    let armed = self.armed_at?;
                    let start = armed.max(self.head_since);
                    let w = (start, start + len);
                    head.window = Some(w);
                    self.newly_opened += 1;
                    w
                }
            };
            if now < end {
                return (now >= start).then_some(end);
            }
            self.steps.pop_front();
            self.head_since = end;
        }
        None
    }

    /// When the open `down` window ends (None: the endpoint is up).
    pub fn down_until(&mut self, now: Instant) -> Option<Instant> {
        self.settle(now)
    }

    /// What a call arriving at `now` gets; consumes one unit of a call-counted fault.
    pub fn take(&mut self, now: Instant) -> Take {
        if let Some(end) = self.settle(now) {
            return Take::Down(end);
        }
        let Some(head) = self.steps.front_mut() else {
            return Take::Normal;
        };
        let FaultSpec::Calls { fault, n } = &mut head.spec else {
            // An unarmed `down`: serve normally.
            return Take::Normal;
        };
        let fault = *fault;
        *n -= 1;
        if *n == 0 {
            self.steps.pop_front();
            self.head_since = now;
        }
        Take::Fault(fault)
    }

    /// Gives back one unit of `fault` (its call was rejected before the fault could apply).
    pub fn put_back(&mut self, fault: Fault) {
        if let Some(Step {
            spec: FaultSpec::Calls { fault: f, n },
            ..
        }) = self.steps.front_mut()
        {
            if *f == fault {
                *n += 1;
                return;
            }
        }
        self.steps.push_front(Step {
            spec: FaultSpec::Calls { fault, n: 1 },
            window: None,
        });
    }

    /// `down` windows opened since the last call.
    pub fn opened_windows(&mut self) -> u32 {
        std::mem::take(&mut self.newly_opened)
    }

    /// True when every fault has been used up.
    #[cfg(test)]
    pub fn is_exhausted(&self) -> bool {
        self.steps.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn parses_every_spec() {
        assert_eq!(
            parse_fault("500:3"),
            Ok(FaultSpec::Calls {
                fault: Fault::InternalFailure,
                n: 3
            })
        );
        assert_eq!(parse_fault("503:1").map(|s| s.key()), Ok("503"), "503 key");
        assert_eq!(parse_fault("429:2").map(|s| s.key()), Ok("429"));
        assert_eq!(
            parse_fault("unprocessed:4"),
            Ok(FaultSpec::Calls {
                fault: Fault::Unprocessed,
                n: 4
            })
        );
        assert_eq!(parse_fault("invalid:1").map(|s| s.key()), Ok("invalid"));
        assert_eq!(
            parse_fault("slow:250:2"),
            Ok(FaultSpec::Calls {
                fault: Fault::Slow(ms(250)),
                n: 2
            })
        );
        assert_eq!(parse_fault("down:1500"), Ok(FaultSpec::Down(ms(1500))));
        assert_eq!(
            parse_fault("hang:1"),
            Ok(FaultSpec::Calls {
                fault: Fault::Hang,
                n: 1
            })
        );
        for bad in [
            "",
            "500",
            "500:",
            "500:x",
            "500:-1",
            "404:1",
            "slow:10",
            "slow:x:1",
            "down",
            "down:1:2",
            "hang",
            "unprocessed:1:1",
            "500:1:",
            " 500:1",
        ] {
            assert!(parse_fault(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_answers() {
        assert_eq!(
            Fault::Throttled.error_answer().unwrap().1["__type"],
            "ThrottledException"
        );
        assert_eq!(Fault::Unavailable.error_answer().unwrap().0, 503);
        assert_eq!(Fault::InternalFailure.error_answer().unwrap().0, 500);
        assert!(Fault::Hang.error_answer().is_none());
        assert_eq!(
            Fault::Unprocessed.unprocessed_code(),
            Some("ThrottledException")
        );
        assert_eq!(Fault::Invalid.unprocessed_code(), Some("InvalidSegment"));
        assert_eq!(Fault::Slow(ms(1)).unprocessed_code(), None);
    }

    #[test]
    fn call_faults_apply_in_order_then_normal() {
        let t0 = Instant::now();
        let specs = [
            parse_fault("500:2").unwrap(),
            parse_fault("429:0").unwrap(),
            parse_fault("hang:1").unwrap(),
            parse_fault("unprocessed:1").unwrap(),
        ];
        let mut q = FaultQueue::new(&specs, t0);
        assert_eq!(q.take(t0), Take::Fault(Fault::InternalFailure));
        assert_eq!(q.take(t0), Take::Fault(Fault::InternalFailure));
        assert_eq!(q.take(t0), Take::Fault(Fault::Hang));
        assert_eq!(q.take(t0), Take::Fault(Fault::Unprocessed));
        assert!(q.is_exhausted());
        assert_eq!(q.take(t0), Take::Normal);
    }

    #[test]
    fn put_back_restores_the_unit() {
        let t0 = Instant::now();
        let mut q = FaultQueue::new(
            &[
                parse_fault("invalid:1").unwrap(),
                parse_fault("503:1").unwrap(),
            ],
            t0,
        );
        assert_eq!(q.take(t0), Take::Fault(Fault::Invalid));
        q.put_back(Fault::Invalid);
        assert_eq!(q.take(t0), Take::Fault(Fault::Invalid));
        assert_eq!(q.take(t0), Take::Fault(Fault::Unavailable));
        q.put_back(Fault::Unavailable);
        q.put_back(Fault::Unavailable);
        assert_eq!(q.take(t0), Take::Fault(Fault::Unavailable));
        assert_eq!(q.take(t0), Take::Fault(Fault::Unavailable));
        assert_eq!(q.take(t0), Take::Normal);
    }

    #[test]
    fn down_waits_for_the_first_invocation() {
        let t0 = Instant::now();
        let mut q = FaultQueue::new(&[parse_fault("down:100").unwrap()], t0);
        // Init-phase calls: up, queue untouched.
        assert_eq!(q.take(t0 + ms(5)), Take::Normal);
        assert_eq!(q.down_until(t0 + ms(5)), None);
        assert_eq!(q.opened_windows(), 0);
        q.arm(t0 + ms(50));
        q.arm(t0 + ms(70)); // idempotent
        assert_eq!(q.down_until(t0 + ms(60)), Some(t0 + ms(150)));
        assert_eq!(q.opened_windows(), 1);
        assert_eq!(q.take(t0 + ms(149)), Take::Down(t0 + ms(150)));
        assert_eq!(q.opened_windows(), 0);
        assert_eq!(q.take(t0 + ms(150)), Take::Normal);
        assert!(q.is_exhausted());
    }

    #[test]
    fn down_after_call_faults_starts_when_they_end() {
        let t0 = Instant::now();
        let mut q = FaultQueue::new(
            &[
                parse_fault("500:1").unwrap(),
                parse_fault("down:100").unwrap(),
                parse_fault("down:50").unwrap(),
                parse_fault("429:1").unwrap(),
            ],
            t0,
        );
        q.arm(t0);
        assert_eq!(q.take(t0 + ms(10)), Take::Fault(Fault::InternalFailure));
        // The window runs from the 500 (t0+10) for 100 ms, then the next one for 50 ms.
        assert_eq!(q.down_until(t0 + ms(20)), Some(t0 + ms(110)));
        assert_eq!(q.down_until(t0 + ms(120)), Some(t0 + ms(160)));
        assert_eq!(q.opened_windows(), 2);
        assert_eq!(q.take(t0 + ms(170)), Take::Fault(Fault::Throttled));
        assert_eq!(q.take(t0 + ms(171)), Take::Normal);
    }

    #[test]
    fn a_window_that_passed_unobserved_is_skipped() {
        let t0 = Instant::now();
        let mut q = FaultQueue::new(
            &[
                parse_fault("down:10").unwrap(),
                parse_fault("hang:1").unwrap(),
            ],
            t0,
        );
        q.arm(t0);
        assert_eq!(q.take(t0 + ms(500)), Take::Fault(Fault::Hang));
        assert_eq!(q.opened_windows(), 1);
    }
}
