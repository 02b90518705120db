//! The control panel, driven through egui's test harness (no display): clicks and typing change the running
//! settings, the pipeline hears about it, and the files on disk follow; edits made on disk come back.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use persona::character::Character;
use persona::config::{Paths, Settings, atomic_write, paths_bundled_dir};
use persona::llm::{ScriptServer, ScriptedReply};
use persona::pipeline::status::{
    Control, ConversationState, Health, SharedStatus, Speaker, Status, TranscriptLine, TurnLatency,
};
use persona::ui::{ControlPanel, InputDevices, PanelSetup, SharedCharacter, Tab};

/// A panel over a temporary settings file and a copy of the bundled character.
struct Fixture {
    dir: tempfile::TempDir,
    settings_file: PathBuf,
    character_dir: PathBuf,
    character: SharedCharacter,
    status: SharedStatus,
    controls: Receiver<Control>,
}

/// Microphone names for the device picker (the machines that run the tests have no sound card).
struct Microphones(Vec<String>);

impl InputDevices for Microphones {
    fn input_devices(&self) -> Result<Vec<String>, String> {
        Ok(self.0.clone())
    }
}

fn fixture(settings: Settings) -> (Fixture, ControlPanel) {
    let dir = tempfile::tempdir().unwrap();
    let settings_file = dir.path().join("config/settings.toml");
    settings.save(&settings_file).unwrap();
    let paths = Paths {
        config_file: settings_file.clone(),
        data_dir: dir.path().join("data"),
        models_dir: dir.path().join("models"),
    };
    let character_dir = paths.user_characters_dir().join("mira");
    std::fs::create_dir_all(&character_dir).unwrap();
    for f in ["persona.toml", "personality.txt"] {
        std::fs::copy(paths_bundled_dir("personas").join("mira").join(f), character_dir.join(f)).unwrap();
    }
    let character = Arc::new(RwLock::new(Character::load(&character_dir).unwrap()));
    let status: SharedStatus = Arc::new(RwLock::new(Status::default()));
    let (tx, controls) = channel();
    let panel = ControlPanel::new(PanelSetup {
        paths,
        settings: Arc::new(RwLock::new(settings)),
        character: character.clone(),
        status: status.clone(),
        sink: Box::new(tx),
    })
    .with_debounce(Duration::from_millis(50))
    .with_inputs(Box::new(Microphones(vec!["USB Microphone".into(), "Headset".into()])));
    (Fixture { dir, settings_file, character_dir, character, status, controls }, panel)
}

fn harness<'a>(panel: ControlPanel, tab: Tab) -> Harness<'a, ControlPanel> {
    // egui's emoji font lacks a few newer emoji that Mira's personality uses (🤩); they show as boxes.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1000.0, 900.0))
        .allow_missing_glyphs()
        .build_ui_state(|ui, panel: &mut ControlPanel| panel.ui(ui), panel);
    h.state_mut().tab = tab;
    h.run();
    h
}

/// Steps the UI (which polls files and workers) until `done` holds, for at most 10 s.
fn step_until(
    h: &mut Harness<'_, ControlPanel>,
    what: &str,
    mut done: impl FnMut(&mut Harness<'_, ControlPanel>) -> bool,
) {
    let start = Instant::now();
    while !done(h) {
        assert!(start.elapsed() < Duration::from_secs(10), "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run();
}

/// Replaces the text of the field labelled `label` and presses Enter.
fn type_into(h: &mut Harness<'_, ControlPanel>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    h.get_by_label(label).type_text(text);
    h.run();
    h.key_press(Key::Enter);
    h.run();
}

fn on_disk(file: &Path) -> Settings {
    Settings::from_toml(&std::fs::read_to_string(file).unwrap(), file).unwrap()
}

fn drain(rx: &Receiver<Control>) -> Vec<Control> {
    rx.try_iter().collect()
}

fn settings_sent(controls: &[Control]) -> Vec<Settings> {
    controls
        .iter()
        .filter_map(|c| match c {
            Control::SettingsChanged(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_in_the_panel_reaches_the_app_and_the_file() {
    let (fx, panel) = fixture(Settings::default());
    let running = panel.settings();
    let mut h = harness(panel, Tab::Listening);
    assert!(running.read().unwrap().audio.echo_cancellation);

    h.get_by_label("Echo cancellation").click();
    h.run();
    assert!(!running.read().unwrap().audio.echo_cancellation, "the value the app reads changed");
    let sent = settings_sent(&drain(&fx.controls));
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].audio.echo_cancellation, "the pipeline was told");

    // The device picker lists what the lister gives, and picking one is applied like any other change.
    h.get_by_label("Input device").click();
    h.run();
    h.get_by_label("Headset").click();
    h.run();
    assert_eq!(running.read().unwrap().audio.input_device, "Headset");

    step_until(&mut h, "the debounced write", |_| {
        let disk = on_disk(&fx.settings_file);
        !disk.audio.echo_cancellation && disk.audio.input_device == "Headset"
    });
    assert_eq!(on_disk(&fx.settings_file), *running.read().unwrap());
    // Our own write comes back as a watch event; it is recognised and not announced again.
    std::thread::sleep(Duration::from_millis(300));
    h.run_steps(3);
    assert_eq!(settings_sent(&drain(&fx.controls)).len(), 1, "only the device change was announced");

    // A text setting is applied when the field is left.
    h.state_mut().tab = Tab::Llm;
    h.run();
    type_into(&mut h, "Model", "qwen2.5:3b");
    assert_eq!(running.read().unwrap().llm.model, "qwen2.5:3b");
    step_until(&mut h, "the model written", |_| on_disk(&fx.settings_file).llm.model == "qwen2.5:3b");
}

#[test]
fn a_bad_value_is_refused_with_a_message() {
    let (fx, panel) = fixture(Settings::default());
    let running = panel.settings();
    let mut h = harness(panel, Tab::Llm);

    type_into(&mut h, "Endpoint", "localhost:8080");
    assert!(h.query_by_label_contains("is not an http(s) URL").is_some(), "the refusal is shown");
    assert_eq!(running.read().unwrap().llm.endpoint, Settings::default().llm.endpoint, "running value kept");
    assert!(settings_sent(&drain(&fx.controls)).is_empty(), "nothing was sent to the pipeline");
    // The typed text stays in the field to be fixed, and the fix is applied.
    assert!(h.query_all_by_value("localhost:8080").next().is_some());
    type_into(&mut h, "Endpoint", "http://localhost:8080/v1");
    assert!(h.query_by_label_contains("is not an http(s) URL").is_none(), "the message goes away");
    assert_eq!(running.read().unwrap().llm.endpoint, "http://localhost:8080/v1");
    step_until(&mut h, "the endpoint written", |_| {
        on_disk(&fx.settings_file).llm.endpoint == "http://localhost:8080/v1"
    });

    // A relation between two settings: RVC on without a voice model.
    h.state_mut().tab = Tab::Voice;
    h.run();
    h.get_by_label("Convert the voice with RVC").click();
    h.run();
    assert!(h.query_by_label_contains("rvc.voice_model: is empty while rvc.enabled is true").is_some());
    assert!(!running.read().unwrap().rvc.enabled);
    h.run_steps(10);
    assert!(!on_disk(&fx.settings_file).rvc.enabled);
}

#[test]
fn the_saved_personality_is_the_next_prompt() {
    let (fx, panel) = fixture(Settings::default());
    let mut h = harness(panel, Tab::Personality);
    let text = "You are {{char}}, a retired pirate who talks with {{user}} about the sea.";
    h.get_by_label_contains("Personality (the system prompt").focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    h.get_by_label_contains("Personality (the system prompt").type_text(text);
    h.run();
    assert!(h.query_by_label("unsaved changes").is_some());
    // Not saved yet: the conversation still uses the old prompt.
    assert!(!fx.character.read().unwrap().system_prompt("Sam", "now").contains("pirate"));

    h.get_by_label("Save personality").click();
    h.run();
    let expected = "You are Mira, a retired pirate who talks with Sam about the sea.";
    assert_eq!(fx.character.read().unwrap().system_prompt("Sam", "now"), expected);
    assert!(drain(&fx.controls).contains(&Control::PersonalityChanged));
    assert_eq!(std::fs::read_to_string(fx.character_dir.join("personality.txt")).unwrap(), text);
    assert_eq!(Character::load(&fx.character_dir).unwrap().system_prompt("Sam", "now"), expected);

    // An empty personality is refused.
    h.get_by_label_contains("Personality (the system prompt").focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.key_press(Key::Delete);
    h.run();
    h.get_by_label("Save personality").click();
    h.run();
    assert!(h.query_by_label_contains("the personality is empty").is_some());
    assert_eq!(std::fs::read_to_string(fx.character_dir.join("personality.txt")).unwrap(), text);
}

#[test]
fn personality_edited_on_disk_is_picked_up() {
    let (fx, panel) = fixture(Settings::default());
    let mut h = harness(panel, Tab::Personality);
    // Another editor saves the file (as most do: a new file renamed over the old one).
    let file = fx.character_dir.join("personality.txt");
    atomic_write(&file, b"You are {{char}}, a night-shift radio host.").unwrap();
    step_until(&mut h, "the edit on disk to reach the character", |_| {
        fx.character.read().unwrap().system_prompt("u", "t") == "You are Mira, a night-shift radio host."
    });
    assert!(drain(&fx.controls).contains(&Control::PersonalityChanged));
    assert!(
        h.query_all_by_value("You are {{char}}, a night-shift radio host.").next().is_some(),
        "the editor shows it"
    );
    assert!(h.query_by_label("saved").is_some());

    // An edit in place (same file, no rename) is seen too.
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b" You love jazz.").unwrap();
    step_until(&mut h, "the appended text", |_| fx.character.read().unwrap().personality.ends_with("You love jazz."));
}

#[test]
fn an_edit_in_both_places_asks_which_to_keep() {
    let (fx, panel) = fixture(Settings::default());
    let mut h = harness(panel, Tab::Personality);
    let file = fx.character_dir.join("personality.txt");
    let editor = "Personality (the system prompt";
    h.get_by_label_contains(editor).focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.get_by_label_contains(editor).type_text("Mine: {{char}} is a chef.");
    h.run();

    atomic_write(&file, b"Theirs: {{char}} is a pilot.").unwrap();
    step_until(&mut h, "the conflict question", |h| h.query_by_label_contains("changed in another editor").is_some());
    // Neither text is lost: the editor keeps mine, the file keeps theirs (and the character follows the file).
    assert!(h.query_all_by_value("Mine: {{char}} is a chef.").next().is_some());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Theirs: {{char}} is a pilot.");
    assert_eq!(fx.character.read().unwrap().system_prompt("u", "t"), "Theirs: Mira is a pilot.");

    h.get_by_label("Keep my text (overwrite the file)").click();
    h.run();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Mine: {{char}} is a chef.");
    assert_eq!(fx.character.read().unwrap().system_prompt("u", "t"), "Mine: Mira is a chef.");
    assert!(h.query_by_label_contains("changed in another editor").is_none());

    // Again, and this time take the file's text.
    h.get_by_label_contains(editor).focus();
    h.run();
    h.get_by_label_contains(editor).type_text(" Unsaved.");
    h.run();
    atomic_write(&file, b"Theirs again: {{char}}.").unwrap();
    step_until(&mut h, "the second conflict", |h| h.query_by_label_contains("changed in another editor").is_some());
    h.get_by_label("Use the file's text (discard my edits)").click();
    h.run();
    assert!(h.query_all_by_value("Theirs again: {{char}}.").next().is_some());
    assert!(h.query_by_label("saved").is_some());
}

#[test]
fn settings_edited_by_hand_are_reloaded_and_a_broken_edit_keeps_the_running_settings() {
    let (fx, panel) = fixture(Settings::default());
    let running = panel.settings();
    let mut h = harness(panel, Tab::Dashboard);

    std::fs::write(&fx.settings_file, "[llm]\nmodel = \"hand-edited\"\ntemperature = 0.3\n").unwrap();
    step_until(&mut h, "the hand edit to load", |_| running.read().unwrap().llm.model == "hand-edited");
    assert_eq!(running.read().unwrap().llm.temperature, 0.3);
    let sent = settings_sent(&drain(&fx.controls));
    assert_eq!(sent.last().map(|s| s.llm.model.as_str()), Some("hand-edited"));

    std::fs::write(&fx.settings_file, "[llm]\nmodel = \"broken\"\n[vad]\nthreshold = 2\n").unwrap();
    step_until(&mut h, "the error to show", |h| h.query_by_label_contains("cannot be used").is_some());
    assert!(h.query_by_label_contains("`vad.threshold` 2 is out of range").is_some(), "the error names line and key");
    assert_eq!(running.read().unwrap().llm.model, "hand-edited", "running settings kept");
    assert!(settings_sent(&drain(&fx.controls)).is_empty());

    // A change in the panel meanwhile is applied but does not overwrite the user's broken edit.
    h.state_mut().tab = Tab::Subtitles;
    h.run();
    h.get_by_label("Show subtitles").click();
    h.run_steps(10);
    std::thread::sleep(Duration::from_millis(100));
    h.run();
    assert!(!running.read().unwrap().subtitles.enabled);
    assert!(std::fs::read_to_string(&fx.settings_file).unwrap().contains("threshold = 2"));

    // Fixing the file reloads it.
    std::fs::write(&fx.settings_file, "[llm]\nmodel = \"fixed\"\n").unwrap();
    step_until(&mut h, "the fixed file", |_| running.read().unwrap().llm.model == "fixed");
    assert!(h.query_by_label_contains("cannot be used").is_none());
    drop(fx.dir);
}

#[test]
fn the_probe_lists_the_models_and_gets_a_reply_from_a_real_server() {
    let server = ScriptServer::start(ScriptedReply::text("Hello there, nice to meet you!")).unwrap();
    server.set_model("smollm2-135m");
    server.set_api_key("sk-test-secret");
    let mut settings = Settings::default();
    settings.llm.endpoint = server.url();
    settings.llm.api_key = "sk-test-secret".into();
    let (fx, panel) = fixture(settings);
    let running = panel.settings();
    let mut h = harness(panel, Tab::Llm);
    assert!(h.query_all_by_value("sk-test-secret").next().is_none(), "the API key is masked");

    // The configured model is not on this server: the probe lists what is there and says why no reply came.
    h.get_by_label("Probe endpoint").click();
    step_until(&mut h, "the probe answer", |h| h.query_by_label_contains("Reply failed:").is_some());
    assert!(h.query_by_label_contains("1 model(s) offered").is_some());
    assert!(h.query_by_label_contains("\"llama3.2\" is not among them").is_some());
    assert!(h.query_by_label_contains("404").is_some());
    let received = server.received();
    assert!(received.iter().any(|r| r.method == "GET" && r.path.ends_with("/v1/models")), "{received:?}");
    assert!(received.iter().all(|r| r.header("authorization") == Some("Bearer sk-test-secret")));

    // The listed models are offered; picking one sets it, and the next probe gets a reply.
    h.get_by_label("Models offered").click();
    h.run();
    h.get_by_label("smollm2-135m").click();
    h.run();
    assert_eq!(running.read().unwrap().llm.model, "smollm2-135m");
    h.get_by_label("Probe endpoint").click();
    step_until(&mut h, "the reply", |h| h.query_by_label_contains("Reply: first token after").is_some());
    assert!(h.query_by_label_contains("\"Hello there, nice to meet you!\"").is_some());
    assert!(h.query_by_label_contains("is not among them").is_none());
    drop(fx);
}

#[test]
fn the_probe_says_what_is_wrong() {
    let server = ScriptServer::start(ScriptedReply::text("Hi")).unwrap();
    server.set_api_key("the-right-key");
    let mut settings = Settings::default();
    settings.llm.endpoint = server.url();
    settings.llm.api_key = "sk-wrong".into();
    let e = persona::ui::services::probe(&settings.llm).unwrap_err();
    assert!(e.contains("401") && e.contains("Set llm.api_key"), "{e}");
    assert!(!e.contains("sk-wrong"), "{e}");

    // Nothing listening: a closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    settings.llm.endpoint = format!("http://127.0.0.1:{port}/v1");
    let e = persona::ui::services::probe(&settings.llm).unwrap_err();
    assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
}

#[test]
fn voices_come_from_the_voices_folder_and_audition_speaks() {
    let (fx, panel) = fixture(Settings::default());
    let voices = fx.dir.path().join("models/voices");
    std::fs::create_dir_all(&voices).unwrap();
    for v in ["af_heart", "bf_emma"] {
        std::fs::write(voices.join(format!("{v}.bin")), vec![0u8; 1024]).unwrap();
    }
    let running = panel.settings();
    let mut h = harness(panel, Tab::Voice);
    h.get_by_label("Add a voice").click();
    h.run();
    h.get_by_label("bf_emma").click();
    h.run();
    assert_eq!(running.read().unwrap().tts.voice, "bf_emma");
    h.get_by_label("Add a voice").click();
    h.run();
    h.get_by_label("af_heart").click();
    h.run();
    assert_eq!(running.read().unwrap().tts.voice, "bf_emma:1,af_heart:0.5", "a blend of two voices");

    drain(&fx.controls);
    h.get_by_label("Speak sample").click();
    h.run();
    assert!(drain(&fx.controls).iter().any(|c| matches!(c, Control::Audition(t) if t.contains("how I sound"))));
}

fn lively_status(status: &SharedStatus) {
    let mut s = status.write().unwrap();
    let ms = Duration::from_millis;
    s.state = ConversationState::Speaking;
    s.record_turn(TurnLatency {
        final_transcript: Some(ms(180)),
        request_sent: Some(ms(182)),
        first_token: Some(ms(420)),
        first_chunk: Some(ms(610)),
        first_audio: Some(ms(790)),
        first_played: Some(ms(805)),
    });
    s.interruptions = 1;
    s.llm = Health::Ok;
    s.microphone = Health::Degraded("no device: headless".into());
    s.tts = Health::Ok;
    s.input_level = 0.4;
    s.vad_probability = 0.82;
    let line =
        |speaker, text: &str, partial| TranscriptLine { speaker, text: text.into(), partial, interrupted: false };
    s.push_line(line(Speaker::User, "Hey Mira, what should I cook tonight?", false));
    s.push_line(line(Speaker::Character, "Ooh, how about a spicy ramen? It's cold out.", false));
    s.push_line(line(Speaker::User, "I don't have any noodles", true));
}

#[test]
fn the_dashboard_shows_the_conversation_and_sends_commands() {
    let (fx, panel) = fixture(Settings::default());
    lively_status(&fx.status);
    let mut h = harness(panel, Tab::Dashboard);
    assert!(h.query_by_label("SPEAKING").is_some());
    assert_eq!(h.query_all_by_label("805 ms").count(), 2, "first played of the last turn, and the average");
    assert!(h.query_by_label_contains("Mira: Ooh, how about a spicy ramen?").is_some());
    assert!(h.query_by_label_contains("degraded: no device: headless").is_some());

    h.get_by_label("Mute").click();
    h.run();
    h.get_by_label("Stop this turn").click();
    h.run();
    h.get_by_label("Retry").click();
    h.run();
    assert_eq!(drain(&fx.controls), vec![Control::SetMuted(true), Control::StopTurn, Control::Retry]);

    // The status is read every frame: the pipeline's next state shows without input.
    fx.status.write().unwrap().state = ConversationState::Listening;
    h.step();
    h.run();
    assert!(h.query_by_label("LISTENING").is_some());
}

/// Renders every page with the wgpu renderer. With `PERSONA_SCREENSHOTS=DIR` it also writes them there as
/// `panel-<page>.png`: `PERSONA_SCREENSHOTS=docs cargo test --test ui screenshots` makes the README's pictures.
#[test]
fn screenshots_of_every_page() {
    let mut settings = Settings::default();
    settings.tts.voice = "af_heart:0.7,af_bella:0.3".into();
    settings.conversation.vibe = "cosy, a rainy evening".into();
    settings.conversation.topics = vec!["cooking".into(), "music".into()];
    settings.avatar.parameter_map.insert("MouthOpenY".into(), "Mouth:: Vertical".into());
    let server = ScriptServer::start(ScriptedReply::text("Hi! Lovely to hear from you.")).unwrap();
    server.set_model("smollm2-135m");
    settings.llm.endpoint = server.url();
    settings.llm.model = "smollm2-135m".into();
    let (fx, panel) = fixture(settings);
    lively_status(&fx.status);
    let voices = fx.dir.path().join("models/voices");
    std::fs::create_dir_all(&voices).unwrap();
    for v in ["af_bella", "af_heart", "am_michael", "bf_emma"] {
        std::fs::write(voices.join(format!("{v}.bin")), vec![0u8; 1024]).unwrap();
    }
    let out = std::env::var_os("PERSONA_SCREENSHOTS").map(PathBuf::from);
    let mut h = harness(panel, Tab::Dashboard);
    for tab in Tab::ALL {
        h.state_mut().tab = tab;
        h.run();
        if tab == Tab::Llm {
            h.get_by_label("Probe endpoint").click();
            step_until(&mut h, "the probe", |h| h.query_by_label_contains("Reply: first token").is_some());
        }
        h.remove_cursor();
        h.run();
        let image = h.render().expect("the panel renders on the software adapter");
        let first = *image.get_pixel(0, 0);
        let distinct = image.pixels().filter(|p| **p != first).count();
        assert!(distinct > 1000, "{} page is blank", tab.label());
        if let Some(dir) = &out {
            std::fs::create_dir_all(dir).unwrap();
            let name = dir.join(format!("panel-{}.png", tab.label().to_lowercase()));
            image.save(&name).unwrap();
        }
    }
}

#[test]
fn the_parameter_map_editor_maps_our_names_to_the_puppets() {
    let (fx, panel) = fixture(Settings::default());
    let running = panel.settings();
    let mut h = harness(panel, Tab::Avatar);
    h.get_by_label("Our parameter name").click();
    h.run();
    h.get_by_label("MouthOpenY").click();
    h.run();
    h.get_by_label("The puppet's parameter name").focus();
    h.run();
    h.get_by_label("The puppet's parameter name").type_text("Mouth:: Vertical");
    h.run();
    h.get_by_label("Add").click();
    h.run();
    assert_eq!(
        running.read().unwrap().avatar.parameter_map.get("MouthOpenY").map(String::as_str),
        Some("Mouth:: Vertical")
    );
    step_until(&mut h, "the map written", |_| {
        on_disk(&fx.settings_file).avatar.parameter_map.contains_key("MouthOpenY")
    });
    h.get_by_label("Remove MouthOpenY").click();
    h.run();
    assert!(running.read().unwrap().avatar.parameter_map.is_empty());

    // Expression previews send the expression the character maps its emotions to.
    h.get_by_label("happy").click();
    h.run();
    assert!(drain(&fx.controls).contains(&Control::PreviewExpression("happy".into())));
}

/// `persona panel` opens a real window (winit + egui-wgpu) under Xvfb and draws the panel into it.
#[test]
fn persona_panel_draws_in_a_real_window() {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    let settings = dir.path().join("settings.toml");
    // Screenshots until the window shows more than a blank screen (at most 60 s), then close it.
    let script = format!(
        "\"$PERSONA\" --config '{settings}' panel & P=$!; \
         for i in $(seq 60); do sleep 1; import -window root '{shot}' 2>/dev/null || continue; \
           n=$(convert '{shot}' -format %k info:); [ \"$n\" -gt 20 ] && break; done; \
         kill $P; wait $P; exit 0",
        settings = settings.display(),
        shot = shot.display()
    );
    let out = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1000x800x24", "sh", "-c", &script])
        .env("PERSONA", env!("CARGO_BIN_EXE_persona"))
        .output()
        .expect("xvfb-run runs (the setup installs xvfb and imagemagick)");
    let log = String::from_utf8_lossy(&out.stderr);
    let image = image::open(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}); log:\n{log}")).to_rgba8();
    let mut colours: Vec<[u8; 4]> = image.pixels().map(|p| p.0).collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() > 20, "the window shows the panel, not a blank screen; log:\n{log}");
    // The panel's dark background fills the window's corner.
    let p = image.get_pixel(20, 400).0;
    assert!(p[0] < 60 && p[1] < 60 && p[2] < 60, "panel background at (20, 400): {p:?}");
}
