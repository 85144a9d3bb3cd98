//! The document budget (§16, R-SIZE-1, D6).

use super::document::Document;
use super::DropReason;

/// Length every metadata string leaf is cut to in step 2 of R-SIZE-1.
pub const METADATA_STRING_CAP: usize = 1024;

thread_local! {
    /// Per-thread serialisation buffer, reused across documents so that serialising does not
    /// grow a fresh buffer step by step (performance; the result is copied out at its size).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest scratch buffer kept between documents.
const SCRATCH_KEEP_BYTES: usize = 128 * 1024;

/// The serialiser's sink: a `Vec<u8>` whose one-byte writes (every `"`, `:`, `,`, `{`, `}`
/// serde_json emits) are a `push` instead of a `memcpy` call (performance, issue 3).
struct Sink<'b>(&'b mut Vec<u8>);

impl std::io::Write for Sink<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match bytes {
            [b] => self.0.push(*b),
            [a, b] => {
                self.0.push(*a);
                self.0.push(*b);
            }
            _ => self.0.extend_from_slice(bytes),
        }
        Ok(())
    }

    #[inline]
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to_json(doc: &Document<'_>) -> Result<String, DropReason> {
    SCRATCH.with(|scratch| {
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            return serde_json::to_string(doc).map_err(|_| DropReason::Serialization);
        };
        buf.clear();
        serde_json::to_writer(Sink(&mut buf), doc).map_err(|_| DropReason::Serialization)?;
        let json =
            String::from_utf8(buf.as_slice().to_vec()).map_err(|_| DropReason::Serialization);
        if buf.capacity() > SCRATCH_KEEP_BYTES {
            *buf = Vec::new();
        }
        json
    })
}

/// Serialises `doc` within `max_bytes`, shrinking it step by step (R-SIZE-1):
/// 1. as is; 2. metadata strings cut to 1,024 characters; 3. no metadata;
/// 4. no exception stacks (`truncated` = frames removed); 5. `Err(TooLarge)`.
pub fn serialize_within(doc: &mut Document<'_>, max_bytes: usize) -> Result<String, DropReason> {
    let json = to_json(doc)?;
    if json.len() <= max_bytes {
        return Ok(json);
    }
    if !doc.metadata.is_empty() {
        doc.metadata.set_string_cap(METADATA_STRING_CAP);
        let json = to_json(doc)?;
        if json.len() <= max_bytes {
            return Ok(json);
        }
        doc.metadata.clear();
        let json = to_json(doc)?;
        if json.len() <= max_bytes {
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
            let json = to_json(doc)?;
            if json.len() <= max_bytes {
                return Ok(json);
            }
        }
    }
    Err(DropReason::TooLarge)
}
