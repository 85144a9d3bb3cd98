//! A local X-Ray daemon (`--daemon-udp`): segment documents over UDP.
//!
//! Fact sheet (docs/lambda-extensions-api.md §2, aws-xray-daemon `pkg/tracesegment`): one
//! datagram = a JSON header line, `\n`, one segment (or subsegment) document. The header must
//! carry `format` equal to `json` (case-insensitive) and `version` 1, e.g.
//! `{"format": "json", "version": 1}`; anything else, or a missing body, is rejected and
//! counted. The receive buffer is 64 KiB per datagram.

use crate::xray::Xray;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// The daemon's receive buffer per datagram.
pub const RECEIVE_BUFFER: usize = 64 * 1024;

/// Parses the header line (R-UDP-1): a JSON object whose `format` is `json` in any case and
/// whose `version` is the integer 1. Keys match case-insensitively, as Go's `encoding/json`
/// does for the daemon's header struct; other keys are ignored.
pub fn parse_header(line: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("header is not JSON: {e}"))?;
    let obj = v.as_object().ok_or("header is not a JSON object")?;
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    match field("format").and_then(Value::as_str) {
        Some(f) if f.eq_ignore_ascii_case("json") => {}
        other => return Err(format!("header format {other:?} is not \"json\"")),
    }
    match field("version").and_then(Value::as_i64) {
        Some(1) => Ok(()),
        _ => Err(format!("header version {:?} is not 1", field("version"))),
    }
}

/// Splits and checks a datagram; returns the document.
pub fn parse_datagram(datagram: &[u8]) -> Result<Value, String> {
    let nl = datagram
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no newline after the header")?;
    let (header, body) = (&datagram[..nl], &datagram[nl + 1..]);
    parse_header(header)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("no document after the header".into());
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| format!("document is not JSON: {e}"))?;
    if !doc.is_object() {
        return Err("document is not a JSON object".into());
    }
    Ok(doc)
}

/// Binds `127.0.0.1:0` and records every datagram into `xray` in the background.
pub async fn serve(xray: Arc<Xray>) -> std::io::Result<SocketAddr> {
    let socket = UdpSocket::bind(("127.0.0.1", 0)).await?;
    let addr = socket.local_addr()?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, _)) => xray.record_datagram(&buf[..n.min(buf.len())]),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        for ok in [
            r#"{"format":"json","version":1}"#,
            r#"{"format": "json", "version": 1}"#,
            r#"{"format":"JSON","version":1}"#,
            r#"{"Format":"Json","Version":1,"extra":true}"#,
        ] {
            assert_eq!(parse_header(ok.as_bytes()), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "{",
            "[]",
            r#"{"format":"json"}"#,
            r#"{"version":1}"#,
            r#"{"format":"xml","version":1}"#,
            r#"{"format":"json","version":2}"#,
            r#"{"format":"json","version":"1"}"#,
            r#"{"format":"json","version":1.5}"#,
            r#"{"format":1,"version":1}"#,
        ] {
            assert!(parse_header(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn datagrams() {
        let doc = parse_datagram(b"{\"format\":\"json\",\"version\":1}\n{\"id\":\"a\"}").unwrap();
        assert_eq!(doc["id"], "a");
        assert!(parse_datagram(b"{\"format\": \"json\", \"version\": 1}\n{\"id\":1}\n").is_ok());
        for bad in [
            &b""[..],
            b"{\"format\":\"json\",\"version\":1}",
            b"{\"format\":\"json\",\"version\":1}\n",
            b"{\"format\":\"json\",\"version\":1}\n  \n",
            b"{\"format\":\"json\",\"version\":1}\n{not json",
            b"{\"format\":\"json\",\"version\":1}\n[1]",
            b"{\"format\":\"json\",\"version\":2}\n{}",
            b"\n{}",
            b"\xff\xfe\n\xff",
        ] {
            assert!(parse_datagram(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_socket_records_and_counts() {
        let xray = Arc::new(Xray::new(tokio::time::Instant::now(), &[]));
        let addr = serve(xray.clone()).await.unwrap();
        let client = UdpSocket::bind(("127.0.0.1", 0)).await.unwrap();
        let doc = r#"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#;
        let good = format!("{{\"format\": \"json\", \"version\": 1}}\n{doc}");
        for d in [good.as_bytes(), b"junk", b"", &[0xff; 70_000][..60_000]] {
            client.send_to(d, addr).await.unwrap();
        }
        for _ in 0..200 {
            if xray.snapshot().udp_datagrams == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let r = xray.snapshot();
        assert_eq!((r.udp_datagrams, r.udp_malformed), (4, 3));
        assert_eq!(r.documents.len(), 1);
        assert_eq!(r.documents[0].transport, Some("udp"));
        assert!(r.documents[0].problems.is_empty());
    }
}
