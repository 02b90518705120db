//! `persona models list|fetch|verify`: what is installed, getting what is missing, re-checking what is there.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Paths;
use crate::models::fetch::{self, Fetcher, Options, Outcome, Source};
use crate::models::manifest::{self, AssetState, FileState, Manifest, Verify};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every asset with its state (installed / missing / partial / corrupt), size and place.
    List,
    /// Download assets (default: what the default settings need), verify them and install them.
    Fetch(FetchArgs),
    /// Hash every installed file again and report any that is damaged.
    Verify,
}

#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// Assets to fetch (see `persona models list`), or `all`. None: the default set.
    pub names: Vec<String>,
    /// Copy from a folder laid out like the models folder, or download from a base URL with that layout.
    #[arg(long, value_name = "DIR|URL")]
    pub mirror: Option<String>,
    /// Fetch again even when a verified copy is installed.
    #[arg(long)]
    pub force: bool,
    /// Seconds without data before a server counts as stalled.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
}

pub fn run(config: Option<&Path>, cmd: Command) -> anyhow::Result<ExitCode> {
    let paths = Paths::resolve(config);
    let manifest = Manifest::load()?;
    match cmd {
        Command::List => list(&manifest, &paths, Verify::Cached),
        Command::Verify => list(&manifest, &paths, Verify::Full),
        Command::Fetch(args) => fetch_cmd(&manifest, paths, args),
    }
}

fn list(manifest: &Manifest, paths: &Paths, verify: Verify) -> anyhow::Result<ExitCode> {
    println!("models folder: {}", paths.models_dir.display());
    if verify == Verify::Full {
        eprintln!("hashing every installed file...");
    }
    let statuses = manifest::status_of(manifest, paths, verify);
    println!("{:<16} {:<10} {:<10} {:>9}  where", "asset", "role", "state", "size");
    let mut bad = 0;
    let mut missing_default = 0;
    for s in &statuses {
        let state = s.state();
        let asset = manifest.get(&s.name);
        let size = match state {
            AssetState::Missing => asset.map(|a| a.size()).unwrap_or(0),
            _ => s.size_on_disk(),
        };
        let mark = if s.default { "*" } else { " " };
        let place = match (s.files.as_slice(), asset.and_then(|a| a.files.first())) {
            ([one], _) => one.path.display().to_string(),
            (many, Some(first)) => {
                let dir = first.local_path(&paths.models_dir);
                format!("{} (+{} more)", dir.display(), many.len() - 1)
            }
            _ => String::new(),
        };
        println!("{:<16} {:<10} {:<10} {:>9}  {place}", format!("{}{mark}", s.name), s.role, state, human(size));
        for f in &s.files {
            match &f.state {
                FileState::Corrupt { reason } | FileState::Unreadable { reason } => {
                    println!("    {}: {reason}", f.path.display());
                }
                FileState::Missing if state == AssetState::Partial => println!("    {}: missing", f.path.display()),
                _ => {}
            }
        }
        match state {
            AssetState::Corrupt => bad += 1,
            AssetState::Missing | AssetState::Partial if s.default => missing_default += 1,
            _ => {}
        }
    }
    println!("\n* needed by the default settings.");
    if bad > 0 {
        println!("{bad} asset(s) damaged: `persona models fetch --force NAME` replaces them.");
        return Ok(ExitCode::FAILURE);
    }
    if missing_default > 0 {
        println!("{missing_default} default asset(s) missing: `persona models fetch` (offline: `--mirror DIR`).");
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch_cmd(manifest: &Manifest, paths: Paths, args: FetchArgs) -> anyhow::Result<ExitCode> {
    let assets = fetch::select(manifest, &args.names).map_err(anyhow::Error::msg)?;
    let source = args.mirror.as_deref().map(Source::from_mirror).unwrap_or(Source::Upstream);
    let opts = Options {
        source,
        force: args.force,
        read_timeout: Duration::from_secs(args.timeout.max(1)),
        ..Options::default()
    };
    println!("models folder: {}", paths.models_dir.display());
    let fetcher = Fetcher::new(paths, opts)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut failed = 0;
    for asset in assets {
        match rt.block_on(fetcher.fetch_asset(asset)) {
            Ok(outcomes) => {
                let fresh: u64 = outcomes
                    .iter()
                    .map(|o| match o {
                        Outcome::Installed { bytes, .. } => *bytes,
                        Outcome::AlreadyInstalled(_) => 0,
                    })
                    .sum();
                let all_there = outcomes.iter().all(|o| matches!(o, Outcome::AlreadyInstalled(_)));
                if all_there {
                    println!("{:<16} already installed and verified", asset.name);
                } else {
                    println!("{:<16} installed ({}, verified)", asset.name, human(fresh));
                }
            }
            Err(e) => {
                failed += 1;
                println!("{:<16} FAILED: {e}", asset.name);
            }
        }
    }
    if failed > 0 {
        println!("\n{failed} asset(s) not installed; see the reasons above.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}
