//! `memory_limiter`: the limits receivers honour before they buffer a request.
//!
//! The collector's memory limiter measures the process heap every `check_interval` and, above
//! the soft limit (`limit − spike`), refuses data: its error reaches the OTLP receiver, which
//! answers gRPC `UNAVAILABLE` / HTTP 503 so the SDK retries later
//! (`receiver/otlpreceiver/internal/errors`). otlp-xray keeps the contract and measures what
//! it controls: the bytes buffered in the pipeline (encoded spans waiting for the next flush),
//! exactly, at every request. A request is refused when the buffer is at or above the soft
//! limit, or when taking it would put the buffer above the hard limit (a bound the collector
//! cannot promise, since it samples). Nothing already buffered is dropped by this processor.

use crate::config::processors::MemoryLimiterProcessorConfig;

const MIB: u64 = 1024 * 1024;

/// The environment variable Lambda sets to the function's memory size, in MiB.
pub const LAMBDA_MEMORY_ENV: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// Limits in bytes of buffered data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Never exceeded: a request that would go over it is refused.
    pub hard_bytes: usize,
    /// At or above it, every request is refused (`hard − spike`).
    pub soft_bytes: usize,
}

impl MemoryLimit {
    /// The limits of a `memory_limiter` config, as the collector computes them: `limit_mib`
    /// when set, else `limit_percentage` of `total_memory_mib` (the Lambda function's memory
    /// size, see [`total_memory_mib`]); the spike defaults to 20 % of the limit.
    ///
    /// Errors when only percentages are given and the total memory is unknown.
    pub fn from_config(
        cfg: &MemoryLimiterProcessorConfig,
        total_memory_mib: Option<u64>,
    ) -> Result<Self, String> {
        let (limit, spike) = if cfg.limit_mib != 0 {
            (
                u64::from(cfg.limit_mib) * MIB,
                u64::from(cfg.spike_limit_mib) * MIB,
            )
        } else {
            let total = total_memory_mib.ok_or_else(|| {
                format!(
                    "memory_limiter: limit_percentage needs the memory size, but {LAMBDA_MEMORY_ENV} \
                     is unset and /proc/meminfo unreadable; use limit_mib"
                )
            })? * MIB;
            (
                u64::from(cfg.limit_percentage) * total / 100,
                u64::from(cfg.spike_limit_percentage) * total / 100,
            )
        };
        let spike = if spike == 0 { limit / 5 } else { spike };
        let hard = usize::try_from(limit).unwrap_or(usize::MAX);
        let soft = usize::try_from(limit.saturating_sub(spike)).unwrap_or(usize::MAX);
        Ok(Self {
            hard_bytes: hard,
            soft_bytes: soft,
        })
    }

    /// Whether a request of `incoming` bytes must be refused with `buffered` bytes held.
    pub fn refuses(&self, buffered: usize, incoming: usize) -> bool {
        buffered >= self.soft_bytes || buffered.saturating_add(incoming) > self.hard_bytes
    }

    /// The stricter of two limits.
    pub fn min(self, other: MemoryLimit) -> MemoryLimit {
        MemoryLimit {
            hard_bytes: self.hard_bytes.min(other.hard_bytes),
            soft_bytes: self.soft_bytes.min(other.soft_bytes),
        }
    }
}

/// The memory percentages refer to: `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (MiB) from `env`, else
/// the machine's `MemTotal` (outside Lambda, as the collector uses the total memory).
pub fn total_memory_mib(env: impl Fn(&str) -> Option<String>) -> Option<u64> {
    if let Some(mib) = env(LAMBDA_MEMORY_ENV).and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(mib);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_total_mib(&meminfo)
}

fn meminfo_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(limit: u32, spike: u32, pct: u32, spike_pct: u32) -> MemoryLimiterProcessorConfig {
        MemoryLimiterProcessorConfig {
            check_interval: Duration::from_secs(1),
            limit_mib: limit,
            spike_limit_mib: spike,
            limit_percentage: pct,
            spike_limit_percentage: spike_pct,
            ..Default::default()
        }
    }

    #[test]
    fn fixed_limits_with_default_spike() {
        let l = MemoryLimit::from_config(&cfg(10, 0, 0, 0), None).unwrap();
        assert_eq!(l.hard_bytes, 10 * 1024 * 1024);
        assert_eq!(l.soft_bytes, 8 * 1024 * 1024, "spike defaults to 20 %");
        let l = MemoryLimit::from_config(&cfg(10, 4, 50, 0), Some(1)).unwrap();
        assert_eq!(
            l.soft_bytes,
            6 * 1024 * 1024,
            "limit_mib wins over percentages"
        );
    }

    #[test]
    fn percentages_of_the_lambda_memory_size() {
        let env = |k: &str| (k == LAMBDA_MEMORY_ENV).then(|| "512".to_owned());
        let total = total_memory_mib(env);
        assert_eq!(total, Some(512));
        let l = MemoryLimit::from_config(&cfg(0, 0, 50, 10), total).unwrap();
        assert_eq!(l.hard_bytes, 256 * 1024 * 1024);
        // The spike is 10 % of 512 MiB (51.2 MiB), subtracted from the 256 MiB limit.
        assert_eq!(l.soft_bytes, 256 * 1024 * 1024 - 512 * 1024 * 1024 / 10);
        let e = MemoryLimit::from_config(&cfg(0, 0, 50, 0), None).unwrap_err();
        assert!(
            e.contains(LAMBDA_MEMORY_ENV) && e.contains("limit_mib"),
            "{e}"
        );
    }

    #[test]
    fn refuses_at_the_soft_limit_and_beyond_the_hard_one() {
        let l = MemoryLimit {
            hard_bytes: 100,
            soft_bytes: 80,
        };
        assert!(!l.refuses(0, 100));
        assert!(l.refuses(0, 101), "would exceed the hard limit");
        assert!(!l.refuses(79, 21));
        assert!(l.refuses(80, 1), "at the soft limit");
    }

    #[test]
    fn meminfo_parses() {
        assert_eq!(
            meminfo_total_mib("MemTotal:        2048000 kB\nMemFree: 1 kB\n"),
            Some(2000)
        );
        assert_eq!(meminfo_total_mib("nothing"), None);
    }
}
