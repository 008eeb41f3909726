//! Splitting the QMP byte stream into messages.
//!
//! Kept free of I/O so that it can be fed arbitrary bytes in tests: whatever QEMU (or
//! something pretending to be QEMU) sends, this must never panic or grow without bound.

use serde_json::Value;

/// Upper bound for one message. `query-qmp-schema` replies are around 1 MiB; anything
/// far larger means the peer is not speaking QMP and we would otherwise buffer forever.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Accumulates bytes and hands out complete `\n`-terminated lines.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    /// Bytes of `buf` already known to contain no newline, so large replies arriving in
    /// many small reads are not rescanned from the start each time.
    scanned: usize,
    /// Set after an oversized line was dropped: discard up to the next newline.
    discarding: bool,
    max_line: usize,
}

/// A line that exceeded the size limit was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTooLong {
    pub limit: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::with_limit(MAX_LINE)
    }
}

impl LineBuffer {
    pub fn with_limit(max_line: usize) -> Self {
        LineBuffer { buf: Vec::new(), scanned: 0, discarding: false, max_line }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete line (without the terminator), `Ok(None)` if more bytes
    /// are needed, or an error once for each line that was too long (its bytes are
    /// dropped so the stream can resynchronise at the next newline).
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        loop {
            let start = self.scanned.min(self.buf.len());
            match self.buf[start..].iter().position(|&b| b == b'\n') {
                Some(rel) => {
                    let end = start + rel;
                    let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                    self.scanned = 0;
                    line.pop(); // the '\n'
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    if line.len() > self.max_line {
                        return Err(LineTooLong { limit: self.max_line });
                    }
                    return Ok(Some(line));
                }
                None => {
                    self.scanned = self.buf.len();
                    if self.buf.len() > self.max_line {
                        self.buf.clear();
                        self.scanned = 0;
                        let first = !self.discarding;
                        self.discarding = true;
                        if first {
                            return Err(LineTooLong { limit: self.max_line });
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }
}

/// An asynchronous notification from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub struct QmpEvent {
    pub name: String,
    /// `data` member, `Value::Null` when absent.
    pub data: Value,
    /// `(seconds, microseconds)` as stamped by QEMU, when present and well-formed.
    pub timestamp: Option<(i64, i64)>,
}

/// One decoded QMP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The server greeting's `QMP` object.
    Greeting(Value),
    /// A command response; `id` is echoed from the command (absent for commands QEMU
    /// could not even parse).
    Reply {
        id: Option<Value>,
        result: Result<Value, ReplyError>,
    },
    Event(QmpEvent),
    /// Valid JSON of a shape we do not know; tolerated for forward compatibility.
    Unknown(Value),
}

/// The `error` member of a failed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyError {
    pub class: String,
    pub desc: String,
}

/// Decodes one line. `Ok(None)` for blank lines; `Err` carries a short description of
/// why the line is not JSON.
pub fn parse_message(line: &[u8]) -> Result<Option<Message>, String> {
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
        format!("invalid JSON from QMP peer ({e}): {shown}")
    })?;
    Ok(Some(classify(value)))
}

fn classify(value: Value) -> Message {
    let Value::Object(mut obj) = value else {
        return Message::Unknown(value);
    };
    if let Some(greeting) = obj.remove("QMP") {
        return Message::Greeting(greeting);
    }
    if let Some(Value::String(name)) = obj.get("event") {
        let name = name.clone();
        let data = obj.remove("data").unwrap_or(Value::Null);
        let timestamp =
            obj.get("timestamp").and_then(|t| Some((t.get("seconds")?.as_i64()?, t.get("microseconds")?.as_i64()?)));
        return Message::Event(QmpEvent { name, data, timestamp });
    }
    let id = obj.remove("id");
    if let Some(ret) = obj.remove("return") {
        return Message::Reply { id, result: Ok(ret) };
    }
    if let Some(err) = obj.remove("error") {
        let text = |key: &str| match err.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        return Message::Reply { id, result: Err(ReplyError { class: text("class"), desc: text("desc") }) };
    }
    if let Some(id) = id {
        obj.insert("id".into(), id);
    }
    Message::Unknown(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_lines_across_pushes_and_crlf() {
        let mut lb = LineBuffer::default();
        lb.push(b"{\"a\":");
        assert_eq!(lb.next_line(), Ok(None));
        lb.push(b"1}\r\n{\"b\":2}\n{\"c\"");
        assert_eq!(lb.next_line(), Ok(Some(b"{\"a\":1}".to_vec())));
        assert_eq!(lb.next_line(), Ok(Some(b"{\"b\":2}".to_vec())));
        assert_eq!(lb.next_line(), Ok(None));
        lb.push(b":3}\n");
        assert_eq!(lb.next_line(), Ok(Some(b"{\"c\":3}".to_vec())));
    }

    #[test]
    fn oversized_line_reported_once_then_resyncs() {
        let mut lb = LineBuffer::with_limit(8);
        lb.push(b"0123456789");
        assert_eq!(lb.next_line(), Err(LineTooLong { limit: 8 }));
        lb.push(b"abcdefghijkl");
        assert_eq!(lb.next_line(), Ok(None));
        lb.push(b"xyz\nok\n");
        assert_eq!(lb.next_line(), Ok(Some(b"ok".to_vec())));
    }

    #[test]
    fn classifies_messages() {
        let m = parse_message(br#"{"QMP": {"version": {}, "capabilities": []}}"#).unwrap();
        assert!(matches!(m, Some(Message::Greeting(_))));
        let m = parse_message(br#"{"return": {}, "id": 3}"#).unwrap();
        assert_eq!(m, Some(Message::Reply { id: Some(json!(3)), result: Ok(json!({})) }));
        let m = parse_message(br#"{"error": {"class": "GenericError", "desc": "nope"}}"#).unwrap();
        assert_eq!(
            m,
            Some(Message::Reply {
                id: None,
                result: Err(ReplyError { class: "GenericError".into(), desc: "nope".into() })
            })
        );
        let m = parse_message(br#"{"event": "STOP", "timestamp": {"seconds": 5, "microseconds": 7}}"#).unwrap();
        assert_eq!(
            m,
            Some(Message::Event(QmpEvent { name: "STOP".into(), data: Value::Null, timestamp: Some((5, 7)) }))
        );
        assert!(matches!(parse_message(b"[1,2]").unwrap(), Some(Message::Unknown(_))));
        assert!(parse_message(b"   ").unwrap().is_none());
        assert!(parse_message(b"{nope").is_err());
    }

    proptest::proptest! {
        /// Arbitrary bytes in arbitrary chunking: no panic, every line bounded, and the
        /// total of returned line bytes never exceeds what was pushed.
        #[test]
        fn reader_never_panics(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..200), 0..20),
            limit in 1usize..64,
        ) {
            let mut lb = LineBuffer::with_limit(limit);
            let pushed: usize = chunks.iter().map(Vec::len).sum();
            let mut out = 0;
            for c in &chunks {
                lb.push(c);
                while let Ok(Some(line)) = lb.next_line() {
                    proptest::prop_assert!(line.len() <= limit);
                    out += line.len();
                    let _ = parse_message(&line);
                }
            }
            proptest::prop_assert!(out <= pushed);
        }

        /// Lines that look like QMP (valid JSON objects with odd member types) classify
        /// without panicking.
        #[test]
        fn odd_json_never_panics(
            key in proptest::sample::select(vec!["QMP", "event", "return", "error", "id", "data", "timestamp", "x"]),
            key2 in proptest::sample::select(vec!["class", "desc", "seconds", "microseconds", "event", "id"]),
            val in proptest::sample::select(vec!["null", "1", "-1", "1e400", "\"s\"", "[]", "{}", "true", "{\"seconds\":\"x\"}"]),
        ) {
            let line = format!("{{\"{key}\": {{\"{key2}\": {val}}}, \"{key2}\": {val}}}");
            let _ = parse_message(line.as_bytes());
        }
    }
}
