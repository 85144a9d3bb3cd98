//! The document budget (§16, R-SIZE-1, D6).

use super::document::Document;
use super::json::WriteJson;
use super::DropReason;

/// Length every metadata string leaf is cut to in step 2 of R-SIZE-1.
pub const METADATA_STRING_CAP: usize = 1024;

thread_local! {
    /// Per-thread output buffer, reused across documents so that writing does not grow a fresh
    /// buffer step by step (performance; the result is copied out at its exact size).
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Largest scratch buffer kept between documents.
const SCRATCH_KEEP_BYTES: usize = 128 * 1024;

/// The document as JSON (see [`super::json`]), or `None` when it is longer than `max_bytes`.
fn to_json(doc: &Document<'_>, max_bytes: usize) -> Option<String> {
    let fits = |json: &str| (json.len() <= max_bytes).then(|| json.to_owned());
    SCRATCH.with(|scratch| {
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            let mut json = String::new();
            doc.write_json(&mut json);
            return fits(&json);
        };
        buf.clear();
        doc.write_json(&mut buf);
        let json = fits(&buf);
        if buf.capacity() > SCRATCH_KEEP_BYTES {
            *buf = String::new();
        }
        json
    })
}

/// Serialises `doc` within `max_bytes`, shrinking it step by step (R-SIZE-1):
/// 1. as is; 2. metadata strings cut to 1,024 characters; 3. no metadata;
/// 4. no exception stacks (`truncated` = frames removed); 5. `Err(TooLarge)`.
pub fn serialize_within(doc: &mut Document<'_>, max_bytes: usize) -> Result<String, DropReason> {
    if let Some(json) = to_json(doc, max_bytes) {
        return Ok(json);
    }
    if !doc.metadata.is_empty() {
        doc.metadata.set_string_cap(METADATA_STRING_CAP);
        if let Some(json) = to_json(doc, max_bytes) {
            return Ok(json);
        }
        doc.metadata.clear();
        if let Some(json) = to_json(doc, max_bytes) {
            return Ok(json);
        }
    }
    if let Some(cause) = doc.cause.as_mut() {
        let mut removed_any = false;
        for e in &mut cause.exceptions {
            if !e.stack.is_empty() {
                e.truncated = Some(e.stack.len());
                e.stack.clear();
                removed_any = true;
            }
        }
        if removed_any {
            if let Some(json) = to_json(doc, max_bytes) {
                return Ok(json);
            }
        }
    }
    Err(DropReason::TooLarge)
}
