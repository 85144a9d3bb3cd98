//! Child processes: the extension (long-lived, frozen between invocations) and the function
//! (one process per invocation).

use crate::telemetry::{LogCategory, Telemetry};
use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Lines of extension output kept for the report.
pub const KEPT_LINES: usize = 200;

/// Signals, sent with libc's `kill(2)` (no libc crate: std already links it).
mod signal {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    pub const SIGKILL: i32 = 9;
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm"
    ))]
    pub const SIGCONT: i32 = 18;
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm"
    ))]
    pub const SIGSTOP: i32 = 19;

    /// Sends `sig` to `pid`; true on success.
    pub fn send(pid: u32, sig: i32) -> bool {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: kill(2) takes two integers and has no memory-safety preconditions; the pid
        // is a child we spawned and have not reaped (callers check the exit watch first).
        unsafe { kill(pid, sig) == 0 }
    }
}

/// How a child ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub at: Instant,
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl Exit {
    fn from_status(s: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        Self {
            at: Instant::now(),
            code: s.code(),
            signal: s.signal(),
        }
    }

    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit code {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown exit status".into(),
        }
    }
}

/// Last lines of a child's output, shared with the reader tasks.
pub type Lines = Arc<Mutex<VecDeque<String>>>;

/// The running extension.
pub struct Extension {
    pub pid: u32,
    pub started: Instant,
    exit: watch::Receiver<Option<Exit>>,
    pub lines: Lines,
    readers: Vec<JoinHandle<()>>,
    frozen: bool,
    pub killed: bool,
}

impl Extension {
    /// Spawns `path` with `env` on top of the inherited environment minus `AWS_*`, `OTEL_*`,
    /// `OPENTELEMETRY_*`. Its output lines also go to `telemetry` as `extension` log records
    /// (which the hub delivers only under a log quirk).
    pub fn spawn(
        path: &Path,
        env: &[(String, String)],
        quiet: bool,
        telemetry: &Arc<Telemetry>,
    ) -> std::io::Result<Self> {
        let mut cmd = Command::new(path);
        scrub_env(&mut cmd);
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        let lines: Lines = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(forward(
                out,
                lines.clone(),
                quiet,
                telemetry.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(forward(
                err,
                lines.clone(),
                quiet,
                telemetry.clone(),
            )));
        }
        let (tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let e = match child.wait().await {
                Ok(s) => Exit::from_status(s),
                Err(_) => Exit {
                    at: Instant::now(),
                    code: None,
                    signal: None,
                },
            };
            let _ = tx.send(Some(e));
        });
        Ok(Self {
            pid,
            started,
            exit,
            lines,
            readers,
            frozen: false,
            killed: false,
        })
    }

    pub fn exited(&self) -> Option<Exit> {
        *self.exit.borrow()
    }

    /// Waits for the exit until `deadline`.
    pub async fn wait_exit(&mut self, deadline: Instant) -> Option<Exit> {
        let mut rx = self.exit.clone();
        let _ = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await;
        self.exited()
    }

    /// A future that resolves when the extension exits (for `select!`).
    pub fn exit_watch(&self) -> watch::Receiver<Option<Exit>> {
        self.exit.clone()
    }

    /// SIGSTOP, as Lambda freezes the sandbox.
    pub fn freeze(&mut self) {
        if self.exited().is_none() && !self.frozen {
            self.frozen = signal::send(self.pid, signal::SIGSTOP);
        }
    }

    /// SIGCONT.
    pub fn thaw(&mut self) {
        if self.frozen && self.exited().is_none() {
            signal::send(self.pid, signal::SIGCONT);
        }
        self.frozen = false;
    }

    /// SIGKILL (records `killed`).
    pub fn kill(&mut self) {
        if self.exited().is_none() && signal::send(self.pid, signal::SIGKILL) {
            self.killed = true;
        }
    }

    /// Waits (bounded) for the output readers to drain after exit.
    pub async fn drain_output(&mut self) {
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_millis(300), r).await;
        }
    }

    pub fn last_lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Removes inherited `AWS_*`, `OTEL_*`, `OPENTELEMETRY_*` variables.
fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k_str = k.to_string_lossy();
        if k_str.starts_with("AWS_")
            || k_str.starts_with("OTEL_")
            || k_str.starts_with("OPENTELEMETRY_")
        {
            cmd.env_remove(&k);
        }
    }
}

/// Reads lines, keeps the last [`KEPT_LINES`], prints them as `[ext] …` unless quiet.
async fn forward<R: AsyncRead + Unpin>(r: R, lines: Lines, quiet: bool, telemetry: Arc<Telemetry>) {
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                if !quiet {
                    eprintln!("[ext] {line}");
                }
                telemetry.log(LogCategory::Extension, &line);
                if let Ok(mut l) = lines.lock() {
                    if l.len() == KEPT_LINES {
                        l.pop_front();
                    }
                    l.push_back(line);
                }
            }
        }
    }
}

/// What one function run produced.
#[derive(Debug, Default)]
pub struct FunctionRun {
    /// `(trace_id, span_id)` from `SPAN <trace_id> <span_id>` lines, lowercase.
    pub spans: Vec<(String, String)>,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub error: Option<String>,
    pub duration: Duration,
}

/// Parses `SPAN <32 hex> <16 hex>`.
pub fn parse_span_line(line: &str) -> Option<(String, String)> {
    let mut it = line.split_whitespace();
    if it.next()? != "SPAN" {
        return None;
    }
    let t = it.next()?;
    let s = it.next()?;
    let hex = |x: &str, n| x.len() == n && x.bytes().all(|c| c.is_ascii_hexdigit());
    if it.next().is_some() || !hex(t, 32) || !hex(s, 16) {
        return None;
    }
    Some((t.to_ascii_lowercase(), s.to_ascii_lowercase()))
}

/// Runs the function once, bounded by `deadline` (killed at the deadline).
pub async fn run_function(
    path: &Path,
    args: &[String],
    env: &[(String, String)],
    deadline: Instant,
    quiet: bool,
    telemetry: &Arc<Telemetry>,
) -> FunctionRun {
    let started = Instant::now();
    let mut cmd = Command::new(path);
    scrub_env(&mut cmd);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return FunctionRun {
                error: Some(format!("cannot start {}: {e}", path.display())),
                ..Default::default()
            }
        }
    };
    let spans = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        let (spans, telemetry) = (spans.clone(), telemetry.clone());
        readers.push(tokio::spawn(async move {
            let mut r = BufReader::new(out);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        if let Some(s) = parse_span_line(&line) {
                            if let Ok(mut v) = spans.lock() {
                                v.push(s);
                            }
                        } else {
                            if !quiet {
                                eprintln!("[fn] {line}");
                            }
                            telemetry.log(LogCategory::Function, &line);
                        }
                    }
                }
            }
        }));
    }
    if let Some(err) = child.stderr.take() {
        let telemetry = telemetry.clone();
        readers.push(tokio::spawn(async move {
            let mut r = BufReader::new(err);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        if !quiet {
                            eprintln!("[fn] {line}");
                        }
                        telemetry.log(LogCategory::Function, &line);
                    }
                }
            }
        }));
    }
    let mut run = FunctionRun::default();
    match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(s)) => run.exit_code = s.code(),
        Ok(Err(e)) => run.error = Some(format!("wait failed: {e}")),
        Err(_) => {
            run.timed_out = true;
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
    run.duration = started.elapsed();
    for r in readers {
        let _ = tokio::time::timeout(Duration::from_millis(300), r).await;
    }
    run.spans = spans.lock().map(|v| v.clone()).unwrap_or_default();
    run
}

/// `VmHWM` (peak resident set size, KiB) of `pid` from `/proc/<pid>/status`.
pub fn vm_hwm_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// `VmRSS` (resident set size now, KiB) of `pid` from `/proc/<pid>/status`.
pub fn vm_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, key)
}

/// The `<key> <n> kB` line of a `/proc/<pid>/status` text.
fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time `pid` has used (user + system, `utime + stime` of `/proc/<pid>/stat`), in
/// milliseconds; the kernel counts in clock ticks (`sysconf(_SC_CLK_TCK)`, usually 100 Hz), so
/// the resolution is 10 ms. None once the process is gone (reaped).
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ms(&stat, clock_ticks_per_second())
}

/// The mock's own CPU time (user + system), in milliseconds.
pub fn self_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu_ms(&stat, clock_ticks_per_second())
}

/// `utime + stime` (fields 14 and 15, proc(5)) of a `/proc/<pid>/stat` line, in ms. The
/// command name (field 2) is in parentheses and may hold spaces: fields are counted after the
/// last `)`.
fn parse_stat_cpu_ms(stat: &str, ticks_per_second: u64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After `)`: field 3 (state) is the first; utime is field 14, stime field 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    if ticks_per_second == 0 {
        return None;
    }
    Some((utime + stime) as f64 * 1000.0 / ticks_per_second as f64)
}

/// `sysconf(_SC_CLK_TCK)` (no libc crate: std already links libc); 100 if unavailable.
fn clock_ticks_per_second() -> u64 {
    extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    /// `_SC_CLK_TCK` on Linux (every architecture).
    const SC_CLK_TCK: i32 = 2;
    // SAFETY: sysconf(3) takes an integer and returns an integer; no memory is shared.
    let v = unsafe { sysconf(SC_CLK_TCK) };
    u64::try_from(v).ok().filter(|v| *v > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields() {
        let stat = "4242 (odd name) (x) S 1 4242 4242 0 -1 4194560 500 0 0 0 123 45 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ms(stat, 100), Some(1680.0));
        assert_eq!(parse_stat_cpu_ms("4242 (x) S 1", 100), None);
        assert_eq!(parse_stat_cpu_ms("garbage", 100), None);
        let status = "Name:\tx\nVmHWM:\t    8192 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM:"), Some(8192));
        assert_eq!(parse_status_kb(status, "VmRSS:"), Some(4096));
        assert_eq!(parse_status_kb(status, "VmSwap:"), None);
        // This process is alive: both readings work.
        assert!(self_cpu_ms().is_some());
        assert!(vm_rss_kb(std::process::id()).is_some());
        assert!(cpu_ms(std::process::id()).is_some());
    }

    #[test]
    fn span_lines() {
        assert_eq!(
            parse_span_line("SPAN 0123456789abcdef0123456789ABCDEF 0123456789abcdef"),
            Some((
                "0123456789abcdef0123456789abcdef".into(),
                "0123456789abcdef".into()
            ))
        );
        assert_eq!(parse_span_line("SPAN 0123 4567"), None);
        assert_eq!(parse_span_line("hello"), None);
        assert_eq!(parse_span_line(""), None);
        assert_eq!(
            parse_span_line("SPAN 0123456789abcdef0123456789abcdef 0123456789abcdef extra"),
            None
        );
    }
}
