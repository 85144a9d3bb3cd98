//! The Extensions API `2020-01-01` and the Telemetry API subscription endpoint, with the
//! emulator's (RIE) status codes, headers and `{"errorMessage","errorType"}` bodies
//! (docs/lambda-extensions-api.md §1).
//!
//! The conductor (`main.rs`) drives it: it learns about `/event/next` arrivals and
//! `/init/error` calls through [`RuntimeApi::notify`] and answers the pending `/next` with
//! [`RuntimeApi::deliver`].

use crate::http_util::{header, json, lambda_error, read_body, Resp};
use crate::ids::{is_uuid, uuid_v4};
use crate::telemetry::{self, Subscription, Telemetry};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

pub const FUNCTION_NAME: &str = "demo-function";
pub const FUNCTION_VERSION: &str = "$LATEST";
pub const ACCOUNT_ID: &str = "123456789012";
pub const HANDLER: &str = "bootstrap";
/// Largest request body the Runtime API reads.
const BODY_LIMIT: usize = 1 << 20;
const ID_HEADER: &str = "lambda-extension-identifier";

/// What the extension said with `/init/error` or `/exit/error`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorReport {
    pub error_type: String,
    pub body: Value,
}

/// A successful registration.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the extension's first `/next`: register and subscribe are allowed.
    Init,
    /// After the first `/next`.
    Ready,
    /// After `/init/error`: nothing succeeds any more.
    Failed,
}

struct PendingNext {
    at: Instant,
    tx: oneshot::Sender<String>,
}

struct ApiState {
    phase: Phase,
    registration: Option<Registration>,
    pending_next: Option<PendingNext>,
    next_calls: u64,
    init_error: Option<ErrorReport>,
    exit_error: Option<ErrorReport>,
    subscription: Option<Subscription>,
    subscription_answer: Option<u16>,
    shutdown_delivered: bool,
}

/// Shared state of the Runtime API server.
pub struct RuntimeApi {
    extension_name: String,
    telemetry: Arc<Telemetry>,
    telemetry_unsupported: bool,
    state: Mutex<ApiState>,
    /// Signalled on every `/next` arrival and `/init/error` / `/exit/error` call.
    pub notify: Notify,
}

impl RuntimeApi {
    pub fn new(
        extension_name: String,
        telemetry: Arc<Telemetry>,
        telemetry_unsupported: bool,
    ) -> Self {
        Self {
            extension_name,
            telemetry,
            telemetry_unsupported,
            state: Mutex::new(ApiState {
                phase: Phase::Init,
                registration: None,
                pending_next: None,
                next_calls: 0,
                init_error: None,
                exit_error: None,
                subscription: None,
                subscription_answer: None,
                shutdown_delivered: false,
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        // A poisoned lock only means a handler panicked mid-update; the data is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the currently pending `/next` arrived (None if the extension is not waiting).
    pub fn pending_next_at(&self) -> Option<Instant> {
        let st = self.lock();
        st.pending_next
            .as_ref()
            .filter(|p| !p.tx.is_closed())
            .map(|p| p.at)
    }

    /// Number of `/next` calls so far.
    pub fn next_calls(&self) -> u64 {
        self.lock().next_calls
    }

    /// Answers the pending `/next` with `event`. False if no `/next` was waiting.
    pub fn deliver(&self, event: &Value) -> bool {
        let mut st = self.lock();
        if event.get("eventType").and_then(Value::as_str) == Some("SHUTDOWN") {
            st.shutdown_delivered = true;
        }
        match st.pending_next.take() {
            Some(p) => p.tx.send(event.to_string()).is_ok(),
            None => false,
        }
    }

    pub fn registration(&self) -> Option<Registration> {
        self.lock().registration.clone()
    }

    pub fn init_error(&self) -> Option<ErrorReport> {
        self.lock().init_error.clone()
    }

    pub fn exit_error(&self) -> Option<ErrorReport> {
        self.lock().exit_error.clone()
    }

    /// The accepted subscription and the status code the subscription call got.
    pub fn subscription(&self) -> (Option<Subscription>, Option<u16>) {
        let st = self.lock();
        (st.subscription.clone(), st.subscription_answer)
    }
}

/// Routes one request (the `serve` handler).
pub async fn handle(api: Arc<RuntimeApi>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::POST, "/2020-01-01/extension/register") => register(&api, req).await,
        (Method::GET, "/2020-01-01/extension/event/next") => next(&api, req).await,
        (Method::POST, "/2020-01-01/extension/init/error") => report_error(&api, req, true).await,
        (Method::POST, "/2020-01-01/extension/exit/error") => report_error(&api, req, false).await,
        (Method::PUT, "/2022-07-01/telemetry") => subscribe(&api, req).await,
        (_, p) => lambda_error(
            StatusCode::NOT_FOUND,
            "InvalidRequest",
            &format!("mock-lambda does not serve {p}"),
        ),
    }
}

/// Checks `Lambda-Extension-Identifier` against the registration; `Some` is the 403 answer.
fn identifier_error(api: &RuntimeApi, req: &Request<Incoming>) -> Option<Resp> {
    let Some(id) = header(req, ID_HEADER) else {
        return Some(lambda_error(
            StatusCode::FORBIDDEN,
            "Extension.MissingExtensionIdentifier",
            "Missing Lambda-Extension-Identifier header",
        ));
    };
    if !is_uuid(id) {
        return Some(lambda_error(
            StatusCode::FORBIDDEN,
            "Extension.InvalidExtensionIdentifier",
            "Invalid Lambda-Extension-Identifier",
        ));
    }
    match api.lock().registration.as_ref() {
        Some(r) if r.id == id => None,
        _ => Some(lambda_error(
            StatusCode::FORBIDDEN,
            "Extension.UnknownExtensionIdentifier",
            "Unknown extension",
        )),
    }
}

async fn register(api: &RuntimeApi, req: Request<Incoming>) -> Resp {
    let forbidden = |t: &str, m: &str| lambda_error(StatusCode::FORBIDDEN, t, m);
    let name = header(&req, "lambda-extension-name").map(str::to_string);
    let accept_account_id = header(&req, "lambda-extension-accept-feature")
        .map(|v| {
            v.split(',')
                .any(|f| f.trim().eq_ignore_ascii_case("accountId"))
        })
        .unwrap_or(false);
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return forbidden("Extension.InvalidExtensionName", "Empty extension name");
    };
    if name != api.extension_name {
        return forbidden(
            "Extension.InvalidExtensionName",
            &format!(
                "Lambda-Extension-Name {name:?} is not the extension's file name {:?}",
                api.extension_name
            ),
        );
    }
    let body = match read_body(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return forbidden("InvalidRequestFormat", &e),
    };
    let events = match parse_register_body(&body) {
        Ok(e) => e,
        Err((t, m)) => return forbidden(t, &m),
    };
    let mut st = api.lock();
    if st.phase != Phase::Init {
        return forbidden(
            "Extension.RegistrationClosed",
            "Extension registration closed already",
        );
    }
    if st.registration.is_some() {
        return forbidden(
            "Extension.InvalidExtensionName",
            &format!("extension {name:?} is already registered"),
        );
    }
    let id = uuid_v4();
    st.registration = Some(Registration {
        id: id.clone(),
        events,
    });
    drop(st);
    let mut body = json!({
        "functionName": FUNCTION_NAME,
        "functionVersion": FUNCTION_VERSION,
        "handler": HANDLER,
    });
    if accept_account_id {
        body["accountId"] = json!(ACCOUNT_ID);
    }
    let mut resp = json(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("Lambda-Extension-Identifier", v);
    }
    resp
}

/// `{"events":[...]}` → events. Errors are (errorType, errorMessage).
pub fn parse_register_body(body: &[u8]) -> Result<Vec<String>, (&'static str, String)> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ("InvalidRequestFormat", format!("invalid JSON: {e}")))?;
    let obj = v.as_object().ok_or((
        "InvalidRequestFormat",
        "body must be a JSON object".to_string(),
    ))?;
    if let Some(k) = obj.keys().find(|k| k.as_str() != "events") {
        return Err(("InvalidRequestFormat", format!("json: unknown field {k:?}")));
    }
    let mut events = Vec::new();
    match obj.get("events") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for e in a {
                match e.as_str() {
                    Some(s @ ("INVOKE" | "SHUTDOWN")) => {
                        if !events.iter().any(|x| x == s) {
                            events.push(s.to_string());
                        }
                    }
                    _ => {
                        return Err((
                            "Extension.InvalidEventType",
                            format!("invalid event type {e}"),
                        ))
                    }
                }
            }
        }
        Some(_) => {
            return Err((
                "InvalidRequestFormat",
                "events must be an array".to_string(),
            ));
        }
    }
    Ok(events)
}

async fn next(api: &RuntimeApi, req: Request<Incoming>) -> Resp {
    if let Some(r) = identifier_error(api, &req) {
        return r;
    }
    let rx = {
        let mut st = api.lock();
        if st.phase == Phase::Failed {
            return lambda_error(
                StatusCode::FORBIDDEN,
                "Extension.InvalidExtensionState",
                "The extension reported an init error",
            );
        }
        if st.shutdown_delivered {
            None
        } else {
            let (tx, rx) = oneshot::channel();
            // A second concurrent /next replaces the first, which then gets a 500.
            st.pending_next = Some(PendingNext {
                at: Instant::now(),
                tx,
            });
            st.next_calls += 1;
            if st.phase == Phase::Init {
                st.phase = Phase::Ready;
            }
            Some(rx)
        }
    };
    api.notify.notify_one();
    let Some(rx) = rx else {
        // After SHUTDOWN there is no next event: the call blocks until the process ends.
        std::future::pending::<()>().await;
        return lambda_error(StatusCode::INTERNAL_SERVER_ERROR, "Unreachable", "");
    };
    match rx.await {
        Ok(event) => {
            let mut resp = crate::http_util::json(StatusCode::OK, &Value::Null);
            *resp.body_mut() = http_body_util::Full::new(bytes::Bytes::from(event));
            if let Ok(v) = HeaderValue::from_str(&uuid_v4()) {
                resp.headers_mut()
                    .insert("Lambda-Extension-Event-Identifier", v);
            }
            resp
        }
        Err(_) => lambda_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Extension.InvalidExtensionState",
            "another /event/next call replaced this one",
        ),
    }
}

async fn report_error(api: &RuntimeApi, req: Request<Incoming>, init: bool) -> Resp {
    if let Some(r) = identifier_error(api, &req) {
        return r;
    }
    let Some(error_type) = header(&req, "lambda-extension-function-error-type").map(str::to_string)
    else {
        return lambda_error(
            StatusCode::FORBIDDEN,
            "Extension.MissingHeader",
            "Missing Lambda-Extension-Function-Error-Type header",
        );
    };
    let body = match read_body(req.into_body(), BODY_LIMIT).await {
        Ok(b) if b.is_empty() => Value::Null,
        Ok(b) => serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into_owned())),
        Err(e) => return lambda_error(StatusCode::BAD_REQUEST, "InvalidRequestFormat", &e),
    };
    {
        let mut st = api.lock();
        let report = Some(ErrorReport { error_type, body });
        if init {
            st.init_error = report;
            st.phase = Phase::Failed;
        } else {
            st.exit_error = report;
        }
    }
    api.notify.notify_one();
    json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

async fn subscribe(api: &RuntimeApi, req: Request<Incoming>) -> Resp {
    if let Some(r) = identifier_error(api, &req) {
        return r;
    }
    let body = match read_body(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return telemetry_error(api, StatusCode::BAD_REQUEST, "ValidationError", &e),
    };
    if api.telemetry_unsupported {
        return telemetry_error(
            api,
            StatusCode::ACCEPTED,
            "Telemetry.NotSupported",
            "Telemetry API is not supported",
        );
    }
    if api.lock().phase != Phase::Init {
        return telemetry_error(
            api,
            StatusCode::FORBIDDEN,
            "Telemetry.SubscriptionClosed",
            "subscriptions are accepted only during init",
        );
    }
    match telemetry::validate(&body) {
        Ok(sub) => {
            {
                let mut st = api.lock();
                st.subscription = Some(sub.clone());
                st.subscription_answer = Some(200);
            }
            api.telemetry.subscribe(sub);
            json(StatusCode::OK, &json!("OK"))
        }
        Err(m) => telemetry_error(api, StatusCode::BAD_REQUEST, "ValidationError", &m),
    }
}

fn telemetry_error(api: &RuntimeApi, status: StatusCode, error_type: &str, message: &str) -> Resp {
    api.lock().subscription_answer = Some(status.as_u16());
    lambda_error(status, error_type, message)
}

/// The function's ARN, as in `invokedFunctionArn`.
pub fn function_arn() -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{FUNCTION_NAME}")
}

/// The INVOKE event (RIE shape; `tracing` present because the mock always traces).
pub fn invoke_event(request_id: &str, deadline_ms: u64, trace_header: &str) -> Value {
    json!({
        "eventType": "INVOKE",
        "deadlineMs": deadline_ms,
        "requestId": request_id,
        "invokedFunctionArn": function_arn(),
        "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_header},
    })
}

/// The SHUTDOWN event.
pub fn shutdown_event(reason: &str, deadline_ms: u64) -> Value {
    json!({"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_bodies() {
        assert_eq!(
            parse_register_body(br#"{"events":["INVOKE","SHUTDOWN"]}"#).unwrap(),
            vec!["INVOKE", "SHUTDOWN"]
        );
        assert_eq!(parse_register_body(b"").unwrap(), Vec::<String>::new());
        assert_eq!(parse_register_body(b"{}").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_register_body(br#"{"events":["FOO"]}"#).unwrap_err().0,
            "Extension.InvalidEventType"
        );
        assert_eq!(
            parse_register_body(br#"{"events":["INVOKE"],"configurationKeys":[]}"#)
                .unwrap_err()
                .0,
            "InvalidRequestFormat"
        );
        assert_eq!(
            parse_register_body(b"[1").unwrap_err().0,
            "InvalidRequestFormat"
        );
    }

    #[test]
    fn event_shapes() {
        let e = invoke_event("rid", 1234, "Root=1-a-b;Parent=c;Sampled=1");
        assert_eq!(
            e,
            json!({
                "eventType": "INVOKE",
                "deadlineMs": 1234,
                "requestId": "rid",
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:demo-function",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-a-b;Parent=c;Sampled=1"}
            })
        );
        assert_eq!(
            shutdown_event("spindown", 99),
            json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 99})
        );
    }

    #[tokio::test]
    async fn register_next_and_deliver_over_http() {
        use http_body_util::{BodyExt, Full};
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let api = Arc::new(RuntimeApi::new(
            "my-ext".into(),
            Arc::new(Telemetry::new()),
            false,
        ));
        let addr = crate::http_util::serve(api.clone(), handle).await.unwrap();
        let client: Client<_, Full<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let send = |req: hyper::Request<Full<bytes::Bytes>>| {
            let client = client.clone();
            async move {
                let resp = client.request(req).await.unwrap();
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                (status, headers, v)
            }
        };
        let url = |p: &str| format!("http://{addr}{p}");
        // wrong name
        let (s, _, b) = send(
            hyper::Request::post(url("/2020-01-01/extension/register"))
                .header("Lambda-Extension-Name", "other")
                .body(Full::from(r#"{"events":["INVOKE"]}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, b["errorType"].as_str()),
            (403, Some("Extension.InvalidExtensionName"))
        );
        // good
        let (s, h, b) = send(
            hyper::Request::post(url("/2020-01-01/extension/register"))
                .header("Lambda-Extension-Name", "my-ext")
                .header("Lambda-Extension-Accept-Feature", "accountId")
                .body(Full::from(r#"{"events":["INVOKE","SHUTDOWN"]}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(b["accountId"], "123456789012");
        assert_eq!(b["functionName"], "demo-function");
        let id = h["lambda-extension-identifier"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(is_uuid(&id));
        // subscription with a bad range
        let (s, _, b) = send(
            hyper::Request::put(url("/2022-07-01/telemetry"))
                .header("Lambda-Extension-Identifier", &id)
                .body(Full::from(
                    r#"{"schemaVersion":"2022-12-13","types":["platform"],"buffering":{"timeoutMs":10},"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1234/"}}"#,
                ))
                .unwrap(),
        )
        .await;
        assert_eq!((s, b["errorType"].as_str()), (400, Some("ValidationError")));
        // /next without identifier
        let (s, _, b) = send(
            hyper::Request::get(url("/2020-01-01/extension/event/next"))
                .body(Full::default())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, b["errorType"].as_str()),
            (403, Some("Extension.MissingExtensionIdentifier"))
        );
        // /next blocks until delivered
        let pending = tokio::spawn(send(
            hyper::Request::get(url("/2020-01-01/extension/event/next"))
                .header("Lambda-Extension-Identifier", &id)
                .body(Full::default())
                .unwrap(),
        ));
        while api.pending_next_at().is_none() {
            api.notify.notified().await;
        }
        assert!(api.deliver(&shutdown_event("spindown", 5)));
        let (s, h, b) = pending.await.unwrap();
        assert_eq!(s, 200);
        assert!(h.contains_key("lambda-extension-event-identifier"));
        assert_eq!(b["eventType"], "SHUTDOWN");
        // registration is closed after the first /next
        let (s, _, b) = send(
            hyper::Request::post(url("/2020-01-01/extension/register"))
                .header("Lambda-Extension-Name", "my-ext")
                .body(Full::default())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, b["errorType"].as_str()),
            (403, Some("Extension.RegistrationClosed"))
        );
    }
}
