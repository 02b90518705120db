//! [`ScriptServer`]: a real OpenAI-compatible HTTP server on `127.0.0.1`, answering with scripted replies.
//!
//! It speaks HTTP/1.1 over a real socket (hand-written: one request per connection, `Connection: close`), serves
//! `GET …/models` and `POST …/chat/completions`, and streams replies the way OpenAI, Ollama or llama.cpp do
//! (role-only first deltas, a usage chunk, `reasoning_content` / `reasoning` / `<think>`), cut into network writes
//! in awkward places (inside an event, inside a multi-byte character), with a configurable time to first token and
//! between tokens. Every fault a client must survive can be scripted: HTTP statuses (401, 404, 429 with
//! Retry-After, 5xx), a stall, a close without `[DONE]`, a line that is not JSON, an error inside the stream, a
//! dropped connection.
//!
//! Replies are chosen per request: a rule matching the last user message wins, else the next reply of the queue,
//! else the default reply. Every request is recorded for tests to inspect. Tests, `persona bench` and end-to-end
//! conversation tests use it to run the app against fixed replies without a model.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which server's stream to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// OpenAI: a role-only first delta with empty content, `finish_reason` chunk, optional usage chunk with empty
    /// `choices`; reasoning as `reasoning_content` (DeepSeek style).
    OpenAi,
    /// Ollama's `/v1`: role in every delta, reasoning as `reasoning`.
    Ollama,
    /// llama.cpp server: a first delta with `content: null`, `reasoning_content`, usage and timings in the last
    /// chunk.
    LlamaCpp,
}

/// How the stream is cut into socket writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One write per event.
    Event,
    /// Writes of this many bytes, whatever they cut.
    Bytes(usize),
    /// Every write ends inside an event (inside a multi-byte character where there is one) and carries the start
    /// of the next.
    Awkward,
}

/// Something going wrong on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and JSON error body (and `Retry-After: secs` when given).
    Status { code: u16, message: String, retry_after: Option<u32> },
    /// Send this many content pieces, then nothing more, keeping the connection open.
    StallAfter(usize),
    /// Send this many content pieces, then close without `[DONE]`.
    CloseAfter(usize),
    /// Send this many content pieces, then a `data:` line that is not JSON.
    NotJsonAfter(usize),
    /// Send this many content pieces, then an `{"error": ...}` event.
    ErrorAfter(usize, String),
    /// Close the connection without answering.
    Drop,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedReply {
    /// The content deltas, in order.
    pub pieces: Vec<String>,
    /// Reasoning deltas sent before the content.
    pub reasoning: Vec<String>,
    /// Send the reasoning inside the content as `<think>...</think>` instead of in its own field.
    pub think_tags: bool,
    pub format: StreamFormat,
    pub split: Split,
    /// Wait after the response headers before the first event.
    pub first_token_delay: Duration,
    /// Wait between writes.
    pub token_delay: Duration,
    pub usage: bool,
    /// SSE comments (keep-alives) between events.
    pub keep_alives: bool,
    /// Lines end in `\r\n`.
    pub crlf: bool,
    /// Answer with one JSON completion, as a server that ignores `stream: true` does.
    pub whole: bool,
    pub fault: Option<Fault>,
}

impl ScriptedReply {
    /// A reply with `text` cut into word-like tokens (a leading space on each word; long words split in two, so
    /// tags like `[EMOTION:😊]` arrive in pieces).
    pub fn text(text: &str) -> ScriptedReply {
        ScriptedReply::pieces(tokens(text))
    }

    /// A reply with exactly these content deltas.
    pub fn pieces<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> ScriptedReply {
        ScriptedReply {
            pieces: pieces.into_iter().map(Into::into).collect(),
            reasoning: Vec::new(),
            think_tags: false,
            format: StreamFormat::OpenAi,
            split: Split::Event,
            first_token_delay: Duration::ZERO,
            token_delay: Duration::ZERO,
            usage: true,
            keep_alives: false,
            crlf: false,
            whole: false,
            fault: None,
        }
    }

    /// An HTTP error answer.
    pub fn status(code: u16, message: &str) -> ScriptedReply {
        ScriptedReply::text("").fault(Fault::Status { code, message: message.into(), retry_after: None })
    }

    pub fn format(mut self, f: StreamFormat) -> Self {
        self.format = f;
        self
    }
    pub fn split(mut self, s: Split) -> Self {
        self.split = s;
        self
    }
    pub fn first_token_after(mut self, d: Duration) -> Self {
        self.first_token_delay = d;
        self
    }
    pub fn token_delay(mut self, d: Duration) -> Self {
        self.token_delay = d;
        self
    }
    pub fn reasoning(mut self, text: &str) -> Self {
        self.reasoning = tokens(text);
        self
    }
    pub fn think_tags(mut self) -> Self {
        self.think_tags = true;
        self
    }
    pub fn keep_alives(mut self) -> Self {
        self.keep_alives = true;
        self
    }
    pub fn crlf(mut self) -> Self {
        self.crlf = true;
        self
    }
    pub fn whole(mut self) -> Self {
        self.whole = true;
        self
    }
    pub fn fault(mut self, f: Fault) -> Self {
        self.fault = Some(f);
        self
    }
}

/// Word-like tokens: each word with its leading space; words over 5 chars split in two.
pub fn tokens(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in text.chars() {
        match words.last_mut() {
            // a space starts a new word, unless the word so far is only spaces
            Some(w) if c != ' ' || w.trim().is_empty() => w.push(c),
            _ => words.push(c.to_string()),
        }
    }
    let mut out = Vec::new();
    for w in words {
        let cs: Vec<char> = w.chars().collect();
        if cs.len() > 5 {
            let mid = cs.len() / 2;
            out.push(cs[..mid].iter().collect());
            out.push(cs[mid..].iter().collect());
        } else {
            out.push(w);
        }
    }
    out
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: serde_json::Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `content` of the request's messages, in order.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body
            .get("messages")
            .and_then(|m| m.as_array())
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let s = |k: &str| m.get(k).and_then(|x| x.as_str()).unwrap_or_default().to_owned();
                        (s("role"), s("content"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last user message.
    pub fn last_user(&self) -> Option<String> {
        self.messages().into_iter().rev().find(|(r, _)| r == "user").map(|(_, c)| c)
    }
}

#[derive(Debug)]
struct State {
    queue: VecDeque<ScriptedReply>,
    rules: Vec<(String, ScriptedReply)>,
    default: ScriptedReply,
    model: Option<String>,
    api_key: Option<String>,
    received: Vec<Received>,
    first_bytes: Vec<Instant>,
}

/// The running server; it stops when dropped.
pub struct ScriptServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ScriptServer {
    /// Starts a server on `127.0.0.1:0` (its own thread and runtime, so it works from sync and async code alike).
    /// It answers every request with `default` until told otherwise.
    pub fn start(default: ScriptedReply) -> io::Result<ScriptServer> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(Mutex::new(State {
            queue: VecDeque::new(),
            rules: Vec::new(),
            default,
            model: None,
            api_key: None,
            received: Vec::new(),
            first_bytes: Vec::new(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::Builder::new().name("script-server".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("script server: no runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("script server: {e}");
                        return;
                    }
                };
                let accept = async {
                    loop {
                        if let Ok((sock, _)) = listener.accept().await {
                            let state = shared.clone();
                            tokio::spawn(async move {
                                let _ = serve(sock, state).await;
                            });
                        }
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime ends every connection still open (a stalled stream, say).
            drop(rt);
        })?;
        Ok(ScriptServer { addr, state, stop: Some(stop), thread: Some(thread) })
    }

    /// Starts a server that answers with `replies` in order, then with the last one again.
    pub fn with_replies(replies: Vec<ScriptedReply>) -> io::Result<ScriptServer> {
        let default = replies.last().cloned().unwrap_or_else(|| ScriptedReply::text("Hello!"));
        let server = ScriptServer::start(default)?;
        for r in replies {
            server.push_reply(r);
        }
        Ok(server)
    }

    /// The API base URL to put in `llm.endpoint`: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a reply for the next request no rule matches.
    pub fn push_reply(&self, reply: ScriptedReply) {
        self.lock().queue.push_back(reply);
    }

    /// Answers `reply` whenever the last user message contains `text` (ignoring case).
    pub fn when(&self, text: &str, reply: ScriptedReply) {
        self.lock().rules.push((text.to_lowercase(), reply));
    }

    pub fn set_default(&self, reply: ScriptedReply) {
        self.lock().default = reply;
    }

    /// Only this model exists: requests for another get 404 (as Ollama answers), and `/models` lists it.
    pub fn set_model(&self, name: &str) {
        self.lock().model = Some(name.to_owned());
    }

    /// Requests without `Authorization: Bearer KEY` get 401.
    pub fn set_api_key(&self, key: &str) {
        self.lock().api_key = Some(key.to_owned());
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Chat requests received so far.
    pub fn chat_requests(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.path.ends_with("/chat/completions")).collect()
    }

    /// For each streamed reply, when its first body byte went to the socket.
    pub fn first_bytes(&self) -> Vec<Instant> {
        self.lock().first_bytes.clone()
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn read_request(sock: &mut TcpStream) -> io::Result<Option<Received>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 1 << 20 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned())).collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Ok(Some(Received { method, path, headers, body }))
}

async fn respond(sock: &mut TcpStream, code: u16, extra: &str, body: &str) -> io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await
}

fn error_body(message: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": "error"}}).to_string()
}

async fn serve(mut sock: TcpStream, state: Arc<Mutex<State>>) -> io::Result<()> {
    sock.set_nodelay(true)?;
    let Some(req) = read_request(&mut sock).await? else { return Ok(()) };
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let (model, key) = {
        let mut s = lock();
        s.received.push(req.clone());
        (s.model.clone(), s.api_key.clone())
    };
    if let Some(key) = key
        && req.header("authorization") != Some(&format!("Bearer {key}"))
    {
        return respond(&mut sock, 401, "", &error_body("Incorrect API key provided")).await;
    }
    let name = model.clone().unwrap_or_else(|| "scripted".into());
    if req.method == "GET" && req.path.ends_with("/models") {
        let body =
            serde_json::json!({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "persona"}]});
        return respond(&mut sock, 200, "", &body.to_string()).await;
    }
    if !(req.method == "POST" && req.path.ends_with("/chat/completions")) {
        return respond(&mut sock, 404, "", &error_body(&format!("no route for {} {}", req.method, req.path))).await;
    }
    let asked = req.body.get("model").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    if model.is_some() && asked != name {
        return respond(&mut sock, 404, "", &error_body(&format!("model \"{asked}\" not found, try pulling it first")))
            .await;
    }
    let reply = {
        let mut s = lock();
        let last = req.last_user().unwrap_or_default().to_lowercase();
        match s.rules.iter().find(|(k, _)| last.contains(k.as_str())) {
            Some((_, r)) => r.clone(),
            None => match s.queue.pop_front() {
                Some(r) => r,
                None => s.default.clone(),
            },
        }
    };
    match &reply.fault {
        Some(Fault::Status { code, message, retry_after }) => {
            let extra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
            return respond(&mut sock, *code, &extra, &error_body(message)).await;
        }
        Some(Fault::Drop) => return Ok(()),
        _ => {}
    }
    if reply.whole {
        let content = reply.pieces.concat();
        let body = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": reply.pieces.len()}
        });
        tokio::time::sleep(reply.first_token_delay).await;
        return respond(&mut sock, 200, "", &body.to_string()).await;
    }
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    let (events, after) = events(&reply, &name);
    tokio::time::sleep(reply.first_token_delay).await;
    lock().first_bytes.push(Instant::now());
    write_events(&mut sock, &events, reply.split, reply.token_delay).await?;
    match after {
        After::Close => sock.shutdown().await,
        After::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
    }
}

enum After {
    Close,
    Stall,
}

/// The events of a streamed reply, as bytes, and what to do after them.
fn events(reply: &ScriptedReply, model: &str) -> (Vec<Vec<u8>>, After) {
    let nl = if reply.crlf { "\r\n" } else { "\n" };
    let data = |v: serde_json::Value| format!("data: {v}{nl}{nl}").into_bytes();
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({
            "id": "chatcmpl-script", "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        })
    };
    let role = |mut d: serde_json::Value| {
        if reply.format == StreamFormat::Ollama {
            d["role"] = "assistant".into();
        }
        d
    };
    let mut out = Vec::new();
    match reply.format {
        StreamFormat::OpenAi => out.push(data(chunk(serde_json::json!({"role": "assistant", "content": ""}), None))),
        StreamFormat::LlamaCpp => {
            out.push(data(chunk(serde_json::json!({"role": "assistant", "content": null}), None)))
        }
        StreamFormat::Ollama => {}
    }
    if reply.keep_alives {
        out.push(format!(": keep-alive{nl}{nl}").into_bytes());
    }
    let field = if reply.format == StreamFormat::Ollama { "reasoning" } else { "reasoning_content" };
    let mut content: Vec<String> = Vec::new();
    if reply.think_tags && !reply.reasoning.is_empty() {
        content.push("<think>".into());
        content.extend(reply.reasoning.iter().cloned());
        content.push("</think>".into());
    } else {
        for r in &reply.reasoning {
            out.push(data(chunk(role(serde_json::json!({ field: r })), None)));
        }
    }
    content.extend(reply.pieces.iter().cloned());
    let limit = match &reply.fault {
        Some(Fault::StallAfter(n) | Fault::CloseAfter(n) | Fault::NotJsonAfter(n) | Fault::ErrorAfter(n, _)) => *n,
        _ => usize::MAX,
    };
    for (i, piece) in content.iter().enumerate() {
        if i == limit {
            break;
        }
        out.push(data(chunk(role(serde_json::json!({"content": piece})), None)));
        if reply.keep_alives && i % 3 == 2 {
            out.push(format!(": ping{nl}{nl}").into_bytes());
        }
    }
    match &reply.fault {
        Some(Fault::StallAfter(_)) => return (out, After::Stall),
        Some(Fault::CloseAfter(_)) => return (out, After::Close),
        Some(Fault::NotJsonAfter(_)) => {
            out.push(format!("data: {{\"choices\": [{{\"delta\": <html>{nl}{nl}").into_bytes());
            return (out, After::Close);
        }
        Some(Fault::ErrorAfter(_, m)) => {
            out.push(data(serde_json::json!({"error": {"message": m, "type": "server_error"}})));
            return (out, After::Close);
        }
        _ => {}
    }
    let usage = serde_json::json!({"prompt_tokens": 12, "completion_tokens": content.len(), "total_tokens": 12 + content.len()});
    let mut last = chunk(role(serde_json::json!({})), Some("stop"));
    if reply.format == StreamFormat::LlamaCpp && reply.usage {
        last["usage"] = usage.clone();
        last["timings"] = serde_json::json!({"prompt_n": 12, "predicted_n": content.len()});
    }
    out.push(data(last));
    if reply.format != StreamFormat::LlamaCpp && reply.usage {
        let mut u = chunk(serde_json::json!({}), None);
        u["choices"] = serde_json::json!([]);
        u["usage"] = usage;
        out.push(data(u));
    }
    out.push(format!("data: [DONE]{nl}{nl}").into_bytes());
    (out, After::Close)
}

async fn write_events(sock: &mut TcpStream, events: &[Vec<u8>], split: Split, delay: Duration) -> io::Result<()> {
    let writes: Vec<Vec<u8>> = match split {
        Split::Event => events.to_vec(),
        Split::Bytes(n) => events.concat().chunks(n.max(1)).map(<[u8]>::to_vec).collect(),
        Split::Awkward => {
            let all = events.concat();
            let mut cuts = Vec::new();
            let mut pos = 0;
            for e in events {
                // inside the first multi-byte character, else in the middle
                let cut = e.iter().position(|b| *b >= 0xC0).map(|p| p + 1).unwrap_or(e.len() / 2).max(1);
                cuts.push(pos + cut);
                pos += e.len();
            }
            cuts.push(all.len());
            let mut from = 0;
            cuts.into_iter()
                .filter_map(|c| {
                    let piece = (c > from).then(|| all[from..c].to_vec());
                    from = from.max(c);
                    piece
                })
                .collect()
        }
    };
    for w in writes {
        sock.write_all(&w).await?;
        sock.flush().await?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    Ok(())
}
