//! The attribute keys the translator reads, and one-pass lookup tables over attribute lists
//! (performance, issue 3).
//!
//! Every key the mapping rules look up is a [`Key`]. [`KeyTable::new`] classifies each entry of an
//! attribute list once (a hash of the key's length and first and last eight bytes into a table
//! built at compile time, then a comparison word by word) and remembers the first entry of
//! every known key, so a rule's lookup is an array access instead of a scan of the list per
//! rule. The answers are exactly those of a scan: the *first* entry with the key.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, KeyValue};

use super::value::{as_int, kv_value};

macro_rules! keys {
    ($($name:ident = $text:literal,)*) => {
        /// A known attribute key (resource or span).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Key {
            $(
                #[doc = concat!("`", $text, "`")]
                $name,
            )*
        }

        /// The text of every [`Key`], by discriminant.
        const KEY_TEXT: &[&str] = &[$($text,)*];

        /// Every [`Key`], by discriminant.
        const ALL_KEYS: &[Key] = &[$(Key::$name,)*];
    };
}

keys! {
    // §3 kinds and local roots, §6 times, §5 namespace.
    AwsSpanKind = "aws.span.kind",
    AwsXrayInprogress = "aws.xray.inprogress",
    AwsRemoteService = "aws.remote.service",
    AwsRemoteOperation = "aws.remote.operation",
    RemoteTarget = "remoteTarget",
    K8sRemoteNamespace = "K8s.RemoteNamespace",
    AwsLocalService = "aws.local.service",
    RpcSystem = "rpc.system",
    RpcSystemName = "rpc.system.name",
    RpcService = "rpc.service",
    RpcMethod = "rpc.method",
    // §4 names.
    PeerService = "peer.service",
    AwsService = "aws.service",
    // §8 http.
    HttpMethod = "http.method",
    HttpRequestMethod = "http.request.method",
    HttpUserAgent = "http.user_agent",
    UserAgentOriginal = "user_agent.original",
    HttpClientIp = "http.client_ip",
    ClientAddress = "client.address",
    NetPeerIp = "net.peer.ip",
    NetworkPeerAddress = "network.peer.address",
    HttpUrl = "http.url",
    UrlFull = "url.full",
    HttpScheme = "http.scheme",
    UrlScheme = "url.scheme",
    HttpHost = "http.host",
    HttpServerName = "http.server_name",
    NetHostName = "net.host.name",
    HostName = "host.name",
    NetPeerName = "net.peer.name",
    ServerAddress = "server.address",
    NetHostPort = "net.host.port",
    NetPeerPort = "net.peer.port",
    ServerPort = "server.port",
    NetworkPeerPort = "network.peer.port",
    HttpTarget = "http.target",
    UrlPath = "url.path",
    UrlQuery = "url.query",
    HttpStatusCode = "http.status_code",
    HttpResponseStatusCode = "http.response.status_code",
    HttpStatusText = "http.status_text",
    HttpResponseBodySize = "http.response.body.size",
    HttpResponseContentLength = "http.response_content_length",
    MessageType = "message.type",
    MessagingPayloadSizeBytes = "messaging.message_payload_size_bytes",
    MessagingBodySize = "messaging.message.body.size",
    // §10 aws (span).
    AwsOperation = "aws.operation",
    AwsAccountId = "aws.account_id",
    AwsRegion = "aws.region",
    AwsRequestId = "aws.request_id",
    AwsRequestIdCamel = "aws.requestId",
    MessagingUrl = "messaging.url",
    AwsQueueUrlUnderscore = "aws.queue_url",
    AwsQueueUrl = "aws.queue.url",
    AwsSqsQueueUrl = "aws.sqs.queue.url",
    AwsTableNameUnderscore = "aws.table_name",
    AwsTableName = "aws.table.name",
    AwsDynamodbTableNames = "aws.dynamodb.table_names",
    // §11 sql, §4 row 5.
    DbSystem = "db.system",
    DbSystemName = "db.system.name",
    DbName = "db.name",
    DbNamespace = "db.namespace",
    DbConnectionString = "db.connection_string",
    DbStatement = "db.statement",
    DbQueryText = "db.query.text",
    DbUser = "db.user",
    UserName = "user.name",
    // §13, §14.
    EnduserId = "enduser.id",
    AwsXrayAnnotations = "aws.xray.annotations",
    // Resource: §7 origin, §10 aws, §12 service, §4 names.
    ServiceName = "service.name",
    ServiceVersion = "service.version",
    ServiceNamespace = "service.namespace",
    ServiceInstanceId = "service.instance.id",
    ContainerImageTag = "container.image.tag",
    ContainerName = "container.name",
    ContainerId = "container.id",
    CloudProvider = "cloud.provider",
    CloudPlatform = "cloud.platform",
    CloudAccountId = "cloud.account.id",
    CloudAvailabilityZone = "cloud.availability_zone",
    HostId = "host.id",
    HostType = "host.type",
    HostImageId = "host.image.id",
    AwsEcsTaskArn = "aws.ecs.task.arn",
    AwsEcsTaskFamily = "aws.ecs.task.family",
    AwsEcsClusterArn = "aws.ecs.cluster.arn",
    AwsEcsContainerArn = "aws.ecs.container.arn",
    AwsEcsLaunchtype = "aws.ecs.launchtype",
    K8sClusterName = "k8s.cluster.name",
    K8sPodName = "k8s.pod.name",
    TelemetrySdkName = "telemetry.sdk.name",
    TelemetrySdkLanguage = "telemetry.sdk.language",
    TelemetrySdkVersion = "telemetry.sdk.version",
    TelemetryAutoVersion = "telemetry.auto.version",
    TelemetryDistroVersion = "telemetry.distro.version",
    AwsLogGroupArns = "aws.log.group.arns",
    AwsLogGroupNames = "aws.log.group.names",
}

/// Number of known keys.
pub(crate) const KEY_COUNT: usize = KEY_TEXT.len();

/// A set of [`Key`]s (one bit each, in two words), for "does the list have any of these
/// keys" tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeySet([u64; 2]);

impl KeySet {
    /// The set of `keys`.
    pub(crate) const fn of(keys: &[Key]) -> Self {
        let mut bits = [0u64; 2];
        let mut i = 0;
        while i < keys.len() {
            let k = keys[i] as usize;
            bits[k / 64] |= 1 << (k % 64);
            i += 1;
        }
        Self(bits)
    }

    /// Adds `k`.
    #[inline]
    fn insert(&mut self, k: Key) {
        let k = k as usize;
        if let Some(w) = self.0.get_mut(k / 64) {
            *w |= 1 << (k % 64);
        }
    }

    /// Whether `k` is in the set.
    #[inline]
    fn contains(&self, k: Key) -> bool {
        let k = k as usize;
        self.0.get(k / 64).is_some_and(|w| w & (1 << (k % 64)) != 0)
    }

    /// Whether the sets share a key.
    #[inline]
    fn intersects(&self, other: &KeySet) -> bool {
        self.0[0] & other.0[0] != 0 || self.0[1] & other.0[1] != 0
    }
}

impl Key {
    /// The attribute key.
    pub(crate) fn text(self) -> &'static str {
        KEY_TEXT.get(self as usize).copied().unwrap_or("")
    }
}

/// Slots of the open-addressing table (a power of two, at least four times [`KEY_COUNT`]).
const TABLE_SIZE: usize = 512;
/// Marks an empty slot of [`TABLE`].
const EMPTY: u8 = u8::MAX;

/// The hash of a key: its length and its first and last (up to) eight bytes, multiplied and
/// folded to an index of [`TABLE`]. A `const fn` so that the table is built by the compiler.
const fn hash_parts(len: usize, head: u64, tail: u64) -> usize {
    let h = head.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ tail.rotate_left(29).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ (len as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
    ((h ^ (h >> 29)) as usize) & (TABLE_SIZE - 1)
}

/// Little-endian word of `bytes[from..from + n]` (`n` ≤ 8), byte by byte (usable in `const`).
const fn word_at(bytes: &[u8], from: usize, n: usize) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < n {
        w |= (bytes[from + i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// [`hash_parts`] of `key`, byte by byte (the definition; used to build [`TABLE`]).
const fn hash_const(key: &[u8]) -> usize {
    let len = key.len();
    let n = if len < 8 { len } else { 8 };
    hash_parts(len, word_at(key, 0, n), word_at(key, len - n, n))
}

/// Open-addressing table from [`hash_const`] to the discriminant of a [`Key`] (linear probing).
static TABLE: [u8; TABLE_SIZE] = {
    // Discriminants fit a table slot and a `KeySet` bit.
    assert!(KEY_COUNT < EMPTY as usize && KEY_COUNT <= 128 && KEY_COUNT * 4 <= TABLE_SIZE);
    let mut t = [EMPTY; TABLE_SIZE];
    let mut k = 0;
    while k < KEY_COUNT {
        let mut h = hash_const(KEY_TEXT[k].as_bytes());
        while t[h] != EMPTY {
            h = (h + 1) & (TABLE_SIZE - 1);
        }
        t[h] = k as u8;
        k += 1;
    }
    t
};

/// Length, first and last (up to) eight bytes and bytes 8..16 of every key (as [`hash_const`]
/// and [`classify`] read them): a candidate is compared word by word, without a call.
static KEY_WORDS: [(usize, u64, u64, u64); KEY_COUNT] = {
    let mut t = [(0, 0, 0, 0); KEY_COUNT];
    let mut k = 0;
    while k < KEY_COUNT {
        let b = KEY_TEXT[k].as_bytes();
        let n = if b.len() < 8 { b.len() } else { 8 };
        let mid = if b.len() >= 16 { word_at(b, 8, 8) } else { 0 };
        t[k] = (b.len(), word_at(b, 0, n), word_at(b, b.len() - n, n), mid);
        k += 1;
    }
    t
};

/// The known key `key` is, if any. (Inlined into the loop of [`KeyTable::new`].)
#[inline(always)]
pub(crate) fn classify(key: &str) -> Option<Key> {
    let bytes = key.as_bytes();
    let len = bytes.len();
    let (head, tail) = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(h), Some(t)) => (u64::from_le_bytes(*h), u64::from_le_bytes(*t)),
        _ => (word_at(bytes, 0, len), word_at(bytes, 0, len)),
    };
    let mut h = hash_parts(len, head, tail);
    loop {
        let slot = usize::from(*TABLE.get(h)?);
        let (klen, khead, ktail, kmid) = *KEY_WORDS.get(slot)?;
        if klen == len && khead == head && ktail == tail && rest_matches(bytes, slot, kmid) {
            return ALL_KEYS.get(slot).copied();
        }
        h = (h + 1) & (TABLE_SIZE - 1);
    }
}

/// Whether `bytes`, whose length and first and last eight bytes equal those of key `slot`,
/// is that key: up to 16 bytes the two words are the whole key, up to 24 bytes 8..16 is
/// the rest, longer keys are compared in full.
#[inline]
fn rest_matches(bytes: &[u8], slot: usize, mid: u64) -> bool {
    let len = bytes.len();
    if len <= 16 {
        return true;
    }
    if len <= 24 {
        return bytes
            .get(8..16)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .is_some_and(|w| u64::from_le_bytes(w) == mid);
    }
    KEY_TEXT.get(slot).is_some_and(|k| k.as_bytes() == bytes)
}

/// Marks an absent key (or one first seen after [`MAX_INDEXED`]) in [`KeyTable`].
const ABSENT: u8 = u8::MAX;
/// Entries from this index on are not recorded in [`KeyTable`] (found by a scan instead).
const MAX_INDEXED: usize = ABSENT as usize;

/// The index of the first entry of every known key in an attribute list.
#[derive(Clone)]
pub(crate) struct KeyTable<'a> {
    kvs: &'a [KeyValue],
    /// Index of the first entry of each [`Key`], or [`ABSENT`].
    first: [u8; KEY_COUNT],
    /// The [`Key`] discriminant (or [`EMPTY`]) of the first [`KEPT_CLASSES`] entries.
    classes: [u8; KEPT_CLASSES],
    /// Some known key appears more than once (or the list is longer than [`MAX_INDEXED`]).
    repeated: bool,
    /// Bit `k` is set when key `k` may be in the list (all bits for lists longer than
    /// [`MAX_INDEXED`]): a clear bit answers a lookup without reading the table.
    present: KeySet,
}

/// Entries whose key class [`KeyTable`] keeps (later ones are classified again on demand).
const KEPT_CLASSES: usize = 64;

impl<'a> KeyTable<'a> {
    /// Classifies every entry of `kvs` once. Inlined, so that the table (200 bytes) is built
    /// where it is kept rather than copied there.
    #[inline(always)]
    pub(crate) fn new(kvs: &'a [KeyValue]) -> Self {
        let long = kvs.len() > MAX_INDEXED;
        // Filled in place and returned whole, so that it is not copied out of locals.
        let mut table = Self {
            kvs,
            first: [ABSENT; KEY_COUNT],
            classes: [EMPTY; KEPT_CLASSES],
            repeated: long,
            present: KeySet(if long { [u64::MAX; 2] } else { [0; 2] }),
        };
        for (i, kv) in kvs.iter().take(MAX_INDEXED).enumerate() {
            let Some(k) = classify(&kv.key) else {
                continue;
            };
            if let Some(class) = table.classes.get_mut(i) {
                *class = k as u8;
            }
            table.present.insert(k);
            if let Some(slot) = table.first.get_mut(k as usize) {
                if *slot == ABSENT {
                    *slot = i as u8; // i < MAX_INDEXED
                } else {
                    table.repeated = true;
                }
            }
        }
        table
    }

    /// Whether the list may hold any key of `set` (`false`: it certainly holds none).
    #[inline]
    pub(crate) fn may_have_any(&self, set: KeySet) -> bool {
        self.present.intersects(&set)
    }

    /// The known key of entry `idx`, if any.
    #[inline]
    pub(crate) fn class_at(&self, idx: usize) -> Option<Key> {
        match self.classes.get(idx) {
            Some(c) => ALL_KEYS.get(usize::from(*c)).copied(),
            None => self.kvs.get(idx).and_then(|kv| classify(&kv.key)),
        }
    }

    /// The attribute list.
    #[inline]
    pub(crate) fn kvs(&self) -> &'a [KeyValue] {
        self.kvs
    }

    /// Whether some known key may appear more than once (then marks must scan for all).
    #[inline]
    pub(crate) fn repeated(&self) -> bool {
        self.repeated
    }

    /// Index of the first entry with key `k`.
    #[inline]
    pub(crate) fn first_index(&self, k: Key) -> Option<usize> {
        if !self.present.contains(k) {
            return None;
        }
        match self.first.get(k as usize) {
            Some(&i) if i != ABSENT => Some(usize::from(i)),
            _ if self.kvs.len() > MAX_INDEXED => self.scan(k, MAX_INDEXED, false),
            _ => None,
        }
    }

    /// Index of the first entry at or after `from` with key `k` (and a value if `valued`).
    #[cold]
    fn scan(&self, k: Key, from: usize, valued: bool) -> Option<usize> {
        let text = k.text();
        self.kvs
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, kv)| kv.key == text && (!valued || kv_value(kv).is_some()))
            .map(|(j, _)| j)
    }

    /// Index of the first entry with key `k` that has a value (set `AnyValue`).
    #[inline]
    pub(crate) fn first_with_value(&self, k: Key) -> Option<usize> {
        let i = self.first_index(k)?;
        match self.kvs.get(i).and_then(kv_value) {
            Some(_) => Some(i),
            // Rare: the first entry is unset; a later one may have a value.
            None => self.scan(k, i + 1, true),
        }
    }

    /// The value of the first entry with key `k` (as [`super::value::find`]).
    #[inline]
    pub(crate) fn find(&self, k: Key) -> Option<&'a Value> {
        let kvs = self.kvs;
        self.first_index(k)
            .and_then(|i| kvs.get(i))
            .and_then(kv_value)
    }

    /// String value of the first entry with key `k` (as [`super::value::find_str`]).
    #[inline]
    pub(crate) fn str(&self, k: Key) -> Option<&'a str> {
        match self.find(k) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Non-empty string value.
    #[inline]
    pub(crate) fn nonempty(&self, k: Key) -> Option<&'a str> {
        self.str(k).filter(|s| !s.is_empty())
    }

    /// Integer value, a decimal string accepted too.
    #[inline]
    pub(crate) fn int(&self, k: Key) -> Option<i64> {
        self.find(k).and_then(as_int)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    #[test]
    fn every_key_classifies_to_itself() {
        for (i, text) in KEY_TEXT.iter().enumerate() {
            let k = classify(text);
            assert_eq!(k.map(|k| k as usize), Some(i), "{text}");
            assert_eq!(k.map(Key::text), Some(*text));
        }
        assert_eq!(KEY_TEXT.len(), ALL_KEYS.len());
    }

    #[test]
    fn other_keys_do_not_classify() {
        for other in [
            "",
            "a",
            "http.methods",
            "http.metho",
            "HTTP.METHOD",
            "demo.item_id",
            "aws.queue-url",
            "http.response.status_codes",
            "telemetry.sdk.languagf",
            "xttp.response.status_code",
            "otel.resource.service.name",
            "ü",
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
    }

    fn kv(key: &str, v: Option<&str>) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: v.map(|v| Value::StringValue(v.to_owned())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn lookups_answer_as_a_scan() {
        let kvs = [
            kv("x", Some("0")),
            kv("http.method", None),
            kv("http.method", Some("GET")),
            kv("db.name", Some("")),
            kv("db.name", Some("d")),
        ];
        let t = KeyTable::new(&kvs);
        assert!(t.repeated());
        // `find` semantics: the first entry, even when it is unset.
        assert_eq!(t.find(Key::HttpMethod), None);
        assert_eq!(t.first_with_value(Key::HttpMethod), Some(2));
        assert_eq!(t.str(Key::DbName), Some(""));
        assert_eq!(t.nonempty(Key::DbName), None);
        assert_eq!(t.first_index(Key::UrlPath), None);
        assert!(!KeyTable::new(&kvs[..2]).repeated());
    }

    #[test]
    fn long_lists_find_late_keys() {
        let mut kvs: Vec<KeyValue> = (0..300).map(|i| kv(&format!("k{i}"), Some("v"))).collect();
        kvs.push(kv("url.path", Some("/p")));
        kvs.push(kv("url.path", Some("/q")));
        let t = KeyTable::new(&kvs);
        assert!(t.repeated());
        assert_eq!(t.first_index(Key::UrlPath), Some(300));
        assert_eq!(t.str(Key::UrlPath), Some("/p"));
        assert_eq!(t.class_at(301), Some(Key::UrlPath));
        assert_eq!(t.class_at(3), None);
        assert_eq!(t.first_index(Key::UrlQuery), None);
    }
}
