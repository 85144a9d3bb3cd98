//! Client of the Lambda Extensions API `2020-01-01` (`docs/lambda-extensions-api.md` §1):
//! register, event/next, init/error, exit/error. Plain HTTP/1 + JSON on hyper.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use super::events::{Event, EventError};

/// Header carrying the extension's name at registration (the executable's file name).
pub const HEADER_NAME: &str = "Lambda-Extension-Name";
/// Header carrying the identifier returned by register, sent on every later call.
pub const HEADER_ID: &str = "Lambda-Extension-Identifier";
/// Header asking register to return optional fields (we ask for `accountId`).
pub const HEADER_ACCEPT_FEATURE: &str = "Lambda-Extension-Accept-Feature";
/// Header carrying the error category on init/error and exit/error.
pub const HEADER_ERROR_TYPE: &str = "Lambda-Extension-Function-Error-Type";

/// Errors talking to the Extensions API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `AWS_LAMBDA_RUNTIME_API` is not a usable `host:port`.
    #[error("invalid AWS_LAMBDA_RUNTIME_API {0:?}")]
    BadAddress(String),
    /// The request could not be sent or the answer not read.
    #[error("{call}: {source}")]
    Transport {
        /// Which call.
        call: &'static str,
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Lambda answered with a non-success status.
    #[error("{call}: HTTP {status}: {body}")]
    Status {
        /// Which call.
        call: &'static str,
        /// HTTP status.
        status: u16,
        /// Response body (Lambda's `{"errorMessage","errorType"}`).
        body: String,
    },
    /// A success answer without the expected content.
    #[error("{call}: {message}")]
    Protocol {
        /// Which call.
        call: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The event could not be parsed.
    #[error("event/next: {0}")]
    Event(#[from] EventError),
}

/// What register returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// The `Lambda-Extension-Identifier` to send on later calls (from the response header).
    #[serde(skip)]
    pub extension_id: String,
    /// Function name.
    #[serde(default)]
    pub function_name: String,
    /// Function version.
    #[serde(default)]
    pub function_version: String,
    /// Handler.
    #[serde(default)]
    pub handler: String,
    /// Account id (returned because we send `Lambda-Extension-Accept-Feature: accountId`).
    #[serde(default)]
    pub account_id: Option<String>,
}

/// A client for one extension.
#[derive(Clone)]
pub struct ExtensionsApi {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    extension_id: Option<String>,
}

impl ExtensionsApi {
    /// A client for `AWS_LAMBDA_RUNTIME_API` = `host:port`.
    pub fn new(runtime_api: &str) -> Result<Self, ApiError> {
        if runtime_api.is_empty() || runtime_api.contains('/') {
            return Err(ApiError::BadAddress(runtime_api.to_string()));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(None)
            .build(connector);
        Ok(Self {
            base: format!("http://{runtime_api}/2020-01-01/extension"),
            client,
            extension_id: None,
        })
    }

    /// The identifier from register, once registered.
    pub fn extension_id(&self) -> Option<&str> {
        self.extension_id.as_deref()
    }

    /// Sends one request to `url` and reads the whole answer, whatever its status.
    async fn send(
        &self,
        call: &'static str,
        method: hyper::Method,
        url: String,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(hyper::http::response::Parts, Bytes), ApiError> {
        let transport =
            |e: Box<dyn std::error::Error + Send + Sync>| ApiError::Transport { call, source: e };
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(id) = &self.extension_id {
            req = req.header(HEADER_ID, id.as_str());
        }
        if !body.is_empty() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(Box::new(e)))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| transport(Box::new(e)))?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| transport(Box::new(e)))?
            .to_bytes();
        Ok((parts, bytes))
    }

    /// An Extensions API call: `path` under `/2020-01-01/extension`; a non-2xx answer is an
    /// [`ApiError::Status`].
    async fn call(
        &self,
        call: &'static str,
        method: hyper::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(hyper::http::response::Parts, Bytes), ApiError> {
        let url = format!("{}{}", self.base, path);
        let (parts, bytes) = self.send(call, method, url, headers, body).await?;
        if !parts.status.is_success() {
            return Err(ApiError::Status {
                call,
                status: parts.status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok((parts, bytes))
    }

    /// `POST /register` as `name` for `events` (`INVOKE`, `SHUTDOWN`), asking for the account id.
    pub async fn register(
        &mut self,
        name: &str,
        events: &[&str],
    ) -> Result<Registration, ApiError> {
        let body = serde_json::to_vec(&serde_json::json!({ "events": events })).map_err(|e| {
            ApiError::Protocol {
                call: "register",
                message: e.to_string(),
            }
        })?;
        let (parts, bytes) = self
            .call(
                "register",
                hyper::Method::POST,
                "/register",
                &[(HEADER_NAME, name), (HEADER_ACCEPT_FEATURE, "accountId")],
                body,
            )
            .await?;
        let id = parts
            .headers
            .get(HEADER_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::Protocol {
                call: "register",
                message: format!("no {HEADER_ID} header in the response"),
            })?
            .to_string();
        let mut reg: Registration = serde_json::from_slice(&bytes).unwrap_or_default();
        reg.extension_id = id.clone();
        self.extension_id = Some(id);
        Ok(reg)
    }

    /// `GET /event/next`: blocks until Lambda has an event (no timeout: the sandbox may be
    /// frozen for minutes while this is pending).
    pub async fn next_event(&self) -> Result<Event, ApiError> {
        let (_, bytes) = self
            .call(
                "event/next",
                hyper::Method::GET,
                "/event/next",
                &[],
                Vec::new(),
            )
            .await?;
        Ok(Event::parse(&bytes)?)
    }

    /// `POST /init/error` with `error_type` (e.g. `Extension.ConfigInvalid`) and a JSON body
    /// `{"errorMessage","errorType","stackTrace":[]}`. After it Lambda accepts no more calls.
    pub async fn init_error(&self, error_type: &str, message: &str) -> Result<(), ApiError> {
        self.report_error("init/error", "/init/error", error_type, message)
            .await
    }

    /// `POST /exit/error`, same shape as [`ExtensionsApi::init_error`].
    pub async fn exit_error(&self, error_type: &str, message: &str) -> Result<(), ApiError> {
        self.report_error("exit/error", "/exit/error", error_type, message)
            .await
    }

    async fn report_error(
        &self,
        call: &'static str,
        path: &str,
        error_type: &str,
        message: &str,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_vec(&serde_json::json!({
            "errorMessage": message,
            "errorType": error_type,
            "stackTrace": [],
        }))
        .map_err(|e| ApiError::Protocol {
            call,
            message: e.to_string(),
        })?;
        self.call(
            call,
            hyper::Method::POST,
            path,
            &[(HEADER_ERROR_TYPE, error_type)],
            body,
        )
        .await
        .map(|_| ())
    }

    /// `PUT /2022-07-01/telemetry` with `body`; returns the HTTP status and body.
    /// (Lives here because it shares the Runtime API address and the extension id.)
    pub async fn subscribe_telemetry(&self, body: Vec<u8>) -> Result<(u16, String), ApiError> {
        let base = self.base.trim_end_matches("/2020-01-01/extension");
        let url = format!("{base}/2022-07-01/telemetry");
        let (parts, bytes) = self
            .send("telemetry subscribe", hyper::Method::PUT, url, &[], body)
            .await?;
        Ok((
            parts.status.as_u16(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }
}
