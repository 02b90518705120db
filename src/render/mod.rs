//! Rendering with wgpu: `gpu` sets up the device, `puppet` draws a [`crate::avatar::Scene`] (parts in order,
//! premultiplied alpha, blend modes, stencil masks, composites) into an offscreen RGBA8 target, and `readback`
//! brings frames back to memory through a ring of buffers so outputs never stall the render loop.
//!
//! An overlay layer (subtitles) can be composited over the puppet before readback: [`Renderer::set_overlay`].

pub mod gpu;
pub mod puppet;
pub mod readback;

pub use gpu::Gpu;
pub use puppet::{Renderer, TARGET_FORMAT};

/// One rendered picture: premultiplied-alpha RGBA8, rows top to bottom, no padding (`rgba.len() == w * h * 4`).
///
/// The renderer reads these back from the GPU; outputs (`crate::output`) never keep one past `send`.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}×{}, {} bytes)", self.width, self.height, self.rgba.len())
    }
}

impl Frame {
    /// A frame of one premultiplied colour.
    pub fn filled(width: u32, height: u32, rgba: [u8; 4]) -> Frame {
        Frame { width, height, rgba: rgba.repeat(width as usize * height as usize) }
    }

    /// The pixel at (x, y), premultiplied.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = (y as usize * self.width as usize + x as usize) * 4;
        [self.rgba[i], self.rgba[i + 1], self.rgba[i + 2], self.rgba[i + 3]]
    }

    /// Checks that the buffer holds exactly `width × height` pixels.
    pub fn check(&self) -> Result<(), crate::output::OutputError> {
        let want = self.width as usize * self.height as usize * 4;
        if self.rgba.len() != want {
            return Err(crate::output::OutputError::BadFrame(format!(
                "a {}×{} frame needs {want} bytes of RGBA, this one has {}",
                self.width,
                self.height,
                self.rgba.len()
            )));
        }
        Ok(())
    }

    /// Straight (un-premultiplied) RGBA, as PNG files and most image tools expect.
    pub fn to_straight_rgba(&self) -> Vec<u8> {
        let mut out = self.rgba.clone();
        for px in out.chunks_exact_mut(4) {
            let a = px[3] as u32;
            if a > 0 && a < 255 {
                for c in &mut px[..3] {
                    *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
                }
            }
        }
        out
    }

    /// Writes a PNG (straight alpha).
    pub fn save_png(&self, path: &std::path::Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        image::save_buffer_with_format(
            path,
            &self.to_straight_rgba(),
            self.width,
            self.height,
            image::ExtendedColorType::Rgba8,
            image::ImageFormat::Png,
        )
        .with_context(|| format!("cannot write {}", path.display()))
    }
}
