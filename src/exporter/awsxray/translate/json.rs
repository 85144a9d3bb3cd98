//! The JSON writer of the segment documents (performance, issue 3).
//!
//! Every document type implements [`WriteJson`] next to its `serde::Serialize` implementation
//! and writes exactly the bytes `serde_json::to_string` writes for it: the same members in the
//! same order, the same escapes (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u00xx` for the
//! other control characters, everything else — `/`, DEL, non-ASCII — verbatim as UTF-8),
//! integers as `itoa` and finite doubles as `zmij` print them (the crates `serde_json` uses),
//! and `null` for a non-finite double. The typed structs and their serde implementations stay
//! as the reference: debug builds (every unit and integration test) write each translated
//! document both ways and compare the bytes.
//!
//! Why not serde: the document is written once per span on the hot path, and `serde_json`'s
//! byte-at-a-time escaping plus the generic serializer layers were about half of the
//! translator's instructions. Here member names are constant, pre-quoted fragments, and a
//! string is checked eight bytes at a time and copied whole when it needs no escape (the common
//! case). The small helpers are `#[inline(always)]`: the crate is built for size
//! (`opt-level = "s"`), and inlined they turn constant member names into plain stores instead
//! of `memcpy` calls. So is the escape check: out of line, its call, register saves and
//! constants were 3 % of the translator's instructions (inlined, it adds ~22 KB of code).

/// Writes `self` as JSON to the end of `out`.
pub(crate) trait WriteJson {
    /// Appends the JSON text of `self` to `out`.
    fn write_json(&self, out: &mut String);
}

/// `"name":` — a member name as a constant, pre-quoted fragment for [`Obj::key`]. The name must
/// need no escaping (every member name of the X-Ray document is plain ASCII).
macro_rules! key {
    ($name:literal) => {
        concat!("\"", $name, "\":")
    };
}
pub(crate) use key;

/// A JSON object being written: `{`, members separated by `,`, `}`.
pub(crate) struct Obj<'o> {
    out: &'o mut String,
    empty: bool,
}

impl<'o> Obj<'o> {
    /// Writes `{`.
    #[inline(always)]
    pub(crate) fn open(out: &'o mut String) -> Self {
        out.push('{');
        Self { out, empty: true }
    }

    /// Starts a member with a constant name from [`key!`] and returns the output for its value.
    #[inline(always)]
    pub(crate) fn key(&mut self, quoted_name_colon: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(quoted_name_colon);
        self.out
    }

    /// Starts a member with a name that may need escaping and returns the output for its value.
    #[inline]
    pub(crate) fn dyn_key(&mut self, name: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        str(self.out, name);
        self.out.push(':');
        self.out
    }

    /// Appends members already written as JSON text (`"a":1,"b":2`, not empty).
    #[inline(always)]
    pub(crate) fn members(&mut self, json: &str) {
        self.key(json);
    }

    /// Writes `}`.
    #[inline(always)]
    pub(crate) fn close(self) {
        self.out.push('}');
    }
}

/// A JSON array being written: `[`, elements separated by `,`, `]`.
pub(crate) struct Arr<'o> {
    out: &'o mut String,
    empty: bool,
}

impl<'o> Arr<'o> {
    /// Writes `[`.
    #[inline(always)]
    pub(crate) fn open(out: &'o mut String) -> Self {
        out.push('[');
        Self { out, empty: true }
    }

    /// Starts the next element and returns the output for it.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out
    }

    /// Writes `]`.
    #[inline(always)]
    pub(crate) fn close(self) {
        self.out.push(']');
    }
}

/// What follows the `\` for bytes that must be escaped: `u` for `\u00xx`, 0 for none.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of the little-endian word `x` that is `"` or `\` or below 0x20
/// (SWAR). False positives can only appear above a true one, so the lowest set bit is exact.
#[inline]
fn special_bytes(x: u64) -> u64 {
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    let q = x ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = x ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGHS
}

/// Index of the first byte at or after `from` that must be escaped.
fn next_special(bytes: &[u8], mut from: usize) -> Option<usize> {
    // Whole words from `from` on: a word's lowest flagged byte is exact.
    while let Some(chunk) = bytes.get(from..from + 8) {
        let word: &[u8; 8] = chunk.try_into().ok()?;
        let mask = special_bytes(u64::from_le_bytes(*word));
        if mask != 0 {
            return Some(from + (mask.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    // The last few bytes one by one: a word reaching back before `from` could hold the escape
    // just written, whose borrow can flag the byte after it (a space, `#` or `]`).
    bytes
        .get(from..)?
        .iter()
        .position(|b| ESCAPE[usize::from(*b)] != 0)
        .map(|p| from + p)
}

/// Whether `bytes` holds nothing to escape (the common case, checked without copying).
#[inline(always)]
fn clean(bytes: &[u8]) -> bool {
    let word = |at: usize| -> u64 {
        bytes
            .get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map_or(0, |w| special_bytes(u64::from_le_bytes(w)))
    };
    let Some(last) = bytes.len().checked_sub(8) else {
        // 4 to 7 bytes: the first and last four (overlapping) as one word.
        if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
            let w =
                u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32;
            return special_bytes(w) == 0;
        }
        return bytes.iter().all(|b| ESCAPE[usize::from(*b)] == 0);
    };
    let mut at = 0;
    while at < last {
        if word(at) != 0 {
            return false;
        }
        at += 8;
    }
    // The last eight bytes (overlapping checked ones when the length is not a multiple of 8).
    word(last) == 0
}

/// Appends the escaped contents of `s` without quotes (for values written in parts).
#[inline(always)]
pub(crate) fn str_contents(out: &mut String, s: &str) {
    if clean(s.as_bytes()) {
        out.push_str(s);
    } else {
        escape(out, s);
    }
}

/// [`str_contents`] for a string that holds something to escape.
#[cold]
fn escape(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(at) = next_special(bytes, start) {
        // `at` is an ASCII byte, so both slices end on character boundaries.
        out.push_str(s.get(start..at).unwrap_or(""));
        let b = bytes.get(at).copied().unwrap_or(0);
        out.push('\\');
        match ESCAPE[usize::from(b)] {
            b'u' => {
                out.push_str("u00");
                out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
                out.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
            }
            c => out.push(char::from(c)),
        }
        start = at + 1;
    }
    out.push_str(s.get(start..).unwrap_or(""));
}

/// Appends `s` as a JSON string.
#[inline(always)]
pub(crate) fn str(out: &mut String, s: &str) {
    out.push('"');
    str_contents(out, s);
    out.push('"');
}

/// Appends `s`, which holds nothing to escape (hex ids, base64, sanitised names), as a JSON
/// string.
#[inline(always)]
pub(crate) fn plain_str(out: &mut String, s: &str) {
    debug_assert!(next_special(s.as_bytes(), 0).is_none());
    out.push('"');
    out.push_str(s);
    out.push('"');
}

/// Appends `v`.
#[inline(always)]
pub(crate) fn i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends `v`.
#[inline(always)]
pub(crate) fn u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends `v`; `null` when it is NaN or infinite (as `serde_json`).
#[inline(always)]
pub(crate) fn f64(out: &mut String, v: f64) {
    if v.is_finite() {
        out.push_str(zmij::Buffer::new().format_finite(v));
    } else {
        out.push_str("null");
    }
}

/// Appends `true` or `false`.
#[inline(always)]
pub(crate) fn bool(out: &mut String, v: bool) {
    out.push_str(if v { "true" } else { "false" });
}

/// Appends a `serde_json::Value` (metadata from `aws.xray.metadata.*`, §14.3); with `cap`,
/// every string leaf is cut to that many characters (R-SIZE-1 step 2).
pub(crate) fn json_value(out: &mut String, v: &serde_json::Value, cap: Option<usize>) {
    use serde_json::Value as J;
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => bool(out, *b),
        J::Number(n) => number(out, n),
        J::String(s) => match cap {
            Some(c) => str(out, super::value::cut_chars(s, c)),
            None => str(out, s),
        },
        J::Array(a) => {
            let mut arr = Arr::open(out);
            for item in a {
                json_value(arr.next(), item, cap);
            }
            arr.close();
        }
        J::Object(o) => json_object(out, o, cap),
    }
}

/// Appends a JSON object of `serde_json` values; see [`json_value`].
pub(crate) fn json_object(
    out: &mut String,
    o: &serde_json::Map<String, serde_json::Value>,
    cap: Option<usize>,
) {
    let mut obj = Obj::open(out);
    for (k, v) in o {
        json_value(obj.dyn_key(k), v, cap);
    }
    obj.close();
}

/// A `serde_json::Number` as `serde_json` writes it (unsigned, signed, then finite double).
fn number(out: &mut String, n: &serde_json::Number) {
    if let Some(u) = n.as_u64() {
        u64(out, u);
    } else if let Some(i) = n.as_i64() {
        i64(out, i);
    } else {
        f64(out, n.as_f64().unwrap_or(f64::NAN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = String::new();
        str(&mut out, s);
        out
    }

    #[test]
    fn every_control_character_is_escaped_as_serde_json_does() {
        for c in (0u32..0x20).chain([0x22, 0x5c, 0x2f, 0x7f]) {
            let Some(c) = char::from_u32(c) else {
                continue;
            };
            let s = c.to_string();
            let expected = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json_str(&s), expected, "U+{:04X}", u32::from(c));
        }
        assert_eq!(json_str("\u{1}"), r#""\u0001""#);
        assert_eq!(json_str("\u{1f}"), r#""\u001f""#);
        assert_eq!(json_str("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(json_str("\u{8}\u{c}\r\t"), r#""\b\f\r\t""#);
    }

    #[test]
    fn escapes_at_every_position_of_a_word() {
        // The scanner reads 8 bytes at a time: put each special byte at every offset, with
        // non-ASCII neighbours whose high bit must not be mistaken for a match.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for len in 0..20 {
                for at in 0..=len {
                    let mut s: String = "é".repeat(len / 2) + &"x".repeat(len % 2);
                    let at = s.char_indices().nth(at).map_or(s.len(), |(i, _)| i);
                    s.insert(at, special);
                    let expected = serde_json::to_string(&s).unwrap_or_default();
                    assert_eq!(json_str(&s), expected, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn escapes_at_every_pair_of_positions() {
        // Two escapes in one word, in the overlapping last word, and next to each other.
        for len in 1..24 {
            for i in 0..len {
                for j in i..len {
                    let s: String = (0..len)
                        .map(|k| match k {
                            k if k == i => '"',
                            k if k == j => '\n',
                            _ => 'a',
                        })
                        .collect();
                    let expected = serde_json::to_string(&s).unwrap_or_default();
                    assert_eq!(json_str(&s), expected, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn bytes_next_to_escapes_are_not_escaped() {
        // The word scan's borrows can flag the byte just above a byte to escape; that byte
        // (space after a control character, `#` after `"`, `]` after `\\`) must be copied.
        let specials = ['\u{0}', '\u{1f}', '\n', '"', '\\'];
        let neighbours = [' ', '!', '#', '$', ']', '^', '\u{1}', '"', '\\', 'a', 'é'];
        for len in 1..26 {
            for at in 0..len {
                for sp in specials {
                    for nb in neighbours {
                        let s: String = (0..len).map(|k| if k == at { sp } else { nb }).collect();
                        let expected = serde_json::to_string(&s).unwrap_or_default();
                        assert_eq!(json_str(&s), expected, "{s:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in proptest::prelude::any::<String>()) {
            proptest::prop_assert_eq!(json_str(&s), serde_json::to_string(&s).unwrap_or_default());
        }

        #[test]
        fn ascii_strings_are_written_as_serde_json_writes_them(s in "[\\x00-\\x7f]{0,40}") {
            proptest::prop_assert_eq!(json_str(&s), serde_json::to_string(&s).unwrap_or_default());
        }

        #[test]
        fn doubles_are_written_as_serde_json_writes_them(v in proptest::prelude::any::<f64>()) {
            let mut out = String::new();
            f64(&mut out, v);
            proptest::prop_assert_eq!(out, serde_json::to_string(&v).unwrap_or_default());
        }
    }

    #[test]
    fn non_ascii_is_kept_as_utf8() {
        for s in [
            "zürich",
            "中文字符",
            "emoji 🎉 and 𝄞",
            "\u{7f}\u{80}\u{ff}\u{2028}\u{2029}\u{fffd}",
            "\u{10ffff}",
            "",
        ] {
            assert_eq!(json_str(s), serde_json::to_string(s).unwrap_or_default());
        }
        assert_eq!(json_str("ü\"ü"), "\"ü\\\"ü\"");
    }

    #[test]
    fn numbers_match_serde_json() {
        let ints = [0, 1, -1, 42, i64::MIN, i64::MAX, 1_700_000_000];
        for v in ints {
            let mut out = String::new();
            i64(&mut out, v);
            assert_eq!(out, serde_json::to_string(&v).unwrap_or_default());
        }
        let mut out = String::new();
        u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
        let floats = [
            0.0,
            -0.0,
            1.5,
            0.1,
            1e21,
            1e-7,
            123_456_789.123,
            1_700_000_000.75,
            1_700_000_000.123_456_7,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
        ];
        for v in floats {
            let mut out = String::new();
            f64(&mut out, v);
            assert_eq!(out, serde_json::to_string(&v).unwrap_or_default(), "{v}");
        }
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = String::new();
            f64(&mut out, v);
            assert_eq!(out, "null");
            assert_eq!(out, serde_json::to_string(&v).unwrap_or_default());
        }
    }

    #[test]
    fn serde_json_values_match() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"b":[1,-2,3.5,1e300,true,null,"s\n"],"a":{"x":"\u0001é"},"u":18446744073709551615}"#,
        )
        .unwrap_or_default();
        let mut out = String::new();
        json_value(&mut out, &v, None);
        assert_eq!(out, serde_json::to_string(&v).unwrap_or_default());
        let mut out = String::new();
        json_value(&mut out, &v, Some(0));
        assert!(out.contains(r#""x":"""#), "{out}");
    }

    #[test]
    fn objects_and_arrays() {
        let mut out = String::new();
        let mut obj = Obj::open(&mut out);
        obj.key(key!("a")).push('1');
        let mut arr = Arr::open(obj.dyn_key("b\"c"));
        arr.next().push('2');
        arr.next().push('3');
        arr.close();
        obj.close();
        assert_eq!(out, r#"{"a":1,"b\"c":[2,3]}"#);
        let mut out = String::new();
        Obj::open(&mut out).close();
        Arr::open(&mut out).close();
        assert_eq!(out, "{}[]");
    }
}
