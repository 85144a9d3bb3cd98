//! Telemetry API oddities (`--telemetry-quirk <q>`): things Lambda does, or a robust listener
//! must survive even if Lambda would not do them.

use std::collections::BTreeSet;

/// Every quirk the command line asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryQuirks {
    /// `duplicate-runtime-done`: each `platform.runtimeDone` is sent twice.
    pub duplicate_runtime_done: bool,
    /// `missing-runtime-done:K`: no `platform.runtimeDone` for these invocations (1-based).
    pub missing_runtime_done: BTreeSet<u32>,
    /// `late-runtime-done`: `platform.runtimeDone` is held back and sent in the same batch as,
    /// and after, `platform.report` (which comes only after the extension's `/next`).
    pub late_runtime_done: bool,
    /// `unknown-events`: `platform.futureThing` events with odd records.
    pub unknown_events: bool,
    /// `string-logs`: `function` and `extension` log records as strings, sent even if the
    /// subscription did not ask for them.
    pub string_logs: bool,
    /// `object-logs`: as `string-logs`, as `{timestamp, level, requestId, message}` objects.
    /// With both, the two shapes alternate.
    pub object_logs: bool,
    /// `logs-dropped`: a `platform.logsDropped` event per invocation.
    pub logs_dropped: bool,
    /// `single-batch`: every event of an invocation (`platform.start` … `platform.report`) is
    /// held and POSTed as one batch after `platform.report`.
    pub single_batch: bool,
}

/// The quirk names, for `--help` and errors.
pub const NAMES: &str = "duplicate-runtime-done, missing-runtime-done:K, late-runtime-done, \
unknown-events, string-logs, object-logs, logs-dropped, single-batch";

impl TelemetryQuirks {
    /// Adds one `--telemetry-quirk` value.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        match spec {
            "duplicate-runtime-done" => self.duplicate_runtime_done = true,
            "late-runtime-done" => self.late_runtime_done = true,
            "unknown-events" => self.unknown_events = true,
            "string-logs" => self.string_logs = true,
            "object-logs" => self.object_logs = true,
            "logs-dropped" => self.logs_dropped = true,
            "single-batch" => self.single_batch = true,
            other => {
                let k = other
                    .strip_prefix("missing-runtime-done:")
                    .ok_or_else(|| format!("--telemetry-quirk {other:?} is not one of {NAMES}"))?;
                match k.parse::<u32>() {
                    Ok(k) if k >= 1 => {
                        self.missing_runtime_done.insert(k);
                    }
                    _ => {
                        return Err(format!(
                            "--telemetry-quirk {other:?}: K must be an invocation number >= 1"
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// How many `platform.runtimeDone` events invocation `index` (0-based) gets.
    pub fn runtime_done_copies(&self, index: u32) -> u32 {
        if self.missing_runtime_done.contains(&(index + 1)) {
            0
        } else if self.duplicate_runtime_done {
            2
        } else {
            1
        }
    }

    /// True when log records are forced onto the subscriber.
    pub fn forces_logs(&self) -> bool {
        self.string_logs || self.object_logs
    }

    /// The quirks as given, for the report.
    pub fn names(&self) -> Vec<String> {
        let mut v = Vec::new();
        let flags = [
            (self.duplicate_runtime_done, "duplicate-runtime-done"),
            (self.late_runtime_done, "late-runtime-done"),
            (self.unknown_events, "unknown-events"),
            (self.string_logs, "string-logs"),
            (self.object_logs, "object-logs"),
            (self.logs_dropped, "logs-dropped"),
            (self.single_batch, "single-batch"),
        ];
        for (on, name) in flags {
            if on {
                v.push(name.to_string());
            }
        }
        for k in &self.missing_runtime_done {
            v.push(format!("missing-runtime-done:{k}"));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_quirk() {
        let mut q = TelemetryQuirks::default();
        for s in [
            "duplicate-runtime-done",
            "missing-runtime-done:2",
            "missing-runtime-done:5",
            "late-runtime-done",
            "unknown-events",
            "string-logs",
            "object-logs",
            "logs-dropped",
            "single-batch",
        ] {
            q.add(s).unwrap();
        }
        assert!(q.duplicate_runtime_done && q.late_runtime_done && q.unknown_events);
        assert!(q.string_logs && q.object_logs && q.logs_dropped && q.single_batch);
        assert_eq!(q.missing_runtime_done, BTreeSet::from([2, 5]));
        assert_eq!(q.names().len(), 9);
        assert!(q.forces_logs());
    }

    #[test]
    fn rejects_unknown_and_bad_k() {
        let mut q = TelemetryQuirks::default();
        for bad in [
            "",
            "nope",
            "missing-runtime-done",
            "missing-runtime-done:",
            "missing-runtime-done:0",
            "missing-runtime-done:x",
            "missing-runtime-done:-1",
            "Single-Batch",
        ] {
            assert!(q.add(bad).is_err(), "{bad:?}");
        }
        assert_eq!(q, TelemetryQuirks::default());
        assert!(!q.forces_logs());
    }

    #[test]
    fn runtime_done_copies() {
        let mut q = TelemetryQuirks::default();
        assert_eq!(q.runtime_done_copies(0), 1);
        q.add("duplicate-runtime-done").unwrap();
        q.add("missing-runtime-done:2").unwrap();
        assert_eq!(q.runtime_done_copies(0), 2);
        assert_eq!(q.runtime_done_copies(1), 0);
        assert_eq!(q.runtime_done_copies(2), 2);
    }
}
