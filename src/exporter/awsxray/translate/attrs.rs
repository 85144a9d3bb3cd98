//! The span attribute view used while building one document (R-SHAPE-4).
//!
//! Lookups always read the *original* attribute map (minus keys removed up front for the
//! local-root service segment, R-KIND-5); mappers mark the keys they map as *consumed*, and the
//! keys left over at the end are the candidates for annotations and metadata (§14.1).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};

use super::value::{as_int, kv_value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    Consumed,
    Removed,
}

/// Span attributes with a consumed/removed mark per entry.
pub(crate) struct Attrs<'a> {
    kvs: &'a [KeyValue],
    state: Vec<State>,
    /// Bit `len % 64` is set for the length of every key in `kvs`: most lookups are for keys
    /// the span does not have, and this answers them without a scan (performance, issue 3).
    key_lengths: u64,
}

fn length_bit(key: &str) -> u64 {
    1u64 << (key.len() % 64)
}

impl<'a> Attrs<'a> {
    /// A view where every attribute is live.
    pub(crate) fn new(kvs: &'a [KeyValue]) -> Self {
        Self {
            kvs,
            state: vec![State::Live; kvs.len()],
            key_lengths: kvs.iter().fold(0, |acc, kv| acc | length_bit(&kv.key)),
        }
    }

    /// `false` when no key of this length is present (then `key` certainly is not).
    #[inline]
    fn may_have(&self, key: &str) -> bool {
        self.key_lengths & length_bit(key) != 0
    }

    /// Removes `key` entirely: no lookup sees it and it never reaches metadata (R-KIND-5).
    pub(crate) fn remove(&mut self, key: &str) {
        if !self.may_have(key) {
            return;
        }
        for (kv, st) in self.kvs.iter().zip(self.state.iter_mut()) {
            if kv.key == key {
                *st = State::Removed;
            }
        }
    }

    fn index(&self, key: &str) -> Option<usize> {
        if !self.may_have(key) {
            return None;
        }
        self.kvs
            .iter()
            .zip(self.state.iter())
            .position(|(kv, st)| *st != State::Removed && kv.key == key && kv_value(kv).is_some())
    }

    /// The value of `key` in the original map (consumed or not).
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        let kvs = self.kvs;
        self.index(key).and_then(|i| kvs.get(i)).and_then(kv_value)
    }

    /// Whether `key` exists (with a value) in the original map.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.index(key).is_some()
    }

    /// String value of `key`.
    pub(crate) fn str(&self, key: &str) -> Option<&'a str> {
        match self.value(key) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Non-empty string value of `key`.
    pub(crate) fn nonempty(&self, key: &str) -> Option<&'a str> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// Integer value of `key` (a decimal string is accepted too).
    pub(crate) fn int(&self, key: &str) -> Option<i64> {
        self.value(key).and_then(as_int)
    }

    /// Marks `key` consumed: it will not reach annotations or metadata.
    pub(crate) fn consume(&mut self, key: &str) {
        if !self.may_have(key) {
            return;
        }
        for (kv, st) in self.kvs.iter().zip(self.state.iter_mut()) {
            if *st == State::Live && kv.key == key {
                *st = State::Consumed;
            }
        }
    }

    /// Marks the entry at `idx` consumed.
    pub(crate) fn consume_at(&mut self, idx: usize) {
        if let Some(st) = self.state.get_mut(idx) {
            if *st == State::Live {
                *st = State::Consumed;
            }
        }
    }

    /// Puts a consumed `key` back into the candidate set (R-ANN-1). Returns whether it did.
    pub(crate) fn restore(&mut self, key: &str) -> bool {
        if !self.may_have(key) {
            return false;
        }
        let mut done = false;
        for (kv, st) in self.kvs.iter().zip(self.state.iter_mut()) {
            if *st == State::Consumed && kv.key == key {
                *st = State::Live;
                done = true;
            }
        }
        done
    }

    /// Number of entries (including removed ones); indexes for [`Attrs::visible_at`].
    pub(crate) fn len(&self) -> usize {
        self.kvs.len()
    }

    /// The entry at `idx` unless it was removed.
    pub(crate) fn visible_at(&self, idx: usize) -> Option<&'a KeyValue> {
        let kvs = self.kvs;
        match self.state.get(idx) {
            Some(State::Removed) | None => None,
            Some(_) => kvs.get(idx),
        }
    }

    /// The candidate attributes (neither consumed nor removed), in OTLP order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &'a KeyValue> + '_ {
        let kvs = self.kvs;
        kvs.iter()
            .zip(self.state.iter())
            .filter(|(_, st)| **st == State::Live)
            .map(|(kv, _)| kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    fn kv(key: &str, v: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn consume_restore_remove() {
        // R-SHAPE-4 / R-ANN-1: consumed keys stay readable; restore re-adds them.
        let kvs = vec![kv("a", "1"), kv("b", "2"), kv("c", "3")];
        let mut attrs = Attrs::new(&kvs);
        attrs.consume("a");
        attrs.remove("c");
        assert_eq!(attrs.str("a"), Some("1"));
        assert_eq!(attrs.str("c"), None);
        assert_eq!(
            attrs.live().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert!(attrs.restore("a"));
        assert_eq!(attrs.live().count(), 2);
        assert_eq!(
            (0..attrs.len()).filter_map(|i| attrs.visible_at(i)).count(),
            2
        );
    }
}
