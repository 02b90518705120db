//! The desktop app: the avatar window(s) and the control panel in one winit event loop on the main thread, over a
//! conversation that runs on its own threads.
//!
//! winit allows one event loop per process, and on most platforms only on the main thread, so everything that is a
//! window lives here: the avatar's [`WindowSet`] and the panel's [`PanelWindow`]. Nothing else runs on this thread.
//! The avatar is rendered on the show thread (`pipeline::show::run`), which hands each frame to a [`WindowFeed`]:
//! the feed keeps the latest frame and wakes the loop with [`AppEvent::Frame`], and the loop uploads and draws it.
//! The panel reads the conversation's status and sends it commands through its channel; the loop only draws it.
//!
//! The loop ends when a window is closed or on [`AppEvent::Quit`] (Ctrl-C, or the conversation finished); the panel
//! writes pending settings as it ends. The caller then stops the show thread and the conversation.

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalPosition;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop, EventLoopProxy};
use winit::window::WindowId;

use crate::output::window::{WindowKind, WindowRect, WindowSet};
use crate::output::{Frame, FrameSink, OutputError, VideoFormat};
use crate::ui::ControlPanel;
use crate::ui::window::PanelWindow;

/// What the other threads tell the event loop.
#[derive(Debug, Clone, PartialEq)]
pub enum AppEvent {
    /// A new avatar frame waits in the feed.
    Frame,
    /// End the app (the reason is printed).
    Quit(String),
}

/// The app's event loop, made before anything else so that a missing display is known early.
pub fn event_loop() -> anyhow::Result<EventLoop<AppEvent>> {
    EventLoop::<AppEvent>::with_user_event()
        .build()
        .context("cannot connect to a display (set DISPLAY or WAYLAND_DISPLAY; headless: run under `xvfb-run -a`)")
}

/// The latest avatar frame, handed from the render thread to the event loop.
#[derive(Clone, Default)]
pub struct FrameSlot(Arc<Mutex<Option<Frame>>>);

impl FrameSlot {
    fn take(&self) -> Option<Frame> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A [`FrameSink`] for the show thread that sends frames to the app's avatar windows. Frames the loop has not
/// drawn yet are replaced by newer ones (a slow window skips frames instead of delaying the other outputs).
pub struct WindowFeed {
    slot: FrameSlot,
    proxy: EventLoopProxy<AppEvent>,
}

impl WindowFeed {
    pub fn new(slot: FrameSlot, proxy: EventLoopProxy<AppEvent>) -> WindowFeed {
        WindowFeed { slot, proxy }
    }
}

impl FrameSink for WindowFeed {
    fn name(&self) -> String {
        "avatar window".into()
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        let waiting = self.slot.0.lock().unwrap_or_else(|e| e.into_inner()).replace(frame.clone()).is_some();
        // One wake-up per frame the loop has not seen; a frame replacing a waiting one rides on its wake-up.
        // When the loop has ended the app is shutting down, and the frame has nowhere to go.
        if !waiting {
            let _ = self.proxy.send_event(AppEvent::Frame);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// The windows of the app; see the module documentation.
pub struct Windows {
    avatar: Option<WindowSet>,
    panel: Option<ControlPanel>,
    panel_window: Option<PanelWindow>,
    slot: FrameSlot,
    frames_shown: u64,
    error: Option<anyhow::Error>,
}

impl Windows {
    /// `avatar`: the avatar windows to open (none: the panel alone) for frames of `format`; `panel`: the control
    /// panel (none: the avatar alone). Frames come through `slot` from a [`WindowFeed`].
    pub fn new(avatar: Vec<WindowKind>, format: VideoFormat, panel: Option<ControlPanel>, slot: FrameSlot) -> Windows {
        let avatar = if avatar.is_empty() { None } else { Some(WindowSet::new(avatar, format)) };
        Windows { avatar, panel, panel_window: None, slot, frames_shown: 0, error: None }
    }

    /// Runs the event loop until a window is closed or [`AppEvent::Quit`] comes. Returns how many avatar frames were
    /// shown.
    pub fn run(mut self, event_loop: EventLoop<AppEvent>) -> anyhow::Result<u64> {
        event_loop.run_app(&mut self).context("the window system stopped the event loop")?;
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.frames_shown),
        }
    }

    fn open(&mut self, event_loop: &ActiveEventLoop) -> anyhow::Result<()> {
        let mut right_of_avatar = None;
        if let Some(avatar) = self.avatar.as_mut() {
            avatar.create(event_loop).context("cannot open the avatar window")?;
            if let Some((_, r)) = avatar.window_rects().first() {
                right_of_avatar = Some(PhysicalPosition::new(r.x + r.width as i32 + 16, r.y));
            }
        }
        if let Some(panel) = self.panel.take() {
            // The panel draws with the avatar window's GPU device: one device, one set of drivers' memory.
            let setup = self.avatar.as_ref().and_then(|a| a.gpu()).map(|(instance, adapter, device, queue)| {
                egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting { instance, adapter, device, queue })
            });
            let window = PanelWindow::open(event_loop, panel, setup)?;
            if let Some(at) = right_of_avatar {
                // Beside the avatar rather than over it (window managers may place it elsewhere).
                window.window.set_outer_position(at);
            }
            self.panel_window = Some(window);
        }
        Ok(())
    }

    fn fail(&mut self, e: anyhow::Error, event_loop: &ActiveEventLoop) {
        self.error = Some(e);
        event_loop.exit();
    }

    /// Where the windows are: the avatar windows', then the panel's (physical pixels of their contents).
    fn rects(&self) -> (Vec<WindowRect>, Option<WindowRect>) {
        let avatar = self.avatar.as_ref().map(|a| a.window_rects().into_iter().map(|(_, r)| r).collect());
        let panel = self.panel_window.as_ref().map(|p| {
            let pos = p.window.inner_position().unwrap_or(PhysicalPosition::new(0, 0));
            let size = p.window.inner_size();
            WindowRect { x: pos.x, y: pos.y, width: size.width, height: size.height }
        });
        (avatar.unwrap_or_default(), panel)
    }
}

fn describe(r: &WindowRect) -> String {
    format!("{}x{} at {},{}", r.width, r.height, r.x, r.y)
}

impl ApplicationHandler<AppEvent> for Windows {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        let opened = self.panel_window.is_some() || self.avatar.as_ref().is_some_and(|a| a.is_open());
        if !opened && let Err(e) = self.open(event_loop) {
            self.fail(e, event_loop);
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        if let Some(avatar) = self.avatar.as_mut().filter(|a| a.owns(id)) {
            match avatar.window_event(id, &event) {
                Ok(true) => {}
                Ok(false) => event_loop.exit(),
                Err(e) => self.fail(anyhow::Error::new(e).context("the avatar window"), event_loop),
            }
        } else if let Some(panel) = self.panel_window.as_mut().filter(|p| p.id() == id)
            && !panel.on_window_event(&event)
        {
            event_loop.exit();
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: AppEvent) {
        match event {
            AppEvent::Frame => {
                let (Some(frame), Some(avatar)) = (self.slot.take(), self.avatar.as_mut().filter(|a| a.is_open()))
                else {
                    return;
                };
                if let Err(e) = avatar.show(&frame) {
                    self.fail(anyhow::Error::new(e).context("the avatar window"), event_loop);
                    return;
                }
                self.frames_shown += 1;
                if self.frames_shown == 1 {
                    // One line saying what the user now sees, and where (scripts and tests find the windows by it).
                    let (avatar, panel) = self.rects();
                    let avatar: Vec<String> = avatar.iter().map(describe).collect();
                    let panel = panel.map(|r| format!("; control panel {}", describe(&r))).unwrap_or_default();
                    eprintln!("windows: avatar {}{panel}", avatar.join(", "));
                }
            }
            AppEvent::Quit(why) => {
                eprintln!("{why}");
                event_loop.exit();
            }
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        match &self.panel_window {
            Some(panel) => {
                panel.redraw_if_due();
                match panel.next_redraw() {
                    Some(t) => event_loop.set_control_flow(ControlFlow::WaitUntil(t)),
                    None => event_loop.set_control_flow(ControlFlow::Wait),
                }
            }
            None => event_loop.set_control_flow(ControlFlow::Wait),
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        if let Some(panel) = self.panel_window.as_mut() {
            panel.panel.flush();
        }
        // Windows close before the loop goes: their surfaces must not outlive the display connection.
        self.panel_window = None;
        if let Some(avatar) = self.avatar.as_mut() {
            avatar.close();
        }
    }
}

/// Turns Ctrl-C into [`AppEvent::Quit`], so the app ends the conversation and writes its files instead of dying.
pub fn quit_on_ctrl_c(proxy: EventLoopProxy<AppEvent>) {
    let spawned = std::thread::Builder::new().name("persona-ctrl-c".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
            let _ = proxy.send_event(AppEvent::Quit("stopping (Ctrl-C)".into()));
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for Ctrl-C ({e}); close the window to stop");
    }
}
