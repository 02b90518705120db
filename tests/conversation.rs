//! The whole conversation, end to end, with real models: spoken questions in a WAV file, a scripted
//! OpenAI-compatible server on loopback, Kokoro's voice into a WAV file, Whisper listening to it afterwards.
//!
//! These run at real-time pace (the input file is "spoken" as a microphone would deliver it), so each takes
//! about as long as its conversation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persona::asr::{Transcriber, Whisper};
use persona::audio::capture::Pace;
use persona::audio::playback::WavPace;
use persona::audio::{Audio, read_wav, resample, write_wav};
use persona::character::Character;
use persona::config::{BargeIn, Paths, Settings};
use persona::echo::reference::SimulatedRoom;
use persona::lipsync::LipSync;
use persona::llm::{ScriptServer, ScriptedReply};
use persona::pipeline::Control;
use persona::pipeline::conversation::{Conversation, Event, Input, Output, RunOptions, Services};
use persona::pipeline::status::Health;

/// Speech for `text` from espeak-ng at 16 kHz.
fn spoken(dir: &Path, text: &str) -> Vec<f32> {
    let wav = dir.join("q.wav");
    let ok =
        std::process::Command::new("espeak-ng").args(["-v", "en-us", "-s", "150", "-w"]).arg(&wav).arg(text).status();
    assert!(ok.is_ok_and(|s| s.success()), "espeak-ng is needed to speak the test questions");
    let a = read_wav(&wav).unwrap();
    resample(&a.to_mono(), a.sample_rate, 16_000)
}

/// A conversation WAV: each (text, seconds of silence after it), with half a second of silence first.
fn conversation_wav(dir: &Path, lines: &[(&str, f32)]) -> PathBuf {
    let mut audio = vec![0.0f32; 8_000];
    for (text, pause) in lines {
        audio.extend(spoken(dir, text).iter().map(|s| s * 0.8));
        audio.extend(std::iter::repeat_n(0.0, (pause * 16_000.0) as usize));
    }
    let path = dir.join("conversation.wav");
    write_wav(&path, &Audio::mono(audio, 16_000)).unwrap();
    path
}

struct Setup {
    settings: Settings,
    paths: Paths,
    character: Character,
    _data: tempfile::TempDir,
}

fn setup(models: &Path, server: &ScriptServer) -> Setup {
    let data = tempfile::tempdir().unwrap();
    let paths = Paths {
        config_file: data.path().join("settings.toml"),
        data_dir: data.path().into(),
        models_dir: models.into(),
    };
    let mut settings = Settings::default();
    settings.llm.endpoint = server.url();
    settings.asr.initial_prompt = "Mira".into();
    let character = Character::find(&paths, "mira").unwrap();
    Setup { settings, paths, character, _data: data }
}

/// What a run produced.
struct Run {
    events: Vec<(Instant, Event)>,
    /// (when, playing, mouth opening) every few milliseconds.
    mouth: Vec<(Instant, bool, f32)>,
    output: Audio,
}

/// One conversation at a time: each runs at real-time pace and needs the machine's cores to keep up.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts a conversation of `character` with files for the microphone and the speakers, at real-time pace.
fn start(s: &Setup, character: Character, input: &Path, output: &Path, room: Option<SimulatedRoom>) -> Conversation {
    let services = Services::load(&s.settings, &s.paths).unwrap();
    let options = RunOptions {
        input: Input::File { path: input.into(), pace: Pace::RealTime },
        output: Output::File { path: output.into(), pace: WavPace::RealTime },
        simulated_room: room,
        print: true,
    };
    Conversation::start(s.settings.clone(), &s.paths, character, services, options).unwrap()
}

fn run(s: &Setup, input: &Path, output: &Path, room: Option<SimulatedRoom>) -> Run {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let conversation = start(s, s.character.clone(), input, output, room);
    let lipsync = LipSync::new(&s.settings.lipsync);
    let mut events = Vec::new();
    let mut mouth = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        match conversation.events.recv_timeout(Duration::from_millis(10)) {
            Ok(Event::Finished) => break,
            Ok(e) => events.push((Instant::now(), e)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
        let playing = conversation.stage.heard().is_some_and(|h| h.playing);
        mouth.push((Instant::now(), playing, conversation.stage.mouth(&lipsync).mouth_open_y));
        assert!(Instant::now() < deadline, "the conversation did not finish: {events:?}");
    }
    conversation.wait().unwrap();
    Run { events, mouth, output: read_wav(output).unwrap() }
}

impl Run {
    /// The text `pick` finds in each event that has one, in order.
    fn texts(&self, pick: impl Fn(&Event) -> Option<&String>) -> Vec<String> {
        self.events.iter().filter_map(|(_, e)| pick(e).cloned()).collect()
    }

    /// The reply of every turn that ended, in order.
    fn replies(&self) -> Vec<String> {
        self.texts(|e| if let Event::TurnEnded { reply, .. } = e { Some(reply) } else { None })
    }

    /// What the user said in each turn.
    fn said(&self) -> Vec<String> {
        self.texts(|e| if let Event::UserSaid { text, .. } = e { Some(text) } else { None })
    }

    /// What was heard in each interruption.
    fn interruptions(&self) -> Vec<String> {
        self.texts(|e| if let Event::Interrupted { heard, .. } = e { Some(heard) } else { None })
    }
}

fn whisper(models: &Path) -> Whisper {
    let mut asr = persona::config::AsrSettings::default();
    asr.initial_prompt = "Mira".into();
    Whisper::open(&models.join("ggml-tiny.en.bin"), &asr).unwrap()
}

/// Words of `text`, lower case, no punctuation.
fn words(text: &str) -> Vec<String> {
    persona::pipeline::barge_in::words(text)
}

/// True when `needle`'s words appear in order within `hay` (allowing a few misheard words).
fn contains_in_order(hay: &[String], needle: &[String]) -> bool {
    let mut i = 0;
    let mut found = 0;
    for w in needle {
        if let Some(j) = hay[i..].iter().position(|h| h == w) {
            i += j + 1;
            found += 1;
        }
    }
    found * 10 >= needle.len() * 8
}

const REPLIES: [&str; 3] = [
    "[EMOTION:😊] The sky looks blue because air scatters blue light the most.",
    "[EMOTION:🤔] Cats sleep most of the day to save energy for hunting.",
    "[EMOTION:😲] Honey never spoils if you keep it sealed.",
];

#[test]
fn three_questions_answered_in_order_with_mouth_and_emotions() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let server = ScriptServer::start(ScriptedReply::text("I am not sure.")).unwrap();
    server.when("sky", ScriptedReply::text(REPLIES[0]));
    server.when("cats", ScriptedReply::text(REPLIES[1]));
    server.when("honey", ScriptedReply::text(REPLIES[2]));
    let s = setup(&models, &server);
    let dir = tempfile::tempdir().unwrap();
    let input = conversation_wav(
        dir.path(),
        &[("Why is the sky blue?", 9.0), ("Why do cats sleep so much?", 9.0), ("Does honey ever go bad?", 3.0)],
    );
    let out = dir.path().join("reply.wav");
    let r = run(&s, &input, &out, None);

    // The replies, heard by Whisper in the output audio, in order.
    let heard = whisper(&models).transcribe(&r.output.to_mono_at(16_000)).unwrap().text;
    let heard_words = words(&heard);
    let mut at = 0;
    for reply in REPLIES {
        let reply_words = words(reply.split(']').nth(1).unwrap());
        assert!(contains_in_order(&heard_words[at..], &reply_words), "\"{reply}\" not heard in \"{heard}\"");
        at += heard_words[at..].iter().position(|w| *w == reply_words[reply_words.len() - 1]).unwrap_or(0);
    }

    // Every turn ended, none interrupted or failed, with a full latency breakdown.
    let ended: Vec<_> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::TurnEnded { reply, latency, interrupted, .. } => Some((reply.clone(), *latency, *interrupted)),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), 3, "{:?}", r.events);
    for (reply, latency, interrupted) in &ended {
        assert!(!interrupted);
        assert!(latency.first_played.is_some(), "{reply}: {}", latency.summary());
        assert!(latency.first_played >= latency.first_audio && latency.first_audio >= latency.first_chunk);
    }
    assert!(!r.events.iter().any(|(_, e)| matches!(e, Event::TurnFailed { .. } | Event::Interrupted { .. })));

    // Emotions fired in order, each while its turn was being spoken.
    let expressions: Vec<String> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Expression { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(expressions, ["happy", "thinking", "surprised"]);

    // The mouth moved while the character spoke (it opens in nearly every stretch of a third of a second of
    // speech) and rested otherwise.
    let start = r.mouth[0].0;
    let mut windows: std::collections::BTreeMap<u128, (bool, f32)> = Default::default();
    for (at, playing, m) in &r.mouth {
        let w = windows.entry(at.duration_since(start).as_millis() / 300).or_insert((true, 0.0));
        *w = (w.0 && *playing, w.1.max(*m));
    }
    let speaking: Vec<f32> = windows.values().filter(|(p, _)| *p).map(|(_, m)| *m).collect();
    let moving = speaking.iter().filter(|m| **m > 0.2).count();
    assert!(
        speaking.len() > 15 && moving * 10 >= speaking.len() * 8,
        "mouth opened in {moving} of {} windows",
        speaking.len()
    );
    let quiet: Vec<f32> = r.mouth.iter().skip(20).filter(|(_, p, _)| !p).map(|(_, _, m)| *m).collect();
    let at_rest = quiet.iter().filter(|m| **m < 0.05).count();
    assert!(at_rest * 10 >= quiet.len() * 9, "mouth at rest in only {at_rest} of {} silent samples", quiet.len());

    // The transcript log holds the whole conversation.
    let log = std::fs::read_to_string(s.paths.logs_dir().join("mira.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6, "{log}");
    assert!(lines[0]["text"].as_str().unwrap().to_lowercase().contains("sky"));
    assert!(lines[1]["text"].as_str().unwrap().contains("scatters blue light"));
    assert_eq!(lines[5]["emotions"][0], "😲");
}

#[test]
fn interruption_stops_the_reply_and_keeps_only_what_was_heard() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let long = "Octopuses are remarkable animals. They have three hearts and blue blood. Each of their eight arms \
                can taste what it touches. They change colour in a fraction of a second. Some of them even use \
                coconut shells as portable shelters.";
    // Whisper may mishear espeak-ng's "octopus": the first question gets the long reply whatever it heard.
    let server = ScriptServer::start(ScriptedReply::text(long)).unwrap();
    server.when("stop", ScriptedReply::text("Okay, I will stop."));
    let mut s = setup(&models, &server);
    s.settings.conversation.barge_in = BargeIn::MinWords;
    let dir = tempfile::tempdir().unwrap();
    let input = conversation_wav(dir.path(), &[("Tell me about the octopus.", 7.0), ("Please stop talking now.", 6.0)]);
    let out = dir.path().join("reply.wav");
    let r = run(&s, &input, &out, None);

    let interrupted: Vec<_> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Interrupted { heard, decided_at, silent_at, .. } => Some((heard.clone(), *decided_at, *silent_at)),
            _ => None,
        })
        .collect();
    assert_eq!(interrupted.len(), 1, "{:?}", r.events);
    let (heard, decided, silent) = &interrupted[0];
    assert!(silent.duration_since(*decided) <= Duration::from_millis(100), "the voice went on after the decision");
    assert!(!heard.is_empty() && long.starts_with(heard.as_str()) && heard.len() < long.len(), "kept: \"{heard}\"");

    // The next turn answers the new question.
    let replies = r.replies();
    assert_eq!(replies, ["Okay, I will stop."]);
    let log = std::fs::read_to_string(s.paths.logs_dir().join("mira.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records[1]["interrupted"], true, "{log}");
    assert_eq!(records[1]["text"], heard.as_str());
}

#[test]
fn persona_run_from_files_prints_turns_and_writes_voice_and_frames() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptServer::start(ScriptedReply::text("[EMOTION:😊] Hello! Nice to meet you.")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = conversation_wav(dir.path(), &[("Hello, who are you?", 5.0)]);
    let settings = dir.path().join("settings.toml");
    std::fs::write(&settings, "[output]\nfps = 10\n[conversation]\nkeep_log = false\n").unwrap();
    let (reply, frames) = (dir.path().join("reply.wav"), dir.path().join("frames"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("--config")
        .arg(&settings)
        // Files only: no avatar window or control panel even when the suite runs under Xvfb (tests/windows.rs).
        .args(["run", "--no-window", "--size", "90x160", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&reply)
        .arg("--output")
        .arg(format!("png:{}", frames.display()))
        .env("PERSONA_MODELS", &models)
        .env("PERSONA_LLM_URL", server.url())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("you: Hello"), "{stdout}");
    assert!(stdout.contains("Mira: Hello! Nice to meet you."), "{stdout}");
    assert!(stdout.contains("latency: final transcript"), "{stdout}");
    assert!(stdout.contains("[happy]"), "{stdout}");
    let voice = read_wav(&reply).unwrap();
    let loud = voice.samples.iter().filter(|s| s.abs() > 0.05).count();
    assert!(loud > 2_400, "the reply is in the WAV file");
    // Frames at 10 fps over the whole run (the input lasts about 7 s, the reply follows).
    let n = std::fs::read_dir(&frames).unwrap().count();
    assert!((50..=300).contains(&n), "{n} frames");
}

#[test]
fn a_failing_llm_ends_its_turn_visibly_and_the_next_turn_works() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    use persona::llm::Fault;
    // In order: garbage in the middle of a reply, a server error, then a slow but good reply.
    let server = ScriptServer::with_replies(vec![
        ScriptedReply::text("Once upon a time, there was a small fox who lived in a quiet wood.")
            .fault(Fault::NotJsonAfter(6)),
        ScriptedReply::status(500, "the model crashed"),
        ScriptedReply::text("My name is Mira.").first_token_after(Duration::from_secs(2)),
    ])
    .unwrap();
    let mut s = setup(&models, &server);
    s.settings.llm.retries = 0;
    let dir = tempfile::tempdir().unwrap();
    let input = conversation_wav(
        dir.path(),
        &[("Tell me a story.", 7.0), ("Are you still there?", 5.0), ("What is your name?", 6.0)],
    );
    let r = run(&s, &input, &dir.path().join("reply.wav"), None);
    let failed: Vec<&String> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::TurnFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 2, "{:?}", r.events);
    assert!(failed[0].contains("JSON"), "{}", failed[0]);
    assert!(failed[1].contains("500"), "{}", failed[1]);
    let replies = r.replies();
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(replies[0].starts_with("Once upon a time"), "what came before the garbage is kept: {replies:?}");
    assert_eq!(replies[2], "My name is Mira.");
    // What arrived before the garbage was spoken.
    let heard = whisper(&models).transcribe(&r.output.to_mono_at(16_000)).unwrap().text.to_lowercase();
    assert!(heard.contains("time") && heard.contains("mira"), "{heard}");
}

#[test]
fn personality_edited_on_disk_and_llm_settings_changed_during_a_conversation_shape_the_next_request() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptServer::start(ScriptedReply::text("I am Mira.")).unwrap();
    let mut s = setup(&models, &server);
    s.settings.conversation.keep_log = false;
    // The character in a folder of our own, so the test can edit it like a user in their editor.
    let dir = tempfile::tempdir().unwrap();
    let mira = dir.path().join("mira");
    std::fs::create_dir(&mira).unwrap();
    for f in ["persona.toml", "personality.txt"] {
        std::fs::copy(s.character.dir.join(f), mira.join(f)).unwrap();
    }
    let character = Character::load(&mira).unwrap();
    let pirate = "You are {{char}}, a retired pirate captain who answers every question with a sea shanty.";
    assert!(!character.personality.contains("retired pirate"));

    let input = conversation_wav(dir.path(), &[("What is your name?", 7.0), ("Do you like music?", 4.0)]);
    let conversation = start(&s, character, &input, &dir.path().join("reply.wav"), None);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut said = Vec::new();
    loop {
        match conversation.events.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::UserSaid { turn, text }) => {
                // The first turn's request is on its way: edit the file in place, as an editor saving it would,
                // and change the LLM settings as the control panel does.
                if turn == 1 {
                    std::fs::write(mira.join("personality.txt"), pirate).unwrap();
                    let mut changed = s.settings.clone();
                    changed.llm.temperature = 0.25;
                    changed.llm.max_tokens = 77;
                    conversation.controls.send(Control::SettingsChanged(Box::new(changed))).unwrap();
                }
                said.push(text);
            }
            Ok(Event::Finished) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        assert!(Instant::now() < deadline, "the conversation did not finish");
    }
    conversation.wait().unwrap();

    let requests = server.chat_requests();
    assert_eq!(requests.len(), 2, "two turns expected, heard {said:?}");
    let system = |i: usize| {
        requests[i].messages().into_iter().find(|(role, _)| role == "system").map(|(_, c)| c).unwrap_or_default()
    };
    assert!(!system(0).contains("retired pirate"), "the first turn was asked before the edit: {}", system(0));
    assert!(
        system(1).contains("Mira, a retired pirate captain"),
        "the turn after the edit uses the edited personality; its system prompt was: {}",
        system(1)
    );
    let sampling = |i: usize| (requests[i].body["temperature"].as_f64(), requests[i].body["max_tokens"].as_u64());
    assert_ne!(sampling(0), (Some(0.25), Some(77)));
    assert_eq!(sampling(1), (Some(0.25), Some(77)), "the settings changed live apply to the next request");
}

#[test]
fn the_panels_speak_sample_is_heard_its_expression_preview_reaches_the_avatar_and_a_new_voice_speaks_the_next() {
    let models = persona::require_models!(
        "silero_vad.onnx",
        "ggml-tiny.en.bin",
        "kokoro-v1.0.int8.onnx",
        "voices/af_heart.bin",
        "voices/am_michael.bin"
    );
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let server = ScriptServer::start(ScriptedReply::text("I am Mira.")).unwrap();
    let mut s = setup(&models, &server);
    s.settings.conversation.keep_log = false;
    let dir = tempfile::tempdir().unwrap();
    // Nobody speaks: whatever is in the output is the sample.
    let input = dir.path().join("silence.wav");
    write_wav(&input, &Audio::mono(vec![0.0; 16_000 * 20], 16_000)).unwrap();
    let output = dir.path().join("reply.wav");
    let conversation = start(&s, s.character.clone(), &input, &output, None);
    conversation.controls.send(Control::Audition("Hello! This is how I sound.".into())).unwrap();
    conversation.controls.send(Control::PreviewExpression("surprised".into())).unwrap();
    // The panel changes the voice while the sample plays: the next sample speaks with it.
    let mut changed = s.settings.clone();
    changed.tts.voice = "am_michael".into();
    conversation.controls.send(Control::SettingsChanged(Box::new(changed))).unwrap();
    let loaded = Instant::now() + Duration::from_secs(60);
    while conversation.status.read().unwrap().tts != Health::Ok {
        assert!(Instant::now() < loaded, "the new voice did not load: {:?}", conversation.status.read().unwrap().tts);
        std::thread::sleep(Duration::from_millis(20));
    }
    // Well after the first sample has played (both go to the same queue; this keeps them apart in the output).
    std::thread::sleep(Duration::from_secs(4));
    conversation.controls.send(Control::Audition("And this is my other voice.".into())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut previews = Vec::new();
    loop {
        previews.extend(conversation.stage.take_previews());
        match conversation.events.recv_timeout(Duration::from_millis(20)) {
            Ok(Event::Finished) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(e) => panic!("no turn was expected: {e:?}"),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        assert!(Instant::now() < deadline, "the conversation did not finish");
    }
    conversation.wait().unwrap();
    assert_eq!(previews, ["surprised"]);
    assert!(server.chat_requests().is_empty(), "the sample is not a turn");
    let audio = read_wav(&output).unwrap().to_mono_at(16_000);
    let heard = whisper(&models).transcribe(&audio).unwrap().text;
    assert!(contains_in_order(&words(&heard), &words("This is how I sound other voice")), "Whisper heard \"{heard}\"");
    // The first sample in af_heart's voice (a woman's, pitch about 200 Hz), the second in am_michael's (a man's,
    // about 110 Hz): the first and the last second and a half of sound.
    let loud: Vec<usize> = (0..audio.len() / 160)
        .filter(|i| audio[i * 160..(i + 1) * 160].iter().map(|x| x * x).sum::<f32>() > 0.016)
        .collect();
    let (first, last) = (loud[0] * 160, (loud[loud.len() - 1] + 1) * 160);
    assert!(last - first > 16_000 * 3, "two samples in the output");
    let pitch =
        [median_pitch_hz(&audio[first..first + 24_000], 16_000), median_pitch_hz(&audio[last - 24_000..last], 16_000)];
    assert!(pitch[0] > 160.0 && pitch[1] < 140.0, "the voice changed between the samples: pitch {pitch:?} Hz");
}

/// The median pitch of the voiced 40 ms frames of `samples`, by autocorrelation (60-400 Hz).
fn median_pitch_hz(samples: &[f32], rate: usize) -> f32 {
    let frame = rate / 25;
    let (min_lag, max_lag) = (rate / 400, rate / 60);
    let loudest = samples.chunks(frame).map(|c| c.iter().map(|x| x * x).sum::<f32>()).fold(0.0f32, f32::max);
    let mut pitches: Vec<f32> = samples
        .chunks(frame)
        .filter(|c| c.len() == frame && c.iter().map(|x| x * x).sum::<f32>() > loudest * 0.1)
        .filter_map(|c| {
            let energy: f32 = c.iter().map(|x| x * x).sum();
            let r = |lag: usize| c[..frame - lag].iter().zip(&c[lag..]).map(|(a, b)| a * b).sum::<f32>();
            let (lag, best) = (min_lag..max_lag).map(|l| (l, r(l))).max_by(|a, b| a.1.total_cmp(&b.1))?;
            (best > 0.3 * energy).then(|| rate as f32 / lag as f32)
        })
        .collect();
    pitches.sort_by(f32::total_cmp);
    pitches.get(pitches.len() / 2).copied().unwrap_or(0.0)
}

/// A reply long enough for the echo canceller to be tested on: about fifteen seconds of speech.
const MOON: &str = "Let me tell you about the moon. It is about four hundred thousand kilometres away. It has no air and \
                    no weather. The same side always faces us. Astronauts left footprints there that will last for \
                    ages.";

/// A conversation where the character's voice reaches the microphone through a simulated room (40 ms delay, a
/// low-pass, 250 ms of reverberation, the echo at 0.6 of the played level) and every sound the user makes may
/// interrupt (`any`, the most sensitive policy). The first question gets the long reply, whatever Whisper heard;
/// a question about the name gets a short one.
fn echo_run(models: &Path, cancel_echo: bool, reply: &str, lines: &[(&str, f32)]) -> (Setup, Run) {
    let server = ScriptServer::start(ScriptedReply::text(reply)).unwrap();
    server.when("name", ScriptedReply::text("My name is Mira."));
    let mut s = setup(models, &server);
    s.settings.conversation.barge_in = BargeIn::Any;
    s.settings.audio.echo_cancellation = cancel_echo;
    let dir = tempfile::tempdir().unwrap();
    let input = conversation_wav(dir.path(), lines);
    let r = run(&s, &input, &dir.path().join("reply.wav"), Some(SimulatedRoom::new(40, 0.6, 250)));
    (s, r)
}

#[test]
fn own_voice_through_speakers_does_not_interrupt_the_reply() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    let (s, r) = echo_run(&models, true, MOON, &[("Tell me about the moon.", 22.0)]);
    for (_, e) in &r.events {
        eprintln!("{e:?}");
    }
    // The whole reply played: nothing interrupted it, and it ended as one turn.
    assert_eq!(r.interruptions(), Vec::<String>::new(), "the reply was cut off by its own echo");
    assert_eq!(r.replies(), [MOON]);
    // Its echo never became a turn of its own: the user said one thing, the log holds one exchange.
    assert_eq!(r.said().len(), 1, "{:?}", r.said());
    let log = std::fs::read_to_string(s.paths.logs_dir().join("mira.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    // And the end of the reply was heard in the output.
    let heard = whisper(&models).transcribe(&r.output.to_mono_at(16_000)).unwrap().text;
    assert!(contains_in_order(&words(&heard), &words("Astronauts left footprints there")), "{heard}");
}

#[test]
fn a_piece_the_voice_refuses_ends_its_turn_visibly_and_the_next_turn_works() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    // A model stuck repeating itself: 2,200 letters without a space or a stop. The chunker cannot cut it, and
    // the voice refuses a piece that long (TtsError::TooLong); the pieces around it are still spoken.
    let stuck = format!("Here you go: {}. That is all.", "ha".repeat(1100));
    let server =
        ScriptServer::with_replies(vec![ScriptedReply::text(&stuck), ScriptedReply::text("My name is Mira.")]).unwrap();
    let s = setup(&models, &server);
    let dir = tempfile::tempdir().unwrap();
    // A long pause, so even a slow machine has finished the first reply before the second question.
    let input = conversation_wav(dir.path(), &[("Tell me a joke.", 18.0), ("What is your name?", 6.0)]);
    let r = run(&s, &input, &dir.path().join("reply.wav"), None);
    let failed: Vec<(u64, &String)> = r
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::TurnFailed { turn, error } => Some((*turn, error)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", r.events);
    assert!(failed[0].1.contains("characters long"), "the error says what went wrong: {}", failed[0].1);
    // Both turns ended, none interrupted; the second answered normally.
    let replies = r.replies();
    assert_eq!(replies.len(), 2, "{:?}", r.events);
    assert_eq!(replies[1], "My name is Mira.");
    // History and the log keep what was said, not the piece that never was.
    assert_eq!(replies[0], "Here you go: That is all.");
    let log = std::fs::read_to_string(s.paths.logs_dir().join("mira.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "{log}");
    assert_eq!(records[1]["text"], "Here you go: That is all.");
    assert!(r.interruptions().is_empty(), "{:?}", r.events);
    // What could be said was said: before the refused piece ("here you go"), after it ("that is all"), and the next
    // reply ("my name is Mira"), heard in order (Whisper may miss a word).
    let heard = words(&whisper(&models).transcribe(&r.output.to_mono_at(16_000)).unwrap().text);
    assert!(contains_in_order(&heard, &words("here go all name Mira")), "{heard:?}");
}

#[test]
fn a_real_interruption_is_heard_through_the_echo() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    // The user asks something else while the character is still talking about the moon: 15 s after the first
    // question, well into a reply of about 25 s however long a busy machine takes to begin it, and after the
    // canceller has learned the room (until then, the first 2-3 s of the first reply, it is nearly half-duplex).
    let longer = format!(
        "{MOON} Its craters were made by rocks falling from space. Its pull on the oceans makes the tides. Twelve \
         people have walked on it so far."
    );
    let (s, r) = echo_run(&models, true, &longer, &[("Tell me about the moon.", 15.0), ("What is your name?", 7.0)]);
    // One interruption, by the user's question (heard over the character's voice), which the next turn answers.
    assert_eq!(r.interruptions().len(), 1, "{:?}", r.events);
    let said = r.said();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[1].to_lowercase().contains("name"), "{said:?}");
    assert_eq!(r.replies(), ["My name is Mira."]);
    let log = std::fs::read_to_string(s.paths.logs_dir().join("mira.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 4, "{log}");
    assert_eq!(records[1]["interrupted"], true, "{log}");
}

#[test]
fn without_echo_cancellation_the_microphone_hears_the_character() {
    let models = persona::require_models!("silero_vad.onnx", "ggml-tiny.en.bin", "kokoro-v1.0.int8.onnx");
    // The control for the two tests above: the same room, cancellation off. The character's voice reaches the
    // listener as speech (judged by the echo guard, cutting the reply off, or becoming turns of its own), where
    // with cancellation on nothing of it was heard.
    let (_, r) = echo_run(&models, false, MOON, &[("Tell me about the moon.", 18.0)]);
    let heard_itself =
        r.events.iter().any(|(_, e)| matches!(e, Event::NotAnInterruption { .. } | Event::Interrupted { .. }))
            || r.said().len() > 1;
    assert!(heard_itself, "{:?}", r.events);
}
