//! Small HTTP/1 plumbing shared by the Runtime API and X-Ray servers.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Response type of every handler.
pub type Resp = Response<Full<Bytes>>;

/// Binds `127.0.0.1:0` and serves every connection with `handler` in the background.
pub async fn serve<S, H, F>(state: Arc<S>, handler: H) -> std::io::Result<SocketAddr>
where
    S: Send + Sync + 'static,
    H: Fn(Arc<S>, Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Resp> + Send + 'static,
{
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
            };
            let state = state.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let fut = handler(state.clone(), req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                // Connection errors (client vanished, frozen and killed) are expected.
                let _ = http1::Builder::new()
                    .title_case_headers(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Reads a request body of at most `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(format!("cannot read request body: {e}")),
    }
}

/// A response with a JSON body.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Lambda's error body `{"errorMessage","errorType"}`.
pub fn lambda_error(status: StatusCode, error_type: &str, message: &str) -> Resp {
    json(
        status,
        &serde_json::json!({"errorMessage": message, "errorType": error_type}),
    )
}

/// A header as UTF-8 text, if present and valid.
pub fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}
