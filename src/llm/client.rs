//! [`OpenAiClient`]: `POST {endpoint}/chat/completions` with `stream: true`, for any OpenAI-compatible server.
//!
//! Timeouts: `connect_timeout_s` covers connecting and getting the response headers (a server loading a model can
//! take long here); `idle_timeout_s` is the longest silence allowed between pieces of the stream. A request is
//! retried (with backoff, or after the server's `Retry-After`) only while nothing has been passed on yet: once the
//! first token is out, a retry would make the character repeat itself, so later failures are reported instead.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::error_message;
use super::sse::{ChunkDecoder, SseParser};
use super::{ChatModel, EventStream, LlmError, Message, StreamEvent};
use crate::config::LlmSettings;

/// The longest `Retry-After` honoured by waiting; a server asking for longer gets its error reported at once.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(20);

/// A streaming client for an OpenAI-compatible chat API. Cheap to clone.
#[derive(Clone)]
pub struct OpenAiClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    settings: LlmSettings,
    base: String,
    headers: HeaderMap,
}

/// Why the stream of one attempt stopped early: an error, or nobody is listening any more.
enum Stop {
    Error(LlmError),
    Gone,
}

impl From<LlmError> for Stop {
    fn from(e: LlmError) -> Stop {
        Stop::Error(e)
    }
}

impl OpenAiClient {
    /// Checks the endpoint and headers of `settings`; nothing is sent yet.
    pub fn new(settings: &LlmSettings) -> Result<OpenAiClient, LlmError> {
        let base = settings.endpoint.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| LlmError::BadEndpoint { endpoint: settings.endpoint.clone(), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(LlmError::BadEndpoint {
                endpoint: settings.endpoint.clone(),
                reason: format!("the scheme must be http or https, not {}", parsed.scheme()),
            });
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &settings.extra_headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| LlmError::BadSetting {
                key: format!("llm.extra_headers.\"{k}\""),
                reason: format!("not a valid header name ({e})"),
            })?;
            let value = HeaderValue::from_str(v).map_err(|e| LlmError::BadSetting {
                key: format!("llm.extra_headers.\"{k}\""),
                reason: format!("not a valid header value ({e})"),
            })?;
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(secs(settings.connect_timeout_s))
            .user_agent(concat!("persona/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::BadSetting { key: "llm".into(), reason: format!("HTTP client: {e}") })?;
        Ok(OpenAiClient { inner: Arc::new(Inner { http, settings: settings.clone(), base, headers }) })
    }

    /// `{endpoint}/chat/completions`.
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.inner.base)
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.inner.settings
    }

    /// The model names the server offers (`GET {endpoint}/models`), within `timeout`.
    pub async fn list_models(&self, timeout: Duration) -> Result<Vec<String>, LlmError> {
        let url = format!("{}/models", self.inner.base);
        let resp = tokio::time::timeout(timeout, self.request(self.inner.http.get(&url)).send())
            .await
            .map_err(|_| LlmError::ConnectTimeout { endpoint: self.inner.base.clone(), after: timeout })?
            .map_err(|e| self.send_error(e))?;
        let status = resp.status();
        let body = tokio::time::timeout(timeout, resp.text())
            .await
            .map_err(|_| LlmError::Stalled { after: timeout })?
            .map_err(|e| LlmError::Network { reason: chain(&e) })?;
        if !status.is_success() {
            return Err(self.status_error(&url, status.as_u16(), None, &body));
        }
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| LlmError::NotJson { line: body.clone(), reason: e.to_string() })?;
        let list = v.get("data").or_else(|| v.get("models")).and_then(|d| d.as_array()).cloned().unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|m| m.get("id").or_else(|| m.get("name")).or_else(|| m.get("model")))
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect())
    }

    fn request(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut req = req.headers(self.inner.headers.clone());
        if !self.inner.settings.api_key.is_empty() {
            req = req.bearer_auth(&self.inner.settings.api_key);
        }
        req
    }

    fn send_error(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::ConnectTimeout {
                endpoint: self.inner.base.clone(),
                after: secs(self.inner.settings.connect_timeout_s),
            }
        } else if e.is_connect() {
            LlmError::Connect { endpoint: self.inner.base.clone(), reason: chain(&e) }
        } else {
            LlmError::Network { reason: chain(&e) }
        }
    }

    fn status_error(&self, url: &str, status: u16, retry_after: Option<Duration>, body: &str) -> LlmError {
        let url = url.to_owned();
        let message = error_message(body);
        match status {
            401 | 403 => LlmError::Unauthorized { url, status, message },
            404 => LlmError::NotFound { url, model: self.inner.settings.model.clone(), message },
            429 => LlmError::RateLimited { url, retry_after, message },
            500..=599 => LlmError::Server { url, status, message },
            _ => LlmError::Rejected { url, status, message },
        }
    }

    /// The whole request with its retries; events go to `tx`.
    async fn run(
        self,
        messages: Vec<Message>,
        cancel: CancellationToken,
        tx: mpsc::Sender<Result<StreamEvent, LlmError>>,
    ) {
        let body = serde_json::json!({
            "model": self.inner.settings.model,
            "messages": messages,
            "stream": true,
            "temperature": self.inner.settings.temperature,
            "max_tokens": self.inner.settings.max_tokens,
        });
        let mut attempt = 0u32;
        let mut passed_on = false;
        loop {
            let result = tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(Stop::Error(LlmError::Cancelled)),
                r = self.attempt(&body, &tx, &mut passed_on) => r,
            };
            let error = match result {
                Ok(()) | Err(Stop::Gone) => return,
                Err(Stop::Error(e)) => e,
            };
            let wait = match &error {
                LlmError::RateLimited { retry_after: Some(d), .. } => *d,
                _ => Duration::from_millis(250 << attempt.min(6)),
            };
            let retry =
                !passed_on && error.is_retryable() && attempt < self.inner.settings.retries && wait <= MAX_RETRY_WAIT;
            if !retry {
                let _ = tx.send(Err(error)).await;
                return;
            }
            tracing::debug!("llm request failed ({error}); retrying in {} ms", wait.as_millis());
            attempt += 1;
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    let _ = tx.send(Err(LlmError::Cancelled)).await;
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn attempt(
        &self,
        body: &serde_json::Value,
        tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
        passed_on: &mut bool,
    ) -> Result<(), Stop> {
        let s = &self.inner.settings;
        let url = self.chat_url();
        let req = self.request(self.inner.http.post(&url)).json(body);
        let connect = secs(s.connect_timeout_s);
        let idle = secs(s.idle_timeout_s);
        let resp = tokio::time::timeout(connect, req.send())
            .await
            .map_err(|_| LlmError::ConnectTimeout { endpoint: self.inner.base.clone(), after: connect })?
            .map_err(|e| self.send_error(e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let text = tokio::time::timeout(idle, resp.text()).await.ok().and_then(Result::ok).unwrap_or_default();
            return Err(self.status_error(&url, status.as_u16(), retry_after, &text).into());
        }
        let is_json = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut decoder = ChunkDecoder::new();
        let mut events = Vec::new();
        if is_json {
            // A server that ignored `stream: true`: one whole completion.
            let text = tokio::time::timeout(idle, resp.text())
                .await
                .map_err(|_| LlmError::Stalled { after: idle })?
                .map_err(|e| LlmError::Network { reason: chain(&e) })?;
            decoder.whole(&text, &mut events)?;
            return forward(tx, events, passed_on).await;
        }
        let mut parser = SseParser::new();
        let mut stream = resp.bytes_stream();
        loop {
            let next =
                tokio::time::timeout(idle, stream.next()).await.map_err(|_| LlmError::Stalled { after: idle })?;
            let ended = next.is_none();
            let sse = match next {
                Some(Ok(bytes)) => parser.push(&bytes),
                Some(Err(e)) if decoder.is_done() => {
                    tracing::debug!("llm stream error after [DONE] ignored: {e}");
                    return Ok(());
                }
                Some(Err(e)) => return Err(LlmError::Network { reason: chain(&e) }.into()),
                None => parser.finish(),
            };
            // A bad event ends the stream, but what came before it in the same network chunk is still passed on:
            // those words were really sent and may already be on their way to the voice.
            let mut bad = Ok(());
            for event in sse {
                if let Err(e) = decoder.event(event, &mut events) {
                    bad = Err(e);
                    break;
                }
                if decoder.is_done() {
                    break;
                }
            }
            if bad.is_err() {
                forward(tx, std::mem::take(&mut events), passed_on).await?;
                bad?;
            }
            let end = if ended { decoder.end_of_stream(&mut events) } else { Ok(()) };
            forward(tx, std::mem::take(&mut events), passed_on).await?;
            end?;
            if decoder.is_done() {
                return Ok(());
            }
        }
    }
}

async fn forward(
    tx: &mpsc::Sender<Result<StreamEvent, LlmError>>,
    events: Vec<StreamEvent>,
    passed_on: &mut bool,
) -> Result<(), Stop> {
    for e in events {
        if matches!(e, StreamEvent::Content(_) | StreamEvent::Reasoning(_)) {
            *passed_on = true;
        }
        tx.send(Ok(e)).await.map_err(|_| Stop::Gone)?;
    }
    Ok(())
}

impl ChatModel for OpenAiClient {
    fn chat(&self, messages: Vec<Message>, cancel: CancellationToken) -> EventStream {
        let (tx, mut rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(this.run(messages, cancel, tx));
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}

fn secs(s: f32) -> Duration {
    Duration::from_secs_f32(if s.is_finite() && s > 0.0 { s } else { 0.001 })
}

/// The innermost cause of a transport error, which is the one that says what happened ("Connection refused").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        last = s.to_string();
        cur = s.source();
    }
    if let Some(io) = find_io(e) {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
            std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
            _ => {}
        }
    }
    last
}

fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(x) = cur {
        if let Some(io) = x.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = x.source();
    }
    None
}
