//! `persona render`: one frame of the avatar to a PNG, with parameters set from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::Context;
use crate::avatar::{Avatar, load_puppet};
use crate::render::{Gpu, Renderer};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Inochi2D puppet (.inp/.inx); default: the settings' avatar, else the bundled one.
    #[arg(long, value_name = "FILE")]
    pub puppet: Option<PathBuf>,
    /// Set a parameter, by our name (MouthOpenY, EyeOpenLeft, AngleX...) or the puppet's ("Name" or "Name.x").
    #[arg(long = "set", value_name = "PARAM=VALUE")]
    pub set: Vec<String>,
    /// Show an expression at full strength (happy, sad, surprised...).
    #[arg(long, value_name = "NAME")]
    pub expression: Option<String>,
    /// Frame size.
    #[arg(long, default_value = "1080x1920", value_name = "WxH")]
    pub size: String,
    /// Background colour "#rrggbb"; default transparent.
    #[arg(long, value_name = "COLOUR")]
    pub background: Option<String>,
    /// Output PNG.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X', '×']).with_context(|| format!("--size \"{s}\": expected WIDTHxHEIGHT"))?;
    let w: u32 = w.trim().parse().with_context(|| format!("--size \"{s}\": bad width"))?;
    let h: u32 = h.trim().parse().with_context(|| format!("--size \"{s}\": bad height"))?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        bail!("--size \"{s}\": width and height must be 1 to 8192");
    }
    Ok((w, h))
}

pub fn parse_colour(s: &str) -> anyhow::Result<[f64; 3]> {
    let hex = s.trim_start_matches('#');
    let v = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 6);
    let v = v.with_context(|| format!("colour \"{s}\": expected #rrggbb"))?;
    Ok([((v >> 16) & 255) as f64 / 255.0, ((v >> 8) & 255) as f64 / 255.0, (v & 255) as f64 / 255.0])
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    let ctx = Context::load(config)?;
    let (w, h) = parse_size(&args.size)?;
    let puppet = load_puppet(args.puppet.as_deref(), &ctx.settings.avatar).context("cannot load the puppet")?;
    let mut avatar = Avatar::still(puppet, &ctx.settings.avatar);
    for kv in &args.set {
        let (k, v) = kv.split_once('=').with_context(|| format!("--set \"{kv}\": expected PARAM=VALUE"))?;
        let v: f32 = v.trim().parse().with_context(|| format!("--set \"{kv}\": \"{v}\" is not a number"))?;
        if !avatar.set(k.trim(), v) {
            let names: Vec<&str> = avatar.rig.param_names().collect();
            bail!("--set \"{kv}\": the puppet has no parameter \"{k}\"; it has: {}", names.join(", "));
        }
    }
    if let Some(e) = &args.expression {
        if !avatar.motion.show(e, 10.0) {
            bail!("no expression \"{e}\"; known: {}", crate::avatar::motion::EXPRESSIONS.join(", "));
        }
        avatar.update(1.0);
    }
    let scene = avatar.update(0.0).clone();
    let gpu = Gpu::new()?;
    let mut renderer = Renderer::new(&gpu, w, h)?;
    if let Some(bg) = &args.background {
        let c = parse_colour(bg)?;
        renderer.background = [c[0], c[1], c[2], 1.0];
    }
    renderer.set_textures(&avatar.puppet.textures);
    let frame = renderer.render_frame(&scene)?;
    frame.save_png(&args.output)?;
    eprintln!("wrote {} ({w}×{h}, {})", args.output.display(), gpu.describe());
    Ok(ExitCode::SUCCESS)
}
