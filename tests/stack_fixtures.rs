//! The stack parsers of §9.4 on real-format tracebacks (`tests/fixtures/stacktraces/`, see its
//! README for where each came from). Each fixture goes through the whole translator as the
//! `exception.stacktrace` of an `exception` event (R-CAUSE-5), with the resource's
//! `telemetry.sdk.language` selecting the parser; the test asserts the frames (path, line,
//! label), the number of exceptions and the `cause` links, and validates the document against
//! our schema (`tests/common/schema.rs`).

mod common;

use std::path::Path;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_xray::exporter::awsxray::translate::{translate_span, TranslateConfig};
use serde_json::Value as Json;

use common::schema::validate_document;

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

/// One parsed exception of the document.
#[derive(Debug)]
struct Exc {
    id: String,
    kind: String,
    message: String,
    cause: Option<String>,
    remote: Option<bool>,
    frames: Vec<(String, i64, String)>,
}

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/stacktraces")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Translates a CLIENT span whose `exception` event carries the fixture; type and message come
/// from the fixture's header line, as the SDKs record them (Python prints it last).
fn parse(language: &str, rel: &str) -> Vec<Exc> {
    let text = fixture(rel);
    let header = if language == "python" {
        text.lines().rev().find(|l| !l.is_empty())
    } else {
        text.lines().next()
    }
    .unwrap_or("");
    let (kind, message) = header.split_once(": ").unwrap_or((header, ""));
    let mut trace_id = vec![0u8; 16];
    trace_id[..4].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    trace_id[15] = 1;
    let span = Span {
        trace_id,
        span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
        parent_span_id: vec![8, 7, 6, 5, 4, 3, 2, 1],
        name: "load order".to_owned(),
        kind: 3,
        start_time_unix_nano: 1_700_000_000_500_000_000,
        end_time_unix_nano: 1_700_000_000_750_000_000,
        events: vec![Event {
            time_unix_nano: 1_700_000_000_600_000_000,
            name: "exception".to_owned(),
            attributes: vec![
                s("exception.type", kind),
                s("exception.message", message),
                s("exception.stacktrace", &text),
                s("exception.escaped", "true"),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resource = Resource {
        attributes: vec![
            s("service.name", "orders"),
            s("telemetry.sdk.language", language),
        ],
        ..Default::default()
    };
    let docs = translate_span(
        Some(&resource),
        &span,
        &TranslateConfig::default(),
        1_700_000_100,
    )
    .unwrap_or_else(|r| panic!("dropped: {}", r.as_str()));
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    if let Err(errs) = validate_document(doc) {
        panic!("{rel}: schema violations {errs:#?}\n{doc}");
    }
    let doc: Json = serde_json::from_str(doc).unwrap_or(Json::Null);
    let str_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_owned);
    doc["cause"]["exceptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| Exc {
            id: str_of(e, "id").unwrap_or_default(),
            kind: str_of(e, "type").unwrap_or_default(),
            message: str_of(e, "message").unwrap_or_default(),
            cause: str_of(e, "cause"),
            remote: e.get("remote").and_then(Json::as_bool),
            frames: e
                .get("stack")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    (
                        str_of(f, "path").unwrap_or_default(),
                        f.get("line").and_then(Json::as_i64).unwrap_or(-1),
                        str_of(f, "label").unwrap_or_default(),
                    )
                })
                .collect(),
        })
        .collect()
}

type F = (&'static str, i64, &'static str);

fn frames(e: &Exc) -> Vec<(&str, i64, &str)> {
    e.frames
        .iter()
        .map(|(p, l, b)| (p.as_str(), *l, b.as_str()))
        .collect()
}

/// Checks `cause` links `ex[0] → ex[1] → … → ex[n-1]` and that the last has none.
fn assert_chain(ex: &[Exc]) {
    for pair in ex.windows(2) {
        assert_eq!(pair[0].cause.as_deref(), Some(pair[1].id.as_str()));
    }
    assert_eq!(ex.last().and_then(|e| e.cause.clone()), None);
    // R-CAUSE-5: remote = CLIENT/PRODUCER, inherited by chained exceptions.
    assert!(ex.iter().all(|e| e.remote == Some(true)));
}

#[test]
fn python_during_handling() {
    // R-STACK-python: innermost frame first; "During handling…" starts the earlier exception.
    let ex = parse("python", "python/during_handling.txt");
    assert_eq!(ex.len(), 2);
    assert_chain(&ex);
    assert_eq!(ex[0].kind, "RuntimeError");
    let want: Vec<F> = vec![
        ("/tmp/cap/py/orders/service.py", 14, "load_order"),
        ("/tmp/cap/py/handler.py", 8, "lambda_handler"),
        ("/tmp/cap/py/handler.py", 18, "record"),
    ];
    assert_eq!(frames(&ex[0]), want);
    assert_eq!(ex[1].kind, "TimeoutError");
    assert_eq!(ex[1].message, "pool exhausted after 3 attempts");
    let want: Vec<F> = vec![
        ("/tmp/cap/py/orders/pool.py", 7, "checkout"),
        ("/tmp/cap/py/orders/db.py", 7, "fetch"),
        ("/tmp/cap/py/orders/service.py", 12, "load_order"),
    ];
    assert_eq!(frames(&ex[1]), want);
}

#[test]
fn python_raise_from() {
    // R-STACK-python with `raise … from …` ("direct cause"), Python 3.11 `^^^` markers.
    let ex = parse("python", "python/raise_from.txt");
    assert_eq!(ex.len(), 2);
    assert_chain(&ex);
    assert_eq!(ex[0].kind, "ValueError");
    assert_eq!(ex[0].message, "request body is not JSON");
    assert_eq!(ex[0].frames.len(), 3);
    assert_eq!(
        frames(&ex[0])[0],
        ("/tmp/cap/py/orders/service.py", 21, "parse")
    );
    assert_eq!(ex[1].kind, "json.decoder.JSONDecodeError");
    assert_eq!(
        ex[1].message,
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    );
    let want: Vec<F> = vec![
        (
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py",
            353,
            "raw_decode",
        ),
        (
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/decoder.py",
            337,
            "decode",
        ),
        (
            "/root/.pyenv/versions/3.11.7/lib/python3.11/json/__init__.py",
            346,
            "loads",
        ),
        ("/tmp/cap/py/orders/service.py", 19, "parse"),
    ];
    assert_eq!(frames(&ex[1]), want);
}

#[test]
fn java_caused_by_chain() {
    // R-STACK-java: two `Caused by:` levels, `... N more` skipped, module prefix removed.
    let ex = parse("java", "java/caused_by_chain.txt");
    assert_eq!(ex.len(), 3);
    assert_chain(&ex);
    let want: Vec<F> = vec![
        (
            "OrderService.java",
            17,
            "com.example.orders.OrderService.load",
        ),
        ("Handler.java", 28, "com.example.orders.Handler.main"),
    ];
    assert_eq!(frames(&ex[0]), want);
    assert_eq!(ex[1].kind, "java.io.UncheckedIOException");
    assert_eq!(ex[1].message, "cannot read order 4711");
    let want: Vec<F> = vec![
        (
            "OrderRepository.java",
            19,
            "com.example.orders.OrderRepository.find",
        ),
        (
            "OrderService.java",
            15,
            "com.example.orders.OrderService.load",
        ),
    ];
    assert_eq!(frames(&ex[1]), want);
    assert_eq!(ex[2].kind, "java.nio.file.NoSuchFileException");
    assert_eq!(ex[2].message, "/tmp/cap/java/none/4711.json");
    assert_eq!(ex[2].frames.len(), 10);
    assert_eq!(
        frames(&ex[2])[0],
        (
            "UnixException.java",
            92,
            "sun.nio.fs.UnixException.translateToIOException"
        )
    );
    assert_eq!(
        frames(&ex[2])[9],
        (
            "OrderRepository.java",
            17,
            "com.example.orders.OrderRepository.find"
        )
    );
}

#[test]
fn java_suppressed_and_lambda_frames() {
    // R-STACK-java: `Suppressed:` blocks (two-TAB frames) are skipped; no chain.
    let ex = parse("java", "java/suppressed_lambda.txt");
    assert_eq!(ex.len(), 1);
    assert_chain(&ex);
    assert_eq!(ex[0].frames.len(), 11);
    let f = frames(&ex[0]);
    assert_eq!(
        f[0],
        (
            "OrderService.java",
            23,
            "com.example.orders.OrderService.lambda$total$0"
        )
    );
    assert_eq!(
        f[1],
        (
            "ReferencePipeline.java",
            214,
            "java.util.stream.ReferencePipeline$4$1.accept"
        )
    );
    assert_eq!(
        f[10],
        ("Handler.java", 33, "com.example.orders.Handler.main")
    );
    assert!(ex[0].frames.iter().all(|(_, _, l)| !l.contains("close")));
}

#[test]
fn nodejs_commonjs_async() {
    // R-STACK-javascript, selected by `nodejs` (what the Node.js SDK sends).
    for lang in ["nodejs", "javascript"] {
        let ex = parse(lang, "nodejs/commonjs_async.txt");
        assert_eq!(ex.len(), 1);
        let want: Vec<F> = vec![
            ("/tmp/cap/node/var/task/lib.js", 4, "priceOf"),
            ("", 0, "Array.map"),
            ("/tmp/cap/node/var/task/lib.js", 9, "loadOrder"),
            (
                "/tmp/cap/node/var/task/index.js",
                13,
                "async exports.handler",
            ),
        ];
        assert_eq!(frames(&ex[0]), want, "{lang}");
    }
}

#[test]
fn nodejs_esm_and_internal_paths() {
    // R-STACK-javascript: `file://` and `node:` locations keep their scheme (split from the
    // right); `webjs` selects the same parser.
    let ex = parse("webjs", "nodejs/esm_handler.txt");
    let want: Vec<F> = vec![("file:///tmp/cap/node/var/task/handler.mjs", 13, "handler")];
    assert_eq!(frames(&ex[0]), want);
    let ex = parse("nodejs", "nodejs/esm_node_internal.txt");
    assert_eq!(ex.len(), 1);
    let want: Vec<F> = vec![
        ("node:internal/fs/promises", 637, "async open"),
        ("node:internal/fs/promises", 1249, "async readFile"),
        (
            "file:///tmp/cap/node/var/task/handler.mjs",
            5,
            "async loadConfig",
        ),
        (
            "file:///tmp/cap/node/var/task/handler.mjs",
            11,
            "async handler",
        ),
    ];
    assert_eq!(frames(&ex[0]), want);
}

#[test]
fn go_record_error_stack() {
    // R-STACK-go: `runtime.Stack` text as opentelemetry-go records it (header first).
    let ex = parse("go", "go/otel_record_error.txt");
    assert_eq!(ex.len(), 1);
    let f = frames(&ex[0]);
    assert_eq!(f.len(), 7);
    assert_eq!(
        f[0],
        (
            "/root/go/pkg/mod/go.opentelemetry.io/otel/sdk@v1.34.0/trace/span.go",
            520,
            "go.opentelemetry.io/otel/sdk/trace.recordStackTrace()"
        )
    );
    assert_eq!(
        f[2],
        (
            "/var/task/orders.go",
            41,
            "main.(*OrderService).Load(0xc00011c000, {0x8cdb38, 0xc0001a0000}, 0x1267)"
        )
    );
    assert_eq!(
        f[6].0,
        "/root/go/pkg/mod/github.com/aws/aws-lambda-go@v1.47.0/lambda/handler.go"
    );
    assert_eq!(f[6].1, 350);
}

#[test]
fn go_panic_goroutine_trace() {
    // R-STACK-go on a recovered panic: the preamble before `goroutine 34 [running]:` is
    // skipped; `created by` is the last frame.
    let ex = parse("go", "go/panic_recovered.txt");
    assert_eq!(ex.len(), 1);
    let f = frames(&ex[0]);
    assert_eq!(f.len(), 8);
    assert_eq!(
        f[0],
        ("/app/server.go", 88, "main.(*Server).recoverer.func1()")
    );
    assert_eq!(
        f[1],
        (
            "/usr/local/go/src/runtime/panic.go",
            785,
            "panic({0x72c8a0?, 0xa4e650?})"
        )
    );
    assert_eq!(f[2].0, "/app/orders/service.go");
    assert_eq!(f[2].1, 38);
    assert_eq!(
        f[7],
        (
            "/usr/local/go/src/net/http/server.go",
            3360,
            "created by net/http.(*Server).Serve in goroutine 1"
        )
    );
}

#[test]
fn dotnet_inner_exception() {
    // R-STACK-dotnet: ` ---> ` starts the inner exception, whose frames end at
    // `--- End of inner exception stack trace ---`.
    let ex = parse("dotnet", "dotnet/inner_exception.txt");
    assert_eq!(ex.len(), 2);
    assert_chain(&ex);
    assert_eq!(ex[0].kind, "System.InvalidOperationException");
    let want: Vec<F> = vec![
        (
            "/src/Orders/Data/OrderRepository.cs",
            23,
            "Orders.Data.OrderRepository.Find(Int32 id)",
        ),
        (
            "/src/Orders/OrderService.cs",
            31,
            "Orders.OrderService.Load(Int32 id)",
        ),
        (
            "/src/Orders/Function.cs",
            27,
            "Orders.Function.FunctionHandler(APIGatewayProxyRequest request, ILambdaContext context)",
        ),
    ];
    assert_eq!(frames(&ex[0]), want);
    assert_eq!(ex[1].kind, "System.TimeoutException");
    assert_eq!(ex[1].message, "The operation has timed out.");
    let want: Vec<F> = vec![
        (
            "/src/Orders/Data/ConnectionPool.cs",
            42,
            "Orders.Data.ConnectionPool.Checkout()",
        ),
        (
            "/src/Orders/Data/OrderRepository.cs",
            18,
            "Orders.Data.OrderRepository.Find(Int32 id)",
        ),
    ];
    assert_eq!(frames(&ex[1]), want);
}

#[test]
fn dotnet_async_frames_without_symbols() {
    // R-STACK-dotnet: frames without ` in ` have no path; Windows paths keep their drive.
    let ex = parse("dotnet", "dotnet/async_no_pdb.txt");
    assert_eq!(ex.len(), 1);
    let f = frames(&ex[0]);
    assert_eq!(f.len(), 5);
    assert_eq!(
        f[0],
        (
            "",
            0,
            "System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()"
        )
    );
    assert_eq!(
        f[1],
        (
            "C:\\build\\src\\Pricing\\PriceClient.cs",
            57,
            "Pricing.PriceClient.GetPriceAsync(String sku, CancellationToken cancellationToken)"
        )
    );
    assert_eq!(
        f[4],
        (
            "",
            0,
            "Amazon.Lambda.RuntimeSupport.LambdaBootstrap.InvokeOnceAsync(CancellationToken cancellationToken)"
        )
    );
}

#[test]
fn php_caused_by() {
    // R-STACK-java used for `php`: the PHP SDK formats traces Java-style.
    let ex = parse("php", "php/caused_by_pdo.txt");
    assert_eq!(ex.len(), 2);
    assert_chain(&ex);
    assert_eq!(ex[0].frames.len(), 6);
    assert_eq!(
        frames(&ex[0])[0],
        ("OrderService.php", 34, "App.Orders.OrderService.load")
    );
    assert_eq!(frames(&ex[0])[5], ("bootstrap.php", 39, "{main}"));
    assert_eq!(ex[1].kind, "PDOException");
    assert_eq!(ex[1].message, "SQLSTATE[HY000] [2002] Connection refused");
    let want: Vec<F> = vec![
        ("Connection.php", 70, "PDO.__construct"),
        ("Connection.php", 70, "App.Db.Connection.connect"),
        ("OrderRepository.php", 25, "App.Orders.OrderRepository.find"),
        ("OrderService.php", 30, "App.Orders.OrderService.load"),
    ];
    assert_eq!(frames(&ex[1]), want);
}

#[test]
fn php_internal_function_frame() {
    // R-STACK-java for `php`: `(Unknown Source)` is the path with line 0.
    let ex = parse("php", "php/internal_frame.txt");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].kind, "TypeError");
    let want: Vec<F> = vec![
        (
            "PriceCalculator.php",
            16,
            "App.Pricing.PriceCalculator.{closure}",
        ),
        ("Unknown Source", 0, "array_map"),
        (
            "PriceCalculator.php",
            18,
            "App.Pricing.PriceCalculator.total",
        ),
        (
            "CartController.php",
            40,
            "App.Http.Controllers.CartController.checkout",
        ),
        ("index.php", 12, "{main}"),
    ];
    assert_eq!(frames(&ex[0]), want);
}

#[test]
fn unknown_language_gives_no_stack() {
    // R-CAUSE-5: unknown/absent language → the exception has no stack.
    let ex = parse("rust", "java/caused_by_chain.txt");
    assert_eq!(ex.len(), 1);
    assert!(ex[0].frames.is_empty());
    assert_eq!(ex[0].kind, "java.lang.IllegalStateException");
}
