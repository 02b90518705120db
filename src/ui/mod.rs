//! The control panel: an egui UI over the running conversation and its settings.
//!
//! The panel holds three things and nothing else: the [`SharedStatus`] snapshot the pipeline writes (read each
//! frame), a [`ControlSink`] to send [`Control`] commands to the pipeline, and the running settings and character
//! ([`SharedSettings`], [`SharedCharacter`]) that the app reads. Every edit is validated and applied live; the
//! settings file and `personality.txt` are written back atomically and followed when edited elsewhere.
//!
//! Embedding: make a [`ControlPanel`] and call [`ControlPanel::ui`] with the root `Ui` of each egui pass (see
//! [`window::PanelWindow`] for a winit/wgpu window that does this, and [`window::run_standalone`] for a panel alone).

mod panels;
mod personality;
pub mod services;
mod store;
pub mod window;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::{Paths, Problem, Settings};
use crate::pipeline::status::{Control, SharedStatus};

pub use crate::config::watch::FileWatch;
pub use personality::{FileEvent, PersonalityEditor, SharedCharacter, list_characters};
pub use services::{CpalInputs, InputDevices, Probe};
pub use store::{DEFAULT_DEBOUNCE, FileState, SettingsStore, SharedSettings};

/// Where the panel's commands go: the pipeline's command channel, whichever kind the app uses.
pub trait ControlSink: Send {
    fn send(&self, control: Control);
}

impl ControlSink for std::sync::mpsc::Sender<Control> {
    fn send(&self, control: Control) {
        // A closed channel means the pipeline is gone; the panel keeps working as a settings editor.
        let _ = std::sync::mpsc::Sender::send(self, control);
    }
}

impl ControlSink for tokio::sync::mpsc::UnboundedSender<Control> {
    fn send(&self, control: Control) {
        let _ = tokio::sync::mpsc::UnboundedSender::send(self, control);
    }
}

/// The panel's pages, in the order of the tab bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Dashboard,
    Listening,
    Llm,
    Personality,
    Voice,
    Avatar,
    Subtitles,
    Outputs,
}

impl Tab {
    pub const ALL: [Tab; 8] = [
        Tab::Dashboard,
        Tab::Listening,
        Tab::Llm,
        Tab::Personality,
        Tab::Voice,
        Tab::Avatar,
        Tab::Subtitles,
        Tab::Outputs,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Tab::Dashboard => "Dashboard",
            Tab::Listening => "Listening",
            Tab::Llm => "LLM",
            Tab::Personality => "Personality",
            Tab::Voice => "Voice",
            Tab::Avatar => "Avatar",
            Tab::Subtitles => "Subtitles",
            Tab::Outputs => "Outputs",
        }
    }
}

/// What the panel is built from.
pub struct PanelSetup {
    pub paths: Paths,
    /// The running settings (loaded from `paths.config_file`).
    pub settings: SharedSettings,
    /// The running character.
    pub character: SharedCharacter,
    pub status: SharedStatus,
    pub sink: Box<dyn ControlSink>,
}

/// A text field's typed value that is not applied yet (applied when the field loses focus or Enter is pressed).
struct Draft {
    text: String,
    /// The last commit was refused: keep the text so the user can fix it, instead of resetting it.
    refused: bool,
}

/// The last change the panel refused, shown until the next accepted change.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub problems: Vec<Problem>,
}

impl Refusal {
    pub fn message(&self) -> String {
        self.problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect::<Vec<_>>().join("\n")
    }
}

/// The control panel. See the module documentation.
pub struct ControlPanel {
    pub tab: Tab,
    paths: Paths,
    status: SharedStatus,
    sink: Box<dyn ControlSink>,
    store: SettingsStore,
    personality: PersonalityEditor,
    inputs: Box<dyn InputDevices>,
    input_list: Option<Result<Vec<String>, String>>,
    models_job: Option<services::Job<Result<Probe, String>>>,
    probe: Option<Result<Probe, String>>,
    /// Listings of folders, kept until the folder setting changes or the user asks again.
    voices: Option<(std::path::PathBuf, Result<Vec<String>, String>)>,
    rvc_list: Option<(std::path::PathBuf, Vec<String>)>,
    drafts: HashMap<&'static str, Draft>,
    /// The draft committed this frame, to mark it refused if the change is.
    committed: Vec<&'static str>,
    refusal: Option<Refusal>,
    audition_text: String,
    new_param: (String, String),
    last_poll: Option<Instant>,
}

impl ControlPanel {
    pub fn new(setup: PanelSetup) -> ControlPanel {
        let store = SettingsStore::new(&setup.paths.config_file, setup.settings, DEFAULT_DEBOUNCE);
        ControlPanel {
            tab: Tab::Dashboard,
            paths: setup.paths,
            status: setup.status,
            sink: setup.sink,
            store,
            personality: PersonalityEditor::new(setup.character),
            inputs: Box::new(CpalInputs),
            input_list: None,
            models_job: None,
            probe: None,
            voices: None,
            rvc_list: None,
            drafts: HashMap::new(),
            committed: Vec::new(),
            refusal: None,
            audition_text: "Hello! This is how I sound.".into(),
            new_param: (String::new(), String::new()),
            last_poll: None,
        }
    }

    /// Uses another source of microphone names (tests, or an app that already enumerated devices).
    pub fn with_inputs(mut self, inputs: Box<dyn InputDevices>) -> ControlPanel {
        self.inputs = inputs;
        self
    }

    /// Changes how long a change settles before the file is written.
    pub fn with_debounce(mut self, debounce: Duration) -> ControlPanel {
        let running = self.store.shared();
        self.store = SettingsStore::new(&self.paths.config_file, running, debounce);
        self
    }

    /// The running settings as the app reads them.
    pub fn settings(&self) -> SharedSettings {
        self.store.shared()
    }

    pub fn store(&self) -> &SettingsStore {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut SettingsStore {
        &mut self.store
    }

    pub fn personality(&self) -> &PersonalityEditor {
        &self.personality
    }

    pub fn personality_mut(&mut self) -> &mut PersonalityEditor {
        &mut self.personality
    }

    /// The change the panel refused last, if the latest change was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_ref()
    }

    /// Follows the files and writes settled changes. [`ControlPanel::ui`] calls this; an app that hides the panel
    /// can call it on its own.
    pub fn poll(&mut self) {
        let now = Instant::now();
        self.store.poll(now, &*self.sink);
        self.personality.poll(&*self.sink);
        self.last_poll = Some(now);
    }

    /// Writes pending settings now (call on exit).
    pub fn flush(&mut self) {
        self.store.flush();
    }

    /// Draws the panel into the root `Ui` of an egui pass.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll();
        // The status and the files change without input events: look again a few times a second.
        ui.ctx().request_repaint_after(Duration::from_millis(100));

        egui::Panel::top("persona_tabs").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                for tab in Tab::ALL {
                    if ui.selectable_label(self.tab == tab, tab.label()).clicked() {
                        self.tab = tab;
                    }
                }
            });
        });
        egui::Panel::bottom("persona_file_state").show(ui, |ui| self.file_state_ui(ui));

        let before = self.store.current();
        let mut edited = before.clone();
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(refusal) = &self.refusal {
                ui.colored_label(ui.visuals().error_fg_color, format!("Not applied: {}", refusal.message()));
                ui.separator();
            }
            egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| match self.tab {
                Tab::Dashboard => self.dashboard_ui(ui),
                Tab::Listening => self.listening_ui(ui, &mut edited),
                Tab::Llm => self.llm_ui(ui, &mut edited),
                Tab::Personality => self.personality_ui(ui, &mut edited),
                Tab::Voice => self.voice_ui(ui, &mut edited),
                Tab::Avatar => self.avatar_ui(ui, &mut edited),
                Tab::Subtitles => self.subtitles_ui(ui, &mut edited),
                Tab::Outputs => self.outputs_ui(ui, &mut edited),
            });
        });
        self.apply(before, edited);
    }

    /// Applies what the widgets changed this frame, or records why it was refused.
    fn apply(&mut self, before: Settings, edited: Settings) {
        let committed = std::mem::take(&mut self.committed);
        if edited == before {
            return;
        }
        match self.store.apply(edited, &*self.sink) {
            Ok(_) => {
                self.refusal = None;
                for key in committed {
                    self.drafts.remove(key);
                }
            }
            Err(problems) => {
                for key in committed {
                    if let Some(d) = self.drafts.get_mut(key) {
                        d.refused = true;
                    }
                }
                self.refusal = Some(Refusal { problems });
            }
        }
    }

    fn file_state_ui(&mut self, ui: &mut egui::Ui) {
        let file = self.store.file().display().to_string();
        match self.store.file_state().clone() {
            FileState::InSync => {
                let note = if self.store.unsaved() { "saving…" } else { "saved" };
                ui.label(format!("Settings: {file} ({note})"));
            }
            FileState::Invalid(why) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("The settings file was edited and cannot be used; the running settings are kept.\n{why}"),
                );
                if ui
                    .button("Overwrite the file with the running settings")
                    .on_hover_text("Your edit in the file is lost; fixing the file instead reloads it")
                    .clicked()
                {
                    self.store.overwrite_file();
                }
            }
            FileState::WriteFailed(why) => {
                ui.colored_label(ui.visuals().warn_fg_color, why);
            }
        }
        if let Some(e) = self.store.watch_error() {
            ui.colored_label(ui.visuals().warn_fg_color, e);
        }
    }

    /// A one-line text setting, applied when the field loses focus (Enter, Tab or a click elsewhere).
    fn text_setting(&mut self, ui: &mut egui::Ui, key: &'static str, label: &str, value: &mut String, secret: bool) {
        let l = ui.label(label);
        let draft = self.drafts.entry(key).or_insert_with(|| Draft { text: value.clone(), refused: false });
        let response = ui
            .add(egui::TextEdit::singleline(&mut draft.text).id_salt(key).password(secret).desired_width(320.0))
            .labelled_by(l.id);
        if response.changed() {
            draft.refused = false;
        }
        if response.lost_focus() {
            if draft.text != *value {
                *value = draft.text.clone();
                self.committed.push(key);
            } else {
                self.drafts.remove(key);
            }
        } else if !response.has_focus() && !draft.refused && draft.text != *value {
            // Not being typed in: follow the running value (a reload, another widget).
            draft.text = value.clone();
        }
        ui.end_row();
    }
}
