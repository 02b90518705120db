//! A tiny anti-aliased vector painter for the default puppet's textures: shapes are signed distance functions
//! in puppet units (negative inside), painted with straight-alpha colours, source-over.

pub type Rgba = [f32; 4];

pub fn hex(s: &str, alpha: f32) -> Rgba {
    let v = u32::from_str_radix(s.trim_start_matches('#'), 16).unwrap_or(0);
    [((v >> 16) & 255) as f32 / 255.0, ((v >> 8) & 255) as f32 / 255.0, (v & 255) as f32 / 255.0, alpha]
}

pub fn mix(a: Rgba, b: Rgba, t: f32) -> Rgba {
    let t = t.clamp(0.0, 1.0);
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t, a[3] + (b[3] - a[3]) * t]
}

/// A texture being painted, covering `rect` (puppet units) at `scale` texels per unit.
pub struct Canvas {
    pub rect: [f32; 4],
    pub scale: f32,
    pub width: u32,
    pub height: u32,
    /// Premultiplied while painting.
    px: Vec<[f32; 4]>,
}

impl Canvas {
    pub fn new(rect: [f32; 4], scale: f32) -> Canvas {
        let width = (((rect[2] - rect[0]) * scale).ceil() as u32).max(1);
        let height = (((rect[3] - rect[1]) * scale).ceil() as u32).max(1);
        Canvas { rect, scale, width, height, px: vec![[0.0; 4]; (width * height) as usize] }
    }

    /// Paints `color(x, y)` where `sdf(x, y) < 0`, with edges softened over `soft` units (0: one texel).
    pub fn fill(&mut self, sdf: impl Fn(f32, f32) -> f32, color: impl Fn(f32, f32) -> Rgba, soft: f32) {
        let edge = (1.0 / self.scale).max(soft);
        for j in 0..self.height {
            let y = self.rect[1] + (j as f32 + 0.5) / self.scale;
            for i in 0..self.width {
                let x = self.rect[0] + (i as f32 + 0.5) / self.scale;
                let d = sdf(x, y);
                if d > edge {
                    continue;
                }
                let cov = (0.5 - d / edge).clamp(0.0, 1.0);
                let c = color(x, y);
                let a = c[3] * cov;
                let p = &mut self.px[(j * self.width + i) as usize];
                for k in 0..3 {
                    p[k] = c[k] * a + p[k] * (1.0 - a);
                }
                p[3] = a + p[3] * (1.0 - a);
            }
        }
    }

    pub fn solid(&mut self, sdf: impl Fn(f32, f32) -> f32, color: Rgba) {
        self.fill(sdf, |_, _| color, 0.0);
    }

    /// Straight-alpha RGBA8.
    pub fn to_rgba8(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.px.len() * 4);
        for p in &self.px {
            let a = p[3];
            for k in 0..3 {
                let c = if a > 0.0 { p[k] / a } else { 0.0 };
                out.push((c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
            }
            out.push((a.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
        }
        out
    }
}

pub fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32) -> impl Fn(f32, f32) -> f32 {
    move |x, y| {
        let (dx, dy) = (x - cx, y - cy);
        let k0 = ((dx / rx).powi(2) + (dy / ry).powi(2)).sqrt();
        let k1 = ((dx / (rx * rx)).powi(2) + (dy / (ry * ry)).powi(2)).sqrt();
        if k1 < 1e-9 { -rx.min(ry) } else { k0 * (k0 - 1.0) / k1 }
    }
}

pub fn circle(cx: f32, cy: f32, r: f32) -> impl Fn(f32, f32) -> f32 {
    move |x, y| ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r
}

fn seg_dist(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> (f32, f32) {
    let (bax, bay) = (b[0] - a[0], b[1] - a[1]);
    let (pax, pay) = (p[0] - a[0], p[1] - a[1]);
    let h = ((pax * bax + pay * bay) / (bax * bax + bay * bay).max(1e-9)).clamp(0.0, 1.0);
    (((pax - bax * h).powi(2) + (pay - bay * h).powi(2)).sqrt(), h)
}

/// A closed polygon (exact signed distance).
pub fn polygon(points: Vec<[f32; 2]>) -> impl Fn(f32, f32) -> f32 {
    move |x, y| {
        let p = [x, y];
        let n = points.len();
        let mut d = f32::MAX;
        let mut inside = false;
        for i in 0..n {
            let a = points[i];
            let b = points[(i + 1) % n];
            d = d.min(seg_dist(p, a, b).0);
            if (a[1] > y) != (b[1] > y) && x < (b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]) + a[0] {
                inside = !inside;
            }
        }
        if inside { -d } else { d }
    }
}

/// A stroke along an open polyline whose width goes from `w0` to `w1` (tapering strokes for lashes, brows,
/// strands).
pub fn stroke(points: Vec<[f32; 2]>, w0: f32, w1: f32) -> impl Fn(f32, f32) -> f32 {
    let mut lengths = vec![0.0f32];
    for w in points.windows(2) {
        let l = ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt();
        lengths.push(lengths.last().copied().unwrap_or(0.0) + l);
    }
    let total = lengths.last().copied().unwrap_or(1.0).max(1e-6);
    move |x, y| {
        let mut best = f32::MAX;
        for i in 0..points.len().saturating_sub(1) {
            let (d, h) = seg_dist([x, y], points[i], points[i + 1]);
            let t = (lengths[i] + h * (lengths[i + 1] - lengths[i])) / total;
            let w = w0 + (w1 - w0) * t;
            best = best.min(d - w * 0.5);
        }
        best
    }
}

pub fn cubic(p0: [f32; 2], p1: [f32; 2], p2: [f32; 2], p3: [f32; 2], n: usize) -> Vec<[f32; 2]> {
    (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let u = 1.0 - t;
            let w = [u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t];
            [
                w[0] * p0[0] + w[1] * p1[0] + w[2] * p2[0] + w[3] * p3[0],
                w[0] * p0[1] + w[1] * p1[1] + w[2] * p2[1] + w[3] * p3[1],
            ]
        })
        .collect()
}

pub fn quad(p0: [f32; 2], c: [f32; 2], p1: [f32; 2], n: usize) -> Vec<[f32; 2]> {
    cubic(
        p0,
        [p0[0] + (c[0] - p0[0]) * 2.0 / 3.0, p0[1] + (c[1] - p0[1]) * 2.0 / 3.0],
        [p1[0] + (c[0] - p1[0]) * 2.0 / 3.0, p1[1] + (c[1] - p1[1]) * 2.0 / 3.0],
        p1,
        n,
    )
}
