//! The live conversation: listening → turns → speaking, with barge-in, history, the transcript log and per-turn
//! latency.
//!
//! Threads, data flowing one way:
//! - the listener (capture → echo cancellation → VAD → Whisper) sends [`ListenEvent`]s;
//! - the conductor (this module's loop) owns the turn state machine, the history and the log; it starts a turn
//!   on a final transcript, decides barge-in on partial and final transcripts heard during a reply, and follows
//!   the playback position;
//! - each turn's reply streams from the LLM on a tokio task, through the reply processor, into speakable chunks;
//! - the voice worker owns the synthesizer (and the voice filter), loaded once: it speaks each chunk as soon as it
//!   is released and queues the audio for playback, registering the piece on the [`Stage`];
//! - playback plays and publishes its position, the only value that flows back.
//!
//! A turn owns a cancellation token: stopping it cancels the LLM stream, makes the voice worker skip the turn's
//! remaining chunks, and flushes playback, which falls silent within one output buffer.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::barge_in::{self, Decision, ReplyPhase};
use super::metrics::{Stage as Step, TurnClock};
use super::stage::{SpokenPiece, Stage};
use super::status::{Control, ConversationState, Health, SharedStatus, Speaker as LineSpeaker, Status, TranscriptLine};
use crate::asr::{ListenEvent, ListenEventKind, Listener, ListenerOptions};
use crate::audio::capture::{Capture, Pace};
use crate::audio::playback::{Playback, WavPace};
use crate::character::Character;
use crate::config::{Paths, Settings};
use crate::echo::reference::{EchoReference, SimulatedRoom, input_filter};
use crate::echo::{EchoMeter, EchoSettings};
use crate::lipsync::LoudnessTrack;
use crate::llm::transcript::Record;
use crate::llm::{
    ChatModel, History, LlmError, OpenAiClient, Prompt, ReplyEvent, ReplyProcessor, SpeechChunk, StreamEvent,
    TranscriptLog,
};
use crate::llm::{Speaker, reply::ReplyOptions};
use crate::rvc::VoiceFilter;
use crate::tts::Synthesizer;

/// Where the user's voice comes from.
#[derive(Debug, Clone)]
pub enum Input {
    Microphone(String),
    File { path: std::path::PathBuf, pace: Pace },
}

/// Where the character's voice goes.
#[derive(Debug, Clone)]
pub enum Output {
    Speakers(String),
    File { path: std::path::PathBuf, pace: WavPace },
}

/// How to run a conversation.
pub struct RunOptions {
    pub input: Input,
    pub output: Output,
    /// Mix a simulated echo of the character's voice into the microphone (testing echo cancellation headless).
    pub simulated_room: Option<SimulatedRoom>,
    /// Print each turn (user line, reply, latency breakdown) to stdout.
    pub print: bool,
}

/// Something a viewer (the CLI, a test, the UI log) may want to know, stamped with when it happened.
#[derive(Debug, Clone)]
pub enum Event {
    UserSaid {
        turn: u64,
        text: String,
    },
    /// An expression fired because the audio reached its tag.
    Expression {
        turn: u64,
        name: String,
        at: Instant,
    },
    Interrupted {
        turn: u64,
        heard: String,
        decided_at: Instant,
        silent_at: Instant,
    },
    /// A transcript heard during a reply that did not interrupt it.
    NotAnInterruption {
        text: String,
        decision: Decision,
    },
    TurnEnded {
        turn: u64,
        reply: String,
        latency: super::TurnLatency,
        interrupted: bool,
    },
    TurnFailed {
        turn: u64,
        error: String,
    },
    /// The input ended and every reply has been played.
    Finished,
}

/// An utterance that begins this long after the character's voice stopped reaching the microphone may still be its
/// echo (the room's reverberation; the canceller's span is 256 ms).
const ECHO_TAIL_S: f32 = 0.5;

/// A final transcript of an utterance that began this soon after a reply is checked against the reply's words.
const AFTER_REPLY_S: f32 = 3.0;

/// The services a conversation needs, loaded once and kept warm.
pub struct Services {
    pub chat: Arc<dyn ChatModel>,
    pub synthesizer: Box<dyn Synthesizer>,
    pub voice_filter: Option<Box<dyn VoiceFilter>>,
    pub transcriber: Box<dyn crate::asr::Transcriber>,
    pub vad: crate::vad::SileroVad,
}

impl Services {
    /// Loads every model the settings name; each failure says which and what to do.
    pub fn load(settings: &Settings, paths: &Paths) -> anyhow::Result<Services> {
        let vad =
            crate::vad::SileroVad::new(&settings.vad, paths).context("cannot load the voice activity detector")?;
        let transcriber = crate::asr::from_settings(&settings.asr, paths).context("cannot load speech recognition")?;
        let (synthesizer, voice_filter) = load_voice(settings, paths)?;
        let chat: Arc<dyn ChatModel> =
            Arc::new(OpenAiClient::new(&settings.llm).context("the LLM settings are not usable")?);
        Ok(Services { chat, synthesizer, voice_filter, transcriber, vad })
    }
}

/// The voice of `settings`: the synthesizer, and the voice filter when RVC is on.
pub fn load_voice(
    settings: &Settings,
    paths: &Paths,
) -> anyhow::Result<(Box<dyn Synthesizer>, Option<Box<dyn VoiceFilter>>)> {
    let synthesizer = crate::tts::from_settings(paths, &settings.tts).context("cannot load the voice")?;
    let voice_filter: Option<Box<dyn VoiceFilter>> = if settings.rvc.enabled {
        Some(Box::new(crate::rvc::Rvc::new(&settings.rvc, paths).context("cannot load voice conversion")?))
    } else {
        None
    };
    Ok((synthesizer, voice_filter))
}

/// The voice loader: loads the voice of the newest settings waiting and hands it to the voice worker; the
/// dashboard's TTS health says "loading" meanwhile, and how it went once no newer request waits. Ends when the
/// conductor goes.
fn load_voices(requests: Receiver<Settings>, paths: &Paths, status: &SharedStatus, speak: &Sender<VoiceJob>) {
    let set_health = |h: Health| status.write().unwrap_or_else(|e| e.into_inner()).tts = h;
    let mut next = requests.recv().ok();
    while let Some(mut settings) = next.take() {
        while let Ok(newer) = requests.try_recv() {
            settings = newer;
        }
        set_health(Health::Degraded("loading the new voice".into()));
        let health = match load_voice(&settings, paths) {
            Ok((synth, filter)) => {
                let _ = speak.send(VoiceJob::Replace(synth, filter));
                Health::Ok
            }
            Err(e) => {
                tracing::warn!("the new voice settings are not usable ({e:#}); the running voice stays");
                Health::Degraded(format!("{e:#}; the voice loaded before still speaks: fix it on the Voice page"))
            }
        };
        // A request sent while this one loaded is loaded next, and the dashboard goes on saying "loading".
        match requests.try_recv() {
            Ok(newer) => next = Some(newer),
            Err(_) => {
                set_health(health);
                next = requests.recv().ok();
            }
        }
    }
}

/// What the voice worker is asked to do.
enum VoiceJob {
    Speak(SpeakJob),
    /// Speak with this voice from the next piece on (the voice settings changed while running).
    Replace(Box<dyn Synthesizer>, Option<Box<dyn VoiceFilter>>),
}

/// A chunk for the voice worker.
struct SpeakJob {
    turn: u64,
    cancel: CancellationToken,
    chunk: SpeechChunk,
}

/// What the reply task and the voice worker report to the conductor.
enum TurnMsg {
    RequestSent { turn: u64, at: Instant },
    FirstToken { turn: u64, at: Instant },
    ChunkReleased { turn: u64, at: Instant },
    Text { turn: u64, display: String },
    LlmDone { turn: u64, display: String, chunks: usize, emotions: Vec<String> },
    LlmFailed { turn: u64, error: LlmError },
    Spoken { turn: u64, at: Instant },
    SpeakFailed { turn: u64, error: String },
    Skipped { turn: u64 },
}

/// The turn in progress.
struct Turn {
    id: u64,
    user_text: String,
    cancel: CancellationToken,
    clock: TurnClock,
    display: String,
    llm_done: bool,
    chunks_released: usize,
    chunks_done: usize,
    emotions: Vec<String>,
    error: Option<String>,
}

/// A running conversation. Drop it, or call [`Conversation::stop`], to end it.
pub struct Conversation {
    pub status: SharedStatus,
    pub stage: Stage,
    pub controls: Sender<Control>,
    pub events: Receiver<Event>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    stop: CancellationToken,
}

impl Conversation {
    /// Starts listening and replying. Models are loaded before this returns, so errors come back here.
    pub fn start(
        settings: Settings,
        paths: &Paths,
        character: Character,
        services: Services,
        options: RunOptions,
    ) -> anyhow::Result<Conversation> {
        let mut capture = match &options.input {
            Input::Microphone(name) => Capture::microphone(name)?,
            Input::File { path, pace } => Capture::wav_file(path, *pace)?,
        };
        capture.set_muted(settings.audio.start_muted);
        let volume = settings.audio.output_volume;
        let playback = match &options.output {
            Output::Speakers(name) => Playback::open_device(name, volume)?,
            Output::File { path, pace } => Playback::open_wav(path, 24_000, *pace, volume)?,
        };
        let mut echo_meter = None;
        if let Some(played) = playback.take_played() {
            let reference = EchoReference::new(played, playback.output_rate());
            let echo = EchoSettings { enabled: settings.audio.echo_cancellation, ..EchoSettings::default() };
            let (filter, meter) = input_filter(reference, echo, options.simulated_room);
            capture.set_filter(filter);
            echo_meter = Some(meter);
        }
        let stage = Stage::new(playback.position());
        let (listener, heard) = Listener::start(
            capture,
            services.vad,
            &settings.vad,
            services.transcriber,
            ListenerOptions::from_settings(&settings.asr),
        )?;
        let status: SharedStatus = Arc::new(RwLock::new(Status::default()));
        {
            let mut s = status.write().unwrap_or_else(|e| e.into_inner());
            s.muted = settings.audio.start_muted;
            s.microphone = Health::Ok;
            s.tts = Health::Ok;
        }
        let (controls, control_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let (turn_tx, turn_rx) = mpsc::channel();
        let playback = Arc::new(Mutex::new(playback));
        let (speak_tx, speak_rx) = mpsc::channel::<VoiceJob>();
        let voice = {
            let (playback, stage, turn_tx) = (playback.clone(), stage.clone(), turn_tx.clone());
            let (synth, filter) = (services.synthesizer, services.voice_filter);
            let emotions = character.info.emotions.clone();
            std::thread::Builder::new()
                .name("persona-voice".into())
                .spawn(move || voice_worker(speak_rx, synth, filter, playback, stage, turn_tx, emotions))?
        };
        let log = if settings.conversation.keep_log {
            let path = TranscriptLog::path_for(paths, &character);
            Some(TranscriptLog::open(&path)?)
        } else {
            None
        };
        let stop = CancellationToken::new();
        let mut conductor = Conductor {
            paths: paths.clone(),
            voice_loads: None,
            personality_watch: None,
            history: log.as_ref().map(|(_, loaded)| loaded.history()).unwrap_or_default(),
            log: log.map(|(log, _)| log),
            settings,
            character,
            chat: services.chat,
            runtime: tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?,
            listener: Some(listener),
            heard,
            playback,
            stage: stage.clone(),
            status: status.clone(),
            controls: control_rx,
            events: event_tx,
            turn_tx,
            turn_rx,
            speak_tx: Some(speak_tx),
            voice: Some(voice),
            turn: None,
            next_turn: 1,
            input_ended: false,
            pending_user: None,
            last_user: None,
            expressions_after: None,
            speech_ended: None,
            last_reply: None,
            started_during_reply: None,
            print: options.print,
            echo: echo_meter,
            started: Instant::now(),
            heard_log: std::collections::VecDeque::new(),
            stop: stop.clone(),
        };
        conductor.personality_watch = conductor.watch_personality();
        let thread = std::thread::Builder::new().name("persona-conductor".into()).spawn(move || conductor.run())?;
        Ok(Conversation { status, stage, controls, events, thread: Some(thread), stop })
    }

    /// Waits until the input ends and everything has been said (file input), or until stopped.
    pub fn wait(mut self) -> anyhow::Result<()> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => anyhow::bail!("the conversation thread panicked"),
            None => Ok(()),
        }
    }

    /// Ends the conversation (a reply in progress is cut off).
    pub fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.wait()
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The voice worker: chunk in, audio queued for playback out.
fn voice_worker(
    jobs: Receiver<VoiceJob>,
    mut synth: Box<dyn Synthesizer>,
    mut filter: Option<Box<dyn VoiceFilter>>,
    playback: Arc<Mutex<Playback>>,
    stage: Stage,
    out: Sender<TurnMsg>,
    emotions: std::collections::BTreeMap<String, String>,
) {
    while let Ok(job) = jobs.recv() {
        let job = match job {
            VoiceJob::Speak(job) => job,
            VoiceJob::Replace(new_synth, new_filter) => {
                (synth, filter) = (new_synth, new_filter);
                continue;
            }
        };
        let turn = job.turn;
        if job.cancel.is_cancelled() {
            let _ = out.send(TurnMsg::Skipped { turn });
            continue;
        }
        let chunk = job.chunk;
        // A piece with no words only carries emotions: show them now.
        if chunk.text.trim().is_empty() {
            let expressions: Vec<(f64, String)> =
                chunk.emotions.iter().filter_map(|(_, e)| emotions.get(e).map(|x| (0.0, x.clone()))).collect();
            if !expressions.is_empty() {
                let mut pb = playback.lock().unwrap_or_else(|e| e.into_inner());
                let id = pb.enqueue(vec![0.0; 240], 24_000);
                stage.add(SpokenPiece {
                    id,
                    turn,
                    chunk: chunk.index,
                    display_start: chunk.display_start,
                    display_len: chunk.display_text.chars().count(),
                    text: String::new(),
                    sample_rate: 24_000,
                    samples: 240,
                    timeline: Default::default(),
                    loudness: LoudnessTrack::new(&[0.0; 240], 24_000),
                    expressions,
                });
            }
            let _ = out.send(TurnMsg::Skipped { turn });
            continue;
        }
        let speech = match synth.synthesize(&chunk.text) {
            Ok(s) => s,
            Err(e) => {
                let _ = out.send(TurnMsg::SpeakFailed { turn, error: e.to_string() });
                continue;
            }
        };
        let mut samples = speech.samples;
        if let Some(f) = filter.as_mut() {
            match f.process(&samples, speech.sample_rate) {
                Ok(mut converted) => {
                    converted.extend(f.flush());
                    // The filter runs behind by its latency: drop that much of the start so timing holds.
                    let lead = f.latency(speech.sample_rate).min(converted.len());
                    samples = converted.split_off(lead);
                }
                Err(e) => {
                    let _ = out.send(TurnMsg::SpeakFailed { turn, error: e.to_string() });
                    continue;
                }
            }
        }
        if job.cancel.is_cancelled() {
            let _ = out.send(TurnMsg::Skipped { turn });
            continue;
        }
        let expressions: Vec<(f64, String)> = chunk
            .emotions
            .iter()
            .filter_map(|(offset, e)| emotions.get(e).map(|x| (speech.timeline.time_of_char(*offset), x.clone())))
            .collect();
        let loudness = LoudnessTrack::new(&samples, speech.sample_rate);
        let n = samples.len();
        let mut pb = playback.lock().unwrap_or_else(|e| e.into_inner());
        let id = pb.enqueue(samples, speech.sample_rate);
        stage.add(SpokenPiece {
            id,
            turn,
            chunk: chunk.index,
            display_start: chunk.display_start,
            display_len: chunk.display_text.chars().count(),
            text: chunk.text.clone(),
            sample_rate: speech.sample_rate,
            samples: n,
            timeline: speech.timeline,
            loudness,
            expressions,
        });
        drop(pb);
        let _ = out.send(TurnMsg::Spoken { turn, at: Instant::now() });
    }
}

/// Streams one reply: LLM → reply processor → chunks for the voice worker.
async fn reply_task(
    turn: u64,
    chat: Arc<dyn ChatModel>,
    messages: Vec<crate::llm::Message>,
    cancel: CancellationToken,
    options: ReplyOptions,
    out: Sender<TurnMsg>,
    speak: Sender<VoiceJob>,
) {
    let mut stream = chat.chat(messages, cancel.clone());
    let _ = out.send(TurnMsg::RequestSent { turn, at: Instant::now() });
    let mut processor = ReplyProcessor::new(options);
    let mut chunks = 0;
    let mut emotions = Vec::new();
    let mut first = true;
    let handle = |events: Vec<ReplyEvent>, chunks: &mut usize, emotions: &mut Vec<String>| -> bool {
        for e in events {
            match e {
                ReplyEvent::Chunk(chunk) => {
                    *chunks += 1;
                    let _ = out.send(TurnMsg::ChunkReleased { turn, at: Instant::now() });
                    let _ = speak.send(VoiceJob::Speak(SpeakJob { turn, cancel: cancel.clone(), chunk }));
                }
                ReplyEvent::Emotion(e) => emotions.push(e),
                ReplyEvent::Text(_) => {}
                ReplyEvent::Stopped => return false,
            }
        }
        true
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamEvent::Content(text)) => {
                if first {
                    first = false;
                    let _ = out.send(TurnMsg::FirstToken { turn, at: Instant::now() });
                }
                let go_on = handle(processor.push(&text), &mut chunks, &mut emotions);
                let _ = out.send(TurnMsg::Text { turn, display: processor.display_text().to_owned() });
                if !go_on {
                    break;
                }
            }
            Ok(StreamEvent::Done) => break,
            Ok(_) => {}
            Err(LlmError::Cancelled) => return,
            Err(error) => {
                // What was released is still spoken; the turn ends with the error shown.
                handle(processor.finish(), &mut chunks, &mut emotions);
                let _ = out.send(TurnMsg::LlmFailed { turn, error });
                let display = processor.display_text().to_owned();
                let _ = out.send(TurnMsg::LlmDone { turn, display, chunks, emotions });
                return;
            }
        }
    }
    if cancel.is_cancelled() {
        return;
    }
    handle(processor.finish(), &mut chunks, &mut emotions);
    let display = processor.display_text().to_owned();
    let _ = out.send(TurnMsg::LlmDone { turn, display, chunks, emotions });
}

struct Conductor {
    settings: Settings,
    paths: Paths,
    /// The voice loader's queue, once a voice change started it.
    voice_loads: Option<Sender<Settings>>,
    character: Character,
    chat: Arc<dyn ChatModel>,
    runtime: tokio::runtime::Runtime,
    listener: Option<Listener>,
    heard: Receiver<ListenEvent>,
    playback: Arc<Mutex<Playback>>,
    stage: Stage,
    status: SharedStatus,
    controls: Receiver<Control>,
    events: Sender<Event>,
    turn_tx: Sender<TurnMsg>,
    turn_rx: Receiver<TurnMsg>,
    speak_tx: Option<Sender<VoiceJob>>,
    voice: Option<std::thread::JoinHandle<()>>,
    history: History,
    log: Option<TranscriptLog>,
    turn: Option<Turn>,
    next_turn: u64,
    input_ended: bool,
    /// An utterance that interrupted the reply: its final transcript starts the next turn.
    pending_user: Option<u64>,
    /// The last user message, for "retry".
    last_user: Option<(String, Instant)>,
    expressions_after: Option<(crate::audio::playback::PieceId, f64)>,
    /// When the last utterance's speech ended, by utterance.
    speech_ended: Option<(u64, Instant)>,
    /// The last utterance that began over the character's voice (on the input's clock), and that reply's turn
    /// (for the echo guard).
    started_during_reply: Option<(u64, u64)>,
    /// The last reply's turn, spoken text, and when it ended or was cut off (for the echo guard).
    last_reply: Option<(u64, String, Instant)>,
    print: bool,
    /// The echo path's meter (when playback publishes what it played): when the character's voice reached the
    /// microphone, on the input's clock, and the canceller's figures.
    echo: Option<EchoMeter>,
    /// When capture started (about), and when each piece began to be heard (the newest last): with the meter,
    /// which piece the listener is hearing now when it runs behind the speakers.
    started: Instant,
    heard_log: std::collections::VecDeque<(Instant, crate::audio::playback::PieceId)>,
    stop: CancellationToken,
    /// Follows the character's `personality.txt`, so an edit made in any editor shapes the next reply.
    personality_watch: Option<crate::config::watch::FileWatch>,
}

impl Conductor {
    fn watch_personality(&self) -> Option<crate::config::watch::FileWatch> {
        match crate::config::watch::FileWatch::new(&self.character.dir.join("personality.txt")) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    /// Reads the character's files again; the next turn's prompt uses them. A file that cannot be used (an editor
    /// half way through saving, an emptied personality) keeps the running character.
    fn reload_character(&mut self) {
        match Character::load(&self.character.dir) {
            Ok(c) => {
                if c.personality != self.character.personality || c.info != self.character.info {
                    tracing::info!("{} changed on disk: the next reply follows it", c.dir.display());
                    self.character = c;
                }
            }
            Err(e) => tracing::warn!("{e}; {} keeps the personality it had", self.character.info.name),
        }
    }

    fn run(mut self) -> anyhow::Result<()> {
        loop {
            if self.stop.is_cancelled() {
                self.interrupt(None);
                break;
            }
            match self.heard.recv_timeout(Duration::from_millis(5)) {
                Ok(ev) => self.on_heard(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.input_ended = true,
            }
            while let Ok(msg) = self.turn_rx.try_recv() {
                self.on_turn_msg(msg);
            }
            while let Ok(c) = self.controls.try_recv() {
                self.on_control(c);
            }
            if self.personality_watch.as_ref().is_some_and(|w| w.changed()) {
                self.reload_character();
            }
            self.follow_playback();
            if self.input_ended && self.turn.is_none() && self.playback_idle() {
                let _ = self.events.send(Event::Finished);
                break;
            }
        }
        self.shutdown();
        Ok(())
    }

    fn shutdown(&mut self) {
        if let Some(l) = self.listener.take() {
            l.stop();
        }
        // The voice worker ends when every sender is gone: ours, and the voice loader's (which ends with its queue
        // after any load in progress).
        self.speak_tx = None;
        self.voice_loads = None;
        if let Some(v) = self.voice.take() {
            let _ = v.join();
        }
        // Playback closes (and a WAV file gets its final header) when the conductor is dropped.
    }

    fn playback_idle(&self) -> bool {
        self.playback.lock().map(|p| p.is_idle()).unwrap_or(true)
    }

    fn set_state(&self, state: ConversationState) {
        self.status.write().unwrap_or_else(|e| e.into_inner()).state = state;
    }

    fn on_heard(&mut self, ev: ListenEvent) {
        match ev.kind {
            ListenEventKind::SpeechStarted { utterance, start_s } => {
                if self.turn.is_none() {
                    self.set_state(ConversationState::Listening);
                }
                // "Any speech interrupts" acts on the first sound only when the character's voice was not reaching
                // the microphone as the utterance began; otherwise its own voice may be what was heard, so the
                // first words decide (echo guard).
                let over_voice = self.voice_in_microphone(start_s, ECHO_TAIL_S);
                if over_voice {
                    let playing = self.turn.as_ref().filter(|t| t.clock.first_played.is_some()).map(|t| t.id);
                    if let Some(turn) = playing.or(self.last_reply.as_ref().map(|(t, _, _)| *t)) {
                        self.started_during_reply = Some((utterance, turn));
                    }
                }
                if self.turn.is_some()
                    && !over_voice
                    && self.settings.conversation.barge_in == crate::config::BargeIn::Any
                {
                    self.consider_interruption("", Some(utterance), true);
                }
            }
            ListenEventKind::Partial { utterance, text, .. } => {
                {
                    let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
                    s.push_line(TranscriptLine {
                        speaker: LineSpeaker::User,
                        text: text.clone(),
                        partial: true,
                        interrupted: false,
                    });
                }
                if self.turn.is_some() {
                    self.consider_interruption(&text, Some(utterance), false);
                }
            }
            ListenEventKind::Final { utterance, transcript, start_s, .. } => {
                let text = transcript.text.trim().to_owned();
                let end_of_speech = match self.speech_ended {
                    Some((u, at)) if u == utterance => at,
                    _ => ev.at,
                };
                if text.is_empty() {
                    return;
                }
                let during =
                    self.started_during_reply.filter(|(u, _)| *u == utterance).map(|(_, t)| self.reply_text(t));
                // Began soon after the voice stopped: its reverberating end, or an echo heard late.
                let recent = self.last_reply.as_ref().filter(|_| self.voice_in_microphone(start_s, AFTER_REPLY_S));
                let reply = during.or_else(|| recent.map(|(_, r, _)| r.clone()));
                if self.turn.is_none()
                    && self.pending_user != Some(utterance)
                    && reply.is_some_and(|reply| barge_in::is_echo(&text, &reply))
                {
                    // The reply's own voice, transcribed after the reply ended (its reverberating end, or an echo
                    // heard during it whose transcript came late): not the user.
                    let _ = self.events.send(Event::NotAnInterruption { text, decision: Decision::Echo });
                    return;
                }
                if self.turn.is_some() && self.pending_user != Some(utterance) {
                    if !self.consider_interruption(&text, Some(utterance), true) {
                        return;
                    }
                }
                self.pending_user = None;
                self.start_turn(text, end_of_speech, Instant::now());
            }
            ListenEventKind::Error(e) => {
                tracing::warn!("listening: {e}");
                self.status.write().unwrap_or_else(|e| e.into_inner()).last_error = Some(e);
            }
            ListenEventKind::Capture(c) => {
                let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
                s.microphone = match c {
                    crate::audio::CaptureEvent::DeviceLost { reason, .. } => Health::Failed(reason),
                    crate::audio::CaptureEvent::DeviceReturned { .. } => Health::Ok,
                };
            }
            ListenEventKind::Ended => self.input_ended = true,
            ListenEventKind::SpeechEnded { utterance, .. } => {
                // The user stopped speaking `end_silence_ms` before the silence was confirmed: that is where the
                // turn's latency starts, since the wait for the confirmation is part of what the user feels.
                let silence = Duration::from_millis(self.settings.vad.end_silence_ms as u64);
                self.speech_ended = Some((utterance, ev.at.checked_sub(silence).unwrap_or(ev.at)));
            }
            ListenEventKind::Discarded { .. } => {}
        }
    }

    /// Decides whether what the user says now stops the reply; true when it did (or the reply was already gone).
    fn consider_interruption(&mut self, text: &str, utterance: Option<u64>, is_final: bool) -> bool {
        let Some(turn) = self.turn.as_ref() else { return true };
        if self.pending_user.is_some() {
            return true;
        }
        // Once the reply's voice has started, the reply is "speaking" until it ends, gaps between pieces included:
        // its echo (and the room's reverberation) goes on in those gaps.
        let phase = if turn.clock.first_played.is_some() { ReplyPhase::Speaking } else { ReplyPhase::Thinking };
        let speaking = self.recent_speech(turn.id);
        let c = &self.settings.conversation;
        let decision = if text.is_empty() && c.barge_in == crate::config::BargeIn::Any {
            Decision::Interrupt
        } else {
            barge_in::decide(c.barge_in, c.barge_in_words, phase, text, &speaking)
        };
        match decision {
            Decision::Interrupt => {
                self.interrupt(utterance);
                true
            }
            Decision::Wait if !is_final => false,
            d => {
                if is_final {
                    tracing::info!("not an interruption ({d:?}): {text}");
                    let _ = self.events.send(Event::NotAnInterruption { text: text.to_owned(), decision: d });
                }
                false
            }
        }
    }

    /// Whether the character's voice was reaching the microphone at input time `start_s` (or had stopped less
    /// than `tail` seconds before). Judged on the input's own clock when the echo path tells, so a listener that
    /// runs seconds behind the speakers on a busy machine decides as a prompt one would; else by the wall clock.
    fn voice_in_microphone(&self, start_s: f32, tail: f32) -> bool {
        match self.echo.as_ref() {
            Some(meter) => meter.played_until_s().is_some_and(|until| start_s <= until + tail),
            None => {
                self.turn.as_ref().is_some_and(|t| t.clock.first_played.is_some())
                    || self.last_reply.as_ref().is_some_and(|(_, _, ended)| ended.elapsed().as_secs_f32() < tail)
            }
        }
    }

    /// What turn `turn` said (so far, while it is still going).
    fn reply_text(&self, turn: u64) -> String {
        match &self.last_reply {
            Some((t, text, _)) if *t == turn && self.turn.as_ref().is_none_or(|c| c.id != turn) => text.clone(),
            _ => self.spoken_text(turn),
        }
    }

    /// The text of the piece being heard and the one before it: what an echo would repeat.
    fn recent_speech(&self, turn: u64) -> String {
        let pieces = self.stage.pieces_of(turn);
        let now = self.stage.heard().filter(|h| h.turn == turn).map(|h| h.piece);
        let upto = match now {
            Some(id) => pieces.iter().position(|p| p.id == id).unwrap_or(pieces.len().saturating_sub(1)),
            None => pieces.len().saturating_sub(1),
        };
        let mut from = upto.saturating_sub(1);
        // The listener may run behind the speakers on a busy machine: what it hears now was played that long ago,
        // so the pieces heard since then (and a little before) count too.
        let lag = self.echo.as_ref().map_or(Duration::ZERO, |m| {
            self.started.elapsed().saturating_sub(Duration::from_secs_f32(m.processed_s().max(0.0)))
        });
        if let Some(since) = Instant::now().checked_sub(lag + Duration::from_secs(2)) {
            let before = self.heard_log.iter().rev().find(|(at, _)| *at <= since);
            let after = self.heard_log.iter().filter(|(at, _)| *at > since);
            for (_, id) in before.into_iter().chain(after) {
                if let Some(i) = pieces.iter().position(|p| p.id == *id) {
                    from = from.min(i);
                }
            }
        }
        pieces
            .get(from..=upto)
            .map(|ps| ps.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    }

    /// The display text of the turn's pieces that were spoken, in order.
    fn said_display(&self, turn: &Turn) -> String {
        let chars: Vec<char> = turn.display.chars().collect();
        self.stage
            .pieces_of(turn.id)
            .iter()
            .filter(|p| !p.text.is_empty())
            .filter_map(|p| chars.get(p.display_start..(p.display_start + p.display_len).min(chars.len())))
            .map(|c| c.iter().collect::<String>().trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Everything of the turn's reply that was queued for playback.
    fn spoken_text(&self, turn: u64) -> String {
        self.stage.pieces_of(turn).iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" ")
    }

    /// Stops the turn in progress; keeps in the history only what was heard, marked interrupted.
    fn interrupt(&mut self, utterance: Option<u64>) {
        let Some(turn) = self.turn.take() else { return };
        let decided_at = Instant::now();
        // What was heard, before the flush moves the position past the end of the piece.
        let heard = self.heard_chars(&turn);
        turn.cancel.cancel();
        let playback = self.playback.lock().unwrap_or_else(|e| e.into_inner());
        playback.flush();
        let position = playback.position();
        drop(playback);
        // Wait (briefly) for the output to fall silent, to report when it did.
        let deadline = decided_at + Duration::from_millis(500);
        while position.is_playing() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let silent_at = Instant::now();
        self.last_reply = Some((turn.id, self.spoken_text(turn.id), silent_at));
        self.history.push_user(&turn.user_text);
        let kept = self.history.push_interrupted(&turn.display, heard).map(|t| t.text.clone()).unwrap_or_default();
        self.append_log(Speaker::Character, &kept, true, &turn.emotions);
        {
            let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
            s.interruptions += 1;
            s.state = ConversationState::Interrupted;
            s.push_line(TranscriptLine {
                speaker: LineSpeaker::Character,
                text: kept.clone(),
                partial: false,
                interrupted: true,
            });
            s.record_turn(turn.clock.latency());
        }
        if self.print {
            println!("  (interrupted after: \"{kept}\")");
        }
        self.report_echo(turn.id);
        self.pending_user = utterance;
        let _ = self.events.send(Event::Interrupted { turn: turn.id, heard: kept, decided_at, silent_at });
    }

    /// How much of the turn's display text was heard, from the playback position.
    fn heard_chars(&self, turn: &Turn) -> usize {
        let pieces = self.stage.pieces_of(turn.id);
        let now = self.stage.heard();
        let mut offset = 0;
        for p in &pieces {
            match &now {
                Some(h) if h.piece == p.id => {
                    let spoken = p.heard_chars_at(h.t);
                    return chunk_reply_offset(p, spoken).max(offset);
                }
                Some(h) if h.piece > p.id => offset = chunk_reply_offset(p, usize::MAX),
                _ => {}
            }
        }
        offset
    }

    fn start_turn(&mut self, text: String, end_of_speech: Instant, transcript_at: Instant) {
        let id = self.next_turn;
        self.next_turn += 1;
        let mut clock = TurnClock::new(end_of_speech);
        clock.stamp(Step::FinalTranscript, transcript_at);
        let cancel = CancellationToken::new();
        let time = crate::llm::prompt::local_time();
        let prompt = Prompt::new(&self.character, &self.settings.llm, &self.settings.conversation, &time);
        let messages = prompt.messages(&self.history, &text);
        self.append_log(Speaker::User, &text, false, &[]);
        self.last_user = Some((text.clone(), end_of_speech));
        if self.print {
            println!("you: {text}");
        }
        {
            let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
            s.state = ConversationState::Thinking;
            s.push_line(TranscriptLine {
                speaker: LineSpeaker::User,
                text: text.clone(),
                partial: false,
                interrupted: false,
            });
        }
        let _ = self.events.send(Event::UserSaid { turn: id, text: text.clone() });
        let options = ReplyOptions::for_character(&self.character, &self.settings.conversation.user_name);
        if let Some(speak) = self.speak_tx.clone() {
            self.runtime.spawn(reply_task(
                id,
                self.chat.clone(),
                messages,
                cancel.clone(),
                options,
                self.turn_tx.clone(),
                speak,
            ));
        }
        self.turn = Some(Turn {
            id,
            user_text: text,
            cancel,
            clock,
            display: String::new(),
            llm_done: false,
            chunks_released: 0,
            chunks_done: 0,
            emotions: Vec::new(),
            error: None,
        });
    }

    fn on_turn_msg(&mut self, msg: TurnMsg) {
        let id = match &msg {
            TurnMsg::RequestSent { turn, .. }
            | TurnMsg::FirstToken { turn, .. }
            | TurnMsg::ChunkReleased { turn, .. }
            | TurnMsg::Text { turn, .. }
            | TurnMsg::LlmDone { turn, .. }
            | TurnMsg::LlmFailed { turn, .. }
            | TurnMsg::Spoken { turn, .. }
            | TurnMsg::SpeakFailed { turn, .. }
            | TurnMsg::Skipped { turn } => *turn,
        };
        let print = self.print;
        let Some(turn) = self.turn.as_mut().filter(|t| t.id == id) else { return };
        match msg {
            TurnMsg::RequestSent { at, .. } => turn.clock.stamp(Step::RequestSent, at),
            TurnMsg::FirstToken { at, .. } => turn.clock.stamp(Step::FirstToken, at),
            TurnMsg::ChunkReleased { at, .. } => {
                turn.clock.stamp(Step::FirstChunk, at);
                turn.chunks_released += 1;
            }
            TurnMsg::Text { display, .. } => turn.display = display,
            TurnMsg::LlmDone { display, chunks, emotions, .. } => {
                turn.display = display;
                turn.chunks_released = chunks;
                turn.emotions = emotions;
                turn.llm_done = true;
            }
            TurnMsg::LlmFailed { error, .. } => {
                let text = error.to_string();
                if print {
                    println!("  (the reply failed: {text})");
                }
                let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
                s.llm = Health::Failed(text.clone());
                s.last_error = Some(text.clone());
                turn.error = Some(text);
            }
            TurnMsg::Spoken { at, .. } => {
                turn.clock.stamp(Step::FirstAudio, at);
                turn.chunks_done += 1;
                // The voice works again after a piece it refused.
                let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
                if matches!(s.tts, Health::Failed(_)) {
                    s.tts = Health::Ok;
                }
            }
            TurnMsg::SpeakFailed { error, .. } => {
                // The rest of the reply is still spoken; the turn ends in the error state with this message.
                let error = format!("a piece of the reply could not be spoken: {error}");
                tracing::warn!("{error}");
                if print {
                    println!("  ({error})");
                }
                let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
                s.tts = Health::Failed(error.clone());
                s.last_error = Some(error.clone());
                turn.error.get_or_insert(error);
                turn.chunks_done += 1;
            }
            TurnMsg::Skipped { .. } => turn.chunks_done += 1,
        }
    }

    /// Follows the playback position: first sound of the turn, expressions, the end of the turn.
    fn follow_playback(&mut self) {
        let heard = self.stage.heard();
        if let Some(h) = &heard
            && self.heard_log.back().is_none_or(|(_, id)| *id != h.piece)
        {
            if self.heard_log.len() == 256 {
                self.heard_log.pop_front();
            }
            self.heard_log.push_back((Instant::now(), h.piece));
        }
        for name in self.stage.expressions_due(&mut self.expressions_after) {
            if let Some(turn) = &self.turn {
                if self.print {
                    println!("  [{name}]");
                }
                let _ = self.events.send(Event::Expression { turn: turn.id, name, at: Instant::now() });
            }
        }
        let Some(turn) = self.turn.as_mut() else { return };
        let playing_this_turn = heard.as_ref().is_some_and(|h| h.turn == turn.id && h.playing);
        if playing_this_turn && turn.clock.first_played.is_none() {
            turn.clock.stamp(Step::FirstPlayed, Instant::now());
            let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
            s.state = ConversationState::Speaking;
            s.llm = Health::Ok;
        }
        let all_spoken = turn.llm_done && turn.chunks_done >= turn.chunks_released;
        if all_spoken && self.playback.lock().map(|p| p.is_idle()).unwrap_or(true) {
            let turn = self.turn.take().expect("checked above");
            self.finish_turn(turn);
        }
    }

    fn finish_turn(&mut self, mut turn: Turn) {
        let latency = turn.clock.latency();
        self.last_reply = Some((turn.id, self.spoken_text(turn.id), Instant::now()));
        // A turn that failed keeps only what was said, as an interrupted one keeps only what was heard: a piece the
        // voice refused was never heard, and the model should not take it as said.
        if turn.error.is_some() {
            turn.display = self.said_display(&turn);
        }
        self.history.push_user(&turn.user_text);
        self.history.push_character(&turn.display);
        self.append_log(Speaker::Character, &turn.display, false, &turn.emotions);
        if self.print {
            println!("{}: {}", self.character.info.name, turn.display);
            println!("  latency: {}", latency.summary());
        }
        tracing::info!(turn = turn.id, "latency: {}", latency.summary());
        self.report_echo(turn.id);
        {
            let mut s = self.status.write().unwrap_or_else(|e| e.into_inner());
            s.record_turn(latency);
            s.state = if turn.error.is_some() { ConversationState::Error } else { ConversationState::Idle };
            s.push_line(TranscriptLine {
                speaker: LineSpeaker::Character,
                text: turn.display.clone(),
                partial: false,
                interrupted: false,
            });
        }
        if let Some(error) = turn.error {
            let _ = self.events.send(Event::TurnFailed { turn: turn.id, error });
        }
        let _ = self.events.send(Event::TurnEnded { turn: turn.id, reply: turn.display, latency, interrupted: false });
    }

    /// Prints and logs how much echo the canceller removes, after a turn whose voice played.
    fn report_echo(&self, turn: u64) {
        let cancelling = self.settings.audio.echo_cancellation && !self.stage.pieces_of(turn).is_empty();
        let Some(meter) = self.echo.as_ref().filter(|_| cancelling) else { return };
        let learned = if meter.converged() { "room learned" } else { "still learning the room" };
        let line = if meter.echo_heard() {
            format!(
                "echo: {:.0} dB removed (the filter alone {:.0} dB), {learned}",
                meter.erle_db(),
                meter.linear_erle_db()
            )
        } else {
            "echo: none reaches the microphone".to_owned()
        };
        if self.print {
            println!("  {line}");
        }
        tracing::info!(turn, "{line}");
    }

    fn append_log(&mut self, speaker: Speaker, text: &str, interrupted: bool, emotions: &[String]) {
        if text.trim().is_empty() {
            return;
        }
        let name = match speaker {
            Speaker::User => self.settings.conversation.user_name.clone(),
            Speaker::Character => self.character.info.name.clone(),
        };
        if let Some(log) = self.log.as_mut() {
            let mut r = Record::new(speaker, &name, text);
            r.interrupted = interrupted;
            r.emotions = emotions.to_vec();
            if let Err(e) = log.append(&r) {
                tracing::warn!("{e}");
            }
        }
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::SetMuted(m) => {
                if let Some(l) = &self.listener {
                    l.controls().set_muted(m);
                }
                self.status.write().unwrap_or_else(|e| e.into_inner()).muted = m;
            }
            Control::StopTurn => self.interrupt(None),
            Control::Retry => {
                if let Some((text, _)) = self.last_user.clone() {
                    self.interrupt(None);
                    self.start_turn(text, Instant::now(), Instant::now());
                }
            }
            Control::SettingsChanged(s) => {
                // Live: barge-in policy, names, volume, the whole [llm] section from the next turn on, and the
                // voice ([tts], [rvc]) from its next piece, the VAD's thresholds and pauses from the next chunk;
                // the microphone, the VAD and Whisper models until a restart.
                if let Ok(p) = self.playback.lock() {
                    p.set_volume(s.audio.output_volume);
                }
                self.settings.conversation = s.conversation.clone();
                if s.vad != self.settings.vad {
                    if let Some(listener) = &self.listener {
                        listener.set_vad(&s.vad);
                    }
                    self.settings.vad = s.vad.clone();
                }
                if s.tts != self.settings.tts || s.rvc != self.settings.rvc {
                    self.settings.tts = s.tts.clone();
                    self.settings.rvc = s.rvc.clone();
                    self.change_voice(&s);
                }
                if s.llm != self.settings.llm {
                    // The client carries endpoint, key, temperature and max tokens in every request: a new one.
                    match OpenAiClient::new(&s.llm) {
                        Ok(client) => {
                            self.chat = Arc::new(client);
                            self.settings.llm = s.llm.clone();
                        }
                        Err(e) => tracing::warn!("the new LLM settings are not usable ({e}); the running ones stay"),
                    }
                }
            }
            Control::PersonalityChanged => self.reload_character(),
            Control::PreviewExpression(expression) => self.stage.preview_expression(expression),
            Control::Audition(text) => self.audition(text),
        }
    }

    /// Loads the voice of `settings` on the voice loader thread (a model takes a second or more) and hands it to
    /// the voice worker, which speaks with it from its next piece; the running voice speaks until then. One loader,
    /// started on the first change, takes only the newest settings waiting: dragging the speed slider asks for
    /// dozens of voices and loads one or two. A voice that cannot be loaded leaves the running one, and the
    /// dashboard says why.
    fn change_voice(&mut self, settings: &Settings) {
        let Some(speak) = self.speak_tx.clone() else { return };
        self.status.write().unwrap_or_else(|e| e.into_inner()).tts = Health::Degraded("loading the new voice".into());
        if self.voice_loads.is_none() {
            let (tx, rx) = mpsc::channel::<Settings>();
            let (paths, status) = (self.paths.clone(), self.status.clone());
            let spawned = std::thread::Builder::new()
                .name("persona-voice-load".into())
                .spawn(move || load_voices(rx, &paths, &status, &speak));
            match spawned {
                Ok(_) => self.voice_loads = Some(tx),
                Err(e) => {
                    tracing::warn!("cannot load the new voice: {e}");
                    return;
                }
            }
        }
        if let Some(loads) = &self.voice_loads {
            let _ = loads.send(settings.clone());
        }
    }

    /// Speaks a sample with the running voice (the panel's "Speak sample") outside any turn: as turn 0, which no
    /// turn has, so the voice worker's reports about it are ignored while the avatar's mouth still follows it.
    fn audition(&mut self, text: String) {
        let spoken = crate::llm::speech::normalise(&text);
        if spoken.trim().is_empty() {
            return;
        }
        if let Some(speak) = &self.speak_tx {
            let chunk =
                SpeechChunk { index: 0, text: spoken, display_text: text, emotions: Vec::new(), display_start: 0 };
            let _ = speak.send(VoiceJob::Speak(SpeakJob { turn: 0, cancel: CancellationToken::new(), chunk }));
        }
    }
}

/// The reply offset (display chars) when `spoken` chars of piece `p`'s spoken text were heard: proportional, as
/// spoken and display text differ where numbers were spelled out (see `SpeechChunk::reply_offset_at`).
fn chunk_reply_offset(p: &SpokenPiece, spoken: usize) -> usize {
    let said = p.text.chars().count();
    if said == 0 || spoken >= said {
        return p.display_start + p.display_len;
    }
    p.display_start + (spoken * p.display_len).div_ceil(said).min(p.display_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slider dragged through many voices loads the newest only, not each one: twelve changes waiting when the
    /// loader starts give one voice, and the dashboard ends at ok.
    #[test]
    fn the_voice_loader_loads_only_the_newest_of_the_changes_waiting() {
        let Some(models) =
            crate::testing::models_dir(&["kokoro-v1.0.int8.onnx", "kokoro-vocab.json", "voices/af_heart.bin"])
        else {
            return;
        };
        let paths = Paths { config_file: models.join("unused.toml"), data_dir: models.clone(), models_dir: models };
        let (requests, waiting) = mpsc::channel();
        for i in 0..12 {
            let mut s = Settings::default();
            s.tts.speed = 0.9 + i as f32 * 0.02;
            requests.send(s).unwrap();
        }
        drop(requests);
        let (speak, jobs) = mpsc::channel();
        let status = SharedStatus::default();
        load_voices(waiting, &paths, &status, &speak);
        let voices = jobs.try_iter().filter(|j| matches!(j, VoiceJob::Replace(..))).count();
        assert_eq!(voices, 1, "one voice loaded for twelve changes");
        assert_eq!(status.read().unwrap().tts, Health::Ok);
    }
}
