//! Device setup: one wgpu instance/adapter/device/queue shared by everything that draws.
//!
//! Vulkan (and the other primary backends) are tried first: on machines without a GPU that is lavapipe, and
//! asking for every backend at once makes the GL/EGL path print noise before it is rejected.

use std::sync::Arc;

use anyhow::{Context as _, anyhow};

#[derive(Clone)]
pub struct Gpu {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
}

impl Gpu {
    /// A device for offscreen rendering.
    pub fn new() -> anyhow::Result<Gpu> {
        Gpu::create(None).map(|(g, _)| g)
    }

    /// A device that can present to `window`, with the surface for it.
    pub fn for_window(window: Arc<winit::window::Window>) -> anyhow::Result<(Gpu, wgpu::Surface<'static>)> {
        let (g, s) = Gpu::create(Some(window))?;
        Ok((g, s.ok_or_else(|| anyhow!("no surface"))?))
    }

    fn create(window: Option<Arc<winit::window::Window>>) -> anyhow::Result<(Gpu, Option<wgpu::Surface<'static>>)> {
        let forced = std::env::var("WGPU_BACKEND").ok();
        let attempts = if forced.is_some() {
            vec![wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all())]
        } else {
            vec![wgpu::Backends::PRIMARY, wgpu::Backends::all()]
        };
        let mut last_err = None;
        for backends in attempts {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = backends;
            let instance = wgpu::Instance::new(desc);
            let surface = match &window {
                Some(w) => match instance.create_surface(w.clone()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        last_err = Some(anyhow!("cannot create a surface for the window: {e}"));
                        continue;
                    }
                },
                None => None,
            };
            let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: surface.as_ref(),
                ..Default::default()
            }));
            let adapter = match adapter {
                Ok(a) => a,
                Err(e) => {
                    last_err = Some(anyhow!("{e}"));
                    continue;
                }
            };
            let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("persona"),
                required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
                ..Default::default()
            }))
            .context("the graphics adapter refused to create a device")?;
            return Ok((Gpu { instance, adapter, device, queue }, surface));
        }
        Err(last_err.unwrap_or_else(|| anyhow!("no adapter")).context(
            "no graphics adapter found: install Vulkan drivers (on Linux without a GPU: mesa-vulkan-drivers for \
             lavapipe) or set WGPU_BACKEND=gl",
        ))
    }

    /// "llvmpipe (Vulkan)" and the like, for logs and `persona doctor`.
    pub fn describe(&self) -> String {
        let i = self.adapter.get_info();
        format!("{} ({:?})", i.name, i.backend)
    }
}
