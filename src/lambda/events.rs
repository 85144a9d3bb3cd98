//! Serde types of the Extensions API events and Telemetry API records
//! (`docs/lambda-extensions-api.md` §1). Parsing is lenient: unknown fields are ignored and
//! optional fields may be missing, as the docs and the runtime interface emulator disagree.

use serde::Deserialize;

/// An event returned by `GET /2020-01-01/extension/event/next`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The function is being invoked.
    Invoke(InvokeEvent),
    /// The execution environment is shutting down.
    Shutdown(ShutdownEvent),
    /// An event type this version does not know (ignored, then `/next` again).
    Other(String),
}

/// `{"eventType":"INVOKE","deadlineMs","requestId","invokedFunctionArn","tracing"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEvent {
    /// Unix epoch milliseconds at which the invocation times out.
    pub deadline_ms: u64,
    /// The invocation's request id (matches `platform.runtimeDone`'s `requestId`).
    pub request_id: String,
    /// ARN of the invoked function.
    #[serde(default)]
    pub invoked_function_arn: String,
    /// X-Ray tracing header of the invocation, when Lambda has one (RIE omits it).
    #[serde(default)]
    pub tracing: Option<Tracing>,
}

/// `{"type":"X-Amzn-Trace-Id","value":"Root=…;Parent=…;Sampled=1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tracing {
    /// Header type, `X-Amzn-Trace-Id`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Header value.
    #[serde(default)]
    pub value: String,
}

/// `{"eventType":"SHUTDOWN","shutdownReason","deadlineMs"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShutdownEvent {
    /// `spindown`, `timeout` or `failure`, lower-cased (RIE and docs differ in case).
    #[serde(default)]
    pub shutdown_reason: String,
    /// Unix epoch milliseconds at which Lambda kills the process.
    pub deadline_ms: u64,
}

/// Errors parsing an event.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The body is not the JSON object expected.
    #[error("invalid event JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Event {
    /// Parses an event body; `eventType` is matched case-insensitively.
    pub fn parse(body: &[u8]) -> Result<Event, EventError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Head {
            #[serde(default)]
            event_type: String,
        }
        let head: Head = serde_json::from_slice(body)?;
        match head.event_type.to_ascii_uppercase().as_str() {
            "INVOKE" => Ok(Event::Invoke(serde_json::from_slice(body)?)),
            "SHUTDOWN" => {
                let mut e: ShutdownEvent = serde_json::from_slice(body)?;
                e.shutdown_reason = e.shutdown_reason.to_ascii_lowercase();
                Ok(Event::Shutdown(e))
            }
            _ => Ok(Event::Other(head.event_type)),
        }
    }
}

/// One Telemetry API record envelope `{"time","type","record"}`; only what the lifecycle needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TelemetryEvent {
    /// `platform.runtimeDone`, `platform.start`, `function`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The record: an object for `platform.*`, a string or object for `function`/`extension`.
    #[serde(default)]
    pub record: serde_json::Value,
}

impl TelemetryEvent {
    /// The `record.requestId` of a platform record, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.record.get("requestId").and_then(|v| v.as_str())
    }
}

/// Parses a Telemetry API delivery (a JSON array of events). Elements that are not objects
/// are skipped; a body that is not an array is an error.
pub fn parse_telemetry_batch(body: &[u8]) -> Result<Vec<TelemetryEvent>, serde_json::Error> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(body)?;
    Ok(values
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invoke_with_and_without_tracing() {
        let e = Event::parse(br#"{"eventType":"INVOKE","deadlineMs":1700000003000,"requestId":"r1","invokedFunctionArn":"arn:x","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-a-b;Parent=c;Sampled=1"}}"#).unwrap();
        match e {
            Event::Invoke(i) => {
                assert_eq!(i.request_id, "r1");
                assert_eq!(i.deadline_ms, 1_700_000_003_000);
                assert!(i.tracing.unwrap().value.starts_with("Root="));
            }
            other => panic!("{other:?}"),
        }
        let e = Event::parse(br#"{"eventType":"INVOKE","deadlineMs":5,"requestId":"r2"}"#).unwrap();
        assert!(matches!(
            e,
            Event::Invoke(InvokeEvent { tracing: None, .. })
        ));
    }

    #[test]
    fn shutdown_reason_is_case_insensitive() {
        let e =
            Event::parse(br#"{"eventType":"SHUTDOWN","shutdownReason":"Timeout","deadlineMs":9}"#)
                .unwrap();
        assert_eq!(
            e,
            Event::Shutdown(ShutdownEvent {
                shutdown_reason: "timeout".into(),
                deadline_ms: 9
            })
        );
    }

    #[test]
    fn unknown_event_and_bad_json() {
        assert_eq!(
            Event::parse(br#"{"eventType":"RESTORE"}"#).unwrap(),
            Event::Other("RESTORE".into())
        );
        assert!(Event::parse(b"not json").is_err());
        assert!(
            Event::parse(br#"{"eventType":"INVOKE"}"#).is_err(),
            "INVOKE without deadline"
        );
    }

    #[test]
    fn telemetry_batch_is_lenient() {
        let b = br#"[{"time":"t","type":"platform.runtimeDone","record":{"requestId":"r1","status":"success"}},
                   {"time":"t","type":"function","record":"a log line"}, 7,
                   {"type":"platform.logsDropped","record":{"droppedBytes":1}}]"#;
        let evs = parse_telemetry_batch(b).unwrap();
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].request_id(), Some("r1"));
        assert_eq!(evs[1].request_id(), None);
        assert!(parse_telemetry_batch(b"{}").is_err());
    }
}
