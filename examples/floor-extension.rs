//! The init *floor* for `make bench` (issue 5): the least a Lambda extension built on our stack
//! can do — register for INVOKE and SHUTDOWN, then loop on `/event/next` until SHUTDOWN — built
//! in the same release profile and with the same runtime (tokio current-thread) and Extensions
//! API client as `otlp-xray`.
//!
//! Measured beside `otlp-xray` under `mock-lambda` (exec → first `/next`), so the init figure in
//! BENCHMARKS.md is a ratio to this floor and survives a noisy machine. It opens no receiver,
//! loads no config and builds no X-Ray client: everything `otlp-xray` spends above this figure
//! is ours to cut.
//!
//! Run: `mock-lambda --extension target/release/examples/floor-extension --function …`.

use std::process::ExitCode;

use otlp_xray::lambda::events::Event;
use otlp_xray::lambda::extensions_api::ExtensionsApi;

fn main() -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        eprintln!("floor-extension: AWS_LAMBDA_RUNTIME_API is not set");
        return ExitCode::FAILURE;
    };
    let name = std::env::args()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "floor-extension".to_string());
    let mut api = match ExtensionsApi::new(&api) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("floor-extension: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = api.register(&name, &["INVOKE", "SHUTDOWN"]).await {
        eprintln!("floor-extension: {e}");
        return ExitCode::FAILURE;
    }
    loop {
        match api.next_event().await {
            Ok(Event::Shutdown(_)) => return ExitCode::SUCCESS,
            Ok(_) => {}
            Err(e) => {
                eprintln!("floor-extension: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
}
