//! The span attribute view used while building one document (R-SHAPE-4).
//!
//! Lookups always read the *original* attribute map (minus keys removed up front for the
//! local-root service segment, R-KIND-5); mappers mark the keys they map as *consumed*, and the
//! keys left over at the end are the candidates for annotations and metadata (§14.1).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};

use super::keys::{Key, KeyTable};
use super::value::{as_int, kv_value};

/// One bit per attribute entry; no allocation up to 64 entries.
#[derive(Clone, Default)]
struct Bits {
    low: u64,
    more: Vec<u64>,
}

impl Bits {
    #[inline]
    fn new(len: usize) -> Self {
        Self {
            low: 0,
            more: if len > 64 {
                vec![0; (len - 64).div_ceil(64)]
            } else {
                Vec::new()
            },
        }
    }

    #[inline]
    fn word(&self, idx: usize) -> (Option<&u64>, u64) {
        match idx.checked_sub(64) {
            None => (Some(&self.low), 1 << idx),
            Some(i) => (self.more.get(i / 64), 1 << (i % 64)),
        }
    }

    #[inline]
    fn get(&self, idx: usize) -> bool {
        match self.word(idx) {
            (Some(w), bit) => w & bit != 0,
            (None, _) => false,
        }
    }

    #[inline]
    fn set(&mut self, idx: usize, on: bool) {
        let (word, bit) = match idx.checked_sub(64) {
            None => (Some(&mut self.low), 1u64 << idx),
            Some(i) => (self.more.get_mut(i / 64), 1u64 << (i % 64)),
        };
        if let Some(w) = word {
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }
}

/// Span attributes with a consumed/removed mark per entry.
#[derive(Clone)]
pub(crate) struct Attrs<'a> {
    table: KeyTable<'a>,
    consumed: Bits,
    removed: Bits,
}

impl<'a> Attrs<'a> {
    /// A view where every attribute is live.
    #[inline]
    pub(crate) fn new(kvs: &'a [KeyValue]) -> Self {
        // The table is built in place (`KeyTable::new` is inlined), not copied in.
        Self {
            table: KeyTable::new(kvs),
            consumed: Bits::new(kvs.len()),
            removed: Bits::new(kvs.len()),
        }
    }

    /// The first-entry lookups of the original list (ignoring consumed and removed marks).
    #[inline]
    pub(crate) fn table(&self) -> &KeyTable<'a> {
        &self.table
    }

    /// Calls `mark` with the index of every entry whose key is `k`.
    #[inline]
    fn each_entry(&mut self, k: Key, mark: impl Fn(&mut Self, usize)) {
        if self.table.repeated() {
            self.each_entry_scan(k, &mark);
        } else if let Some(i) = self.table.first_index(k) {
            mark(self, i);
        }
    }

    /// [`Attrs::each_entry`] when a key may appear more than once.
    #[cold]
    fn each_entry_scan(&mut self, k: Key, mark: &dyn Fn(&mut Self, usize)) {
        let text = k.text();
        let kvs = self.table.kvs();
        for (i, kv) in kvs.iter().enumerate() {
            if kv.key == text {
                mark(self, i);
            }
        }
    }

    /// Removes `key` entirely: no lookup sees it and it never reaches metadata (R-KIND-5).
    pub(crate) fn remove(&mut self, k: Key) {
        self.each_entry(k, |a, i| a.removed.set(i, true));
    }

    /// Index of the first entry with key `k` and a value, unless `k` was removed.
    #[inline]
    fn index(&self, k: Key) -> Option<usize> {
        // Removal takes every entry of a key, so the first with a value is removed iff `k` is.
        let i = self.table.first_with_value(k)?;
        (!self.removed.get(i)).then_some(i)
    }

    /// The value of `key` in the original map (consumed or not).
    #[inline]
    pub(crate) fn value(&self, k: Key) -> Option<&'a Value> {
        let kvs = self.table.kvs();
        self.index(k).and_then(|i| kvs.get(i)).and_then(kv_value)
    }

    /// Whether `key` exists (with a value) in the original map.
    #[inline]
    pub(crate) fn has(&self, k: Key) -> bool {
        self.index(k).is_some()
    }

    /// String value of `key`.
    #[inline]
    pub(crate) fn str(&self, k: Key) -> Option<&'a str> {
        match self.value(k) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Non-empty string value of `key`.
    #[inline]
    pub(crate) fn nonempty(&self, k: Key) -> Option<&'a str> {
        self.str(k).filter(|s| !s.is_empty())
    }

    /// Integer value of `key` (a decimal string is accepted too).
    #[inline]
    pub(crate) fn int(&self, k: Key) -> Option<i64> {
        self.value(k).and_then(as_int)
    }

    #[inline]
    fn is_live(&self, idx: usize) -> bool {
        !self.consumed.get(idx) && !self.removed.get(idx)
    }

    /// Marks `key` consumed: it will not reach annotations or metadata.
    #[inline]
    pub(crate) fn consume(&mut self, k: Key) {
        self.each_entry(k, |a, i| a.consume_at(i));
    }

    /// Marks the entry at `idx` consumed.
    #[inline]
    pub(crate) fn consume_at(&mut self, idx: usize) {
        if self.is_live(idx) {
            self.consumed.set(idx, true);
        }
    }

    /// Puts a consumed `key` back into the candidate set (R-ANN-1). Returns whether it did.
    pub(crate) fn restore(&mut self, key: &str) -> bool {
        let mut done = false;
        let kvs = self.table.kvs();
        for (i, kv) in kvs.iter().enumerate() {
            if kv.key == key && self.consumed.get(i) && !self.removed.get(i) {
                self.consumed.set(i, false);
                done = true;
            }
        }
        done
    }

    /// Number of entries (including removed ones); indexes for [`Attrs::visible_at`].
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.table.kvs().len()
    }

    /// The entry at `idx` unless it was removed.
    #[inline]
    pub(crate) fn visible_at(&self, idx: usize) -> Option<&'a KeyValue> {
        let kvs = self.table.kvs();
        if self.removed.get(idx) {
            return None;
        }
        kvs.get(idx)
    }

    /// The known key of the entry at `idx`, if any.
    #[inline]
    pub(crate) fn class_at(&self, idx: usize) -> Option<Key> {
        self.table.class_at(idx)
    }

    /// The candidate attributes (neither consumed nor removed), in OTLP order.
    pub(crate) fn live(&self) -> impl Iterator<Item = &'a KeyValue> + '_ {
        self.live_indexed().map(|(_, kv)| kv)
    }

    /// [`Attrs::live`] with the index of each entry.
    pub(crate) fn live_indexed(&self) -> impl Iterator<Item = (usize, &'a KeyValue)> + '_ {
        let kvs = self.table.kvs();
        kvs.iter().enumerate().filter(|(i, _)| self.is_live(*i))
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
        let kvs = vec![kv("db.name", "1"), kv("b", "2"), kv("remoteTarget", "3")];
        let mut attrs = Attrs::new(&kvs);
        attrs.consume(Key::DbName);
        attrs.remove(Key::RemoteTarget);
        assert_eq!(attrs.str(Key::DbName), Some("1"));
        assert_eq!(attrs.str(Key::RemoteTarget), None);
        assert_eq!(
            attrs.live().map(|kv| kv.key.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert!(attrs.restore("db.name"));
        assert_eq!(attrs.live().count(), 2);
        assert_eq!(
            (0..attrs.len()).filter_map(|i| attrs.visible_at(i)).count(),
            2
        );
    }

    #[test]
    fn repeated_keys_and_many_entries() {
        // Every entry of a repeated key is consumed/removed; lookups see the first with a value.
        let mut kvs: Vec<KeyValue> = (0..150).map(|i| kv(&format!("k{i}"), "v")).collect();
        kvs.push(kv("db.name", "a"));
        kvs.push(kv("remoteTarget", "t"));
        kvs.push(kv("db.name", "b"));
        kvs.push(kv("remoteTarget", "u"));
        let mut attrs = Attrs::new(&kvs);
        assert_eq!(attrs.str(Key::DbName), Some("a"));
        attrs.consume(Key::DbName);
        attrs.remove(Key::RemoteTarget);
        assert_eq!(attrs.str(Key::DbName), Some("a"));
        assert!(!attrs.has(Key::RemoteTarget));
        assert_eq!(attrs.live().count(), 150);
        assert_eq!(attrs.class_at(152), Some(Key::DbName));
        assert!(attrs.restore("db.name"));
        assert_eq!(attrs.live().count(), 152);
        attrs.consume_at(3);
        assert_eq!(attrs.live().count(), 151);
        assert!(attrs.visible_at(151).is_none());
    }
}
