//! Identifiers (§2): X-Ray trace ids, segment ids, generated ids.

use std::cell::RefCell;

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::{Serialize, Serializer};

use super::json::{self, WriteJson};

/// The eight nibbles of `x`, one per byte, the most significant nibble in the most
/// significant byte (`0x1234abcd` → `0x01020304_0a0b0c0d`).
#[inline]
fn spread_nibbles(x: u32) -> u64 {
    let x = u64::from(x);
    let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f
}

/// The 8 lower-case hex digits of `x`, most significant first. Eight digits at once in one
/// word (performance, issue 3): every byte of the spread value is a nibble `n`, and
/// `n + '0'`, plus `'a' - '0' - 10` when `n > 9` (bit 4 of `n + 6`), is its digit; no byte
/// carries into the next.
#[inline]
fn hex8(x: u32) -> [u8; 8] {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = spread_nibbles(x);
    let letter = ((n + 6 * ONES) >> 4) & ONES;
    (n + u64::from(b'0') * ONES + letter * u64::from(b'a' - b'0' - 10)).to_be_bytes()
}

/// Maximum age of a trace-id epoch when validation is on: 28 days (R-ID-3).
pub const MAX_TRACE_AGE_SECS: u64 = 2_419_200;
/// Maximum clock skew into the future of a trace-id epoch (R-ID-3).
pub const MAX_TRACE_SKEW_SECS: u64 = 300;

/// A 16-hex-digit id (segment id, parent id, exception id), R-ID-6/7/8.
///
/// Aligned to 8 bytes so that UTF-8 validation in [`Hex16::as_str`] takes the word-at-a-time
/// path of `str::from_utf8` (performance, issue 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(8))]
pub struct Hex16([u8; 16]);

impl Hex16 {
    /// Renders 8 bytes as 16 lower-case hex digits (R-ID-6).
    pub fn from_u64(v: u64) -> Self {
        let mut out = [b'0'; 16];
        let (high, low) = out.split_at_mut(8);
        high.copy_from_slice(&hex8((v >> 32) as u32));
        low.copy_from_slice(&hex8(v as u32));
        Self(out)
    }

    /// An 8-byte OTLP span id, `None` when it has the wrong length or is all zero (R-ID-6/7).
    pub fn from_span_id(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 8] = bytes.try_into().ok()?;
        let v = u64::from_be_bytes(arr);
        (v != 0).then(|| Self::from_u64(v))
    }

    /// A fresh random id (R-ID-8), never all zero.
    pub fn random() -> Self {
        Self::from_u64(random_nonzero_u64())
    }

    /// The id as a `&str`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl WriteJson for Hex16 {
    #[inline]
    fn write_json(&self, out: &mut String) {
        json::plain_str(out, self.as_str());
    }
}

impl Serialize for Hex16 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An X-Ray trace id `1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy` (R-ID-1).
///
/// `text` comes first in an 8-byte aligned struct, for the reason given at [`Hex16`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
pub struct TraceId {
    text: [u8; 35],
    epoch: u32,
}

impl TraceId {
    /// Converts a 16-byte OTLP trace id; `None` when the length is wrong or it is all zero
    /// (R-ID-1, R-ID-5).
    pub fn from_otlp(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 16] = bytes.try_into().ok()?;
        if u128::from_ne_bytes(arr) == 0 {
            return None;
        }
        // `1-` + 8 hex digits of the epoch + `-` + 24 hex digits.
        let v = u128::from_be_bytes(arr);
        let epoch = (v >> 96) as u32;
        let mut text = [b'-'; 35];
        text[0] = b'1';
        text[2..10].copy_from_slice(&hex8(epoch));
        text[11..19].copy_from_slice(&hex8((v >> 64) as u32));
        text[19..27].copy_from_slice(&hex8((v >> 32) as u32));
        text[27..35].copy_from_slice(&hex8(v as u32));
        Some(Self { text, epoch })
    }

    /// The epoch seconds in the first 4 bytes (R-ID-2).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the epoch is within 28 days in the past and 5 minutes in the future of
    /// `now_unix_secs` (R-ID-3).
    pub fn epoch_is_valid(&self, now_unix_secs: u64) -> bool {
        let epoch = u64::from(self.epoch);
        if now_unix_secs >= epoch {
            now_unix_secs - epoch <= MAX_TRACE_AGE_SECS
        } else {
            epoch - now_unix_secs <= MAX_TRACE_SKEW_SECS
        }
    }

    /// The id as a `&str`.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).unwrap_or("")
    }
}

impl WriteJson for TraceId {
    #[inline]
    fn write_json(&self, out: &mut String) {
        json::plain_str(out, self.as_str());
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// A random non-zero `u64` from a thread-local generator seeded from the OS (R-ID-8).
fn random_nonzero_u64() -> u64 {
    RNG.with(|rng| {
        let mut rng = rng.borrow_mut();
        loop {
            let v = rng.next_u64();
            if v != 0 {
                return v;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_conversion() {
        // R-ID-1
        let bytes = [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ];
        let id = TraceId::from_otlp(&bytes);
        assert_eq!(
            id.map(|t| t.as_str().to_owned()).as_deref(),
            Some("1-4bf92f35-77b34da6a3ce929d0e0e4736")
        );
    }

    #[test]
    fn invalid_trace_ids() {
        // R-ID-5 (D15): all-zero and wrong-length ids are invalid.
        assert!(TraceId::from_otlp(&[0; 16]).is_none());
        assert!(TraceId::from_otlp(&[1; 15]).is_none());
        assert!(TraceId::from_otlp(&[]).is_none());
    }

    #[test]
    fn epoch_window() {
        // R-ID-3: 28 days back, 5 minutes ahead.
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
        b[15] = 1;
        let Some(id) = TraceId::from_otlp(&b) else {
            panic!("valid id");
        };
        assert_eq!(id.epoch(), 1_700_000_000);
        assert!(id.epoch_is_valid(1_700_000_100));
        assert!(id.epoch_is_valid(1_700_000_000 + MAX_TRACE_AGE_SECS));
        assert!(!id.epoch_is_valid(1_700_000_001 + MAX_TRACE_AGE_SECS));
        assert!(id.epoch_is_valid(1_700_000_000 - 300));
        assert!(!id.epoch_is_valid(1_700_000_000 - 301));
    }

    #[test]
    fn span_ids() {
        // R-ID-6/7
        let id = Hex16::from_span_id(&[0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]);
        assert_eq!(
            id.map(|h| h.as_str().to_owned()).as_deref(),
            Some("53995c3f42cd8ad8")
        );
        assert!(Hex16::from_span_id(&[0; 8]).is_none());
        assert!(Hex16::from_span_id(&[1; 7]).is_none());
    }

    #[test]
    fn hex_digits_of_every_nibble() {
        // Each nibble value at each position, against `format!`.
        for n in 0..16u64 {
            for at in 0..16 {
                let v = n << (4 * at) | 0x1111_1111_1111_1111 & !(0xf << (4 * at));
                assert_eq!(Hex16::from_u64(v).as_str(), format!("{v:016x}"));
            }
        }
        assert_eq!(Hex16::from_u64(u64::MAX).as_str(), "ffffffffffffffff");
        assert_eq!(Hex16::from_u64(1).as_str(), "0000000000000001");
    }

    #[test]
    fn random_ids_are_hex16() {
        // R-ID-8
        let a = Hex16::random();
        let b = Hex16::random();
        assert_ne!(a, b);
        assert!(a
            .as_str()
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a.as_str().len(), 16);
    }
}
