//! `persona bench [AREA]`: run the benchmarks of one area, or all.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use super::Context;
use crate::bench::AREAS;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The area to measure (all when omitted); `persona bench --list` names them.
    pub area: Option<String>,
    /// List the areas.
    #[arg(long)]
    pub list: bool,
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    if args.list || AREAS.is_empty() {
        for a in AREAS {
            println!("{:<12} {}", a.name, a.about);
        }
        if AREAS.is_empty() {
            println!("no benchmarks yet");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = Context::load(config)?;
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; quote figures from `cargo run --release -- bench`");
    }
    let chosen: Vec<_> = match &args.area {
        Some(name) => match AREAS.iter().find(|a| a.name == name) {
            Some(a) => vec![a],
            None => bail!(
                "no benchmark area \"{name}\"; the areas are: {}",
                AREAS.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")
            ),
        },
        None => AREAS.iter().collect(),
    };
    for a in chosen {
        println!("== {} ({})", a.name, a.about);
        (a.run)(&ctx)?;
    }
    Ok(ExitCode::SUCCESS)
}
