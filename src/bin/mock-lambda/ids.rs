//! Identifiers and timestamps: UUID v4, X-Ray trace headers, ISO-8601 times.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::time::{SystemTime, UNIX_EPOCH};

/// `N` random bytes from the OS-seeded generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    StdRng::from_os_rng().fill_bytes(&mut out);
    out
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4, RFC 4122 variant) UUID in its 8-4-4-4-12 form.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// True for a UUID in its canonical textual form (any version).
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An X-Ray trace header as Lambda passes it: `Root=1-<8 hex secs>-<24 hex>;Parent=<16 hex>;Sampled=1`.
pub fn trace_header(now_unix_secs: u64) -> String {
    let root: [u8; 12] = random_bytes();
    let parent: [u8; 8] = random_bytes();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=1",
        now_unix_secs & 0xffff_ffff,
        hex(&root),
        hex(&parent)
    )
}

/// ISO-8601 UTC with milliseconds, e.g. `2022-10-12T00:00:15.064Z` (Telemetry API `time`).
pub fn iso8601(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert!(is_uuid(&u), "{u}");
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"));
        assert!(!is_uuid("not-a-uuid"));
    }

    #[test]
    fn trace_header_shape() {
        let h = trace_header(0x5759e988);
        let re = regex::Regex::new(r"^Root=1-5759e988-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$")
            .unwrap();
        assert!(re.is_match(&h), "{h}");
    }

    #[test]
    fn iso_times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_665_532_815_064);
        assert_eq!(iso8601(t), "2022-10-12T00:00:15.064Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_208_000);
        assert_eq!(iso8601(t), "2024-02-29T12:00:00.000Z");
    }
}
