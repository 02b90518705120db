//! `persona panel`: the control panel on its own, as a live editor of the settings file and the character's
//! personality (no conversation runs; commands meant for the pipeline are only logged).

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;

use crate::character::Character;
use crate::pipeline::status::{Control, Status};
use crate::ui::{ControlPanel, PanelSetup};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(config: Option<&Path>, _args: Args) -> anyhow::Result<ExitCode> {
    let ctx = super::Context::load(config)?;
    let character = Character::find(&ctx.paths, &ctx.settings.conversation.character)
        .context("the control panel edits the character named by conversation.character")?;
    let (tx, rx) = std::sync::mpsc::channel::<Control>();
    // Nothing runs the conversation here: say what would have happened, without logging any setting's value
    // (the settings hold API keys).
    std::thread::spawn(move || {
        for control in rx {
            match control {
                Control::SettingsChanged(_) => tracing::info!("settings changed (applied and saved)"),
                Control::PersonalityChanged => tracing::info!("personality changed (saved)"),
                other => tracing::info!("{other:?}: no conversation is running in `persona panel`"),
            }
        }
    });
    let panel = ControlPanel::new(PanelSetup {
        paths: ctx.paths,
        settings: Arc::new(RwLock::new(ctx.settings)),
        character: Arc::new(RwLock::new(character)),
        status: Arc::new(RwLock::new(Status::default())),
        sink: Box::new(tx),
    });
    crate::ui::window::run_standalone(panel)?;
    Ok(ExitCode::SUCCESS)
}
