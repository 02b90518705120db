//! Server-sent events as OpenAI-compatible servers send them, and the JSON chunks inside.
//!
//! [`SseParser`] turns network chunks (cut anywhere: inside a line, inside a multi-byte character) into complete
//! `data` payloads; [`ChunkDecoder`] turns each payload into [`StreamEvent`]s, handling the variants servers send:
//! role-only and empty deltas, a final usage chunk, `reasoning_content` / `reasoning` fields, `<think>...</think>`
//! inside the content, and errors reported in the stream.

use super::{LlmError, StreamEvent, Usage};
use crate::llm::error::error_message;

/// One complete event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The `data` of an event (several `data:` lines joined with `\n`).
    Data(String),
    /// An `error:` field (llama.cpp reports some failures this way).
    Error(String),
}

/// Splits a byte stream into SSE events. Bytes are kept until a whole line is there, so a character split across
/// network chunks is decoded only once complete.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    data: Option<String>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to the same line ending.
    after_cr: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut bytes = bytes;
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&self.buf[start..i]).into_owned();
                self.line(&line, &mut out);
                if b == b'\r' {
                    if i + 1 < self.buf.len() {
                        if self.buf[i + 1] == b'\n' {
                            i += 1;
                        }
                    } else {
                        self.after_cr = true;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        self.buf.drain(..start);
        out
    }

    /// The stream ended: an event still pending (a last line without its blank line) is delivered.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned();
            self.line(&line, &mut out);
        }
        if let Some(data) = self.data.take() {
            out.push(SseEvent::Data(data));
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent::Data(data));
            }
            return;
        }
        if line.starts_with(':') {
            return; // a comment: keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "error" => out.push(SseEvent::Error(value.to_owned())),
            _ => {} // event, id, retry: nothing to do for chat completions
        }
    }
}

/// Turns event payloads into [`StreamEvent`]s.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    think: ThinkSplitter,
    done: bool,
    /// A chunk carried a `finish_reason`: the reply is complete even if `[DONE]` never comes.
    finished: bool,
}

impl ChunkDecoder {
    pub fn new() -> ChunkDecoder {
        ChunkDecoder::default()
    }

    /// Whether `[DONE]` (or a final chunk of a server that never sends it) has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The connection closed. A reply whose last chunk had a `finish_reason` is complete (some servers never send
    /// `[DONE]`); otherwise it was cut off.
    pub fn end_of_stream(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        if self.done {
            return Ok(());
        }
        if !self.finished {
            return Err(LlmError::Truncated);
        }
        self.think.finish(out);
        self.done = true;
        out.push(StreamEvent::Done);
        Ok(())
    }

    pub fn event(&mut self, event: SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        match event {
            SseEvent::Error(text) => Err(LlmError::StreamError { message: error_message(&text) }),
            SseEvent::Data(data) => self.data(&data, out),
        }
    }

    fn data(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.think.finish(out);
            self.done = true;
            out.push(StreamEvent::Done);
            return Ok(());
        }
        let v: serde_json::Value = serde_json::from_str(data)
            .map_err(|e| LlmError::NotJson { line: data.to_owned(), reason: e.to_string() })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            let message = err.get("message").and_then(|m| m.as_str()).map(str::to_owned).unwrap_or(err.to_string());
            return Err(LlmError::StreamError { message });
        }
        self.value(&v, out);
        Ok(())
    }

    /// A whole completion (a server that ignored `stream: true` and answered with one JSON object).
    pub fn whole(&mut self, body: &str, out: &mut Vec<StreamEvent>) -> Result<(), LlmError> {
        self.data(body, out)?;
        self.think.finish(out);
        self.done = true;
        out.push(StreamEvent::Done);
        Ok(())
    }

    fn value(&mut self, v: &serde_json::Value, out: &mut Vec<StreamEvent>) {
        if let Some(choice) = v.get("choices").and_then(|c| c.as_array()).and_then(|c| c.first()) {
            if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.finished = true;
            }
            // `delta` when streaming; `message` in a whole completion.
            let delta = choice.get("delta").or_else(|| choice.get("message"));
            if let Some(delta) = delta {
                for key in ["reasoning_content", "reasoning"] {
                    if let Some(r) = delta.get(key).and_then(|r| r.as_str()).filter(|r| !r.is_empty()) {
                        out.push(StreamEvent::Reasoning(r.to_owned()));
                    }
                }
                if let Some(c) = delta.get("content").and_then(|c| c.as_str()).filter(|c| !c.is_empty()) {
                    self.think.push(c, out);
                }
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| u.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                prompt_tokens: n("prompt_tokens"),
                completion_tokens: n("completion_tokens"),
            }));
        }
    }
}

/// Routes text inside `<think>...</think>` to reasoning, holding back a possible partial tag at the end of a delta.
#[derive(Debug, Default)]
struct ThinkSplitter {
    inside: bool,
    pending: String,
}

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

impl ThinkSplitter {
    fn push(&mut self, text: &str, out: &mut Vec<StreamEvent>) {
        self.pending.push_str(text);
        loop {
            let tag = if self.inside { CLOSE } else { OPEN };
            if let Some(at) = self.pending.find(tag) {
                let before: String = self.pending[..at].to_owned();
                self.emit(before, out);
                self.pending.drain(..at + tag.len());
                self.inside = !self.inside;
                continue;
            }
            // Keep the longest suffix that could start the tag; emit the rest.
            let keep = (1..tag.len())
                .rev()
                .find(|&n| {
                    self.pending.len() >= n
                        && self.pending.is_char_boundary(self.pending.len() - n)
                        && tag.starts_with(&self.pending[self.pending.len() - n..])
                })
                .unwrap_or(0);
            let cut = self.pending.len() - keep;
            let ready: String = self.pending[..cut].to_owned();
            self.pending.drain(..cut);
            self.emit(ready, out);
            return;
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        let rest = std::mem::take(&mut self.pending);
        self.emit(rest, out);
    }

    fn emit(&self, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        out.push(if self.inside { StreamEvent::Reasoning(text) } else { StreamEvent::Content(text) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c));
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn lines_split_anywhere_and_crlf() {
        let whole = "data: {\"a\":\"é😊\"}\r\n\r\n: keep-alive\n\ndata: [DONE]\n\n".as_bytes();
        let expect = vec![SseEvent::Data("{\"a\":\"é😊\"}".into()), SseEvent::Data("[DONE]".into())];
        for cut in 0..whole.len() {
            assert_eq!(events(&[&whole[..cut], &whole[cut..]]), expect, "cut at {cut}");
        }
        let bytewise: Vec<&[u8]> = whole.chunks(1).collect();
        assert_eq!(events(&bytewise), expect);
    }

    #[test]
    fn multi_line_data_and_error_field() {
        assert_eq!(
            events(&[b"data: a\ndata: b\n\nerror: boom\n"]),
            vec![SseEvent::Data("a\nb".into()), SseEvent::Error("boom".into())]
        );
    }

    fn decode(payloads: &[&str]) -> Vec<StreamEvent> {
        let mut d = ChunkDecoder::new();
        let mut out = Vec::new();
        for p in payloads {
            d.event(SseEvent::Data((*p).into()), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn end_without_done() {
        let mut d = ChunkDecoder::new();
        let mut out = Vec::new();
        d.event(SseEvent::Data(r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}"#.into()), &mut out)
            .unwrap();
        assert_eq!(d.end_of_stream(&mut out), Err(LlmError::Truncated));
        d.event(SseEvent::Data(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#.into()), &mut out).unwrap();
        assert_eq!(d.end_of_stream(&mut out), Ok(()));
        assert_eq!(out, vec![StreamEvent::Content("Hi".into()), StreamEvent::Done]);
    }

    #[test]
    fn think_tags_split_across_deltas() {
        let c =
            |s: &str| format!("{{\"choices\":[{{\"delta\":{{\"content\":{}}}}}]}}", serde_json::to_string(s).unwrap());
        let parts = ["<th", "ink>hmm", " ok</thi", "nk>Hi <b>", "there", "[DONE]"];
        let payloads: Vec<String> = parts.iter().map(|p| if *p == "[DONE]" { p.to_string() } else { c(p) }).collect();
        let out = decode(&payloads.iter().map(String::as_str).collect::<Vec<_>>());
        let content: String =
            out.iter().filter_map(|e| if let StreamEvent::Content(c) = e { Some(c.as_str()) } else { None }).collect();
        let reasoning: String = out
            .iter()
            .filter_map(|e| if let StreamEvent::Reasoning(c) = e { Some(c.as_str()) } else { None })
            .collect();
        assert_eq!(content, "Hi <b>there");
        assert_eq!(reasoning, "hmm ok");
    }
}
