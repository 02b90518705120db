//! Pixel conversions from the renderer's premultiplied RGBA to what outputs want.
//!
//! Cameras and most video tools have no alpha: a frame is first composited over a background colour
//! (premultiplied "over": `c + bg × (1 − a)`), then turned into limited-range Y'CbCr (Y 16–235, Cb/Cr 16–240)
//! with the BT.601 or BT.709 matrix. Chroma is subsampled by averaging the RGB of each pair (YUYV, 4:2:2) or
//! 2×2 block (NV12, 4:2:0) before conversion, which is the same as averaging the chroma since the matrix is linear.
//! Arithmetic is 16.16 fixed point, so the same frame always gives the same bytes.

/// The Y'CbCr matrix. BT.601 is what webcams and ffmpeg assume when nothing is said; BT.709 is HD video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    Bt601,
    Bt709,
}

/// Integer coefficients of one matrix, for 8-bit R'G'B' in, limited-range 8-bit out, scaled by 2^16.
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    y: [i32; 3],
    cb: [i32; 3],
    cr: [i32; 3],
}

const SHIFT: u32 = 16;
const ONE: f64 = (1u32 << SHIFT) as f64;

impl Coefficients {
    fn of(matrix: Matrix) -> Coefficients {
        let (kr, kb) = match matrix {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        // Limited range: luma spans 219 codes, chroma 224, for inputs spanning 255.
        let ys = 219.0 / 255.0;
        let cs = 224.0 / 255.0;
        let q = |v: f64| (v * ONE).round() as i32;
        let y = [q(kr * ys), q(kg * ys), q(kb * ys)];
        // Cb = (B − Y') / (2(1 − Kb)), Cr = (R − Y') / (2(1 − Kr)).
        let cb_b = cs * 0.5;
        let cb = [q(-kr / (1.0 - kb) * cs * 0.5), 0, q(cb_b)];
        let cr = [q(cs * 0.5), 0, q(-kb / (1.0 - kr) * cs * 0.5)];
        // The green terms make each chroma row sum to exactly zero, so greys have Cb = Cr = 128 exactly.
        let cb = [cb[0], -(cb[0] + cb[2]), cb[2]];
        let cr = [cr[0], -(cr[0] + cr[2]), cr[2]];
        Coefficients { y, cb, cr }
    }

    #[inline]
    fn luma(&self, r: i32, g: i32, b: i32) -> u8 {
        ((self.y[0] * r + self.y[1] * g + self.y[2] * b + (16 << SHIFT) + (1 << (SHIFT - 1))) >> SHIFT) as u8
    }

    /// Chroma of the sum of `1 << n` pixels' RGB (n = 0, 1 or 2): the average's chroma.
    #[inline]
    fn chroma(&self, r: i32, g: i32, b: i32, n: u32) -> (u8, u8) {
        let s = SHIFT + n;
        let round = (128 << s) + (1 << (s - 1));
        let cb = (self.cb[0] * r + self.cb[1] * g + self.cb[2] * b + round) >> s;
        let cr = (self.cr[0] * r + self.cr[1] * g + self.cr[2] * b + round) >> s;
        (cb as u8, cr as u8)
    }
}

/// A premultiplied pixel composited over an opaque background: `c + bg × (255 − a) / 255`, rounded.
#[inline]
pub fn over(px: [u8; 4], bg: [u8; 3]) -> [u8; 3] {
    let inv = 255 - px[3] as u32;
    let f = |c: u8, b: u8| ((c as u32 * 255 + b as u32 * inv + 127) / 255).min(255) as u8;
    [f(px[0], bg[0]), f(px[1], bg[1]), f(px[2], bg[2])]
}

/// Premultiplied to straight alpha (what PNG, raw RGBA and y4m readers expect). Fully transparent stays 0.
#[inline]
pub fn unpremultiply(px: [u8; 4]) -> [u8; 4] {
    let a = px[3] as u32;
    match a {
        0 => [0, 0, 0, 0],
        255 => px,
        _ => {
            let f = |c: u8| ((c as u32 * 255 + a / 2) / a).min(255) as u8;
            [f(px[0]), f(px[1]), f(px[2]), px[3]]
        }
    }
}

/// Bytes of a `width × height` YUYV (YUY2) picture.
pub fn yuyv_len(width: u32, height: u32) -> usize {
    width as usize * height as usize * 2
}

/// Bytes of a `width × height` NV12 picture (Y plane, then interleaved CbCr at half size both ways).
pub fn nv12_len(width: u32, height: u32) -> usize {
    let (w, h) = (width as usize, height as usize);
    w * h + w.div_ceil(2) * 2 * h.div_ceil(2)
}

fn rgb_at(rgba: &[u8], i: usize, bg: [u8; 3]) -> [i32; 3] {
    let c = over([rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]], bg);
    [c[0] as i32, c[1] as i32, c[2] as i32]
}

/// Premultiplied RGBA over `bg` → YUYV 4:2:2 (Y0 Cb Y1 Cr per pixel pair). An odd last column pairs with itself.
/// `out` must hold [`yuyv_len`] bytes.
pub fn rgba_to_yuyv(rgba: &[u8], width: u32, height: u32, bg: [u8; 3], matrix: Matrix, out: &mut [u8]) {
    let k = Coefficients::of(matrix);
    let (w, h) = (width as usize, height as usize);
    assert!(rgba.len() >= w * h * 4 && out.len() >= yuyv_len(width, height), "buffer sizes");
    for y in 0..h {
        let row = &rgba[y * w * 4..(y + 1) * w * 4];
        let dst = &mut out[y * w * 2..(y + 1) * w * 2];
        let mut x = 0;
        while x < w {
            let p0 = rgb_at(row, x * 4, bg);
            let p1 = if x + 1 < w { rgb_at(row, (x + 1) * 4, bg) } else { p0 };
            let (cb, cr) = k.chroma(p0[0] + p1[0], p0[1] + p1[1], p0[2] + p1[2], 1);
            dst[x * 2] = k.luma(p0[0], p0[1], p0[2]);
            dst[x * 2 + 1] = cb;
            if x + 1 < w {
                dst[x * 2 + 2] = k.luma(p1[0], p1[1], p1[2]);
                dst[x * 2 + 3] = cr;
            }
            x += 2;
        }
    }
}

/// Premultiplied RGBA over `bg` → NV12 4:2:0. `out` must hold [`nv12_len`] bytes.
pub fn rgba_to_nv12(rgba: &[u8], width: u32, height: u32, bg: [u8; 3], matrix: Matrix, out: &mut [u8]) {
    let k = Coefficients::of(matrix);
    let (w, h) = (width as usize, height as usize);
    assert!(rgba.len() >= w * h * 4 && out.len() >= nv12_len(width, height), "buffer sizes");
    let (luma, chroma) = out.split_at_mut(w * h);
    let cw = w.div_ceil(2);
    for by in 0..h.div_ceil(2) {
        for bx in 0..cw {
            let mut sum = [0i32; 3];
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                // Edge blocks of odd sizes repeat their last row/column.
                let (y, x) = ((by * 2 + dy).min(h - 1), (bx * 2 + dx).min(w - 1));
                let p = rgb_at(rgba, (y * w + x) * 4, bg);
                if by * 2 + dy < h && bx * 2 + dx < w {
                    luma[y * w + x] = k.luma(p[0], p[1], p[2]);
                }
                sum = [sum[0] + p[0], sum[1] + p[1], sum[2] + p[2]];
            }
            let (cb, cr) = k.chroma(sum[0], sum[1], sum[2], 2);
            chroma[(by * cw + bx) * 2] = cb;
            chroma[(by * cw + bx) * 2 + 1] = cr;
        }
    }
}

/// Premultiplied RGBA → planar Y, Cb, Cr, A at full resolution (yuva444p, BT.601 limited, straight alpha): what
/// the y4m output writes, so transparency survives the pipe. `out` must hold `4 × width × height` bytes.
pub fn rgba_to_yuva444(rgba: &[u8], width: u32, height: u32, out: &mut [u8]) {
    let k = Coefficients::of(Matrix::Bt601);
    let n = width as usize * height as usize;
    assert!(rgba.len() >= n * 4 && out.len() >= n * 4, "buffer sizes");
    let (yp, rest) = out.split_at_mut(n);
    let (up, rest) = rest.split_at_mut(n);
    let (vp, ap) = rest.split_at_mut(n);
    for (i, px) in rgba.chunks_exact(4).take(n).enumerate() {
        let s = unpremultiply([px[0], px[1], px[2], px[3]]);
        let (r, g, b) = (s[0] as i32, s[1] as i32, s[2] as i32);
        yp[i] = k.luma(r, g, b);
        let (cb, cr) = k.chroma(r, g, b, 0);
        up[i] = cb;
        vp[i] = cr;
        ap[i] = s[3];
    }
}

/// Premultiplied RGBA → straight RGBA, whole buffer.
pub fn unpremultiply_into(rgba: &[u8], out: &mut [u8]) {
    for (src, dst) in rgba.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        dst.copy_from_slice(&unpremultiply([src[0], src[1], src[2], src[3]]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(px: [u8; 4], bg: [u8; 3], m: Matrix) -> (u8, u8, u8) {
        let rgba: Vec<u8> = [px, px].concat();
        let mut out = [0u8; 4];
        rgba_to_yuyv(&rgba, 2, 1, bg, m, &mut out);
        assert_eq!(out[0], out[2], "both lumas of a flat pair are equal");
        (out[0], out[1], out[3])
    }

    #[test]
    fn reference_colours_bt601() {
        let m = Matrix::Bt601;
        assert_eq!(one([255, 255, 255, 255], [0, 0, 0], m), (235, 128, 128));
        assert_eq!(one([0, 0, 0, 255], [0, 0, 0], m), (16, 128, 128));
        // Published BT.601 limited-range values for 100% primaries.
        assert_eq!(one([255, 0, 0, 255], [0, 0, 0], m), (81, 90, 240));
        assert_eq!(one([0, 255, 0, 255], [0, 0, 0], m), (145, 54, 34));
        assert_eq!(one([0, 0, 255, 255], [0, 0, 0], m), (41, 240, 110));
    }

    #[test]
    fn reference_colours_bt709() {
        let m = Matrix::Bt709;
        assert_eq!(one([255, 255, 255, 255], [0, 0, 0], m), (235, 128, 128));
        assert_eq!(one([255, 0, 0, 255], [0, 0, 0], m), (63, 102, 240));
        assert_eq!(one([0, 255, 0, 255], [0, 0, 0], m), (173, 42, 26));
        assert_eq!(one([0, 0, 255, 255], [0, 0, 0], m), (32, 240, 118));
    }

    #[test]
    fn transparent_shows_background_and_half_alpha_mixes() {
        let green = [0, 255, 0];
        assert_eq!(one([0, 0, 0, 0], green, Matrix::Bt601), one([0, 255, 0, 255], [0, 0, 0], Matrix::Bt601));
        // 50% premultiplied white over black is mid grey.
        assert_eq!(over([128, 128, 128, 128], [0, 0, 0]), [128, 128, 128]);
        assert_eq!(over([128, 0, 0, 128], [0, 0, 254]), [128, 0, 127]);
        assert_eq!(unpremultiply([64, 0, 128, 128]), [128, 0, 255, 128]);
        assert_eq!(unpremultiply([9, 9, 9, 0]), [0, 0, 0, 0]);
    }

    #[test]
    fn yuyv_averages_chroma_of_each_pair_and_nv12_of_each_block() {
        // Left pixel red, right pixel blue: lumas differ, chroma is that of their average.
        let rgba = [255, 0, 0, 255, 0, 0, 255, 255];
        let mut out = [0u8; 4];
        rgba_to_yuyv(&rgba, 2, 1, [0, 0, 0], Matrix::Bt601, &mut out);
        assert_eq!((out[0], out[2]), (81, 41));
        let avg = one([128, 0, 128, 255], [0, 0, 0], Matrix::Bt601);
        assert!((out[1] as i32 - avg.1 as i32).abs() <= 1 && (out[3] as i32 - avg.2 as i32).abs() <= 1);

        // 4×2 NV12: left block white, right block black.
        let w = [255, 255, 255, 255];
        let b = [0, 0, 0, 255];
        let rgba: Vec<u8> = [w, w, b, b, w, w, b, b].concat();
        let mut out = vec![0u8; nv12_len(4, 2)];
        rgba_to_nv12(&rgba, 4, 2, [0, 0, 0], Matrix::Bt601, &mut out);
        assert_eq!(&out[..8], &[235, 235, 16, 16, 235, 235, 16, 16]);
        assert_eq!(&out[8..], &[128, 128, 128, 128]);
    }

    #[test]
    fn odd_sizes_are_handled() {
        assert_eq!(nv12_len(3, 3), 9 + 2 * 2 * 2);
        let rgba = vec![255u8; 3 * 3 * 4];
        let mut out = vec![0u8; nv12_len(3, 3)];
        rgba_to_nv12(&rgba, 3, 3, [0, 0, 0], Matrix::Bt709, &mut out);
        assert!(out[..9].iter().all(|&y| y == 235));
        assert!(out[9..].iter().all(|&c| c == 128));
        let mut out = vec![0u8; yuyv_len(3, 1)];
        rgba_to_yuyv(&rgba[..12], 3, 1, [0, 0, 0], Matrix::Bt709, &mut out);
        assert_eq!(out, [235, 128, 235, 128, 235, 128]);
    }
}
