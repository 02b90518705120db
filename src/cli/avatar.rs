//! `persona avatar`: the avatar in a window with its idle life (blink, breathing, sway, saccades, physics), and
//! keys to drive it; `persona avatar build` paints and rigs the default puppet and writes the `.inp`.
//!
//! Keys: Space blink · M hold the mouth open · ←/→ turn · ↑/↓ nod · Q/E tilt · 1–9, 0, A–F expressions ·
//! Esc quit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use winit::application::ApplicationHandler;
use winit::event::{ElementState, KeyEvent, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::keyboard::{Key, NamedKey};
use winit::window::{Window, WindowId};

use super::Context;
use crate::avatar::motion::EXPRESSIONS;
use crate::avatar::{Avatar, default_puppet};
use crate::render::{Gpu, Renderer};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    /// Inochi2D puppet (.inp/.inx); default: the settings' avatar, else the bundled one.
    #[arg(long, value_name = "FILE")]
    pub puppet: Option<PathBuf>,
    /// Window size.
    #[arg(long, default_value = "540x960", value_name = "WxH")]
    pub size: String,
    /// Close after this many seconds (for tests and demos).
    #[arg(long, value_name = "SECONDS")]
    pub exit_after: Option<f32>,
    /// Send frames to an output: window, overlay, y4m:FILE|-, rgba:FILE|-, png:DIR, v4l2:/dev/videoN, spout[:NAME].
    /// Repeat for several. `persona avatar --no-window --frames 60 --output y4m:- | ffmpeg -i - out.webm`.
    #[arg(long = "output", value_name = "KIND:TARGET")]
    pub outputs: Vec<crate::output::OutputSpec>,
    /// No interactive window: only the outputs.
    #[arg(long)]
    pub no_window: bool,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Paint and rig the default avatar (Mira) and write it as an Inochi2D .inp.
    Build {
        /// Where to write it.
        #[arg(short, long, default_value = "assets/avatar/mira.inp", value_name = "FILE")]
        output: PathBuf,
        /// Texels per puppet pixel (1 for the shipped file).
        #[arg(long, default_value_t = 1.0)]
        scale: f32,
    },
}

pub fn run(config: Option<&Path>, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Action::Build { output, scale }) = args.action {
        if !(0.05..=4.0).contains(&scale) {
            anyhow::bail!("--scale must be between 0.05 and 4");
        }
        let puppet = default_puppet::build(scale);
        let bytes = puppet.to_bytes();
        std::fs::write(&output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
        eprintln!(
            "wrote {} ({} KiB, {} textures, {} parameters)",
            output.display(),
            bytes.len() / 1024,
            puppet.raw_textures.len(),
            puppet.params.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ctx = Context::load(config)?;
    let (w, h) = super::render::parse_size(&args.size)?;
    let avatar = Avatar::load(args.puppet.as_deref(), &ctx.settings.avatar).context("cannot load the puppet")?;
    if args.no_window || !args.outputs.is_empty() {
        return run_outputs(&ctx, avatar, (w, h), &args);
    }
    let background = super::render::parse_colour(&ctx.settings.output.window_background).unwrap_or([0.0, 1.0, 0.0]);
    let event_loop = EventLoop::new().context(
        "cannot open a window: no display (set DISPLAY or WAYLAND_DISPLAY; on a headless machine run under xvfb-run)",
    )?;
    let mut app = App {
        avatar,
        size: (w, h),
        background,
        exit_after: args.exit_after.map(Duration::from_secs_f32),
        started: Instant::now(),
        last: Instant::now(),
        state: None,
        error: None,
        mouth_held: false,
        turn: [0.0; 3],
        shown: false,
    };
    event_loop.run_app(&mut app).context("the window's event loop failed")?;
    match app.error {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// The idle avatar rendered offscreen at the settings' frame rate and sent to every output. Frames advance by
/// exactly 1/fps each, so a file or pipe gets the same frames however fast the machine renders; outputs that are
/// watched live (windows, cameras, Spout) are also paced in real time.
fn run_outputs(ctx: &Context, mut avatar: Avatar, (w, h): (u32, u32), args: &Args) -> anyhow::Result<ExitCode> {
    use crate::output::{OutputKind, VideoFormat};
    let fps = ctx.settings.output.fps.max(1);
    let background = crate::config::parse_colour(&ctx.settings.output.window_background).unwrap_or([0, 255, 0, 255]);
    let mut sinks = crate::output::open(&args.outputs, VideoFormat { width: w, height: h, fps }, background)?;
    let live = args
        .outputs
        .iter()
        .any(|o| matches!(o.kind, OutputKind::Window | OutputKind::Overlay | OutputKind::V4l2 | OutputKind::Spout));
    let gpu = Gpu::new()?;
    let mut renderer = Renderer::new(&gpu, w, h)?;
    renderer.set_textures(&avatar.puppet.textures);
    let dt = 1.0 / fps as f32;
    let started = Instant::now();
    let limit = args.frames.or(args.exit_after.map(|s| (s * fps as f32) as u64));
    let send =
        |frame: crate::render::Frame, sinks: &mut Vec<Box<dyn crate::output::FrameSink>>| -> anyhow::Result<()> {
            for sink in sinks.iter_mut() {
                sink.send(&frame).with_context(|| format!("output {}", sink.name()))?;
            }
            Ok(())
        };
    let mut n = 0u64;
    while limit.is_none_or(|l| n < l) {
        let scene = avatar.update(dt);
        if let Some(frame) = renderer.render(scene)? {
            send(frame, &mut sinks)?;
        }
        n += 1;
        if live {
            let due = started + Duration::from_secs_f64(n as f64 / fps as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    for frame in renderer.finish()? {
        send(frame, &mut sinks)?;
    }
    for sink in sinks.iter_mut() {
        sink.finish().with_context(|| format!("output {}", sink.name()))?;
    }
    eprintln!("{n} frames at {w}×{h}, {fps} fps");
    Ok(ExitCode::SUCCESS)
}

struct WindowState {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    gpu: Gpu,
    renderer: Renderer,
}

struct App {
    avatar: Avatar,
    size: (u32, u32),
    background: [f64; 3],
    exit_after: Option<Duration>,
    started: Instant,
    last: Instant,
    state: Option<WindowState>,
    error: Option<anyhow::Error>,
    mouth_held: bool,
    turn: [f32; 3],
    shown: bool,
}

impl App {
    fn open(&mut self, el: &ActiveEventLoop) -> anyhow::Result<()> {
        let attrs = Window::default_attributes()
            .with_title(format!("Persona — {}", self.avatar.puppet.name()))
            .with_inner_size(winit::dpi::PhysicalSize::new(self.size.0, self.size.1));
        let window = Arc::new(el.create_window(attrs).context("cannot create the window")?);
        let (gpu, surface) = Gpu::for_window(window.clone())?;
        let size = window.inner_size();
        let config = surface
            .get_default_config(&gpu.adapter, size.width.max(1), size.height.max(1))
            .context("the window surface is not supported by the graphics adapter")?;
        surface.configure(&gpu.device, &config);
        let mut renderer = Renderer::new(&gpu, config.width, config.height)?;
        renderer.set_textures(&self.avatar.puppet.textures);
        tracing::info!("avatar window on {}", gpu.describe());
        self.state = Some(WindowState { window, surface, config, gpu, renderer });
        Ok(())
    }

    fn resize(&mut self, w: u32, h: u32) -> anyhow::Result<()> {
        let Some(s) = self.state.as_mut() else { return Ok(()) };
        if w == 0 || h == 0 {
            return Ok(());
        }
        s.config.width = w;
        s.config.height = h;
        s.surface.configure(&s.gpu.device, &s.config);
        s.renderer = Renderer::new(&s.gpu, w, h)?;
        s.renderer.set_textures(&self.avatar.puppet.textures);
        Ok(())
    }

    fn frame(&mut self) {
        let now = Instant::now();
        let dt = (now - self.last).as_secs_f32();
        self.last = now;
        self.avatar.set("MouthOpenY", if self.mouth_held { 0.8 } else { 0.0 });
        self.avatar.set("AngleX", self.turn[0]);
        self.avatar.set("AngleY", self.turn[1]);
        self.avatar.set("AngleZ", self.turn[2]);
        let scene = self.avatar.update(dt);
        let Some(s) = self.state.as_mut() else { return };
        let texture = match s.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                s.surface.configure(&s.gpu.device, &s.config);
                return;
            }
            _ => return,
        };
        s.renderer.render_to_surface(scene, &texture, self.background);
        s.window.pre_present_notify();
        s.gpu.queue.present(texture);
        if !self.shown {
            self.shown = true;
            println!("avatar: first frame shown");
        }
    }

    fn key(&mut self, key: &Key, pressed: bool, el: &ActiveEventLoop) {
        match key {
            Key::Named(NamedKey::Escape) if pressed => el.exit(),
            Key::Named(NamedKey::Space) if pressed => self.avatar.motion.blink_now(),
            Key::Named(NamedKey::ArrowLeft) if pressed => self.turn[0] = (self.turn[0] - 0.25).max(-1.0),
            Key::Named(NamedKey::ArrowRight) if pressed => self.turn[0] = (self.turn[0] + 0.25).min(1.0),
            Key::Named(NamedKey::ArrowUp) if pressed => self.turn[1] = (self.turn[1] + 0.25).min(1.0),
            Key::Named(NamedKey::ArrowDown) if pressed => self.turn[1] = (self.turn[1] - 0.25).max(-1.0),
            Key::Character(c) => {
                let c = c.to_lowercase();
                match c.as_str() {
                    "m" => self.mouth_held = pressed,
                    "q" if pressed => self.turn[2] = (self.turn[2] - 0.25).max(-1.0),
                    "e" if pressed => self.turn[2] = (self.turn[2] + 0.25).min(1.0),
                    _ if pressed => {
                        let keys = "1234567890abcdf";
                        if let Some(i) = keys.find(c.as_str()).filter(|_| c.len() == 1)
                            && let Some(name) = EXPRESSIONS.get(i)
                        {
                            self.avatar.show_expression(name);
                            eprintln!("expression: {name}");
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

impl ApplicationHandler for App {
    fn resumed(&mut self, el: &ActiveEventLoop) {
        if self.state.is_none()
            && let Err(e) = self.open(el)
        {
            self.error = Some(e);
            el.exit();
        }
    }

    fn window_event(&mut self, el: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => el.exit(),
            WindowEvent::Resized(size) => {
                if let Err(e) = self.resize(size.width, size.height) {
                    self.error = Some(e);
                    el.exit();
                }
            }
            WindowEvent::KeyboardInput { event: KeyEvent { logical_key, state, .. }, .. } => {
                self.key(&logical_key, state == ElementState::Pressed, el)
            }
            WindowEvent::RedrawRequested => {
                self.frame();
                if let Some(limit) = self.exit_after
                    && self.started.elapsed() >= limit
                {
                    el.exit();
                }
            }
            _ => {}
        }
    }

    fn about_to_wait(&mut self, el: &ActiveEventLoop) {
        // About 60 frames per second.
        el.set_control_flow(ControlFlow::WaitUntil(Instant::now() + Duration::from_millis(16)));
        if let Some(s) = &self.state {
            s.window.request_redraw();
        }
    }
}
