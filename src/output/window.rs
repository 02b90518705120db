//! Desktop windows showing the latest frame: a plain window (the avatar over a chroma-key colour, for OBS window
//! capture) and a transparent, borderless, always-on-top overlay you drag with the mouse (desktop companion).
//!
//! winit wants its event loop on the main thread and only one per process, while the render loop wants to push
//! frames. So one [`WindowSink`] owns the event loop and all windows, and each `send` uploads the frame into a
//! texture, pumps pending window events without blocking (`pump_app_events` with a zero timeout) and draws every
//! window: a full-window triangle samples the frame, letterboxed to the window's shape. The windows themselves are a
//! [`WindowSet`], which an app with its own event loop (`persona`: the avatar beside the control panel) drives
//! directly, feeding it frames from the render thread. The plain window
//! composites the premultiplied frame over its background colour; the overlay presents it with alpha, so the
//! desktop shows through where the character is not.

use std::sync::Arc;
use std::time::Duration;

use winit::application::ApplicationHandler;
use winit::dpi::{PhysicalPosition, PhysicalSize};
use winit::event::{ElementState, MouseButton, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
use winit::window::{Window, WindowId, WindowLevel};

use super::{Frame, FrameSink, OutputError, VideoFormat, check_size};

/// Which window to show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowKind {
    /// Resizable, decorated, opaque: the frame over `background` (premultiplied RGBA, normally a chroma colour).
    Plain { background: [u8; 4] },
    /// Borderless, transparent, always on top; drag it with the left mouse button.
    Overlay,
}

/// A shown window's place on the screen, in physical pixels (what a screenshot sees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

/// Uniforms of the blit shader; must match `Params` in the WGSL below.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    /// The frame's rectangle in window UV (x0, y0, x1, y1).
    rect: [f32; 4],
    /// Background colour, premultiplied; alpha 0 for the overlay.
    background: [f32; 4],
    /// 1.0: the surface wants straight alpha (un-premultiply); 0.0: premultiplied or opaque.
    straight: f32,
    _pad: [f32; 3],
}

const SHADER: &str = r#"
struct Params { rect: vec4<f32>, background: vec4<f32>, straight: f32 };
@group(0) @binding(0) var frame: texture_2d<f32>;
@group(0) @binding(1) var smp: sampler;
@group(0) @binding(2) var<uniform> params: Params;

struct VsOut { @builtin(position) pos: vec4<f32>, @location(0) uv: vec2<f32> };

@vertex
fn vs(@builtin(vertex_index) i: u32) -> VsOut {
    // One triangle covering the window.
    let p = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: VsOut;
    out.pos = vec4<f32>(p * 2.0 - 1.0, 0.0, 1.0);
    out.uv = vec2<f32>(p.x, 1.0 - p.y);
    return out;
}

@fragment
fn fs(in: VsOut) -> @location(0) vec4<f32> {
    let r = params.rect;
    let uv = (in.uv - r.xy) / (r.zw - r.xy);
    var c = vec4<f32>(0.0);
    if (all(uv >= vec2<f32>(0.0)) && all(uv <= vec2<f32>(1.0))) {
        c = textureSample(frame, smp, uv);
    }
    // Premultiplied "frame over background".
    var out = c + params.background * (1.0 - c.a);
    if (params.straight > 0.5 && out.a > 0.0) {
        out = vec4<f32>(out.rgb / out.a, out.a);
    }
    return out;
}
"#;

struct Gpu {
    /// Kept alive with the surfaces made from it.
    instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    texture: wgpu::Texture,
    bind_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    shader: wgpu::ShaderModule,
    pipeline_layout: wgpu::PipelineLayout,
}

struct Shown {
    kind: WindowKind,
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    pipeline: wgpu::RenderPipeline,
    params: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    straight_alpha: bool,
    /// Premultiplied background for `Params`.
    background: [f32; 4],
}

/// The frame windows and the GPU that draws them, driven by whoever owns the event loop: a [`WindowSink`] (which
/// pumps its own loop from the render loop), or an app whose winit loop also runs other windows (`persona`, with
/// the control panel beside the avatar). Create the windows with [`WindowSet::create`] once the loop has resumed,
/// pass their events to [`WindowSet::window_event`], and show each frame with [`WindowSet::show`].
pub struct WindowSet {
    kinds: Vec<WindowKind>,
    format: VideoFormat,
    gpu: Option<Gpu>,
    shown: Vec<Shown>,
}

/// [`WindowSink`]'s handler for its own event loop: the windows, and what happened while pumping.
struct Pumped {
    set: WindowSet,
    error: Option<OutputError>,
    closed: bool,
}

/// The window(s) of one process, with their own event loop; see the module doc.
pub struct WindowSink {
    event_loop: EventLoop<()>,
    app: Pumped,
    finished: bool,
}

impl WindowSink {
    /// Opens the windows. Fails with a clear message when there is no display or no usable GPU adapter.
    pub fn open(kinds: Vec<WindowKind>, format: VideoFormat) -> Result<WindowSink, OutputError> {
        let event_loop = EventLoop::new().map_err(|e| {
            OutputError::Device(format!(
                "cannot open a window ({e}); is there a display? (on a server use --output y4m:- or run under \
                 xvfb-run)"
            ))
        })?;
        let mut sink = WindowSink {
            event_loop,
            app: Pumped { set: WindowSet::new(kinds, format), error: None, closed: false },
            finished: false,
        };
        // The windows are made when the loop first resumes; pump until they exist.
        for _ in 0..50 {
            sink.pump()?;
            if sink.app.set.is_open() {
                return Ok(sink);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(OutputError::Device("the window system never let us create the windows".into()))
    }

    fn pump(&mut self) -> Result<(), OutputError> {
        let status = self.event_loop.pump_app_events(Some(Duration::ZERO), &mut self.app);
        if let Some(e) = self.app.error.take() {
            return Err(e);
        }
        if let PumpStatus::Exit(_) = status {
            self.app.closed = true;
        }
        Ok(())
    }

    /// Where each window is on screen (physical pixels of its contents), in the order asked for.
    pub fn window_rects(&self) -> Vec<(WindowKind, WindowRect)> {
        self.app.set.window_rects()
    }

    /// Handles window events for `duration` without sending a frame (keeps windows responsive while idle).
    pub fn idle(&mut self, duration: Duration) -> Result<(), OutputError> {
        let end = std::time::Instant::now() + duration;
        while std::time::Instant::now() < end {
            self.pump()?;
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl WindowSet {
    /// The windows to open for frames of `format`; nothing opens before [`WindowSet::create`].
    pub fn new(kinds: Vec<WindowKind>, format: VideoFormat) -> WindowSet {
        WindowSet { kinds, format, gpu: None, shown: Vec::new() }
    }

    /// True once the windows exist.
    pub fn is_open(&self) -> bool {
        !self.shown.is_empty()
    }

    /// True when `id` is one of these windows.
    pub fn owns(&self, id: WindowId) -> bool {
        self.shown.iter().any(|s| s.window.id() == id)
    }

    /// A short name for logs: "window", "overlay" or "window+overlay".
    pub fn name(&self) -> String {
        let names: Vec<&str> = self
            .kinds
            .iter()
            .map(|k| match k {
                WindowKind::Plain { .. } => "window",
                WindowKind::Overlay => "overlay",
            })
            .collect();
        names.join("+")
    }

    /// Where each window is on screen (physical pixels of its contents), in the order asked for.
    pub fn window_rects(&self) -> Vec<(WindowKind, WindowRect)> {
        self.shown
            .iter()
            .map(|s| {
                let pos = s.window.inner_position().unwrap_or(PhysicalPosition::new(0, 0));
                let size = s.window.inner_size();
                (s.kind, WindowRect { x: pos.x, y: pos.y, width: size.width, height: size.height })
            })
            .collect()
    }

    /// The wgpu instance, adapter, device and queue the windows draw with, so another window of the same loop (the
    /// control panel) can share them instead of opening the GPU a second time.
    pub fn gpu(&self) -> Option<(wgpu::Instance, wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
        self.gpu.as_ref().map(|g| (g.instance.clone(), g.adapter.clone(), g.device.clone(), g.queue.clone()))
    }

    /// Handles one event of one of these windows: drag for the overlay, redraw on expose. Returns false when the
    /// user asked to close the window.
    pub fn window_event(&mut self, id: WindowId, event: &WindowEvent) -> Result<bool, OutputError> {
        let Some(shown) = self.shown.iter().find(|s| s.window.id() == id) else { return Ok(true) };
        match event {
            WindowEvent::CloseRequested => return Ok(false),
            WindowEvent::MouseInput { state: ElementState::Pressed, button: MouseButton::Left, .. }
                if shown.kind == WindowKind::Overlay =>
            {
                // Click-drag moves the borderless overlay (the window manager does the moving).
                if let Err(e) = shown.window.drag_window() {
                    tracing::debug!("overlay drag not available: {e}");
                }
            }
            WindowEvent::RedrawRequested => self.draw_all()?,
            _ => {}
        }
        Ok(true)
    }

    /// Shows a frame in every window (it must have the size the set was made for).
    pub fn show(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.name(), &self.format, frame)?;
        if let Some(gpu) = &self.gpu {
            gpu.upload(frame);
        }
        self.draw_all()
    }

    /// Closes the windows.
    pub fn close(&mut self) {
        self.shown.clear();
        self.gpu = None;
    }

    /// Opens the windows and the GPU; call once the event loop has resumed.
    pub fn create(&mut self, event_loop: &ActiveEventLoop) -> Result<(), OutputError> {
        let f = self.format;
        // Windows start at the frame's size, shrunk (never grown) to fit 90% of the screen.
        let fit = event_loop
            .primary_monitor()
            .or_else(|| event_loop.available_monitors().next())
            .map(|m| m.size())
            .map(|s| (s.width as f64 * 0.9 / f.width as f64).min(s.height as f64 * 0.9 / f.height as f64).min(1.0))
            .unwrap_or(1.0);
        let size = PhysicalSize::new(((f.width as f64 * fit) as u32).max(1), ((f.height as f64 * fit) as u32).max(1));
        let mut windows = Vec::new();
        for kind in self.kinds.clone() {
            let mut attrs = Window::default_attributes().with_inner_size(size);
            attrs = match kind {
                WindowKind::Plain { .. } => attrs.with_title("Persona"),
                WindowKind::Overlay => {
                    let mut a = attrs
                        .with_title("Persona overlay")
                        .with_decorations(false)
                        .with_transparent(true)
                        .with_resizable(false)
                        .with_window_level(WindowLevel::AlwaysOnTop);
                    // A desktop companion sits in the bottom-right corner until dragged.
                    if let Some(m) = event_loop.primary_monitor() {
                        let (ms, mp) = (m.size(), m.position());
                        a = a.with_position(PhysicalPosition::new(
                            mp.x + ms.width.saturating_sub(size.width) as i32,
                            mp.y + ms.height.saturating_sub(size.height) as i32,
                        ));
                    }
                    a
                }
            };
            let window = event_loop
                .create_window(attrs)
                .map_err(|e| OutputError::Device(format!("cannot create the {kind:?} window: {e}")))?;
            windows.push((kind, Arc::new(window)));
        }

        let mut desc = wgpu::InstanceDescriptor::new_with_display_handle(Box::new(event_loop.owned_display_handle()));
        desc.backends = wgpu::Backends::from_env().unwrap_or_default();
        let instance = wgpu::Instance::new(desc);
        let mut surfaces = Vec::new();
        for (kind, window) in windows {
            let surface = instance
                .create_surface(window.clone())
                .map_err(|e| OutputError::Device(format!("cannot draw into the {kind:?} window: {e}")))?;
            surfaces.push((kind, window, surface));
        }
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: surfaces.first().map(|s| &s.2),
            ..Default::default()
        }))
        .map_err(|e| OutputError::Device(format!("no GPU adapter can draw into the window: {e}")))?;
        let (device, queue) = pollster::block_on(
            adapter.request_device(&wgpu::DeviceDescriptor { label: Some("persona windows"), ..Default::default() }),
        )
        .map_err(|e| OutputError::Device(format!("cannot open the GPU for the window: {e}")))?;
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("latest frame"),
            size: wgpu::Extent3d { width: f.width, height: f.height, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            // Not sRGB: the frame's bytes are shown as they are, like every other output does.
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("blit"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("frame"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("blit"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("blit"),
            bind_group_layouts: &[Some(&bind_layout)],
            immediate_size: 0,
        });
        let gpu = Gpu { instance, adapter, device, queue, texture, bind_layout, sampler, shader, pipeline_layout };
        for (kind, window, surface) in surfaces {
            let shown = gpu.show(kind, window, surface)?;
            self.shown.push(shown);
        }
        self.gpu = Some(gpu);
        Ok(())
    }

    fn draw_all(&mut self) -> Result<(), OutputError> {
        let Some(gpu) = &self.gpu else { return Ok(()) };
        for s in &mut self.shown {
            gpu.draw(s, self.format)?;
        }
        Ok(())
    }
}

impl Gpu {
    fn show(
        &self,
        kind: WindowKind,
        window: Arc<Window>,
        surface: wgpu::Surface<'static>,
    ) -> Result<Shown, OutputError> {
        let caps = surface.get_capabilities(&self.adapter);
        let Some(&format) = caps
            .formats
            .iter()
            .find(|f| matches!(f, wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Rgba8Unorm))
            .or_else(|| caps.formats.first())
        else {
            return Err(OutputError::Device(format!("the {kind:?} window's surface offers no pixel format")));
        };
        use wgpu::CompositeAlphaMode as A;
        let (alpha_mode, straight_alpha) = match kind {
            WindowKind::Plain { .. } => (caps.alpha_modes.first().copied().unwrap_or(A::Auto), false),
            // Prefer a compositor that takes premultiplied alpha (our frames are), then straight alpha.
            WindowKind::Overlay => {
                if caps.alpha_modes.contains(&A::PreMultiplied) {
                    (A::PreMultiplied, false)
                } else if caps.alpha_modes.contains(&A::PostMultiplied) {
                    (A::PostMultiplied, true)
                } else {
                    tracing::warn!(
                        "this window system cannot show a transparent overlay (alpha modes {:?}); it will be opaque",
                        caps.alpha_modes
                    );
                    (caps.alpha_modes.first().copied().unwrap_or(A::Auto), false)
                }
            }
        };
        let size = window.inner_size();
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            width: size.width.max(1),
            height: size.height.max(1),
            present_mode: wgpu::PresentMode::Fifo,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: vec![],
            color_space: wgpu::SurfaceColorSpace::Auto,
        };
        surface.configure(&self.device, &config);
        let pipeline = self.device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("blit"),
            layout: Some(&self.pipeline_layout),
            vertex: wgpu::VertexState {
                module: &self.shader,
                entry_point: Some("vs"),
                buffers: &[],
                compilation_options: Default::default(),
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &self.shader,
                entry_point: Some("fs"),
                targets: &[Some(wgpu::ColorTargetState { format, blend: None, write_mask: wgpu::ColorWrites::ALL })],
                compilation_options: Default::default(),
            }),
            multiview_mask: None,
            cache: None,
        });
        let params = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("blit params"),
            size: std::mem::size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let view = self.texture.create_view(&Default::default());
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("blit"),
            layout: &self.bind_layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(&view) },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(&self.sampler) },
                wgpu::BindGroupEntry { binding: 2, resource: params.as_entire_binding() },
            ],
        });
        let background = match kind {
            WindowKind::Plain { background: b } => {
                let a = b[3] as f32 / 255.0;
                [b[0] as f32 / 255.0 * a, b[1] as f32 / 255.0 * a, b[2] as f32 / 255.0 * a, a]
            }
            WindowKind::Overlay => [0.0; 4],
        };
        Ok(Shown { kind, window, surface, config, pipeline, params, bind_group, straight_alpha, background })
    }

    fn upload(&self, frame: &Frame) {
        self.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            &frame.rgba,
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(frame.width * 4), rows_per_image: None },
            wgpu::Extent3d { width: frame.width, height: frame.height, depth_or_array_layers: 1 },
        );
    }

    fn draw(&self, s: &mut Shown, format: VideoFormat) -> Result<(), OutputError> {
        let size = s.window.inner_size();
        if size.width == 0 || size.height == 0 {
            return Ok(()); // minimised
        }
        if size.width != s.config.width || size.height != s.config.height {
            s.config.width = size.width;
            s.config.height = size.height;
            s.surface.configure(&self.device, &s.config);
        }
        // Letterbox: the frame keeps its aspect ratio, centred.
        let (ww, wh) = (size.width as f32, size.height as f32);
        let k = (ww / format.width as f32).min(wh / format.height as f32);
        let (fw, fh) = (format.width as f32 * k / ww, format.height as f32 * k / wh);
        let rect = [(1.0 - fw) / 2.0, (1.0 - fh) / 2.0, (1.0 + fw) / 2.0, (1.0 + fh) / 2.0];
        let params = Params {
            rect,
            background: s.background,
            straight: if s.straight_alpha { 1.0 } else { 0.0 },
            _pad: [0.0; 3],
        };
        self.queue.write_buffer(&s.params, 0, bytemuck::bytes_of(&params));
        let texture = match s.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => t,
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => return Ok(()),
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                s.surface.configure(&self.device, &s.config);
                return Ok(());
            }
            other => {
                return Err(OutputError::Device(format!("the {:?} window cannot be drawn: {other:?}", s.kind)));
            }
        };
        let view = texture.texture.create_view(&Default::default());
        let mut encoder = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("blit"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            pass.set_pipeline(&s.pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
        self.queue.submit([encoder.finish()]);
        s.window.pre_present_notify();
        self.queue.present(texture);
        Ok(())
    }
}

impl Pumped {
    fn fail(&mut self, e: OutputError, event_loop: &ActiveEventLoop) {
        self.error = Some(e);
        event_loop.exit();
    }
}

impl ApplicationHandler for Pumped {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if !self.set.is_open()
            && let Err(e) = self.set.create(event_loop)
        {
            self.fail(e, event_loop);
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, id: WindowId, event: WindowEvent) {
        match self.set.window_event(id, &event) {
            Ok(true) => {}
            Ok(false) => {
                self.closed = true;
                event_loop.exit();
            }
            Err(e) => self.fail(e, event_loop),
        }
    }
}

impl FrameSink for WindowSink {
    fn name(&self) -> String {
        self.app.set.name()
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.name(), &self.app.set.format, frame)?;
        if self.finished || self.app.closed {
            return Err(OutputError::Closed(self.name()));
        }
        self.pump()?;
        if self.app.closed {
            return Err(OutputError::Closed(self.name()));
        }
        self.app.set.show(frame)
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        self.finished = true;
        self.app.set.close();
        let _ = self.event_loop.pump_app_events(Some(Duration::ZERO), &mut self.app);
        Ok(())
    }
}
