//! Telemetry API `2022-07-01`: subscription validation and buffered delivery.
//!
//! Fact sheet (docs/lambda-extensions-api.md §1, "Telemetry API"): the subscription names a
//! schema version, event categories, an HTTP destination on `sandbox.localdomain` and optional
//! buffering (`maxItems` 1,000–10,000, `maxBytes` 262,144–1,048,576, `timeoutMs` 25–30,000).
//! Events are POSTed as a JSON array of `{"time","type","record"}` once the buffer is full or
//! `timeoutMs` after its first event; a failed POST is retried with backoff, then dropped.

use crate::ids::iso8601;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Schema versions the mock accepts (`2022-07-01`, `2022-12-13`, `2025-01-29`).
pub const SCHEMA_VERSIONS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];
/// Event categories a subscription may name.
pub const CATEGORIES: [&str; 3] = ["platform", "function", "extension"];
/// Buffering ranges and defaults (RIE `telemetry-subscription-schema.json`).
pub const MAX_ITEMS: (u64, u64, u64) = (1_000, 10_000, 10_000);
pub const MAX_BYTES: (u64, u64, u64) = (262_144, 1_048_576, 262_144);
pub const TIMEOUT_MS: (u64, u64, u64) = (25, 30_000, 1_000);
/// Delivery attempts per batch before it is dropped.
const DELIVERY_ATTEMPTS: u32 = 5;
/// Events kept while nobody is subscribed (init events are replayed to a late subscriber).
const PENDING_CAP: usize = 1_000;

/// A validated subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub schema_version: String,
    pub types: Vec<String>,
    /// The destination URI exactly as given.
    pub uri: String,
    /// Where the mock actually connects: `127.0.0.1:<port>` (sandbox.localdomain does not
    /// resolve outside Lambda).
    #[serde(skip)]
    pub connect: String,
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub host_header: String,
    pub max_items: u64,
    pub max_bytes: u64,
    pub timeout_ms: u64,
}

/// Validates a subscription body; `Err` is the `errorMessage` of a 400 `ValidationError`.
pub fn validate(body: &[u8]) -> Result<Subscription, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let obj = v.as_object().ok_or("body must be a JSON object")?;

    let schema_version = obj
        .get("schemaVersion")
        .and_then(Value::as_str)
        .ok_or("schemaVersion is required")?;
    if !SCHEMA_VERSIONS.contains(&schema_version) {
        return Err(format!(
            "schemaVersion {schema_version:?} is not one of {SCHEMA_VERSIONS:?}"
        ));
    }

    let types = obj
        .get("types")
        .and_then(Value::as_array)
        .ok_or("types is required and must be an array")?;
    if types.is_empty() {
        return Err("types must contain at least 1 item".into());
    }
    let mut out_types = Vec::new();
    for t in types {
        let t = t.as_str().ok_or("types must be strings")?;
        if !CATEGORIES.contains(&t) {
            return Err(format!("types: {t:?} is not one of {CATEGORIES:?}"));
        }
        if !out_types.iter().any(|x: &String| x == t) {
            out_types.push(t.to_string());
        }
    }

    let dest = obj
        .get("destination")
        .and_then(Value::as_object)
        .ok_or("destination is required")?;
    let protocol = dest
        .get("protocol")
        .and_then(Value::as_str)
        .ok_or("destination.protocol is required")?;
    if protocol == "TCP" {
        return Err("destination.protocol TCP is not supported by mock-lambda (use HTTP)".into());
    }
    if protocol != "HTTP" {
        return Err(format!(
            "destination.protocol {protocol:?} must be HTTP or TCP"
        ));
    }
    let uri = dest
        .get("URI")
        .and_then(Value::as_str)
        .ok_or("destination.URI is required")?;
    let (connect, host_header, path) = parse_destination(uri)?;

    let buffering = match obj.get("buffering") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("buffering must be an object".into()),
    };
    let range = |key: &str, (lo, hi, default): (u64, u64, u64)| -> Result<u64, String> {
        match buffering.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_u64() {
                Some(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(format!(
                    "buffering.{key} must be an integer in {lo}..={hi}, got {v}"
                )),
            },
        }
    };
    Ok(Subscription {
        schema_version: schema_version.to_string(),
        types: out_types,
        uri: uri.to_string(),
        connect,
        path,
        host_header,
        max_items: range("maxItems", MAX_ITEMS)?,
        max_bytes: range("maxBytes", MAX_BYTES)?,
        timeout_ms: range("timeoutMs", TIMEOUT_MS)?,
    })
}

/// `http://sandbox.localdomain:<port>[/path]` or `http://127.0.0.1:<port>[/path]` →
/// (connect address, Host header, path).
pub fn parse_destination(uri: &str) -> Result<(String, String, String), String> {
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| format!("destination.URI {uri:?} must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("destination.URI {uri:?} must name a port"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("destination.URI {uri:?} has an invalid port"))?;
    match host {
        "sandbox.localdomain" | "sandbox" | "127.0.0.1" | "localhost" => {}
        other => {
            return Err(format!(
                "destination.URI host {other:?} must be sandbox.localdomain (or 127.0.0.1)"
            ))
        }
    }
    Ok((
        format!("127.0.0.1:{port}"),
        authority.to_string(),
        path.to_string(),
    ))
}

/// Counters shown in the report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeliveryStats {
    pub batches_delivered: u64,
    pub events_delivered: u64,
    pub failed_attempts: u64,
    pub batches_dropped: u64,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
}

/// Which log category a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogCategory {
    /// The function's stdout/stderr.
    Function,
    /// The extension's stdout/stderr.
    Extension,
}

impl LogCategory {
    fn name(self) -> &'static str {
        match self {
            LogCategory::Function => "function",
            LogCategory::Extension => "extension",
        }
    }
}

/// How log records are delivered (`--telemetry-quirk string-logs` / `object-logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// As the subscription asks: function lines as strings, only if `function` is subscribed;
    /// extension lines are not emitted.
    #[default]
    Subscribed,
    /// Function and extension lines as strings, whatever the subscription says.
    ForcedStrings,
    /// As `{timestamp, level, requestId, message}` objects, whatever the subscription says.
    ForcedObjects,
    /// Strings and objects alternately.
    ForcedMixed,
}

impl LogMode {
    pub fn from_quirks(strings: bool, objects: bool) -> Self {
        match (strings, objects) {
            (false, false) => LogMode::Subscribed,
            (true, false) => LogMode::ForcedStrings,
            (false, true) => LogMode::ForcedObjects,
            (true, true) => LogMode::ForcedMixed,
        }
    }

    fn forced(self) -> bool {
        self != LogMode::Subscribed
    }
}

/// What the delivery task receives.
enum Msg {
    /// One event, buffered as the subscription says.
    One(Value),
    /// Events that must travel in one POST, of their own: the buffer is flushed first.
    Batch(Vec<Value>),
}

struct HubState {
    tx: Option<mpsc::UnboundedSender<Msg>>,
    types: Vec<String>,
    /// Events emitted before the subscription: (type, event, forced).
    pending: Vec<(String, Value, bool)>,
    /// While holding (`single-batch`), every event goes here.
    held: Option<Vec<Value>>,
    /// The current invocation's request id (for log objects).
    request_id: Option<String>,
    /// Log records emitted so far (alternation in [`LogMode::ForcedMixed`]).
    logs: u64,
}

/// The platform side of the Telemetry API: events go in with [`Telemetry::emit`], the
/// subscriber receives them in batches.
pub struct Telemetry {
    state: Mutex<HubState>,
    stats: Arc<Mutex<DeliveryStats>>,
    /// When the first POST carrying each request id's `platform.runtimeDone` started.
    runtime_done_posted: PostedAt,
    log_mode: LogMode,
}

/// Request id → when the POST carrying its `platform.runtimeDone` started.
type PostedAt = Arc<Mutex<HashMap<String, Instant>>>;

impl Telemetry {
    /// A hub with the default log mode.
    #[cfg(test)]
    pub fn new() -> Self {
        Self::with_log_mode(LogMode::Subscribed)
    }

    pub fn with_log_mode(log_mode: LogMode) -> Self {
        Self {
            state: Mutex::new(HubState {
                tx: None,
                types: Vec::new(),
                pending: Vec::new(),
                held: None,
                request_id: None,
                logs: 0,
            }),
            stats: Arc::new(Mutex::new(DeliveryStats::default())),
            runtime_done_posted: Arc::new(Mutex::new(HashMap::new())),
            log_mode,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Emits an event now. `event_type` is e.g. `platform.start` or `function`.
    pub fn emit(&self, event_type: &str, record: Value) {
        self.push(
            vec![(event_type.to_string(), envelope(event_type, record))],
            false,
            false,
        );
    }

    /// Emits events that travel together, in this order, in one POST of their own.
    pub fn emit_batch(&self, events: Vec<(&str, Value)>) {
        let events = events
            .into_iter()
            .map(|(t, r)| (t.to_string(), envelope(t, r)))
            .collect();
        self.push(events, false, true);
    }

    /// Emits one log line of `category`, shaped and filtered by the log mode.
    pub fn log(&self, category: LogCategory, line: &str) {
        if category == LogCategory::Extension && !self.log_mode.forced() {
            return;
        }
        let (n, request_id) = {
            let mut st = self.lock();
            st.logs += 1;
            (st.logs, st.request_id.clone())
        };
        let object = match self.log_mode {
            LogMode::Subscribed | LogMode::ForcedStrings => false,
            LogMode::ForcedObjects => true,
            LogMode::ForcedMixed => n % 2 == 0,
        };
        let record = if object {
            let mut o = json!({
                "timestamp": iso8601(SystemTime::now()),
                "level": log_level(line),
                "message": line,
            });
            if let Some(r) = request_id {
                o["requestId"] = json!(r);
            }
            o
        } else {
            Value::String(line.to_string())
        };
        let t = category.name();
        self.push(
            vec![(t.to_string(), envelope(t, record))],
            self.log_mode.forced(),
            false,
        );
    }

    /// Sets the request id log objects carry.
    pub fn set_request_id(&self, request_id: Option<&str>) {
        self.lock().request_id = request_id.map(str::to_string);
    }

    /// Starts holding every event (`single-batch`).
    pub fn hold(&self) {
        let mut st = self.lock();
        if st.held.is_none() {
            st.held = Some(Vec::new());
        }
    }

    /// Sends everything held as one POST and stops holding.
    pub fn release(&self) {
        let mut st = self.lock();
        if let Some(held) = st.held.take() {
            if !held.is_empty() {
                if let Some(tx) = &st.tx {
                    let _ = tx.send(Msg::Batch(held));
                }
            }
        }
    }

    fn push(&self, events: Vec<(String, Value)>, forced: bool, together: bool) {
        let mut st = self.lock();
        if st.tx.is_none() {
            for (t, ev) in events {
                if st.pending.len() < PENDING_CAP {
                    st.pending.push((t, ev, forced));
                }
            }
            return;
        }
        let wanted: Vec<Value> = events
            .into_iter()
            .filter(|(t, _)| forced || st.types.iter().any(|x| x == category(t)))
            .map(|(_, ev)| ev)
            .collect();
        if wanted.is_empty() {
            return;
        }
        if let Some(held) = st.held.as_mut() {
            held.extend(wanted);
            return;
        }
        let Some(tx) = &st.tx else { return };
        if together {
            let _ = tx.send(Msg::Batch(wanted));
        } else {
            for ev in wanted {
                let _ = tx.send(Msg::One(ev));
            }
        }
    }

    /// Starts delivering to `sub`; events emitted before (init) are replayed first.
    pub fn subscribe(&self, sub: Subscription) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut st = self.lock();
        for (t, ev, forced) in st.pending.drain(..) {
            if forced || sub.types.iter().any(|x| x == category(&t)) {
                let _ = tx.send(Msg::One(ev));
            }
        }
        st.types = sub.types.clone();
        st.tx = Some(tx);
        tokio::spawn(deliver(
            sub,
            rx,
            self.stats.clone(),
            self.runtime_done_posted.clone(),
        ));
    }

    pub fn stats(&self) -> DeliveryStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// When the first POST carrying `request_id`'s `platform.runtimeDone` to the subscriber
    /// started (the end of the Telemetry API's buffering); None if not sent yet.
    pub fn runtime_done_posted(&self, request_id: &str) -> Option<Instant> {
        self.runtime_done_posted
            .lock()
            .ok()
            .and_then(|m| m.get(request_id).copied())
    }
}

fn envelope(event_type: &str, record: Value) -> Value {
    json!({"time": iso8601(SystemTime::now()), "type": event_type, "record": record})
}

/// A log level guessed from the line (`ERROR`, `WARN`, `DEBUG`, `TRACE`, else `INFO`).
fn log_level(line: &str) -> &'static str {
    for level in ["ERROR", "WARN", "DEBUG", "TRACE"] {
        if line.contains(level) {
            return level;
        }
    }
    "INFO"
}

/// `platform.start` → `platform`; `function` → `function`.
fn category(event_type: &str) -> &str {
    event_type.split('.').next().unwrap_or(event_type)
}

async fn deliver(
    sub: Subscription,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<Mutex<DeliveryStats>>,
    posted: PostedAt,
) {
    let stats = (stats, posted);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let timeout = Duration::from_millis(sub.timeout_ms);
    let mut buf: Vec<Value> = Vec::new();
    let mut bytes = 0u64;
    let mut first_at = Instant::now();
    loop {
        let next = if buf.is_empty() {
            rx.recv().await
        } else {
            match tokio::time::timeout_at(first_at + timeout, rx.recv()).await {
                Ok(v) => v,
                Err(_) => {
                    post(&client, &sub, std::mem::take(&mut buf), &stats).await;
                    bytes = 0;
                    continue;
                }
            }
        };
        let ev = match next {
            None => {
                if !buf.is_empty() {
                    post(&client, &sub, std::mem::take(&mut buf), &stats).await;
                }
                return;
            }
            Some(Msg::Batch(events)) => {
                if !buf.is_empty() {
                    post(&client, &sub, std::mem::take(&mut buf), &stats).await;
                    bytes = 0;
                }
                post(&client, &sub, events, &stats).await;
                continue;
            }
            Some(Msg::One(ev)) => ev,
        };
        if buf.is_empty() {
            first_at = Instant::now();
        }
        bytes += ev.to_string().len() as u64;
        buf.push(ev);
        if buf.len() as u64 >= sub.max_items || bytes >= sub.max_bytes {
            post(&client, &sub, std::mem::take(&mut buf), &stats).await;
            bytes = 0;
        }
    }
}

/// Records, for each `platform.runtimeDone` in `batch`, that a POST carrying it started `at`
/// (the first such POST only).
fn note_runtime_done(posted: &PostedAt, batch: &[Value], at: Instant) {
    let Ok(mut m) = posted.lock() else { return };
    for ev in batch {
        if ev.get("type").and_then(Value::as_str) != Some("platform.runtimeDone") {
            continue;
        }
        if let Some(id) = ev.pointer("/record/requestId").and_then(Value::as_str) {
            m.entry(id.to_string()).or_insert(at);
        }
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(
    client: &HttpClient,
    sub: &Subscription,
    batch: Vec<Value>,
    (stats, posted): &(Arc<Mutex<DeliveryStats>>, PostedAt),
) {
    let n = batch.len() as u64;
    note_runtime_done(posted, &batch, Instant::now());
    let body = Bytes::from(Value::Array(batch).to_string());
    let mut backoff = Duration::from_millis(20);
    for attempt in 1..=DELIVERY_ATTEMPTS {
        let req = hyper::Request::post(format!("http://{}{}", sub.connect, sub.path))
            .header(hyper::header::HOST, sub.host_header.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()));
        let outcome = match req {
            Ok(req) => match client.request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    let _ = resp.into_body().collect().await;
                    if status.is_success() {
                        Ok(())
                    } else {
                        Err(format!("listener answered {status}"))
                    }
                }
                Err(e) => Err(format!("POST {}: {e:?}", sub.uri)),
            },
            Err(e) => Err(format!("cannot build the request: {e}")),
        };
        {
            let Ok(mut s) = stats.lock() else { return };
            match outcome {
                Ok(()) => {
                    s.batches_delivered += 1;
                    s.events_delivered += n;
                    return;
                }
                Err(e) => s.last_error = Some(e),
            }
            s.failed_attempts += 1;
            if attempt == DELIVERY_ATTEMPTS {
                s.batches_dropped += 1;
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(buffering: Value) -> Vec<u8> {
        json!({
            "schemaVersion": "2022-12-13",
            "types": ["platform"],
            "buffering": buffering,
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t", "method": "POST", "encoding": "JSON"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn accepts_the_go_collector_subscription() {
        let s = validate(&body(
            json!({"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25}),
        ))
        .unwrap();
        assert_eq!(s.connect, "127.0.0.1:4243");
        assert_eq!(s.host_header, "sandbox.localdomain:4243");
        assert_eq!(s.path, "/t");
        assert_eq!((s.max_items, s.max_bytes, s.timeout_ms), (1000, 262144, 25));
    }

    #[test]
    fn buffering_defaults_and_ranges() {
        let s = validate(&body(Value::Null)).unwrap();
        assert_eq!(
            (s.max_items, s.max_bytes, s.timeout_ms),
            (10_000, 262_144, 1_000)
        );
        for bad in [
            json!({"maxItems": 999}),
            json!({"maxItems": 10_001}),
            json!({"maxBytes": 262_143}),
            json!({"maxBytes": 1_048_577}),
            json!({"timeoutMs": 24}),
            json!({"timeoutMs": 30_001}),
            json!({"timeoutMs": "25"}),
            json!({"timeoutMs": -1}),
        ] {
            assert!(validate(&body(bad.clone())).is_err(), "{bad}");
        }
        for good in [
            json!({"maxItems": 10_000, "maxBytes": 1_048_576, "timeoutMs": 30_000}),
            json!({"timeoutMs": 25}),
        ] {
            assert!(validate(&body(good.clone())).is_ok(), "{good}");
        }
    }

    #[test]
    fn rejects_bad_schema_types_and_destinations() {
        let mut v: Value = serde_json::from_slice(&body(Value::Null)).unwrap();
        v["schemaVersion"] = json!("2020-08-15");
        assert!(validate(v.to_string().as_bytes()).is_err());
        let mut v: Value = serde_json::from_slice(&body(Value::Null)).unwrap();
        v["types"] = json!([]);
        assert!(validate(v.to_string().as_bytes()).is_err());
        v["types"] = json!(["platform", "logs"]);
        assert!(validate(v.to_string().as_bytes()).is_err());
        assert!(parse_destination("https://sandbox.localdomain:1/").is_err());
        assert!(parse_destination("http://sandbox.localdomain/").is_err());
        assert!(parse_destination("http://example.com:80/").is_err());
        assert_eq!(
            parse_destination("http://127.0.0.1:9000").unwrap(),
            ("127.0.0.1:9000".into(), "127.0.0.1:9000".into(), "/".into())
        );
        assert!(validate(b"{not json").is_err());
    }

    #[test]
    fn categories() {
        assert_eq!(category("platform.runtimeDone"), "platform");
        assert_eq!(category("function"), "function");
    }

    /// A listener that keeps every POST body (one JSON array per batch).
    struct Listener {
        batches: Mutex<Vec<Vec<Value>>>,
        notify: tokio::sync::Notify,
    }

    async fn listener() -> (Arc<Listener>, Subscription) {
        let l = Arc::new(Listener {
            batches: Mutex::new(Vec::new()),
            notify: tokio::sync::Notify::new(),
        });
        let addr = crate::http_util::serve(l.clone(), |l: Arc<Listener>, req| async move {
            let body = crate::http_util::read_body(req.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            if let Ok(Value::Array(a)) = serde_json::from_slice::<Value>(&body) {
                l.batches.lock().unwrap().push(a);
                l.notify.notify_one();
            }
            crate::http_util::json(hyper::StatusCode::OK, &json!("OK"))
        })
        .await
        .unwrap();
        let sub = validate(
            json!({"schemaVersion": "2022-12-13", "types": ["platform"],
                   "buffering": {"timeoutMs": 25},
                   "destination": {"protocol": "HTTP", "URI": format!("http://sandbox.localdomain:{}/", addr.port())}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        (l, sub)
    }

    async fn wait_batches(l: &Listener, n: usize) -> Vec<Vec<Value>> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let notified = l.notify.notified();
            {
                let b = l.batches.lock().unwrap();
                if b.len() >= n {
                    return b.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return l.batches.lock().unwrap().clone();
            }
        }
    }

    fn types(batch: &[Value]) -> Vec<&str> {
        batch
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("?"))
            .collect()
    }

    #[tokio::test]
    async fn batches_travel_alone_and_in_order() {
        let (l, sub) = listener().await;
        let t = Telemetry::new();
        t.emit("platform.initStart", json!({}));
        t.subscribe(sub);
        t.emit("platform.start", json!({"requestId": "r"}));
        t.emit_batch(vec![
            ("platform.report", json!({"requestId": "r"})),
            ("platform.runtimeDone", json!({"requestId": "r"})),
        ]);
        let b = wait_batches(&l, 2).await;
        assert_eq!(types(&b[0]), vec!["platform.initStart", "platform.start"]);
        assert_eq!(
            types(&b[1]),
            vec!["platform.report", "platform.runtimeDone"]
        );
        // The POST that carried request r's runtimeDone is noted (post-runtime figures).
        assert!(t.runtime_done_posted("r").is_some());
        assert!(t.runtime_done_posted("other").is_none());
        // Unsubscribed categories are dropped in the default log mode.
        t.log(LogCategory::Function, "hello");
        t.log(LogCategory::Extension, "ext");
        t.emit("platform.end", json!({}));
        let b = wait_batches(&l, 3).await;
        assert_eq!(types(&b[2]), vec!["platform.end"]);
        // The counter moves once the listener's answer is read.
        for _ in 0..100 {
            if t.stats().batches_delivered == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(t.stats().batches_delivered, 3);
    }

    #[tokio::test]
    async fn hold_and_release_make_one_post() {
        let (l, sub) = listener().await;
        let t = Telemetry::new();
        t.subscribe(sub);
        t.hold();
        t.emit("platform.start", json!({}));
        tokio::time::sleep(Duration::from_millis(60)).await;
        t.emit("platform.runtimeDone", json!({}));
        t.emit_batch(vec![("platform.report", json!({}))]);
        assert!(l.batches.lock().unwrap().is_empty());
        t.release();
        let b = wait_batches(&l, 1).await;
        assert_eq!(b.len(), 1);
        assert_eq!(
            types(&b[0]),
            vec!["platform.start", "platform.runtimeDone", "platform.report"]
        );
    }

    #[tokio::test]
    async fn forced_logs_reach_a_platform_only_subscriber() {
        let (l, sub) = listener().await;
        let t = Telemetry::with_log_mode(LogMode::ForcedMixed);
        t.log(LogCategory::Extension, "before the subscription");
        t.subscribe(sub);
        t.set_request_id(Some("req-1"));
        t.log(LogCategory::Function, "ERROR boom");
        t.log(LogCategory::Extension, "plain");
        let b = wait_batches(&l, 1).await;
        let events: Vec<Value> = b.into_iter().flatten().collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0]["type"], "extension");
        assert!(events[0]["record"].is_string());
        assert_eq!(events[1]["type"], "function");
        assert_eq!(events[1]["record"]["level"], "ERROR");
        assert_eq!(events[1]["record"]["requestId"], "req-1");
        assert_eq!(events[1]["record"]["message"], "ERROR boom");
        assert!(events[1]["record"]["timestamp"].is_string());
        assert_eq!(events[2]["record"], "plain");
    }
}
