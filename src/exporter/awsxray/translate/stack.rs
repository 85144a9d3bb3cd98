//! Stack-trace parsers selected by `telemetry.sdk.language` (§9.4).
//!
//! All parsers borrow frame text from the stack string and never panic on malformed input
//! (R-STACK-safety): a missing part is empty, and an unparseable chain stops the parse while
//! keeping what was gathered.

use std::borrow::Cow;

use super::cause::{Exception, Frame};

/// Fills `out[first]` (the exception built from the event) with frames parsed from `text`
/// and appends chained exceptions. Unknown languages leave the exception without a stack.
///
/// Clarification of §9.4: the JavaScript parser is also selected for `nodejs` and `webjs`,
/// the `telemetry.sdk.language` values of the semantic conventions that the Node.js and web
/// SDKs actually send (the reference only matches `javascript`).
pub(crate) fn fill<'a>(language: &str, text: &'a str, out: &mut Vec<Exception<'a>>, first: usize) {
    match language {
        "java" | "php" => java(text, out, first),
        "python" => python(text, out, first),
        "javascript" | "nodejs" | "webjs" => push_frames(out, first, javascript(text)),
        "dotnet" => dotnet(text, out, first),
        "go" => push_frames(out, first, go(text)),
        _ => {}
    }
}

/// Appends `frame`, making room for a typical stack at the first one (fewer reallocations).
fn push_frame<'a>(stack: &mut Vec<Frame<'a>>, frame: Frame<'a>) {
    if stack.capacity() == 0 {
        stack.reserve(16);
    }
    stack.push(frame);
}

fn push_frames<'a>(out: &mut [Exception<'a>], at: usize, frames: Vec<Frame<'a>>) {
    if let Some(e) = out.get_mut(at) {
        e.stack.extend(frames);
    }
}

/// Index of the first `needle` byte in `hay`, eight bytes at a time (stack lines are short:
/// this beats `memchr`'s alignment prologue; performance, issue 3).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut at = 0;
    while let Some(chunk) = hay.get(at..at + 8) {
        let word: &[u8; 8] = chunk.try_into().ok()?;
        let x = u64::from_le_bytes(*word) ^ pattern;
        // Zero bytes of `x` are matches; the lowest flagged byte is exact.
        let zero = x.wrapping_sub(ONES) & !x & HIGHS;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    hay.get(at..)?
        .iter()
        .position(|b| *b == needle)
        .map(|p| at + p)
}

/// [`str::find`] for an ASCII `needle`.
fn find_ascii(s: &str, needle: u8) -> Option<usize> {
    debug_assert!(needle.is_ascii());
    find_byte(s.as_bytes(), needle)
}

/// [`str::split_once`] for an ASCII `needle`.
fn split_once_ascii(s: &str, needle: u8) -> Option<(&str, &str)> {
    let at = find_ascii(s, needle)?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// [`str::split_once`] for an ASCII pattern `pat` (first occurrence).
fn split_once_str<'s>(s: &'s str, pat: &str) -> Option<(&'s str, &'s str)> {
    let first = *pat.as_bytes().first()?;
    let mut from = 0;
    loop {
        let at = from + find_ascii(s.get(from..)?, first)?;
        if s.get(at..)?.starts_with(pat) {
            return Some((s.get(..at)?, s.get(at + pat.len()..)?));
        }
        from = at + 1;
    }
}

/// The lines of `text` as `str::split('\n')` gives them (a trailing empty line included),
/// without a trailing `\r`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        let line = match find_ascii(s, b'\n') {
            Some(at) => {
                rest = s.get(at + 1..);
                s.get(..at)?
            }
            None => {
                rest = None;
                s
            }
        };
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

fn parse_line(s: &str) -> i64 {
    // Fast path: plain digits that fit (what stack traces hold), else the general parse.
    if (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.bytes().fold(0, |n, b| n * 10 + i64::from(b - b'0'));
    }
    s.trim().parse().unwrap_or(0)
}

/// Appends a chained exception caused-by link from `out[current]`; returns the new index.
fn chain<'a>(
    out: &mut Vec<Exception<'a>>,
    current: usize,
    kind: &'a str,
    message: Cow<'a, str>,
) -> usize {
    let remote = out.get(current).and_then(|e| e.remote);
    let next = Exception::new(Cow::Borrowed(kind), message, remote);
    if let Some(e) = out.get_mut(current) {
        // The first cause found is kept (an exception has one `cause` id).
        e.cause.get_or_insert(next.id);
    }
    out.push(next);
    out.len() - 1
}

/// Splits `Type: message` at the first `:` skipping the two characters `: `.
fn split_type_message(s: &str) -> Option<(&str, &str)> {
    let colon = find_ascii(s, b':')?;
    let kind = s.get(..colon).unwrap_or("");
    let message = s.get(colon + 2..).unwrap_or("");
    Some((kind, message))
}

/// A Java frame line `\tat label(path:line)` (R-STACK-java).
fn java_frame(line: &str) -> Option<Frame<'_>> {
    let rest = line.strip_prefix("\tat ")?;
    if !rest.ends_with(')') {
        return None;
    }
    let open = find_ascii(rest, b'(')?;
    let label = rest.get(..open)?;
    // Everything up to and including the first `/` is the class-loader/module prefix; an
    // unnamed module after a named loader leaves a second `/` (`app//com.foo.Main.run`).
    let label =
        split_once_ascii(label, b'/').map_or(label, |(_, l)| l.strip_prefix('/').unwrap_or(l));
    let inner = rest.get(open + 1..rest.len() - 1)?;
    let (path, line) = match split_once_ascii(inner, b':') {
        Some((p, l)) => (p, parse_line(l)),
        None => (inner, 0),
    };
    Some(Frame { path, line, label })
}

/// R-STACK-java (also PHP).
fn java<'a>(text: &'a str, out: &mut Vec<Exception<'a>>, first: usize) {
    let mut current = first;
    let mut in_message = false;
    for line in lines(text).skip(1) {
        if let Some(frame) = java_frame(line) {
            in_message = false;
            if let Some(e) = out.get_mut(current) {
                push_frame(&mut e.stack, frame);
            }
        } else if let Some(rest) = line.strip_prefix("Caused by: ") {
            let (kind, message) = split_type_message(rest).unwrap_or((rest, ""));
            current = chain(out, current, kind, Cow::Borrowed(message));
            in_message = true;
        } else if in_message {
            if let Some(e) = out.get_mut(current) {
                e.message.to_mut().push_str(line);
            }
        }
    }
}

/// A Python frame line `  File "path", line N, in label` (R-STACK-python).
fn python_frame(line: &str) -> Option<Frame<'_>> {
    if !line.starts_with("  File ") {
        return None;
    }
    // Exactly three comma-separated parts.
    let (p0, rest) = split_once_ascii(line, b',')?;
    let (p1, p2) = split_once_ascii(rest, b',')?;
    if find_ascii(p2, b',').is_some() {
        return None;
    }
    let path = p0.strip_prefix("  File ").unwrap_or(p0);
    let path = path.strip_prefix('"').unwrap_or(path);
    let path = path.strip_suffix('"').unwrap_or(path);
    let line_no = split_once_str(p1, " line ").map_or(0, |(_, n)| parse_line(n));
    let label = split_once_str(p2, " in ").map_or("", |(_, l)| l);
    Some(Frame {
        path,
        line: line_no,
        label,
    })
}

const PY_DURING: &str = "During handling of the above exception, another exception occurred:";
/// Separator Python prints for explicit chaining (`raise B from A`). Clarification of
/// R-STACK-python: treated like [`PY_DURING`], since it also introduces the earlier exception
/// (the reference only knows the implicit-chaining line and would merge both stacks).
const PY_DIRECT_CAUSE: &str =
    "The above exception was the direct cause of the following exception:";

/// R-STACK-python: walk upwards from the line above the last one; innermost frame first.
fn python<'a>(text: &'a str, out: &mut Vec<Exception<'a>>, first: usize) {
    // Room for a typical traceback up front (the iterator cannot tell its length).
    let mut all: Vec<&'a str> = Vec::with_capacity(32);
    all.extend(lines(text));
    let Some(last) = all.len().checked_sub(1) else {
        return;
    };
    let mut current = first;
    let mut i = last;
    while i > 0 {
        i -= 1;
        let Some(line) = all.get(i).copied() else {
            break;
        };
        if let Some(frame) = python_frame(line) {
            if let Some(e) = out.get_mut(current) {
                push_frame(&mut e.stack, frame);
            }
        } else if line.starts_with(PY_DURING) || line.starts_with(PY_DIRECT_CAUSE) {
            let Some(f) = (0..i)
                .rev()
                .find(|&j| all.get(j).is_some_and(|l| l.starts_with("  File ")))
            else {
                return;
            };
            // The reference takes the lines from `f + 2` on, i.e. after the source line.
            // Clarification: skip every 4-space-indented line after `f` instead, which is the
            // same for the classic format but also drops the `^^^^` markers of Python 3.11+
            // and keeps the message when the source line is missing.
            let end = i.saturating_sub(1);
            let start = (f + 1..end)
                .find(|&j| all.get(j).is_some_and(|l| !l.starts_with("    ")))
                .unwrap_or(end);
            let block = all.get(start..end).unwrap_or(&[]);
            let Some((first_line, more)) = block.split_first() else {
                return;
            };
            let Some((kind, head)) = split_type_message(first_line) else {
                return;
            };
            let message = if more.is_empty() {
                Cow::Borrowed(head)
            } else {
                let mut m = String::from(head);
                for l in more {
                    m.push('\n');
                    m.push_str(l);
                }
                Cow::Owned(m)
            };
            current = chain(out, current, kind, message);
            // Continue at the frame line `f`.
            i = f + 1;
        }
    }
}

/// `path:line:column` split from the right, so that paths containing `:` keep them
/// (`file:///var/task/index.mjs:3:9`, `node:internal/modules/cjs/loader:1105:14`). For the
/// plain `/path/file.js:10:15` this equals the rule of R-STACK-javascript (path before the first
/// `:`, line after it); the rule itself is the fallback for other shapes. Clarification: the
/// reference cuts at the first `:` and reports such frames as path `file` / `node`, line 0.
fn js_location(location: &str) -> Option<(&str, i64)> {
    let (rest, column) = location.rsplit_once(':')?;
    let (path, line) = rest.rsplit_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(column) && digits(line) && !path.is_empty()).then(|| (path, parse_line(line)))
}

/// R-STACK-javascript.
fn javascript(text: &str) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    for line in lines(text).skip(1) {
        let Some(rest) = line.strip_prefix("    at ") else {
            continue;
        };
        let (label, location) = match (rest.find('('), rest.ends_with(')')) {
            (Some(open), true) => (
                rest.get(..open).unwrap_or("").trim_end(),
                rest.get(open + 1..rest.len() - 1).unwrap_or(""),
            ),
            _ => ("", rest),
        };
        let (path, line_no) = if let Some((path, line_no)) = js_location(location) {
            (path, line_no)
        } else if let Some((path, after)) = location.split_once(':') {
            let n = after.split(':').next().unwrap_or("");
            (path, parse_line(n))
        } else if location.contains("native") {
            ("native", 0)
        } else {
            ("", 0)
        };
        if path.is_empty() && label.is_empty() && line_no == 0 {
            continue;
        }
        frames.push(Frame {
            path,
            line: line_no,
            label,
        });
    }
    frames
}

/// Line .NET prints where an inner exception's own stack ends (`Exception.ToString()`).
const DOTNET_END_OF_INNER: &str = "--- End of inner exception stack trace ---";

/// R-STACK-dotnet: frames are `at Label in path:line N` (or `at Label` without symbols).
///
/// Clarification (the reference does not chain .NET exceptions): `Exception.ToString()`, which
/// the .NET SDK stores as the stack text, nests inner exceptions as ` ---> Type: message`
/// header lines, followed by the inner exception's frames up to `--- End of inner exception
/// stack trace ---`. Each ` ---> ` starts a chained exception (linked by `cause`, like Java's
/// `Caused by:`) that receives the frames until its end marker; frames after the marker belong
/// to the enclosing exception again.
fn dotnet<'a>(text: &'a str, out: &mut Vec<Exception<'a>>, first: usize) {
    let mut levels = vec![first];
    for line in lines(text).skip(1) {
        let current = levels.last().copied().unwrap_or(first);
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix("---> ") {
            let (kind, message) = split_type_message(header).unwrap_or((header, ""));
            levels.push(chain(out, current, kind, Cow::Borrowed(message)));
            continue;
        }
        if trimmed.starts_with(DOTNET_END_OF_INNER) {
            if levels.len() > 1 {
                levels.pop();
            }
            continue;
        }
        if let Some(frame) = dotnet_frame(trimmed) {
            if let Some(e) = out.get_mut(current) {
                push_frame(&mut e.stack, frame);
            }
        }
    }
}

/// One trimmed .NET frame line (R-STACK-dotnet).
fn dotnet_frame(line: &str) -> Option<Frame<'_>> {
    let rest = line.strip_prefix("at ")?;
    Some(if let Some((label, loc)) = rest.split_once(" in ") {
        let (path, line_no) = match loc.rfind(':') {
            Some(c) => {
                let after = loc.get(c + 1..).unwrap_or("");
                let digits = after.strip_prefix("line ").unwrap_or(after);
                (loc.get(..c).unwrap_or(""), parse_line(digits))
            }
            None => (loc, 0),
        };
        Frame {
            path,
            line: line_no,
            label,
        }
    } else {
        let label = match rest.rfind(')') {
            Some(c) => rest.get(..=c).unwrap_or(rest),
            None => rest,
        };
        Frame {
            path: "",
            line: 0,
            label,
        }
    })
}

/// First `<non-space-colon run>:<digits>` in `line` (R-STACK-go).
fn go_location(line: &str) -> Option<(&str, i64)> {
    for (c, _) in line.match_indices(':') {
        let before = line.get(..c)?;
        let start = before
            .rfind(|ch: char| ch.is_whitespace() || ch == ':')
            .map_or(0, |p| p + 1);
        let path = before.get(start..)?;
        let after = line.get(c + 1..)?;
        let digits_end = after
            .find(|ch: char| !ch.is_ascii_digit())
            .unwrap_or(after.len());
        let digits = after.get(..digits_end)?;
        if !path.is_empty() && !digits.is_empty() {
            return Some((path, digits.parse().unwrap_or(0)));
        }
    }
    None
}

fn is_goroutine_header(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("goroutine ") && line.ends_with(':')
}

/// R-STACK-go: after the first line, pairs of `function` / `\tpath:line +0x…` lines;
/// `goroutine N [state]:` headers are skipped.
///
/// Clarifications for real panic output (which the reference was not written for): when the
/// text has a goroutine header, the lines before the first one are the panic message
/// (`panic: … [recovered]`, `\tpanic: …`) and are skipped; a function line whose next line is
/// not an indented location (`...additional frames elided...`, `exit status 2`) gives no frame
/// and does not swallow the next line.
fn go(text: &str) -> Vec<Frame<'_>> {
    let mut frames = Vec::new();
    let mut it = lines(text);
    let first_is_header = it.next().is_some_and(is_goroutine_header);
    let mut all: Vec<&str> = it.collect();
    if !first_is_header {
        if let Some(h) = all.iter().position(|l| is_goroutine_header(l)) {
            all.drain(..h);
        }
    }
    let mut it = all.into_iter().filter(|l| !l.trim().is_empty()).peekable();
    while let Some(line) = it.next() {
        if is_goroutine_header(line) {
            continue;
        }
        let label = line.trim();
        let location = it
            .peek()
            .filter(|next| next.starts_with([' ', '\t']))
            .and_then(|next| go_location(next));
        let Some((path, line_no)) = location else {
            continue;
        };
        it.next();
        frames.push(Frame {
            path,
            line: line_no,
            label,
        });
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(lang: &str, text: &str) -> Vec<Exception<'static>> {
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        let mut out = vec![Exception::new(
            Cow::Borrowed("T"),
            Cow::Borrowed("m"),
            Some(false),
        )];
        fill(lang, text, &mut out, 0);
        out
    }

    fn f<'a>(path: &'a str, line: i64, label: &'a str) -> Frame<'a> {
        Frame { path, line, label }
    }

    #[test]
    fn byte_search_helpers_match_std() {
        let samples = [
            "",
            "a",
            "(",
            "abc(def",
            "0123456789abcdef(x",
            "no parens at all in this rather long line of text",
            "é(ü:1)",
            "a,b,c,d",
            "  File \"x.py\", line 3, in f",
            "x line y line z",
            "\n\r\n",
            "line one\nline two\r\n\nlast",
            "trailing\n",
        ];
        for s in samples {
            for needle in [b'(', b':', b',', b'/', b'\n', b'z'] {
                let c = char::from(needle);
                assert_eq!(find_ascii(s, needle), s.find(c), "{s:?} {c:?}");
                assert_eq!(split_once_ascii(s, needle), s.split_once(c), "{s:?} {c:?}");
            }
            for pat in [" line ", " in ", "line", "xx"] {
                assert_eq!(split_once_str(s, pat), s.split_once(pat), "{s:?} {pat:?}");
            }
            let std_lines: Vec<&str> = s
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            assert_eq!(lines(s).collect::<Vec<_>>(), std_lines, "{s:?}");
        }
        for n in [
            "0",
            "7",
            "088",
            "123456789012345678",
            "1234567890123456789",
            " 12 ",
            "-3",
            "+4",
            "x",
            "",
        ] {
            assert_eq!(parse_line(n), n.trim().parse().unwrap_or(0), "{n:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn byte_search_helpers_match_std_on_any_text(s in "[a-z (:,/\n\r\u{e9}\u{4e2d}]{0,40}") {
            for needle in [b'(', b':', b',', b'/', b'\n'] {
                let c = char::from(needle);
                proptest::prop_assert_eq!(find_ascii(&s, needle), s.find(c));
                proptest::prop_assert_eq!(split_once_ascii(&s, needle), s.split_once(c));
            }
            for pat in [" line ", " in ", "in"] {
                proptest::prop_assert_eq!(split_once_str(&s, pat), s.split_once(pat));
            }
            let std_lines: Vec<&str> = s
                .split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect();
            proptest::prop_assert_eq!(lines(&s).collect::<Vec<_>>(), std_lines);
        }
    }

    #[test]
    fn java_frames_and_caused_by() {
        // R-STACK-java
        let text = "java.lang.IllegalStateException: outer\n\
\tat java.base/java.util.Objects.requireNonNull(Objects.java:233)\n\
\tat com.foo.Main.run(Native Method)\n\
\t... 3 more\n\
Caused by: java.io.IOException: disk\n\
full again\n\
\tat com.foo.Disk.write(Disk.java:x)\n\
\tSuppressed: a.B: c\n\
\t\tat a.B.c(B.java:1)\n";
        let out = parse("java", text);
        assert_eq!(out.len(), 2);
        let (a, b) = (&out[0], &out[1]);
        assert_eq!(
            a.stack,
            vec![
                f("Objects.java", 233, "java.util.Objects.requireNonNull"),
                f("Native Method", 0, "com.foo.Main.run")
            ]
        );
        assert_eq!(a.cause, Some(b.id));
        assert_eq!(b.kind, "java.io.IOException");
        assert_eq!(b.message, "diskfull again");
        assert_eq!(b.remote, Some(false));
        assert_eq!(b.stack, vec![f("Disk.java", 0, "com.foo.Disk.write")]);
    }

    #[test]
    fn java_malformed_never_panics() {
        // R-STACK-safety
        for text in [
            "",
            "x",
            "h\nCaused by: Foo:",
            "h\nCaused by: ",
            "h\n\tat (",
            "h\n\tat )",
            "h\n\tat a(:)",
        ] {
            let _ = parse("java", text);
            let _ = parse("php", text);
        }
        let out = parse("java", "h\nCaused by: Foo:");
        assert_eq!(out.get(1).map(|e| e.kind.as_ref()), Some("Foo"));
    }

    #[test]
    fn python_chain() {
        // R-STACK-python
        let text = "Traceback (most recent call last):\n  File \"db.py\", line 20, in fetch\n    row = cursor.fetchone()\n  File \"pool.py\", line 7, in checkout\n    raise ValueError(\"pool exhausted\")\nValueError: pool exhausted\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):\n  File \"handler.py\", line 42, in lambda_handler\n    order = load_order(event[\"id\"])\n  File \"orders.py\", line 18, in load_order\n    return fetch(order_id)\nRuntimeError: could not load order";
        let out = parse("python", text);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].stack,
            vec![
                f("orders.py", 18, "load_order"),
                f("handler.py", 42, "lambda_handler")
            ]
        );
        assert_eq!(out[0].cause, Some(out[1].id));
        assert_eq!(out[1].kind, "ValueError");
        assert_eq!(out[1].message, "pool exhausted");
        assert_eq!(
            out[1].stack,
            vec![f("pool.py", 7, "checkout"), f("db.py", 20, "fetch")]
        );
    }

    #[test]
    fn python_malformed_never_panics() {
        // R-STACK-safety
        for text in [
            "",
            "\n",
            "During handling of the above exception, another exception occurred:\nX",
            "  File \"a\", line 1, in f\n  x\nNoColon\n\nDuring handling of the above exception, another exception occurred:\n\nE: m",
            "  File \"a\", line 1, in f\n  x\nValueError:\n\nDuring handling of the above exception, another exception occurred:\n\nE: m",
            "  File \"a\"\nDuring handling of the above exception, another exception occurred:\nE",
        ] {
            let _ = parse("python", text);
        }
        let out = parse(
            "python",
            "T\n  File \"a\", line 1, in f\n    x\nValueError:\n\nDuring handling of the above exception, another exception occurred:\n\nE: m",
        );
        assert_eq!(out.get(1).map(|e| e.message.as_ref()), Some(""));
    }

    #[test]
    fn javascript_frames() {
        // R-STACK-javascript
        let text = "Error: boom\n    at handler (/var/task/index.js:10:15)\n    at /var/task/lib.js:3:1\n    at Array.forEach (native)\n    at new Promise (<anonymous>)\n    at ()";
        let out = parse("javascript", text);
        assert_eq!(
            out[0].stack,
            vec![
                f("/var/task/index.js", 10, "handler"),
                f("/var/task/lib.js", 3, ""),
                f("native", 0, "Array.forEach"),
                f("", 0, "new Promise"),
            ]
        );
    }

    #[test]
    fn dotnet_frames() {
        // R-STACK-dotnet
        let text = "System.Exception: boom\n   at Demo.Program.Run(String arg) in C:\\src\\Program.cs:line 42\n   at System.Threading.Tasks.Task.Execute()\n   at Foo() in /x.cs:7";
        let out = parse("dotnet", text);
        assert_eq!(
            out[0].stack,
            vec![
                f("C:\\src\\Program.cs", 42, "Demo.Program.Run(String arg)"),
                f("", 0, "System.Threading.Tasks.Task.Execute()"),
                f("/x.cs", 7, "Foo()"),
            ]
        );
    }

    #[test]
    fn go_frames() {
        // R-STACK-go
        let text = "panic: boom\n\ngoroutine 1 [running]:\nmain.fail(...)\n\t/app/main.go:12 +0x1d\nmain.main()\n\t/app/main.go:20 +0x25\nexit";
        let out = parse("go", text);
        assert_eq!(
            out[0].stack,
            vec![
                f("/app/main.go", 12, "main.fail(...)"),
                f("/app/main.go", 20, "main.main()"),
            ]
        );
        // A function line without a location (`exit`) gives no frame (clarification).
        assert_eq!(go_location("C:/x/y.go:9 +0x1"), Some(("/x/y.go", 9)));
    }

    #[test]
    fn javascript_selected_by_semconv_language_values() {
        // R-STACK-javascript for `nodejs` / `webjs`; locations split from the right.
        let text = "Error: x\n    at h (file:///var/task/i.mjs:3:9)\n    at node:internal/a:10:2";
        for lang in ["javascript", "nodejs", "webjs"] {
            assert_eq!(
                parse(lang, text)[0].stack,
                vec![
                    f("file:///var/task/i.mjs", 3, "h"),
                    f("node:internal/a", 10, ""),
                ],
                "{lang}"
            );
        }
    }

    #[test]
    fn python_direct_cause_and_caret_lines() {
        // R-STACK-python: `raise … from …` chains like "During handling…"; `^^^` skipped.
        let text = "Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    g()\n    ^^^\nKeyError: 'k'\n\nThe above exception was the direct cause of the following exception:\n\nTraceback (most recent call last):\n  File \"b.py\", line 9, in h\n    raise ValueError(\"v\") from e\nValueError: v\n";
        let out = parse("python", text);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].stack, vec![f("b.py", 9, "h")]);
        assert_eq!(out[0].cause, Some(out[1].id));
        assert_eq!(out[1].kind, "KeyError");
        assert_eq!(out[1].message, "'k'");
        assert_eq!(out[1].stack, vec![f("a.py", 3, "f")]);
    }

    #[test]
    fn dotnet_inner_exceptions_chain() {
        // R-STACK-dotnet: ` ---> ` nests, the end marker returns to the outer exception.
        let text = "A: a\n ---> B: b\n ---> C: c\n   at C1() in /c.cs:line 1\n   --- End of inner exception stack trace ---\n   at B1() in /b.cs:line 2\n   --- End of inner exception stack trace ---\n   at A1() in /a.cs:line 3";
        let out = parse("dotnet", text);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].stack, vec![f("/a.cs", 3, "A1()")]);
        assert_eq!(out[1].stack, vec![f("/b.cs", 2, "B1()")]);
        assert_eq!(out[2].stack, vec![f("/c.cs", 1, "C1()")]);
        assert_eq!(out[0].cause, Some(out[1].id));
        assert_eq!(out[1].cause, Some(out[2].id));
        assert_eq!((out[2].kind.as_ref(), out[2].message.as_ref()), ("C", "c"));
    }

    #[test]
    fn go_panic_preamble_skipped() {
        // R-STACK-go: lines before the first goroutine header are the panic message.
        let text = "panic: x [recovered]\n\tpanic: x\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 7 [running]:\nmain.f()\n\t/a.go:3 +0x1\ncreated by main.main in goroutine 1\n\t/a.go:9 +0x2\n";
        assert_eq!(
            parse("go", text)[0].stack,
            vec![
                f("/a.go", 3, "main.f()"),
                f("/a.go", 9, "created by main.main in goroutine 1")
            ]
        );
        // opentelemetry-go: the header is the first line; a second goroutine keeps both.
        let text = "goroutine 1 [running]:\nmain.f()\n\t/a.go:3 +0x1\n\ngoroutine 2 [chan receive]:\nmain.g()\n\t/a.go:5 +0x1";
        assert_eq!(parse("go", text)[0].stack.len(), 2);
    }

    #[test]
    fn java_unnamed_module_prefix() {
        // R-STACK-java: `loader//class` and `module/class` prefixes are removed.
        let out = parse(
            "java",
            "E: m\n\tat app//com.foo.Main.run(Main.java:5)\n\tat java.base/java.lang.Thread.run(Thread.java:833)",
        );
        assert_eq!(
            out[0].stack,
            vec![
                f("Main.java", 5, "com.foo.Main.run"),
                f("Thread.java", 833, "java.lang.Thread.run")
            ]
        );
    }

    #[test]
    fn unknown_language_no_stack() {
        // R-CAUSE-5
        let out = parse("rust", "x\n\tat a(b:1)");
        assert!(out[0].stack.is_empty());
    }

    #[test]
    fn random_text_never_panics() {
        // R-STACK-safety: random mixes of the tokens the parsers look for.
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        const TOKENS: &[&str] = &[
            "\n",
            "\t",
            "\tat ",
            "    at ",
            "at ",
            "  File ",
            "\"",
            ",",
            " line ",
            " in ",
            ":",
            "(",
            ")",
            "/",
            "Caused by: ",
            PY_DURING,
            "goroutine 1 [running]:",
            "ü",
            "12",
            " ",
            "native",
            ":line ",
            "\r",
        ];
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..3000 {
            let n = rng.random_range(0..40);
            let text: String = (0..n)
                .map(|_| TOKENS[rng.random_range(0..TOKENS.len())])
                .collect();
            for lang in ["java", "python", "javascript", "dotnet", "go"] {
                let _ = parse(lang, &text);
            }
        }
    }
}
