//! Delivery of segment documents with `PutTraceSegments` (`docs/xray-mapping.md` §17.1).
//!
//! - At most [`MAX_DOCUMENTS_PER_CALL`] documents per call (R-API-2).
//! - The AWS SDK's own retries are disabled: every retry is ours, with exponential backoff and
//!   full jitter, and nothing is attempted past the flush deadline (a Lambda flush has a hard
//!   budget; the SDK's standard retry does not know it). Retried: HTTP 429 and 5xx, timeouts,
//!   connection and DNS failures, and `UnprocessedTraceSegments` entries whose error code is
//!   not a content error (R-API-3/4). Never retried: other 4xx and content errors.
//! - The client (credential chain, rustls with ring, region and endpoint resolution) is built
//!   lazily, in the background after init, so it costs the cold start nothing.

use std::time::{Duration, Instant};

use aws_sdk_xray::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_xray::Client;
use rand::Rng;
use tokio::sync::OnceCell;

use crate::exporter::ExportReport;

/// R-API-2: the reference exporter and the X-Ray daemon both send at most 50 documents per call.
pub const MAX_DOCUMENTS_PER_CALL: usize = 50;

/// First backoff delay after a retryable failure; doubles per attempt up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Duration = Duration::from_millis(10);
/// Longest backoff delay between two attempts.
pub const BACKOFF_MAX: Duration = Duration::from_millis(250);

/// `UnprocessedTraceSegments` error codes that describe the document itself: retrying cannot
/// help (R-API-3).
const CONTENT_ERROR_CODES: &[&str] = &["InvalidTraceId", "MissingId", "InvalidSegment"];

/// Where and how to reach X-Ray.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XraySettings {
    /// Region; `None` = `AWS_REGION` / `AWS_DEFAULT_REGION` via the SDK's chain.
    pub region: Option<String>,
    /// Endpoint URL override; `None` = the SDK's resolution, which honours
    /// `AWS_ENDPOINT_URL_XRAY` and `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
}

/// A lazily built `PutTraceSegments` client.
pub struct XrayClient {
    settings: XraySettings,
    client: std::sync::Arc<OnceCell<Client>>,
}

impl XrayClient {
    /// A client that builds itself on [`XrayClient::warm_up`] or first use.
    pub fn new(settings: XraySettings) -> Self {
        Self {
            settings,
            client: std::sync::Arc::new(OnceCell::new()),
        }
    }

    /// Spawns the client's construction on the current runtime (no-op if already built).
    pub fn warm_up(&self) {
        let cell = std::sync::Arc::clone(&self.client);
        let settings = self.settings.clone();
        tokio::spawn(async move {
            cell.get_or_init(|| build_client(settings)).await;
        });
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| build_client(self.settings.clone()))
            .await
    }

    /// Sends `documents` in calls of at most 50, retrying retryable failures until `deadline`.
    /// Whatever is still undelivered at the deadline is counted as `deadline`; documents X-Ray
    /// refuses for their content are counted as `rejected_by_xray`.
    pub async fn put_documents(&self, documents: Vec<String>, deadline: Instant) -> ExportReport {
        let mut report = ExportReport::default();
        if documents.is_empty() {
            return report;
        }
        let client = match tokio::time::timeout_at(deadline.into(), self.client()).await {
            Ok(c) => c,
            Err(_) => {
                report.dropped.deadline += documents.len() as u64;
                tracing::warn!(
                    documents = documents.len(),
                    "X-Ray client not ready before the flush deadline"
                );
                return report;
            }
        };
        let mut pending: Vec<String> = documents;
        let mut attempt: u32 = 0;
        while !pending.is_empty() {
            let mut retry: Vec<String> = Vec::new();
            let mut chunks = Vec::new();
            while !pending.is_empty() {
                let n = pending.len().min(MAX_DOCUMENTS_PER_CALL);
                let rest = pending.split_off(n);
                chunks.push(std::mem::replace(&mut pending, rest));
            }
            for chunk in chunks {
                if Instant::now() >= deadline {
                    retry.extend(chunk);
                    continue;
                }
                let outcome = put_once(client, &chunk, deadline).await;
                match outcome {
                    CallOutcome::Done { unprocessed } => {
                        let mut retry_ids: Vec<String> = Vec::new();
                        let mut rejected_ids: Vec<String> = Vec::new();
                        for u in unprocessed {
                            tracing::warn!(id = ?u.id, code = %u.code, message = %u.message, retryable = u.retryable, "X-Ray did not process a segment document");
                            match (u.id, u.retryable) {
                                (Some(id), true) => retry_ids.push(id),
                                (Some(id), false) => rejected_ids.push(id),
                                // Without an id the document cannot be told apart: count it.
                                (None, _) => report.dropped.rejected_by_xray += 1,
                            }
                        }
                        for doc in chunk {
                            if retry_ids.iter().any(|id| doc_has_id(&doc, id)) {
                                retry.push(doc);
                            } else if rejected_ids.iter().any(|id| doc_has_id(&doc, id)) {
                                report.dropped.rejected_by_xray += 1;
                            } else {
                                report.exported += 1;
                            }
                        }
                    }
                    CallOutcome::Retryable(reason) => {
                        tracing::debug!(%reason, documents = chunk.len(), "PutTraceSegments failed; will retry");
                        retry.extend(chunk);
                    }
                    CallOutcome::Permanent(reason) => {
                        tracing::warn!(%reason, documents = chunk.len(), "PutTraceSegments refused; documents dropped");
                        report.dropped.rejected_by_xray += chunk.len() as u64;
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            let delay = backoff(attempt, &mut rand::rng());
            attempt += 1;
            if Instant::now() + delay >= deadline {
                report.dropped.deadline += retry.len() as u64;
                tracing::warn!(
                    documents = retry.len(),
                    "flush deadline reached; documents dropped"
                );
                break;
            }
            report.retries += 1;
            tokio::time::sleep(delay).await;
            pending = retry;
        }
        report
    }
}

/// The delay before retry number `attempt` (0-based): full jitter over an exponentially growing
/// window, `uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2^attempt))` (AWS Architecture Blog,
/// "Exponential Backoff And Jitter"), never below 1 ms.
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    let window = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let ms = window.as_millis().max(1) as u64;
    Duration::from_millis(rng.random_range(1..=ms))
}

/// Whether the serialised document `doc` has `"id":"<id>"`. Documents are ours, so the exact
/// spelling is known (serde_json, no spaces).
fn doc_has_id(doc: &str, id: &str) -> bool {
    let needle = format!("\"id\":\"{id}\"");
    doc.contains(&needle)
}

struct Unprocessed {
    id: Option<String>,
    code: String,
    message: String,
    retryable: bool,
}

enum CallOutcome {
    Done { unprocessed: Vec<Unprocessed> },
    Retryable(String),
    Permanent(String),
}

async fn put_once(client: &Client, chunk: &[String], deadline: Instant) -> CallOutcome {
    let call = client
        .put_trace_segments()
        .set_trace_segment_documents(Some(chunk.to_vec()))
        .send();
    let result = match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(r) => r,
        Err(_) => return CallOutcome::Retryable("timed out at the flush deadline".into()),
    };
    match result {
        Ok(out) => CallOutcome::Done {
            unprocessed: out
                .unprocessed_trace_segments()
                .iter()
                .map(|u| {
                    let code = u.error_code().unwrap_or_default().to_string();
                    Unprocessed {
                        id: u.id().map(str::to_string),
                        retryable: !CONTENT_ERROR_CODES.contains(&code.as_str()),
                        code,
                        message: u.message().unwrap_or_default().to_string(),
                    }
                })
                .collect(),
        },
        Err(err) => classify(err),
    }
}

type PutError = SdkError<
    aws_sdk_xray::operation::put_trace_segments::PutTraceSegmentsError,
    aws_smithy_runtime_api::http::Response,
>;

/// R-API-4: 429, 5xx and `ThrottledException` are retryable, other service errors are not;
/// timeouts, dispatch (connection, DNS) and response errors are retryable.
fn classify(err: PutError) -> CallOutcome {
    let text = aws_smithy_types::error::display::DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("");
            if status == 429 || status >= 500 || code == "ThrottledException" {
                CallOutcome::Retryable(text)
            } else {
                CallOutcome::Permanent(text)
            }
        }
        SdkError::ConstructionFailure(_) => CallOutcome::Permanent(text),
        _ => CallOutcome::Retryable(text),
    }
}

async fn build_client(settings: XraySettings) -> Client {
    let started = Instant::now();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(aws_config::retry::RetryConfig::disabled());
    if let Some(region) = settings.region.clone() {
        loader = loader.region(aws_config::Region::new(region));
    }
    let sdk_config = loader.load().await;
    let mut builder = aws_sdk_xray::config::Builder::from(&sdk_config);
    if let Some(endpoint) = settings.endpoint.clone() {
        builder = builder.endpoint_url(endpoint);
    }
    let client = Client::from_conf(builder.build());
    tracing::debug!(
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
        "X-Ray client built"
    );
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_stays_inside_its_window() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for attempt in 0..40 {
            let d = backoff(attempt, &mut rng);
            assert!(d >= Duration::from_millis(1));
            let window = BACKOFF_BASE
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(
                d <= window.max(Duration::from_millis(1)),
                "attempt {attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn doc_id_match_is_exact() {
        let doc = r#"{"name":"a","id":"53995c3f42cd8ad8","trace_id":"1-x"}"#;
        assert!(doc_has_id(doc, "53995c3f42cd8ad8"));
        assert!(!doc_has_id(doc, "53995c3f42cd8ad9"));
    }
}
