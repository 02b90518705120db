//! The control panel in a winit window, drawn by egui-wgpu.
//!
//! [`PanelWindow`] is one window the app's own event loop drives (the live app opens it beside the avatar window
//! and forwards its events); [`run_standalone`] runs an event loop with just the panel.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Window, WindowId};

use super::ControlPanel;

/// The panel's window: the winit window, egui's input state and the wgpu painter.
pub struct PanelWindow {
    pub window: Arc<Window>,
    pub panel: ControlPanel,
    state: egui_winit::State,
    painter: egui_wgpu::winit::Painter,
    /// When egui asked to be drawn again (animations, the panel's polling of status and files).
    next_redraw: Option<Instant>,
}

impl PanelWindow {
    /// Opens the window. `wgpu_setup` lets the app share its wgpu device (`WgpuSetup::Existing`); the default
    /// creates one (the `WGPU_BACKEND` environment variable picks the backend).
    pub fn open(
        event_loop: &ActiveEventLoop,
        panel: ControlPanel,
        wgpu_setup: Option<egui_wgpu::WgpuSetup>,
    ) -> anyhow::Result<PanelWindow> {
        let attributes = Window::default_attributes()
            .with_title("Persona: control panel")
            .with_inner_size(winit::dpi::LogicalSize::new(900.0, 760.0));
        let window = Arc::new(event_loop.create_window(attributes).context("could not open the control panel window")?);
        let ctx = egui::Context::default();
        let mut config = egui_wgpu::WgpuConfiguration::default();
        if let Some(setup) = wgpu_setup {
            config.wgpu_setup = setup;
        }
        let mut painter = pollster::block_on(egui_wgpu::winit::Painter::new(
            ctx.clone(),
            config,
            false,
            egui_wgpu::RendererOptions::default(),
        ));
        pollster::block_on(painter.set_window(egui::ViewportId::ROOT, Some(window.clone())))
            .context("no graphics adapter can draw the control panel (install Vulkan or GL drivers)")?;
        let state = egui_winit::State::new(
            ctx,
            egui::ViewportId::ROOT,
            &window,
            Some(window.scale_factor() as f32),
            window.theme(),
            painter.max_texture_side(),
        );
        window.request_redraw();
        Ok(PanelWindow { window, panel, state, painter, next_redraw: None })
    }

    pub fn id(&self) -> WindowId {
        self.window.id()
    }

    /// Handles one event of this window. Returns false when the window was asked to close.
    pub fn on_window_event(&mut self, event: &WindowEvent) -> bool {
        match event {
            WindowEvent::CloseRequested => {
                self.panel.flush();
                return false;
            }
            WindowEvent::Resized(size) => {
                if let (Some(w), Some(h)) = (NonZeroU32::new(size.width), NonZeroU32::new(size.height)) {
                    self.painter.on_window_resized(egui::ViewportId::ROOT, w, h);
                }
            }
            WindowEvent::RedrawRequested => {
                self.redraw();
                return true;
            }
            _ => {}
        }
        let response = self.state.on_window_event(&self.window, event);
        if response.repaint {
            self.window.request_redraw();
        }
        true
    }

    /// When the window wants its next redraw even without input; an event loop waits until then
    /// (`ControlFlow::WaitUntil`) and calls `window.request_redraw()`.
    pub fn next_redraw(&self) -> Option<Instant> {
        self.next_redraw
    }

    /// Asks for a redraw when the time egui asked for has come; call from `about_to_wait`.
    pub fn redraw_if_due(&self) {
        if self.next_redraw.is_some_and(|t| Instant::now() >= t) {
            self.window.request_redraw();
        }
    }

    /// Runs one egui pass and paints it.
    pub fn redraw(&mut self) {
        let input = self.state.take_egui_input(&self.window);
        let ctx = self.state.egui_ctx().clone();
        let panel = &mut self.panel;
        let mut output = ctx.run_ui(input, |ui| panel.ui(ui));
        self.state.handle_platform_output(&self.window, std::mem::take(&mut output.platform_output));
        let primitives = ctx.tessellate(std::mem::take(&mut output.shapes), output.pixels_per_point);
        self.painter.paint_and_update_textures(
            egui::ViewportId::ROOT,
            output.pixels_per_point,
            [0.0, 0.0, 0.0, 1.0],
            &primitives,
            &mut output.textures_delta,
            Vec::new(),
            &self.window,
        );
        let delay = output.viewport_output.get(&egui::ViewportId::ROOT).map(|v| v.repaint_delay);
        self.next_redraw = delay.and_then(|d| Instant::now().checked_add(d));
    }
}

/// An event loop with only the control panel (`persona panel`). Returns when the window is closed.
pub fn run_standalone(panel: ControlPanel) -> anyhow::Result<()> {
    let event_loop = EventLoop::new().context(
        "could not connect to a display (set DISPLAY or WAYLAND_DISPLAY; headless: run under `xvfb-run -a`)",
    )?;
    let mut app = Standalone { panel: Some(panel), window: None, error: None };
    event_loop.run_app(&mut app).context("the window system stopped the event loop")?;
    match app.error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Standalone {
    panel: Option<ControlPanel>,
    window: Option<PanelWindow>,
    error: Option<anyhow::Error>,
}

impl ApplicationHandler for Standalone {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        let Some(panel) = self.panel.take() else { return };
        match PanelWindow::open(event_loop, panel, None) {
            Ok(w) => self.window = Some(w),
            Err(e) => {
                self.error = Some(e);
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        let Some(window) = self.window.as_mut().filter(|w| w.id() == id) else { return };
        if !window.on_window_event(&event) {
            event_loop.exit();
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        if let Some(window) = &self.window {
            window.redraw_if_due();
            match window.next_redraw() {
                Some(t) => event_loop.set_control_flow(winit::event_loop::ControlFlow::WaitUntil(t)),
                None => event_loop.set_control_flow(winit::event_loop::ControlFlow::Wait),
            }
        }
    }

    fn exiting(&mut self, _event_loop: &ActiveEventLoop) {
        if let Some(window) = &mut self.window {
            window.panel.flush();
        }
    }
}
