//! `persona config ...`: the settings file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use crate::config::{DEFAULT_FILE, Paths, Settings, atomic_write};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the settings in effect (file, defaults and environment overrides; API keys masked).
    Show,
    /// Write a commented settings file with every key at its default.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check the settings file and report every problem with its line.
    Check,
    /// Print where the settings file, models and characters are.
    Path,
}

pub fn run(config: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let paths = Paths::resolve(config);
    match cmd {
        Command::Show => {
            let settings = Settings::load(&paths.config_file)?;
            let source = if paths.config_file.exists() { "file" } else { "defaults, no file yet" };
            println!("# settings in effect ({source}: {})", paths.config_file.display());
            print!("{}", settings.to_toml_masked());
        }
        Command::Init { force } => {
            if paths.config_file.exists() && !force {
                bail!(
                    "{} already exists; `persona config init --force` replaces it (your file is kept as {}.bak)",
                    paths.config_file.display(),
                    paths.config_file.display()
                );
            }
            if paths.config_file.exists() {
                let backup = paths.config_file.with_extension("toml.bak");
                std::fs::copy(&paths.config_file, &backup)
                    .with_context(|| format!("could not keep a backup at {}", backup.display()))?;
            }
            atomic_write(&paths.config_file, DEFAULT_FILE.as_bytes())
                .with_context(|| format!("could not write {}", paths.config_file.display()))?;
            println!("wrote {}", paths.config_file.display());
        }
        Command::Check => {
            if !paths.config_file.exists() {
                println!("no settings file at {}: the defaults are used", paths.config_file.display());
                return Ok(ExitCode::SUCCESS);
            }
            Settings::load(&paths.config_file)?;
            println!("{}: ok", paths.config_file.display());
        }
        Command::Path => {
            println!("settings:   {}", paths.config_file.display());
            println!("models:     {}", paths.models_dir.display());
            println!("characters: {}", paths.user_characters_dir().display());
            println!("logs:       {}", paths.logs_dir().display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
