//! The puppet pass. A [`Scene`] becomes a list of operations (begin a pass, draw a range with a pipeline), which
//! are then recorded into one command buffer:
//!
//! - parts draw back to front with premultiplied alpha and their blend mode;
//! - a masked part restarts the pass with the stencil cleared (0 if any source is a Mask, else 1), draws its mask
//!   sources into the stencil only (1 for Mask, 0 for DodgeMask, where texture alpha passes the threshold), then
//!   draws itself where the stencil is 1;
//! - a composite draws its parts into a transparent layer the size of the target, then blends the layer over
//!   the target as one quad with the composite's look and masks;
//! - an optional overlay (subtitles) goes over everything, before readback.

use std::collections::HashMap;

use anyhow::Context as _;

use super::readback::ReadbackRing;
use super::{Frame, Gpu};
use crate::avatar::model::{BlendMode, Texture};
use crate::avatar::rig::{Draw, MaskDraw, PartDraw, Scene, Vertex};

/// The offscreen target's format: 8-bit RGBA, blended in gamma space as Inochi2D does.
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const STENCIL_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Stencil8;
const UNIFORM_STRIDE: u64 = 256;
const READBACK_SLOTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StencilUse {
    /// No stencil attachment (the window pass).
    Absent,
    Ignore,
    Test,
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Main,
    Layer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tex {
    Puppet(u32),
    Layer,
    Overlay,
    White,
}

#[derive(Debug, Clone, Copy)]
struct DrawOp {
    /// `None`: a mask source (stencil only).
    blend: Option<BlendMode>,
    stencil: StencilUse,
    stencil_ref: u32,
    uniform: u32,
    tex: Tex,
    quad: bool,
    first_index: u32,
    index_count: u32,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Begin { pass: Pass, clear_color: Option<wgpu::Color>, clear_stencil: u32 },
    Draw(DrawOp),
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    view: [f32; 4],
    tint: [f32; 4],
    screen: [f32; 4],
}

const QUAD: [Vertex; 4] = [
    Vertex { pos: [-1.0, -1.0], uv: [0.0, 1.0] },
    Vertex { pos: [1.0, -1.0], uv: [1.0, 1.0] },
    Vertex { pos: [1.0, 1.0], uv: [1.0, 0.0] },
    Vertex { pos: [-1.0, 1.0], uv: [0.0, 0.0] },
];
const QUAD_INDICES: [u32; 6] = [0, 1, 2, 0, 2, 3];
const IDENTITY_VIEW: [f32; 4] = [1.0, 1.0, 0.0, 0.0];

fn blend_state(mode: BlendMode) -> wgpu::BlendState {
    use wgpu::{BlendComponent as C, BlendFactor as F, BlendOperation as O};
    let c = |src, dst| C { src_factor: src, dst_factor: dst, operation: O::Add };
    let over = c(F::One, F::OneMinusSrcAlpha);
    let (color, alpha) = match mode {
        BlendMode::Normal => (over, over),
        BlendMode::Multiply => (c(F::Dst, F::OneMinusSrcAlpha), over),
        BlendMode::ColorDodge => (c(F::Dst, F::One), over),
        BlendMode::LinearDodge | BlendMode::AddGlow => (c(F::One, F::One), over),
        BlendMode::Screen => (c(F::One, F::OneMinusSrc), over),
        BlendMode::Lighten => (C { src_factor: F::One, dst_factor: F::One, operation: O::Max }, over),
        BlendMode::Darken => (C { src_factor: F::One, dst_factor: F::One, operation: O::Min }, over),
        BlendMode::Subtract => (C { src_factor: F::One, dst_factor: F::One, operation: O::ReverseSubtract }, over),
        BlendMode::Inverse => (c(F::OneMinusDst, F::OneMinusSrcAlpha), over),
        BlendMode::DestinationIn => (c(F::Zero, F::SrcAlpha), c(F::Zero, F::SrcAlpha)),
        BlendMode::ClipToLower => (c(F::DstAlpha, F::OneMinusSrcAlpha), c(F::Zero, F::One)),
        BlendMode::SliceFromLower => (c(F::Zero, F::OneMinusSrcAlpha), c(F::Zero, F::OneMinusSrcAlpha)),
    };
    wgpu::BlendState { color, alpha }
}

fn grow_buffer(device: &wgpu::Device, buf: &mut wgpu::Buffer, needed: u64, usage: wgpu::BufferUsages, label: &str) {
    if buf.size() < needed {
        *buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: needed.next_power_of_two().max(256),
            usage,
            mapped_at_creation: false,
        });
    }
}

struct Target {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
}

fn target(device: &wgpu::Device, w: u32, h: u32, format: wgpu::TextureFormat, label: &str) -> Target {
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT
            | wgpu::TextureUsages::TEXTURE_BINDING
            | if format == STENCIL_FORMAT { wgpu::TextureUsages::empty() } else { wgpu::TextureUsages::COPY_SRC },
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    Target { texture, view }
}

/// Draws scenes offscreen (and into windows) and reads frames back.
pub struct Renderer {
    gpu: Gpu,
    width: u32,
    height: u32,
    target: Target,
    layer: Target,
    layer_bind: wgpu::BindGroup,
    stencil: Target,
    overlay_bind: Option<wgpu::BindGroup>,
    white_bind: wgpu::BindGroup,
    textures: Vec<wgpu::BindGroup>,
    uniform_buf: wgpu::Buffer,
    uniform_bind: wgpu::BindGroup,
    vertex_buf: wgpu::Buffer,
    index_buf: wgpu::Buffer,
    quad_vertex_buf: wgpu::Buffer,
    quad_index_buf: wgpu::Buffer,
    ring: ReadbackRing,
    shader: wgpu::ShaderModule,
    uniform_layout: wgpu::BindGroupLayout,
    texture_layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    sampler: wgpu::Sampler,
    pipelines: HashMap<(wgpu::TextureFormat, Option<BlendMode>, StencilUse), wgpu::RenderPipeline>,
    ops: Vec<Op>,
    uniforms: Vec<u8>,
    /// Colour behind the puppet (premultiplied); transparent by default.
    pub background: [f64; 4],
}

impl Renderer {
    /// A renderer drawing into a `width`×`height` offscreen target.
    pub fn new(gpu: &Gpu, width: u32, height: u32) -> anyhow::Result<Renderer> {
        let limit = gpu.device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > limit || height > limit {
            anyhow::bail!("cannot render {width}×{height}: sizes must be 1 to {limit} pixels");
        }
        let device = &gpu.device;
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("puppet.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/puppet.wgsl").into()),
        });
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("draw uniforms"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(std::mem::size_of::<Uniforms>() as u64),
                },
                count: None,
            }],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("texture"),
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
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("puppet"),
            bind_group_layouts: &[Some(&uniform_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("puppet"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let uniform_buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("uniforms"),
            size: UNIFORM_STRIDE * 64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let uniform_bind = Self::uniform_bind(device, &uniform_layout, &uniform_buf);
        let mk = |label: &str, usage, contents: &[u8]| {
            let b = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (contents.len() as u64).max(256),
                usage: usage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            gpu.queue.write_buffer(&b, 0, contents);
            b
        };
        let quad_vertex_buf = mk("quad vertices", wgpu::BufferUsages::VERTEX, bytemuck::cast_slice(&QUAD));
        let quad_index_buf = mk("quad indices", wgpu::BufferUsages::INDEX, bytemuck::cast_slice(&QUAD_INDICES));
        let vertex_buf = mk("vertices", wgpu::BufferUsages::VERTEX, &[]);
        let index_buf = mk("indices", wgpu::BufferUsages::INDEX, &[]);
        let white = Texture { width: 1, height: 1, rgba: vec![255; 4] };
        let white_bind = Self::texture_bind(gpu, &texture_layout, &sampler, &white);
        let layer = target(device, width, height, TARGET_FORMAT, "composite layer");
        let layer_bind = Self::view_bind(device, &texture_layout, &sampler, &layer.view);
        Ok(Renderer {
            width,
            height,
            target: target(device, width, height, TARGET_FORMAT, "puppet target"),
            layer,
            layer_bind,
            stencil: target(device, width, height, STENCIL_FORMAT, "stencil"),
            overlay_bind: None,
            white_bind,
            textures: Vec::new(),
            uniform_buf,
            uniform_bind,
            vertex_buf,
            index_buf,
            quad_vertex_buf,
            quad_index_buf,
            ring: ReadbackRing::new(device, width, height, READBACK_SLOTS),
            shader,
            uniform_layout,
            texture_layout,
            pipeline_layout,
            sampler,
            pipelines: HashMap::new(),
            ops: Vec::new(),
            uniforms: Vec::new(),
            background: [0.0; 4],
            gpu: gpu.clone(),
        })
    }

    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    fn uniform_bind(device: &wgpu::Device, layout: &wgpu::BindGroupLayout, buf: &wgpu::Buffer) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("uniforms"),
            layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: buf,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Uniforms>() as u64),
                }),
            }],
        })
    }

    fn view_bind(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        sampler: &wgpu::Sampler,
        view: &wgpu::TextureView,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::TextureView(view) },
                wgpu::BindGroupEntry { binding: 1, resource: wgpu::BindingResource::Sampler(sampler) },
            ],
        })
    }

    fn texture_bind(
        gpu: &Gpu,
        layout: &wgpu::BindGroupLayout,
        sampler: &wgpu::Sampler,
        t: &Texture,
    ) -> wgpu::BindGroup {
        let size = wgpu::Extent3d { width: t.width.max(1), height: t.height.max(1), depth_or_array_layers: 1 };
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("puppet texture"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        if t.rgba.len() as u64 == t.width as u64 * t.height as u64 * 4 && t.width > 0 {
            gpu.queue.write_texture(
                texture.as_image_copy(),
                &t.rgba,
                wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(t.width * 4), rows_per_image: None },
                size,
            );
        }
        let view = texture.create_view(&Default::default());
        Self::view_bind(&gpu.device, layout, sampler, &view)
    }

    /// Uploads a puppet's textures (replacing the previous puppet's).
    pub fn set_textures(&mut self, textures: &[Texture]) {
        self.textures =
            textures.iter().map(|t| Self::texture_bind(&self.gpu, &self.texture_layout, &self.sampler, t)).collect();
    }

    /// An RGBA layer (premultiplied, the target's size) drawn over the puppet before readback, e.g. subtitles;
    /// `None` removes it. A frame of another size is stretched over the target.
    pub fn set_overlay(&mut self, overlay: Option<&Frame>) {
        self.overlay_bind = overlay.map(|f| {
            let t = Texture { width: f.width, height: f.height, rgba: f.rgba.clone() };
            Self::texture_bind(&self.gpu, &self.texture_layout, &self.sampler, &t)
        });
    }

    fn pipeline(
        &mut self,
        format: wgpu::TextureFormat,
        blend: Option<BlendMode>,
        stencil: StencilUse,
    ) -> &wgpu::RenderPipeline {
        let key = (format, blend, stencil);
        if !self.pipelines.contains_key(&key) {
            let face = |compare, pass_op| wgpu::StencilFaceState {
                compare,
                fail_op: wgpu::StencilOperation::Keep,
                depth_fail_op: wgpu::StencilOperation::Keep,
                pass_op,
            };
            let stencil_state = |f: wgpu::StencilFaceState, write_mask: u32| wgpu::DepthStencilState {
                format: STENCIL_FORMAT,
                depth_write_enabled: Some(false),
                depth_compare: Some(wgpu::CompareFunction::Always),
                stencil: wgpu::StencilState { front: f, back: f, read_mask: 0xff, write_mask },
                bias: Default::default(),
            };
            let depth_stencil = match stencil {
                StencilUse::Absent => None,
                StencilUse::Ignore => {
                    Some(stencil_state(face(wgpu::CompareFunction::Always, wgpu::StencilOperation::Keep), 0))
                }
                StencilUse::Test => {
                    Some(stencil_state(face(wgpu::CompareFunction::Equal, wgpu::StencilOperation::Keep), 0))
                }
                StencilUse::Write => {
                    Some(stencil_state(face(wgpu::CompareFunction::Always, wgpu::StencilOperation::Replace), 0xff))
                }
            };
            let vertex_layout = wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<Vertex>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x2],
            };
            let targets = [Some(wgpu::ColorTargetState {
                format,
                blend: blend.map(blend_state),
                write_mask: if blend.is_some() { wgpu::ColorWrites::ALL } else { wgpu::ColorWrites::empty() },
            })];
            let p = self.gpu.device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("puppet"),
                layout: Some(&self.pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers: &[Some(vertex_layout)],
                },
                primitive: wgpu::PrimitiveState { cull_mode: None, ..Default::default() },
                depth_stencil,
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &self.shader,
                    entry_point: Some(if blend.is_some() { "fs_main" } else { "fs_mask" }),
                    compilation_options: Default::default(),
                    targets: &targets,
                }),
                multiview_mask: None,
                cache: None,
            });
            self.pipelines.insert(key, p);
        }
        &self.pipelines[&key]
    }

    /// Where a puppet point lands in the target, in pixels (for tests and hit regions).
    pub fn project(&self, bounds: [f32; 4], p: [f32; 2]) -> [f32; 2] {
        let v = self.view(bounds);
        let clip = [p[0] * v[0] + v[2], p[1] * v[1] + v[3]];
        [(clip[0] + 1.0) * 0.5 * self.width as f32, (1.0 - clip[1]) * 0.5 * self.height as f32]
    }

    /// Maps the scene's bounds into the target, keeping the aspect ratio, centred, with a small margin.
    fn view(&self, bounds: [f32; 4]) -> [f32; 4] {
        let (w, h) = (self.width as f32, self.height as f32);
        let bw = (bounds[2] - bounds[0]).max(1e-3);
        let bh = (bounds[3] - bounds[1]).max(1e-3);
        let s = (w / bw).min(h / bh) * 0.96;
        let cx = (bounds[0] + bounds[2]) * 0.5;
        let cy = (bounds[1] + bounds[3]) * 0.5;
        let sx = 2.0 * s / w;
        let sy = -2.0 * s / h;
        [sx, sy, -cx * sx, -cy * sy]
    }

    fn push_uniform(&mut self, view: [f32; 4], tint: [f32; 3], opacity: f32, screen: [f32; 3], threshold: f32) -> u32 {
        let slot = (self.uniforms.len() as u64 / UNIFORM_STRIDE) as u32;
        let u = Uniforms {
            view,
            tint: [tint[0], tint[1], tint[2], opacity],
            screen: [screen[0], screen[1], screen[2], threshold],
        };
        self.uniforms.extend_from_slice(bytemuck::bytes_of(&u));
        self.uniforms.resize(((slot as u64 + 1) * UNIFORM_STRIDE) as usize, 0);
        slot
    }

    fn plan_masks(&mut self, pass: Pass, view: [f32; 4], masks: &[MaskDraw]) {
        let any_mask = masks.iter().any(|m| !m.dodge);
        self.ops.push(Op::Begin { pass, clear_color: None, clear_stencil: if any_mask { 0 } else { 1 } });
        for m in masks {
            let uniform = self.push_uniform(view, [1.0; 3], 1.0, [0.0; 3], m.threshold);
            self.ops.push(Op::Draw(DrawOp {
                blend: None,
                stencil: StencilUse::Write,
                stencil_ref: if m.dodge { 0 } else { 1 },
                uniform,
                tex: m.geometry.texture.map_or(Tex::White, Tex::Puppet),
                quad: false,
                first_index: m.geometry.first_index,
                index_count: m.geometry.index_count,
            }));
        }
    }

    fn plan_part(&mut self, pass: Pass, view: [f32; 4], p: &PartDraw) {
        let Some(tex) = p.geometry.texture else { return };
        let stencil = if p.masks.is_empty() {
            StencilUse::Ignore
        } else {
            self.plan_masks(pass, view, &p.masks);
            StencilUse::Test
        };
        let uniform = self.push_uniform(view, p.tint, p.opacity, p.screen_tint, 0.0);
        self.ops.push(Op::Draw(DrawOp {
            blend: Some(p.blend),
            stencil,
            stencil_ref: 1,
            uniform,
            tex: Tex::Puppet(tex),
            quad: false,
            first_index: p.geometry.first_index,
            index_count: p.geometry.index_count,
        }));
    }

    fn plan(&mut self, scene: &Scene) {
        self.ops.clear();
        self.uniforms.clear();
        let view = self.view(scene.bounds);
        let [r, g, b, a] = self.background;
        self.ops.push(Op::Begin { pass: Pass::Main, clear_color: Some(wgpu::Color { r, g, b, a }), clear_stencil: 0 });
        for d in &scene.draws {
            match d {
                Draw::Part(p) => self.plan_part(Pass::Main, view, p),
                Draw::Composite { parts, blend, tint, screen_tint, opacity, masks } => {
                    self.ops.push(Op::Begin {
                        pass: Pass::Layer,
                        clear_color: Some(wgpu::Color::TRANSPARENT),
                        clear_stencil: 0,
                    });
                    for p in parts {
                        self.plan_part(Pass::Layer, view, p);
                    }
                    let stencil = if masks.is_empty() {
                        self.ops.push(Op::Begin { pass: Pass::Main, clear_color: None, clear_stencil: 0 });
                        StencilUse::Ignore
                    } else {
                        self.plan_masks(Pass::Main, view, masks);
                        StencilUse::Test
                    };
                    let uniform = self.push_uniform(IDENTITY_VIEW, *tint, *opacity, *screen_tint, 0.0);
                    self.ops.push(Op::Draw(DrawOp {
                        blend: Some(*blend),
                        stencil,
                        stencil_ref: 1,
                        uniform,
                        tex: Tex::Layer,
                        quad: true,
                        first_index: 0,
                        index_count: 6,
                    }));
                }
            }
        }
        if self.overlay_bind.is_some() {
            let uniform = self.push_uniform(IDENTITY_VIEW, [1.0; 3], 1.0, [0.0; 3], 0.0);
            self.ops.push(Op::Draw(DrawOp {
                blend: Some(BlendMode::Normal),
                stencil: StencilUse::Ignore,
                stencil_ref: 0,
                uniform,
                tex: Tex::Overlay,
                quad: true,
                first_index: 0,
                index_count: 6,
            }));
        }
    }

    fn upload(&mut self, scene: &Scene) {
        let device = &self.gpu.device;
        let vb: &[u8] = bytemuck::cast_slice(&scene.vertices);
        let ib: &[u8] = bytemuck::cast_slice(&scene.indices);
        grow_buffer(
            device,
            &mut self.vertex_buf,
            vb.len() as u64,
            wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            "vertices",
        );
        grow_buffer(
            device,
            &mut self.index_buf,
            ib.len() as u64,
            wgpu::BufferUsages::INDEX | wgpu::BufferUsages::COPY_DST,
            "indices",
        );
        if self.uniform_buf.size() < self.uniforms.len() as u64 {
            grow_buffer(
                device,
                &mut self.uniform_buf,
                self.uniforms.len() as u64,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                "uniforms",
            );
            self.uniform_bind = Self::uniform_bind(device, &self.uniform_layout, &self.uniform_buf);
        }
        let q = &self.gpu.queue;
        if !vb.is_empty() {
            q.write_buffer(&self.vertex_buf, 0, vb);
        }
        if !ib.is_empty() {
            q.write_buffer(&self.index_buf, 0, ib);
        }
        if !self.uniforms.is_empty() {
            q.write_buffer(&self.uniform_buf, 0, &self.uniforms);
        }
    }

    /// Records the scene into `encoder`, drawing into the offscreen target.
    fn record(&mut self, encoder: &mut wgpu::CommandEncoder, scene: &Scene) {
        self.plan(scene);
        self.upload(scene);
        // Make every pipeline the plan needs before borrowing them for the passes.
        let ops = std::mem::take(&mut self.ops);
        for op in &ops {
            if let Op::Draw(d) = op {
                self.pipeline(TARGET_FORMAT, d.blend, d.stencil);
            }
        }
        let mut pass: Option<wgpu::RenderPass<'static>> = None;
        let mut current = Pass::Main;
        for op in &ops {
            match *op {
                Op::Begin { pass: which, clear_color, clear_stencil } => {
                    drop(pass.take());
                    current = which;
                    let view = match which {
                        Pass::Main => &self.target.view,
                        Pass::Layer => &self.layer.view,
                    };
                    let p = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                        label: Some("puppet"),
                        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                            view,
                            depth_slice: None,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                load: clear_color.map_or(wgpu::LoadOp::Load, wgpu::LoadOp::Clear),
                                store: wgpu::StoreOp::Store,
                            },
                        })],
                        depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                            view: &self.stencil.view,
                            depth_ops: None,
                            stencil_ops: Some(wgpu::Operations {
                                load: wgpu::LoadOp::Clear(clear_stencil),
                                store: wgpu::StoreOp::Store,
                            }),
                        }),
                        timestamp_writes: None,
                        occlusion_query_set: None,
                        multiview_mask: None,
                    });
                    pass = Some(p.forget_lifetime());
                }
                Op::Draw(d) => {
                    let Some(p) = pass.as_mut() else { continue };
                    let bind = match d.tex {
                        Tex::Puppet(i) => match self.textures.get(i as usize) {
                            Some(b) => b,
                            None => continue,
                        },
                        // A composite layer is never sampled while it is the target being drawn.
                        Tex::Layer if current == Pass::Layer => continue,
                        Tex::Layer => &self.layer_bind,
                        Tex::Overlay => match &self.overlay_bind {
                            Some(b) => b,
                            None => continue,
                        },
                        Tex::White => &self.white_bind,
                    };
                    let Some(pipeline) = self.pipelines.get(&(TARGET_FORMAT, d.blend, d.stencil)) else { continue };
                    p.set_pipeline(pipeline);
                    p.set_bind_group(0, &self.uniform_bind, &[(d.uniform as u64 * UNIFORM_STRIDE) as u32]);
                    p.set_bind_group(1, bind, &[]);
                    p.set_stencil_reference(d.stencil_ref);
                    if d.quad {
                        p.set_vertex_buffer(0, self.quad_vertex_buf.slice(..));
                        p.set_index_buffer(self.quad_index_buf.slice(..), wgpu::IndexFormat::Uint32);
                    } else {
                        p.set_vertex_buffer(0, self.vertex_buf.slice(..));
                        p.set_index_buffer(self.index_buf.slice(..), wgpu::IndexFormat::Uint32);
                    }
                    p.draw_indexed(d.first_index..d.first_index + d.index_count, 0, 0..1);
                }
            }
        }
        drop(pass);
        self.ops = ops;
    }

    /// Draws the scene and starts reading it back; returns the oldest finished frame, if one has arrived.
    /// Waits only when every readback buffer is still in flight. Call [`Renderer::finish`] for the rest.
    pub fn render(&mut self, scene: &Scene) -> anyhow::Result<Option<Frame>> {
        let mut ready = None;
        if !self.ring.has_free_slot() {
            ready = self.ring.take(&self.gpu.device, true)?;
        }
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.record(&mut encoder, scene);
        self.ring.record_copy(&mut encoder, &self.target.texture);
        self.gpu.queue.submit([encoder.finish()]);
        self.ring.after_submit();
        if ready.is_none() {
            ready = self.ring.take(&self.gpu.device, false)?;
        }
        Ok(ready)
    }

    /// Waits for every frame still on its way back, oldest first.
    pub fn finish(&mut self) -> anyhow::Result<Vec<Frame>> {
        let mut out = Vec::new();
        while self.ring.in_flight() > 0 {
            if let Some(f) = self.ring.take(&self.gpu.device, true)? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Renders one frame and waits for it (tests, `persona render`).
    pub fn render_frame(&mut self, scene: &Scene) -> anyhow::Result<Frame> {
        let mut frames = self.finish()?;
        frames.clear();
        if let Some(f) = self.render(scene)? {
            frames.push(f);
        }
        frames.extend(self.finish()?);
        frames.pop().context("the frame did not come back from the GPU")
    }

    /// Draws the scene and shows it in a window's surface texture, over `background` (straight RGB).
    pub fn render_to_surface(&mut self, scene: &Scene, surface: &wgpu::SurfaceTexture, background: [f64; 3]) {
        let format = surface.texture.format();
        self.pipeline(format, Some(BlendMode::Normal), StencilUse::Absent);
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        self.record(&mut encoder, scene);
        // The blit's uniforms go after the scene's, in a second write.
        let slot = (self.uniforms.len() as u64 / UNIFORM_STRIDE) as u32;
        let u = self.push_uniform(IDENTITY_VIEW, [1.0; 3], 1.0, [0.0; 3], 0.0);
        debug_assert_eq!(u, slot);
        if self.uniform_buf.size() < self.uniforms.len() as u64 {
            // Rare: grow and rewrite everything.
            self.upload(scene);
        } else {
            let off = slot as u64 * UNIFORM_STRIDE;
            self.gpu.queue.write_buffer(&self.uniform_buf, off, &self.uniforms[off as usize..]);
        }
        let target_bind = Self::view_bind(&self.gpu.device, &self.texture_layout, &self.sampler, &self.target.view);
        let view = surface.texture.create_view(&Default::default());
        {
            let mut p = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("window"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: background[0],
                            g: background[1],
                            b: background[2],
                            a: 1.0,
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            if let Some(pipeline) = self.pipelines.get(&(format, Some(BlendMode::Normal), StencilUse::Absent)) {
                p.set_pipeline(pipeline);
                p.set_bind_group(0, &self.uniform_bind, &[(slot as u64 * UNIFORM_STRIDE) as u32]);
                p.set_bind_group(1, &target_bind, &[]);
                p.set_vertex_buffer(0, self.quad_vertex_buf.slice(..));
                p.set_index_buffer(self.quad_index_buf.slice(..), wgpu::IndexFormat::Uint32);
                p.draw_indexed(0..6, 0, 0..1);
            }
        }
        self.gpu.queue.submit([encoder.finish()]);
    }
}
