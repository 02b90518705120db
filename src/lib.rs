//! Persona: talk to an animated AI character.
//!
//! The modules follow the pipeline (see `docs/ARCHITECTURE.md`):
//! microphone → `audio` → `vad` → `asr` → `llm` → `tts` → `rvc` → `audio` (speakers), with `lipsync` →
//! `avatar` → `render` → `output` following the playback position, `pipeline` wiring them into a conversation,
//! and `config`, `character` and `models` underneath everything.

pub mod app;
pub mod asr;
pub mod audio;
pub mod avatar;
pub mod bench;
pub mod character;
pub mod cli;
pub mod config;
pub mod echo;
pub mod lipsync;
pub mod llm;
pub mod models;
pub mod output;
pub mod pipeline;
pub mod render;
pub mod rvc;
pub mod subtitles;
#[doc(hidden)]
pub mod testing;
pub mod tts;
pub mod ui;
pub mod vad;
