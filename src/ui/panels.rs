//! The pages of the control panel. Each draws from a copy of the running settings and edits that copy; the
//! panel applies the copy after the frame (see `ControlPanel::apply`), so every page gets validation, the live
//! update and the debounced save the same way.

use std::time::Duration;

use egui::{Color32, RichText, Ui};

use crate::character::Character;
use crate::config::{
    AsrEngine, BargeIn, LipsyncStyle, PitchMethod, Settings, SubtitlePosition, TtsEngine, parse_colour,
};
use crate::pipeline::status::{Control, ConversationState, Health, Speaker};

use super::services::{self, Job};
use super::{ControlPanel, list_characters};

fn grid(ui: &mut Ui, id: &str, add: impl FnOnce(&mut Ui)) {
    egui::Grid::new(id).num_columns(2).spacing([16.0, 6.0]).striped(true).show(ui, add);
}

fn heading(ui: &mut Ui, text: &str) {
    ui.add_space(6.0);
    ui.heading(text);
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{} ms", d.as_millis())).unwrap_or_else(|| "-".into())
}

fn health_ui(ui: &mut Ui, name: &str, h: &Health) {
    let (colour, text) = match h {
        Health::Unknown => (Color32::GRAY, "unknown".to_owned()),
        Health::Ok => (Color32::from_rgb(60, 180, 90), "ok".to_owned()),
        Health::Degraded(why) => (Color32::from_rgb(220, 160, 40), format!("degraded: {why}")),
        Health::Failed(why) => (Color32::from_rgb(220, 60, 60), format!("failed: {why}")),
    };
    ui.label(name);
    ui.colored_label(colour, text);
    ui.end_row();
}

fn state_colour(s: ConversationState) -> Color32 {
    match s {
        ConversationState::Idle => Color32::GRAY,
        ConversationState::Listening => Color32::from_rgb(70, 140, 230),
        ConversationState::Thinking => Color32::from_rgb(180, 120, 230),
        ConversationState::Speaking => Color32::from_rgb(60, 180, 90),
        ConversationState::Interrupted => Color32::from_rgb(220, 160, 40),
        ConversationState::Error => Color32::from_rgb(220, 60, 60),
    }
}

/// A combo box over the values of a settings enum.
fn choice<T: PartialEq + Copy>(ui: &mut Ui, id: &str, label: &str, value: &mut T, options: &[(T, &str)]) {
    let l = ui.label(label);
    let current = options.iter().find(|(v, _)| v == value).map(|(_, n)| *n).unwrap_or("?");
    egui::ComboBox::from_id_salt(id)
        .selected_text(current)
        .show_ui(ui, |ui| {
            for (v, name) in options {
                ui.selectable_value(value, *v, *name);
            }
        })
        .response
        .labelled_by(l.id);
    ui.end_row();
}

fn slider(ui: &mut Ui, label: &str, value: &mut f32, range: std::ops::RangeInclusive<f32>, suffix: &str) {
    let l = ui.label(label);
    ui.add(egui::Slider::new(value, range).suffix(suffix)).labelled_by(l.id);
    ui.end_row();
}

/// A slider for ranges spanning orders of magnitude (timeouts, rates).
fn log_slider(ui: &mut Ui, label: &str, value: &mut f32, range: std::ops::RangeInclusive<f32>, suffix: &str) {
    let l = ui.label(label);
    ui.add(egui::Slider::new(value, range).logarithmic(true).suffix(suffix)).labelled_by(l.id);
    ui.end_row();
}

fn number(ui: &mut Ui, label: &str, value: &mut u32, range: std::ops::RangeInclusive<u32>, suffix: &str) {
    let l = ui.label(label);
    ui.add(egui::DragValue::new(value).range(range).suffix(suffix)).labelled_by(l.id);
    ui.end_row();
}

fn check(ui: &mut Ui, label: &str, value: &mut bool, hint: &str) {
    ui.label("");
    ui.checkbox(value, label).on_hover_text(hint);
    ui.end_row();
}

impl ControlPanel {
    pub(super) fn dashboard_ui(&mut self, ui: &mut Ui) {
        let st = self.status.read().unwrap_or_else(|e| e.into_inner()).clone();
        ui.horizontal(|ui| {
            ui.label(RichText::new(st.state.label().to_uppercase()).size(28.0).strong().color(state_colour(st.state)));
            ui.add_space(24.0);
            let mute_label = if st.muted { "Unmute" } else { "Mute" };
            if ui.button(mute_label).on_hover_text("Mute or unmute the microphone").clicked() {
                self.sink.send(Control::SetMuted(!st.muted));
            }
            if ui.button("Stop this turn").clicked() {
                self.sink.send(Control::StopTurn);
            }
            if ui.button("Retry").on_hover_text("Ask again for a reply to the last thing you said").clicked() {
                self.sink.send(Control::Retry);
            }
        });
        if let Some(e) = &st.last_error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Last error: {e}"));
        }
        ui.add_space(8.0);
        ui.columns(2, |cols| {
            grid(&mut cols[0], "dash_counts", |ui| {
                ui.label("Turns answered");
                ui.label(st.turns.to_string());
                ui.end_row();
                ui.label("Interruptions");
                ui.label(st.interruptions.to_string());
                ui.end_row();
                ui.label("Average to first audio");
                ui.label(ms(st.average_first_played));
                ui.end_row();
                health_ui(ui, "LLM endpoint", &st.llm);
                health_ui(ui, "Microphone", &st.microphone);
                health_ui(ui, "Text to speech", &st.tts);
            });
            let ui = &mut cols[1];
            ui.label(RichText::new("Last turn (from end of speech)").strong());
            grid(ui, "dash_latency", |ui| match &st.last_latency {
                Some(l) => {
                    for (name, d) in l.stages() {
                        ui.label(name);
                        ui.label(ms(d));
                        ui.end_row();
                    }
                }
                None => {
                    ui.label("no turn yet");
                    ui.end_row();
                }
            });
        });
        heading(ui, "Transcript");
        let settings = self.store.current();
        let character = self.personality.character().read().unwrap_or_else(|e| e.into_inner()).info.name.clone();
        egui::ScrollArea::vertical().id_salt("transcript").max_height(320.0).stick_to_bottom(true).show(ui, |ui| {
            if st.transcript.is_empty() {
                ui.weak("Nothing said yet.");
            }
            for line in &st.transcript {
                let who = match line.speaker {
                    Speaker::User => settings.conversation.user_name.as_str(),
                    Speaker::Character => character.as_str(),
                };
                let mut text = RichText::new(format!("{who}: {}", line.text));
                if line.partial {
                    text = text.italics().weak();
                }
                if line.interrupted {
                    text = text.strikethrough();
                }
                ui.label(text);
            }
        });
    }

    pub(super) fn listening_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        let st = self.status.read().unwrap_or_else(|e| e.into_inner()).clone();
        heading(ui, "Microphone");
        grid(ui, "listen_device", |ui| {
            let l = ui.label("Input device");
            ui.horizontal(|ui| {
                let list = self.input_list.get_or_insert_with(|| self.inputs.input_devices());
                let shown = if s.audio.input_device.is_empty() { "System default" } else { &s.audio.input_device };
                egui::ComboBox::from_id_salt("input_device")
                    .selected_text(shown.to_owned())
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut s.audio.input_device, String::new(), "System default");
                        if let Ok(names) = list {
                            for n in names.iter() {
                                ui.selectable_value(&mut s.audio.input_device, n.clone(), n);
                            }
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if ui.button("Refresh").clicked() {
                    self.input_list = None;
                }
            });
            ui.end_row();
            if let Some(Err(e)) = &self.input_list {
                ui.label("");
                ui.colored_label(ui.visuals().warn_fg_color, e);
                ui.end_row();
            }
            let l = ui.label("Level");
            ui.add(egui::ProgressBar::new(st.input_level.clamp(0.0, 1.0)).desired_width(320.0)).labelled_by(l.id);
            ui.end_row();
            let l = ui.label("Speech probability");
            let colour =
                if st.vad_probability >= s.vad.threshold { Color32::from_rgb(60, 180, 90) } else { Color32::GRAY };
            ui.add(
                egui::ProgressBar::new(st.vad_probability.clamp(0.0, 1.0))
                    .desired_width(320.0)
                    .fill(colour)
                    .text(format!("{:.2} (starts at {:.2})", st.vad_probability, s.vad.threshold)),
            )
            .labelled_by(l.id);
            ui.end_row();
            check(
                ui,
                "Echo cancellation",
                &mut s.audio.echo_cancellation,
                "Remove the character's own voice from the microphone",
            );
            check(ui, "Start muted", &mut s.audio.start_muted, "Start the app with the microphone muted");
        });
        heading(ui, "Voice activity");
        grid(ui, "listen_vad", |ui| {
            slider(ui, "Speech starts at", &mut s.vad.threshold, 0.01..=0.99, "");
            slider(ui, "Speech continues above", &mut s.vad.continue_threshold, 0.01..=0.99, "");
            number(ui, "End-of-speech silence", &mut s.vad.end_silence_ms, 32..=10_000, " ms");
            number(ui, "Minimum speech", &mut s.vad.min_speech_ms, 0..=5_000, " ms");
            number(ui, "Padding", &mut s.vad.padding_ms, 0..=2_000, " ms");
            number(ui, "Drop utterances shorter than", &mut s.vad.min_segment_ms, 0..=10_000, " ms");
        });
        heading(ui, "Interruptions");
        grid(ui, "listen_barge", |ui| {
            choice(
                ui,
                "barge_in",
                "When the user speaks over the character",
                &mut s.conversation.barge_in,
                &[
                    (BargeIn::Ignore, "the character finishes"),
                    (BargeIn::Any, "any speech interrupts"),
                    (BargeIn::WhenNotSpeaking, "interrupt only while it is not speaking"),
                    (BargeIn::MinWords, "interrupt after N words"),
                    (BargeIn::MinWordsNotSpeaking, "N words, and only while it is not speaking"),
                ],
            );
            number(ui, "Words that interrupt (N)", &mut s.conversation.barge_in_words, 1..=100, "");
            check(
                ui,
                "Start replying on a stable partial transcript",
                &mut s.conversation.start_on_partial,
                "Faster replies; the reply may start before the last word is heard",
            );
        });
        heading(ui, "Speech recognition");
        grid(ui, "listen_asr", |ui| {
            choice(
                ui,
                "asr_engine",
                "Engine",
                &mut s.asr.engine,
                &[(AsrEngine::Whisper, "Whisper (local)"), (AsrEngine::Remote, "remote")],
            );
            self.text_setting(ui, "asr.model", "Whisper model", &mut s.asr.model, false);
            self.text_setting(ui, "asr.language", "Language", &mut s.asr.language, false);
            self.text_setting(ui, "asr.initial_prompt", "Names and words to expect", &mut s.asr.initial_prompt, false);
            if s.asr.engine == AsrEngine::Remote {
                self.text_setting(ui, "asr.remote_url", "Remote URL", &mut s.asr.remote_url, false);
                self.text_setting(ui, "asr.remote_model", "Remote model", &mut s.asr.remote_model, false);
                self.text_setting(ui, "asr.remote_api_key", "Remote API key", &mut s.asr.remote_api_key, true);
            }
        });
    }

    pub(super) fn llm_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        if let Some(job) = &self.models_job
            && let Some(result) = job.take()
        {
            self.probe = Some(result.and_then(|r| r));
            self.models_job = None;
        }
        grid(ui, "llm", |ui| {
            self.text_setting(ui, "llm.endpoint", "Endpoint", &mut s.llm.endpoint, false);
            self.text_setting(ui, "llm.model", "Model", &mut s.llm.model, false);
            if let Some(Ok(probe)) = &self.probe
                && !probe.models.is_empty()
            {
                let l = ui.label("Models offered");
                egui::ComboBox::from_id_salt("llm_models")
                    .selected_text(s.llm.model.clone())
                    .show_ui(ui, |ui| {
                        for m in &probe.models {
                            ui.selectable_value(&mut s.llm.model, m.clone(), m);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
            }
            self.text_setting(ui, "llm.api_key", "API key", &mut s.llm.api_key, true);
            slider(ui, "Temperature", &mut s.llm.temperature, 0.0..=2.0, "");
            number(ui, "Max tokens", &mut s.llm.max_tokens, 1..=1_000_000, "");
            log_slider(ui, "Connect timeout", &mut s.llm.connect_timeout_s, 0.1..=600.0, " s");
            log_slider(ui, "Stalled stream after", &mut s.llm.idle_timeout_s, 0.5..=3_600.0, " s");
            number(ui, "Retries", &mut s.llm.retries, 0..=10, "");
            number(ui, "History: turns", &mut s.llm.history_turns, 0..=10_000, "");
            number(ui, "History: tokens", &mut s.llm.history_tokens, 0..=10_000_000, "");
        });
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let busy = self.models_job.is_some();
            if ui
                .add_enabled(!busy, egui::Button::new("Probe endpoint"))
                .on_hover_text("Lists the models (GET {endpoint}/models) and asks for a short reply")
                .clicked()
            {
                let llm = s.llm.clone();
                self.models_job = Some(Job::spawn(move || services::probe(&llm)));
            }
            if busy {
                ui.spinner();
            }
        });
        match &self.probe {
            Some(Ok(p)) => {
                let ok = Color32::from_rgb(60, 180, 90);
                match &p.models_note {
                    Some(note) => ui.colored_label(ui.visuals().warn_fg_color, note),
                    None => ui.colored_label(ok, format!("{} model(s) offered", p.models.len())),
                };
                if !p.models.is_empty() && !p.models.contains(&s.llm.model) {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("The model \"{}\" is not among them: pick one above", s.llm.model),
                    );
                }
                match &p.reply {
                    Ok((first, text)) => {
                        ui.colored_label(ok, format!("Reply: first token after {} ms: \"{text}\"", first.as_millis()))
                    }
                    Err(e) => ui.colored_label(ui.visuals().error_fg_color, format!("Reply failed: {e}")),
                };
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
    }

    pub(super) fn personality_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        let (name, dir) = {
            let c = self.personality.character();
            let c = c.read().unwrap_or_else(|e| e.into_inner());
            (c.info.name.clone(), c.dir.clone())
        };
        grid(ui, "persona_pick", |ui| {
            let l = ui.label("Character");
            let unsaved = self.personality.unsaved();
            ui.add_enabled_ui(!unsaved, |ui| {
                egui::ComboBox::from_id_salt("character")
                    .selected_text(format!("{name} ({})", s.conversation.character))
                    .show_ui(ui, |ui| {
                        for (folder, path) in list_characters(&Character::search_dirs(&self.paths)) {
                            if ui.selectable_label(path == dir, &folder).clicked() && path != dir {
                                match Character::load(&path) {
                                    Ok(c) => {
                                        self.personality.switch_to(c);
                                        s.conversation.character = folder;
                                    }
                                    Err(e) => self.personality.error = Some(e.to_string()),
                                }
                            }
                        }
                    })
                    .response
                    .labelled_by(l.id);
            })
            .response
            .on_disabled_hover_text("Save or revert the personality first");
            ui.end_row();
            self.text_setting(
                ui,
                "conversation.user_name",
                "Your name ({{user}})",
                &mut s.conversation.user_name,
                false,
            );
            self.text_setting(ui, "conversation.vibe", "Current vibe", &mut s.conversation.vibe, false);
            let mut topics = s.conversation.topics.join(", ");
            let before = topics.clone();
            self.text_setting(ui, "conversation.topics", "Topics (comma separated)", &mut topics, false);
            if topics != before {
                s.conversation.topics =
                    topics.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
            }
            check(ui, "Keep a transcript log", &mut s.conversation.keep_log, "Resume conversations where they ended");
        });
        heading(ui, "personality.txt");
        ui.weak(self.personality.file().display().to_string());
        if let Some(disk) = self.personality.conflict().map(str::to_owned) {
            egui::Frame::group(ui.style()).fill(ui.visuals().extreme_bg_color).show(ui, |ui| {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    "personality.txt was changed in another editor while you have unsaved edits here. \
                     The character already uses the file's text. Which text do you want to keep?",
                );
                ui.horizontal(|ui| {
                    if ui.button("Keep my text (overwrite the file)").clicked() {
                        let _ = self.personality.keep_mine(&*self.sink);
                    }
                    if ui.button("Use the file's text (discard my edits)").clicked() {
                        self.personality.take_theirs();
                    }
                });
                egui::CollapsingHeader::new("The file's text").show(ui, |ui| {
                    ui.label(RichText::new(disk).monospace());
                });
            });
        }
        ui.horizontal(|ui| {
            let unsaved = self.personality.unsaved();
            if ui.add_enabled(unsaved, egui::Button::new("Save personality")).clicked() {
                let _ = self.personality.save(&*self.sink);
            }
            if ui.add_enabled(unsaved, egui::Button::new("Revert")).clicked() {
                self.personality.revert();
            }
            ui.weak(if unsaved { "unsaved changes" } else { "saved" });
        });
        if let Some(e) = &self.personality.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if let Some(e) = &self.personality.watch_error {
            ui.colored_label(ui.visuals().warn_fg_color, e);
        }
        let l = ui.label("Personality (the system prompt; {{char}}, {{user}} and {{time}} are filled in)");
        ui.add(
            egui::TextEdit::multiline(&mut self.personality.buffer)
                .id_salt("personality_text")
                .desired_width(f32::INFINITY)
                .desired_rows(18),
        )
        .labelled_by(l.id);
    }

    pub(super) fn voice_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        let voices_dir = self.paths.model(&s.tts.kokoro_voices);
        if self.voices.as_ref().is_none_or(|(d, _)| *d != voices_dir) {
            self.voices = Some((voices_dir.clone(), services::kokoro_voices(&voices_dir)));
        }
        grid(ui, "voice", |ui| {
            choice(
                ui,
                "tts_engine",
                "Engine",
                &mut s.tts.engine,
                &[(TtsEngine::Kokoro, "Kokoro"), (TtsEngine::Piper, "Piper"), (TtsEngine::Remote, "remote")],
            );
            match s.tts.engine {
                TtsEngine::Kokoro => self.kokoro_voice_ui(ui, s),
                TtsEngine::Piper => {
                    self.text_setting(ui, "tts.piper_model", "Piper voice model", &mut s.tts.piper_model, false);
                    number(ui, "Speaker", &mut s.tts.piper_speaker, 0..=10_000, "");
                }
                TtsEngine::Remote => {
                    self.text_setting(ui, "tts.remote_url", "Remote URL", &mut s.tts.remote_url, false);
                    self.text_setting(ui, "tts.remote_model", "Remote model", &mut s.tts.remote_model, false);
                    self.text_setting(ui, "tts.voice", "Voice", &mut s.tts.voice, false);
                    self.text_setting(ui, "tts.remote_api_key", "Remote API key", &mut s.tts.remote_api_key, true);
                }
            }
            slider(ui, "Speed", &mut s.tts.speed, 0.5..=2.0, "×");
            self.text_setting(ui, "tts.language", "Phoneme language (empty: the voice's)", &mut s.tts.language, false);
        });
        ui.horizontal(|ui| {
            let l = ui.label("Sample text");
            ui.add(egui::TextEdit::singleline(&mut self.audition_text).id_salt("audition").desired_width(320.0))
                .labelled_by(l.id);
            if ui.button("Speak sample").on_hover_text("Speak this with the current voice").clicked() {
                self.sink.send(Control::Audition(self.audition_text.clone()));
            }
        });
        heading(ui, "Voice conversion (RVC)");
        let rvc_dir = self.paths.model(&s.rvc.voices_folder);
        grid(ui, "rvc", |ui| {
            check(ui, "Convert the voice with RVC", &mut s.rvc.enabled, "Needs a voice model");
            let l = ui.label("Voice model");
            if self.rvc_list.as_ref().is_none_or(|(d, _)| *d != rvc_dir) {
                self.rvc_list = Some((rvc_dir.clone(), services::rvc_models(&rvc_dir)));
            }
            let models = self.rvc_list.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
            let shown = if s.rvc.voice_model.is_empty() { "none".to_owned() } else { s.rvc.voice_model.clone() };
            egui::ComboBox::from_id_salt("rvc_model")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    if models.is_empty() {
                        ui.weak(format!("no .onnx files in {}", rvc_dir.display()));
                    }
                    for m in models {
                        ui.selectable_value(&mut s.rvc.voice_model, m.clone(), m);
                    }
                })
                .response
                .labelled_by(l.id);
            ui.end_row();
            self.text_setting(ui, "rvc.voice_model", "Voice model file", &mut s.rvc.voice_model, false);
            slider(ui, "Pitch shift", &mut s.rvc.pitch_shift, -24.0..=24.0, " semitones");
            choice(
                ui,
                "pitch_method",
                "Pitch tracker",
                &mut s.rvc.pitch_method,
                &[(PitchMethod::Rmvpe, "RMVPE"), (PitchMethod::Crepe, "CREPE")],
            );
            number(ui, "Speaker id", &mut s.rvc.speaker_id, 0..=10_000, "");
        });
    }

    fn kokoro_voice_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        let names = match self.voices.as_ref().map(|(_, v)| v) {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => {
                ui.label("Voice");
                ui.colored_label(ui.visuals().warn_fg_color, e);
                ui.end_row();
                Vec::new()
            }
            None => Vec::new(),
        };
        let mut blend = services::parse_blend(&s.tts.voice);
        let l = ui.label("Voice");
        ui.vertical(|ui| {
            let mut remove = None;
            if blend.is_empty() {
                ui.weak("the character's voice");
            }
            for (i, (name, weight)) in blend.iter_mut().enumerate() {
                ui.horizontal(|ui| {
                    egui::ComboBox::from_id_salt(("blend_voice", i))
                        .selected_text(name.clone())
                        .show_ui(ui, |ui| {
                            for n in &names {
                                ui.selectable_value(name, n.clone(), n);
                            }
                        })
                        .response
                        .labelled_by(l.id);
                    ui.add(egui::Slider::new(weight, 0.0..=1.0).text("weight"));
                    if ui.small_button(format!("Remove {name}")).clicked() {
                        remove = Some(i);
                    }
                });
            }
            if let Some(i) = remove {
                blend.remove(i);
            }
            ui.horizontal(|ui| {
                let add = ui.label("Add a voice");
                egui::ComboBox::from_id_salt("blend_add")
                    .selected_text("choose…")
                    .show_ui(ui, |ui| {
                        for n in &names {
                            if ui.selectable_label(false, n).clicked() {
                                blend.push((n.clone(), if blend.is_empty() { 1.0 } else { 0.5 }));
                            }
                        }
                    })
                    .response
                    .labelled_by(add.id);
                if ui.button("Refresh voices").on_hover_text("List the voices folder again").clicked() {
                    self.voices = None;
                    self.rvc_list = None;
                }
                if !blend.is_empty() && ui.button("Use the character's voice").clicked() {
                    blend.clear();
                }
            });
        });
        ui.end_row();
        let voice = services::format_blend(&blend);
        if voice != s.tts.voice {
            s.tts.voice = voice;
        }
    }

    pub(super) fn avatar_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        grid(ui, "avatar", |ui| {
            self.text_setting(ui, "avatar.puppet", "Puppet file (empty: the character's)", &mut s.avatar.puppet, false);
            check(ui, "Blink", &mut s.avatar.blink, "");
            check(ui, "Breathing", &mut s.avatar.breathing, "");
            check(ui, "Idle motion", &mut s.avatar.idle_motion, "");
            check(ui, "Physics (hair, clothes)", &mut s.avatar.physics, "");
            log_slider(ui, "Expression holds for", &mut s.avatar.expression_hold_s, 0.0..=600.0, " s");
        });
        heading(ui, "Parameter map");
        ui.weak(
            "Our parameter -> the puppet's parameter (\"Name\", or one axis: \"Name.x\"), for puppets whose rigger \
             named them in a way Persona does not guess.",
        );
        let mut remove = None;
        egui::Grid::new("param_map").num_columns(3).striped(true).show(ui, |ui| {
            for (ours, theirs) in s.avatar.parameter_map.iter_mut() {
                let l = ui.label(ours);
                ui.add_sized([220.0, 20.0], egui::TextEdit::singleline(theirs).id_salt(("param", ours.clone())))
                    .labelled_by(l.id);
                if ui.small_button(format!("Remove {ours}")).clicked() {
                    remove = Some(ours.clone());
                }
                ui.end_row();
            }
            // Only the names Persona drives can be mapped; each shows the names it is already guessed from.
            let shown = if self.new_param.0.is_empty() { "choose…".to_owned() } else { self.new_param.0.clone() };
            egui::ComboBox::from_id_salt("param_ours")
                .selected_text(shown)
                .show_ui(ui, |ui| {
                    for (ours, guesses) in crate::avatar::params::KNOWN {
                        ui.selectable_value(&mut self.new_param.0, (*ours).to_owned(), *ours).on_hover_text(format!(
                            "found without a map when the puppet calls it: {}",
                            guesses.join(", ")
                        ));
                    }
                })
                .response
                .on_hover_text("Our parameter name");
            ui.add_sized([220.0, 20.0], egui::TextEdit::singleline(&mut self.new_param.1).hint_text("the puppet's"))
                .on_hover_text("The puppet's parameter name");
            let (ours, theirs) = (self.new_param.0.trim().to_owned(), self.new_param.1.trim().to_owned());
            if ui.add_enabled(!ours.is_empty() && !theirs.is_empty(), egui::Button::new("Add")).clicked() {
                s.avatar.parameter_map.insert(ours, theirs);
                self.new_param = (String::new(), String::new());
            }
            ui.end_row();
        });
        if let Some(k) = remove {
            s.avatar.parameter_map.remove(&k);
        }
        heading(ui, "Expressions");
        let emotions = self.personality.character().read().unwrap_or_else(|e| e.into_inner()).info.emotions.clone();
        ui.horizontal_wrapped(|ui| {
            for expression in emotions.values().collect::<std::collections::BTreeSet<_>>() {
                if ui.button(expression.as_str()).on_hover_text("Show this expression on the avatar").clicked() {
                    self.sink.send(Control::PreviewExpression(expression.clone()));
                }
            }
        });
        heading(ui, "Lip sync");
        grid(ui, "lipsync", |ui| {
            choice(
                ui,
                "lipsync_style",
                "Style",
                &mut s.lipsync.style,
                &[
                    (LipsyncStyle::Phonemes, "mouth shapes from phonemes"),
                    (LipsyncStyle::Loudness, "opening from loudness"),
                ],
            );
            log_slider(ui, "Attack", &mut s.lipsync.attack_rate, 0.1..=1_000.0, " /s");
            log_slider(ui, "Release", &mut s.lipsync.release_rate, 0.1..=1_000.0, " /s");
            slider(ui, "Intensity", &mut s.lipsync.intensity, 0.0..=2.0, "×");
        });
    }

    fn colour_setting(&mut self, ui: &mut Ui, key: &'static str, label: &str, value: &mut String) {
        self.text_setting(ui, key, label, value, false);
        if let Some([r, g, b, a]) = parse_colour(value) {
            ui.label("");
            let (rect, _) = ui.allocate_exact_size(egui::vec2(48.0, 14.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, Color32::from_rgba_unmultiplied(r, g, b, a));
            ui.end_row();
        }
    }

    pub(super) fn subtitles_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        grid(ui, "subtitles", |ui| {
            check(ui, "Show subtitles", &mut s.subtitles.enabled, "");
            choice(
                ui,
                "sub_pos",
                "Position",
                &mut s.subtitles.position,
                &[(SubtitlePosition::Top, "top"), (SubtitlePosition::Bottom, "bottom")],
            );
            slider(ui, "Text height (of the frame)", &mut s.subtitles.size, 0.005..=0.5, "");
            self.colour_setting(ui, "subtitles.color", "Colour", &mut s.subtitles.color);
            self.colour_setting(
                ui,
                "subtitles.highlight_color",
                "Spoken word colour",
                &mut s.subtitles.highlight_color,
            );
            self.colour_setting(ui, "subtitles.outline_color", "Outline colour", &mut s.subtitles.outline_color);
            slider(ui, "Outline", &mut s.subtitles.outline_px, 0.0..=50.0, " px");
            number(ui, "Lines", &mut s.subtitles.max_lines, 1..=10, "");
            check(ui, "Also show what the user said", &mut s.subtitles.show_user, "");
        });
    }

    pub(super) fn outputs_ui(&mut self, ui: &mut Ui, s: &mut Settings) {
        grid(ui, "outputs", |ui| {
            number(ui, "Frames per second", &mut s.output.fps, 1..=240, "");
            number(ui, "Width", &mut s.output.width, 16..=8192, " px");
            number(ui, "Height", &mut s.output.height, 16..=8192, " px");
            check(ui, "Avatar window", &mut s.output.window, "");
            self.colour_setting(
                ui,
                "output.window_background",
                "Window background (chroma key)",
                &mut s.output.window_background,
            );
            check(ui, "Transparent overlay window", &mut s.output.overlay, "Borderless, always on top");
            check(ui, "Spout2 sender (Windows)", &mut s.output.spout, "");
            self.text_setting(ui, "output.spout_name", "Spout sender name", &mut s.output.spout_name, false);
            self.text_setting(
                ui,
                "output.v4l2_device",
                "Virtual camera (Linux, e.g. /dev/video10)",
                &mut s.output.v4l2_device,
                false,
            );
            self.text_setting(ui, "output.y4m", "Raw video file (y4m, \"-\" for stdout)", &mut s.output.y4m, false);
        });
    }
}
