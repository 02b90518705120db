//! Thinking, end to end: the streaming client against a real HTTP server on loopback (the library's
//! `ScriptServer`), replaying the OpenAI, Ollama and llama.cpp stream formats cut in awkward places, every fault,
//! the reply processor on its output, and `persona chat` as a real child process that is killed mid-reply.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use persona::character::Character;
use persona::config::{ConversationSettings, LlmSettings, paths_bundled_dir};
use persona::llm::reply::ReplyOptions;
use persona::llm::script::Split;
use persona::llm::{
    ChatModel, Fault, History, LlmError, Message, OpenAiClient, Prompt, ReplyEvent, ReplyProcessor, ScriptServer,
    ScriptedReply, StreamEvent, StreamFormat, TranscriptLog,
};
use tokio_util::sync::CancellationToken;

fn settings(server: &ScriptServer) -> LlmSettings {
    LlmSettings {
        endpoint: server.url(),
        model: "scripted".into(),
        retries: 0,
        idle_timeout_s: 2.0,
        connect_timeout_s: 2.0,
        ..LlmSettings::default()
    }
}

/// What one request yields: content, reasoning, whether usage came, and the error if it failed.
#[derive(Debug, Default)]
struct Outcome {
    content: String,
    reasoning: String,
    usage: bool,
    done: bool,
    error: Option<LlmError>,
}

async fn ask(client: &OpenAiClient, text: &str) -> Outcome {
    let mut out = Outcome::default();
    let mut stream = client.chat(vec![Message::system("be brief"), Message::user(text)], CancellationToken::new());
    while let Some(e) = stream.next().await {
        assert!(!out.done, "nothing may follow Done");
        match e {
            Ok(StreamEvent::Content(c)) => out.content.push_str(&c),
            Ok(StreamEvent::Reasoning(r)) => out.reasoning.push_str(&r),
            Ok(StreamEvent::Usage(u)) => out.usage = u.completion_tokens > 0,
            Ok(StreamEvent::Done) => out.done = true,
            Err(e) => out.error = Some(e),
        }
    }
    out
}

const TEXT: &str = "[EMOTION:😊] Héllo, wörld! 日本語 is fun… It costs $3.50 at 3:30 PM.";

#[tokio::test]
async fn every_stream_format_cut_anywhere_gives_the_same_reply() {
    let server = ScriptServer::start(ScriptedReply::text("unused")).unwrap();
    let client = OpenAiClient::new(&settings(&server)).unwrap();
    for format in [StreamFormat::OpenAi, StreamFormat::Ollama, StreamFormat::LlamaCpp] {
        for split in [Split::Event, Split::Awkward, Split::Bytes(1), Split::Bytes(7)] {
            for variant in 0..4 {
                let mut r = ScriptedReply::text(TEXT).format(format).split(split).reasoning("Let me think.");
                match variant {
                    1 => r = r.think_tags(),
                    2 => r = r.keep_alives().crlf(),
                    // Writes spaced in time, so they arrive as separate reads.
                    3 if !matches!(split, Split::Bytes(_)) => r = r.token_delay(Duration::from_millis(1)),
                    _ => {}
                }
                server.push_reply(r);
                let out = ask(&client, "hi").await;
                let what = format!("{format:?} {split:?} variant {variant}");
                assert!(out.error.is_none(), "{what}: {:?}", out.error);
                assert_eq!(out.content, TEXT, "{what}");
                assert_eq!(out.reasoning, "Let me think.", "{what}: reasoning kept apart");
                assert!(out.usage && out.done, "{what}: usage and done");
            }
        }
    }
    // A server that ignores `stream: true` and answers with one JSON completion.
    server.push_reply(ScriptedReply::text("Whole <think>hidden</think>reply.").whole());
    let out = ask(&client, "hi").await;
    assert_eq!((out.content.as_str(), out.reasoning.as_str(), out.done), ("Whole reply.", "hidden", true));
}

#[tokio::test]
async fn every_fault_gives_its_error_and_the_next_turn_works() {
    let server = ScriptServer::start(ScriptedReply::text("Fine again.")).unwrap();
    let mut s = settings(&server);
    s.idle_timeout_s = 0.5;
    let client = OpenAiClient::new(&s).unwrap();
    let status = |code, retry_after| {
        ScriptedReply::text("").fault(Fault::Status { code, message: format!("scripted {code}"), retry_after })
    };
    type Case = (ScriptedReply, &'static str, fn(&LlmError) -> bool);
    let cases: Vec<Case> = vec![
        (status(401, None), "llm.api_key", |e| matches!(e, LlmError::Unauthorized { .. })),
        (status(404, None), "llm.model (\"scripted\")", |e| matches!(e, LlmError::NotFound { .. })),
        (status(429, Some(7)), "wait 7 s", |e| matches!(e, LlmError::RateLimited { .. })),
        (status(503, None), "scripted 503", |e| matches!(e, LlmError::Server { status: 503, .. })),
        (status(400, None), "rejected", |e| matches!(e, LlmError::Rejected { .. })),
        (ScriptedReply::text("Hello there friend").fault(Fault::StallAfter(2)), "stalled", |e| {
            matches!(e, LlmError::Stalled { .. })
        }),
        (ScriptedReply::text("Hello there friend").fault(Fault::CloseAfter(2)), "[DONE]", |e| {
            matches!(e, LlmError::Truncated)
        }),
        (ScriptedReply::text("Hello there").fault(Fault::NotJsonAfter(1)), "not JSON", |e| {
            matches!(e, LlmError::NotJson { .. })
        }),
        (ScriptedReply::text("Hello").fault(Fault::ErrorAfter(1, "out of memory".into())), "out of memory", |e| {
            matches!(e, LlmError::StreamError { .. })
        }),
        (ScriptedReply::text("x").fault(Fault::Drop), "try again", |e| {
            matches!(e, LlmError::Network { .. } | LlmError::Connect { .. })
        }),
    ];
    for (reply, words, is_kind) in cases {
        let label = format!("{:?}", reply.fault);
        server.push_reply(reply);
        let out = ask(&client, "hi").await;
        let e = out.error.unwrap_or_else(|| panic!("{label}: no error"));
        assert!(is_kind(&e), "{label}: got {e:?}");
        assert!(e.to_string().contains(words), "{label}: \"{e}\" should say {words:?}");
        let next = ask(&client, "again").await;
        assert_eq!((next.content.as_str(), next.error), ("Fine again.", None), "{label}: next turn");
    }
    // Connection refused: a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused =
        OpenAiClient::new(&LlmSettings { endpoint: format!("http://127.0.0.1:{port}/v1"), retries: 0, ..s.clone() })
            .unwrap();
    let e = ask(&refused, "hi").await.error.unwrap();
    assert!(matches!(e, LlmError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("connection refused") && e.to_string().contains("Start your LLM server"), "{e}");
    // Bad settings are caught before anything is sent.
    let e = OpenAiClient::new(&LlmSettings { endpoint: "localhost:11434".into(), ..s.clone() }).err().unwrap();
    assert!(e.to_string().contains("http://127.0.0.1:11434/v1"), "{e}");
}

#[tokio::test]
async fn retries_happen_only_before_the_first_token_and_honour_retry_after() {
    let server = ScriptServer::start(ScriptedReply::text("Made it.")).unwrap();
    let client = OpenAiClient::new(&LlmSettings { retries: 2, ..settings(&server) }).unwrap();
    server.push_reply(ScriptedReply::status(503, "loading model"));
    server.push_reply(ScriptedReply::text("").fault(Fault::Status {
        code: 429,
        message: "slow down".into(),
        retry_after: Some(1),
    }));
    let started = Instant::now();
    let out = ask(&client, "hi").await;
    assert_eq!((out.content.as_str(), out.error), ("Made it.", None));
    assert_eq!(server.chat_requests().len(), 3, "two retries");
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");

    // Cut off after two tokens: retrying would repeat words already spoken, so the error is reported.
    server.push_reply(ScriptedReply::text("Hello there my friend").fault(Fault::CloseAfter(2)));
    let out = ask(&client, "again").await;
    assert_eq!(out.content, "Hello th");
    assert!(matches!(out.error, Some(LlmError::Truncated)), "{:?}", out.error);
    assert_eq!(server.chat_requests().len(), 4, "no retry after the first token");
}

#[tokio::test]
async fn cancelling_stops_the_reply_at_once() {
    let long = "word ".repeat(500);
    let server = ScriptServer::start(ScriptedReply::text(&long).token_delay(Duration::from_millis(20))).unwrap();
    let client = OpenAiClient::new(&settings(&server)).unwrap();
    let cancel = CancellationToken::new();
    let mut stream = client.chat(vec![Message::user("talk")], cancel.clone());
    let mut got = 0;
    while let Some(e) = stream.next().await {
        match e {
            Ok(StreamEvent::Content(_)) => {
                got += 1;
                if got == 3 {
                    cancel.cancel();
                }
            }
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e, LlmError::Cancelled);
                break;
            }
        }
    }
    assert!(got < 10, "the stream stopped right after cancelling ({got} pieces)");
    assert!(stream.next().await.is_none(), "nothing after Cancelled");
}

#[tokio::test]
async fn key_model_and_headers_reach_the_server() {
    let server = ScriptServer::start(ScriptedReply::text("Hi.")).unwrap();
    server.set_model("smol");
    server.set_api_key("sekrit");
    let mut s = settings(&server);
    s.extra_headers.insert("X-Title".into(), "Persona".into());
    s.api_key = "wrong".into();
    let e = ask(&OpenAiClient::new(&s).unwrap(), "hi").await.error.unwrap();
    assert!(matches!(e, LlmError::Unauthorized { status: 401, .. }), "{e:?}");
    assert!(!e.to_string().contains("wrong"), "the key is never shown: {e}");
    s.api_key = "sekrit".into();
    let e = ask(&OpenAiClient::new(&s).unwrap(), "hi").await.error.unwrap();
    assert!(e.to_string().contains("model \\\"scripted\\\" not found") || e.to_string().contains("not found"), "{e}");
    s.model = "smol".into();
    let client = OpenAiClient::new(&s).unwrap();
    assert_eq!(client.list_models(Duration::from_secs(2)).await.unwrap(), vec!["smol".to_string()]);
    assert_eq!(ask(&client, "hi").await.content, "Hi.");
    let req = server.chat_requests().pop().unwrap();
    assert_eq!(req.header("x-title"), Some("Persona"));
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["max_tokens"], 512);
    assert_eq!(req.messages(), vec![("system".into(), "be brief".into()), ("user".into(), "hi".into())]);
}

fn mira() -> Character {
    Character::load(&paths_bundled_dir("personas").join("mira")).unwrap()
}

#[tokio::test]
async fn streamed_reply_becomes_early_speech_chunks_with_emotions() {
    let reply = "[Mira] [EMOTION:😲] Wait, octopuses really have 3 hearts? [EMOTION:😊] That's wild. \
                 Dr. Lee said so, e.g. in 2019... I'd pay $5 to see one!";
    let server = ScriptServer::start(ScriptedReply::text(reply).split(Split::Awkward)).unwrap();
    let client = OpenAiClient::new(&settings(&server)).unwrap();
    let mut stream = client.chat(vec![Message::user("hi")], CancellationToken::new());
    let mut p = ReplyProcessor::new(ReplyOptions::for_character(&mira(), "Sam"));
    let mut chunks = Vec::new();
    let mut deltas_after_first_chunk = 0;
    while let Some(Ok(e)) = stream.next().await {
        if let StreamEvent::Content(c) = e {
            if !chunks.is_empty() {
                deltas_after_first_chunk += 1;
            }
            for ev in p.push(&c) {
                if let ReplyEvent::Chunk(ch) = ev {
                    chunks.push(ch);
                }
            }
        }
    }
    for ev in p.finish() {
        if let ReplyEvent::Chunk(ch) = ev {
            chunks.push(ch);
        }
    }
    assert!(deltas_after_first_chunk > 10, "the first piece was released while the reply was still streaming");
    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "Wait, octopuses really have three hearts?",
            "That's wild.",
            "Doctor Lee said so, for example in twenty nineteen... I'd pay five dollars to see one!",
        ]
    );
    assert_eq!(chunks[0].emotions, vec![(0, "😲".to_string())]);
    assert_eq!(chunks[1].emotions, vec![(0, "😊".to_string())]);
    assert_eq!(chunks[2].display_text, "Dr. Lee said so, e.g. in 2019... I'd pay $5 to see one!");
    assert_eq!(
        p.display_text(),
        "Wait, octopuses really have 3 hearts? That's wild. Dr. Lee said so, e.g. in 2019... I'd pay $5 to see one!"
    );

    // Playback stopped 20 spoken characters into the third piece: history keeps what was heard.
    let heard = chunks[2].reply_offset_at(20);
    let mut history = History::new();
    history.push_user("tell me about octopuses");
    let kept = history.push_interrupted(p.display_text(), heard).unwrap().clone();
    assert!(kept.interrupted);
    assert!(kept.text.starts_with("Wait, octopuses") && kept.text.ends_with("Dr. Lee said"), "{}", kept.text);
}

#[test]
fn prompt_has_personality_context_and_trimmed_history() {
    let conv = ConversationSettings {
        user_name: "Sam".into(),
        topics: vec!["octopuses".into(), "tea".into()],
        vibe: "cosy rainy evening".into(),
        ..ConversationSettings::default()
    };
    let llm = LlmSettings { history_turns: 4, ..LlmSettings::default() };
    let prompt = Prompt::new(&mira(), &llm, &conv, "Sunday 20:00");
    let mut h = History::new();
    for i in 0..6 {
        h.push_user(&format!("question {i}"));
        h.push_character(&format!("answer {i}"));
    }
    let m = prompt.messages(&h, "and now?");
    assert!(m[0].content.starts_with("You are Mira,") && m[0].content.contains("talks with Sam"));
    assert!(m[0].content.contains("Current topics: octopuses, tea.") && m[0].content.contains("cosy rainy evening"));
    let rest: Vec<&str> = m[1..].iter().map(|m| m.content.as_str()).collect();
    assert_eq!(rest, vec!["question 4", "answer 4", "question 5", "answer 5", "and now?"]);
}

/// `persona chat` as a user runs it: history persists between runs, and a kill mid-reply leaves a log that keeps
/// every completed message and stays readable.
#[test]
fn chat_persists_history_and_survives_a_kill_mid_reply() {
    let server = ScriptServer::start(ScriptedReply::text("Okay.")).unwrap();
    // Rules match the last user message in order; after the kill it holds "tell me a story\nare you there".
    server.when("are you there", ScriptedReply::text("Okay."));
    server.when("first", ScriptedReply::text("Nice to meet you! [EMOTION:😊] I'm Mira."));
    server.when("second", ScriptedReply::text("Still here."));
    server.when(
        "story",
        ScriptedReply::text("Once upon a time, there was a very long story that never ended")
            .fault(Fault::StallAfter(5)),
    );
    let home = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_persona"));
        c.args(["--config", home.path().join("settings.toml").to_str().unwrap(), "chat", "--once", text])
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("PERSONA_LLM_URL", server.url())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let out = run("first").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Mira: Nice to meet you! [😊 happy] I'm Mira."), "{stdout}");

    let out = run("second").output().unwrap();
    assert!(out.status.success());
    let sent = server.chat_requests().pop().unwrap().messages();
    let contents: Vec<&str> = sent[1..].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(contents, vec!["first", "Nice to meet you! I'm Mira.", "second"], "history came back from the log");

    // Kill the chat while the reply is streaming.
    let mut child = run("tell me a story").spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("upon a") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the chat ended before the reply streamed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let log = home.path().join("data/persona/logs/mira.jsonl");
    let loaded = TranscriptLog::read(&log).unwrap();
    let lines: Vec<(String, &str)> =
        loaded.records.iter().map(|r| (format!("{:?}", r.speaker), r.text.as_str())).collect();
    assert_eq!(loaded.skipped, 0);
    assert_eq!(
        lines,
        vec![
            ("User".into(), "first"),
            ("Character".into(), "Nice to meet you! I'm Mira."),
            ("User".into(), "second"),
            ("Character".into(), "Still here."),
            ("User".into(), "tell me a story"),
        ]
    );
    assert_eq!(loaded.records[1].emotions, vec!["😊".to_string()]);

    // A crash in the middle of writing a record leaves a torn line; the next run still works and resumes.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, br#"{"time_ms":5,"speaker":"charac"#))
        .unwrap();
    let out = run("are you there").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sent = server.chat_requests().pop().unwrap().messages();
    assert_eq!(sent.last().unwrap().1, "tell me a story\nare you there", "the unanswered message is kept");
    let loaded = TranscriptLog::read(&log).unwrap();
    assert_eq!((loaded.records.len(), loaded.skipped), (7, 1));
    assert_eq!(loaded.records[6].text, "Okay.");
}

#[test]
fn probe_reports_endpoint_model_and_reply() {
    let server = ScriptServer::start(ScriptedReply::text("Hello there!")).unwrap();
    server.set_model("smol");
    let dir = tempfile::tempdir().unwrap();
    let probe = |model: &str| {
        let cfg = dir.path().join(format!("{model}.toml"));
        std::fs::write(&cfg, format!("[llm]\nendpoint = \"{}\"\nmodel = \"{model}\"\n", server.url())).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_persona"))
            .args(["--config", cfg.to_str().unwrap(), "llm", "probe"])
            .env_remove("PERSONA_LLM_URL")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (ok, text) = probe("smol");
    assert!(ok, "{text}");
    assert!(text.contains("\"smol\" is available") && text.contains("\"Hello there!\""), "{text}");
    let (ok, text) = probe("nope");
    assert!(!ok, "{text}");
    assert!(text.contains("not in the list: smol") && text.contains("404"), "{text}");
}

#[test]
fn interactive_chat_greets_and_answers_each_line() {
    let server = ScriptServer::with_replies(vec![
        ScriptedReply::text("[EMOTION:🤔] Hmm, tea or coffee? Tea."),
        ScriptedReply::text("[Mira]: Bye for now!"),
    ])
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["--config", home.path().join("s.toml").to_str().unwrap(), "chat"])
        .env("XDG_DATA_HOME", home.path())
        .env("PERSONA_LLM_URL", server.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"what do you drink?\n\nok bye\n/quit\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Mira: Hi! I'm Mira. What's on your mind?"), "greeting: {stdout}");
    assert!(stdout.contains("Mira: [🤔 thinking] Hmm, tea or coffee? Tea."), "{stdout}");
    assert!(stdout.contains("Mira: Bye for now!"), "the [Mira]: prefix is not shown: {stdout}");
    let second = server.chat_requests()[1].messages();
    assert!(second[0].1.ends_with("You opened the conversation by saying: \"Hi! I'm Mira. What's on your mind?\""));
    let rest: Vec<&str> = second[1..].iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(rest, vec!["what do you drink?", "Hmm, tea or coffee? Tea.", "ok bye"]);
}
