//! Subtitles in the streamed picture: the character's current sentence, the word being heard highlighted.
//!
//! Input is the sentence as a word timeline ([`Word`]: text with start/end seconds, from TTS) and the playback
//! position. [`Subtitles::layout`] wraps the sentence to the frame width; a sentence longer than
//! `subtitles.max_lines` lines is shown a page of lines at a time, the page holding the word being heard.
//! [`Subtitles::overlay`] rasterises that page into a premultiplied RGBA band with outlined text (bundled DejaVu
//! Sans Bold), which the renderer composites over the puppet before readback ([`composite`] does it on the CPU).
//! The band is cached: it is redrawn only when the page or the highlighted word changes, not every frame.

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};

use crate::config::{SubtitlePosition, SubtitleSettings, parse_colour};
use crate::output::Frame;

/// DejaVu Sans Bold (Bitstream Vera licence, see `assets/fonts/DejaVu-LICENSE.txt`): wide Latin, Greek and
/// Cyrillic coverage, and legible at small sizes over any background once outlined.
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// Lines may fill this fraction of the frame width.
const LINE_WIDTH: f32 = 0.9;
/// Distance of the text block from the top or bottom edge, as a fraction of the frame height.
const MARGIN: f32 = 0.06;

/// One word of a spoken sentence and when it is heard. (`tts::TimedWord` maps onto this field for field.)
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub start_s: f64,
    pub end_s: f64,
}

impl Word {
    pub fn new(text: impl Into<String>, start_s: f64, end_s: f64) -> Word {
        Word { text: text.into(), start_s, end_s }
    }
}

/// The word being heard at `t` seconds into the sentence's audio: the one with `start_s <= t < end_s`.
/// In pauses between words, and before or after the sentence, no word is highlighted.
pub fn heard_word(words: &[Word], t: f64) -> Option<usize> {
    words.iter().position(|w| w.start_s <= t && t < w.end_s)
}

/// The last word that has started by `t` (for choosing the page during pauses); the first before any has.
fn latest_started(words: &[Word], t: f64) -> usize {
    words.iter().rposition(|w| w.start_s <= t).unwrap_or(0)
}

/// Subtitle look, from `[subtitles]` with colours parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub position: SubtitlePosition,
    /// Text height as a fraction of the frame height.
    pub size: f32,
    pub colour: [u8; 4],
    pub highlight: [u8; 4],
    pub outline: [u8; 4],
    pub outline_px: f32,
    pub max_lines: usize,
}

impl Style {
    /// The style in the settings; a colour that does not parse is an error naming the key.
    pub fn from_settings(s: &SubtitleSettings) -> Result<Style, String> {
        let colour = |key: &str, v: &str| {
            parse_colour(v).ok_or_else(|| format!("subtitles.{key} = \"{v}\" is not a colour like \"#ffd84a\""))
        };
        Ok(Style {
            position: s.position,
            size: s.size.clamp(0.005, 0.5),
            colour: colour("color", &s.color)?,
            highlight: colour("highlight_color", &s.highlight_color)?,
            outline: colour("outline_color", &s.outline_color)?,
            outline_px: s.outline_px.clamp(0.0, 32.0),
            max_lines: s.max_lines.max(1) as usize,
        })
    }
}

/// A word placed on a line: `x` from the line's left edge, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacedWord {
    /// Index into the sentence's words.
    pub index: usize,
    pub x: f32,
    pub width: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub words: Vec<PlacedWord>,
    pub width: f32,
}

/// The whole sentence wrapped to a frame width.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub lines: Vec<Line>,
    pub font_px: f32,
    pub line_height: f32,
}

impl Layout {
    /// The line holding word `index`.
    pub fn line_of(&self, index: usize) -> Option<usize> {
        self.lines.iter().position(|l| l.words.iter().any(|w| w.index == index))
    }
}

/// A word's box in frame pixels, as drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordBox {
    pub index: usize,
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

/// A premultiplied RGBA band to draw at (`x`, `y`) in the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    /// Where each shown word was drawn (frame coordinates), for hit tests and checks.
    pub words: Vec<WordBox>,
    /// The word drawn in the highlight colour.
    pub highlighted: Option<usize>,
}

/// What a cached overlay was drawn from.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    text: Vec<String>,
    page: usize,
    highlighted: Option<usize>,
    width: u32,
    height: u32,
}

/// Lays out and draws subtitles with one style and the bundled font.
pub struct Subtitles {
    font: FontRef<'static>,
    style: Style,
    cache: Option<(Key, Overlay)>,
}

impl Subtitles {
    pub fn new(style: Style) -> Subtitles {
        let font = FontRef::try_from_slice(FONT).expect("the bundled font is a valid TrueType file");
        Subtitles { font, style, cache: None }
    }

    pub fn style(&self) -> &Style {
        &self.style
    }

    pub fn set_style(&mut self, style: Style) {
        self.style = style;
        self.cache = None;
    }

    fn font_px(&self, frame_height: u32) -> f32 {
        (self.style.size * frame_height as f32).max(4.0)
    }

    /// Width of `text` in pixels at `scale`, with kerning.
    fn text_width(&self, text: &str, scale: PxScale) -> f32 {
        let f = self.font.as_scaled(scale);
        let mut w = 0.0;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = f.glyph_id(c);
            if let Some(p) = prev {
                w += f.kern(p, id);
            }
            w += f.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// Wraps the sentence to lines at most 90% of `width` wide. A single word wider than that gets a line of its
    /// own (and is clipped when drawn).
    pub fn layout(&self, words: &[Word], width: u32, height: u32) -> Layout {
        let font_px = self.font_px(height);
        let scale = PxScale::from(font_px);
        let f = self.font.as_scaled(scale);
        let space = f.h_advance(f.glyph_id(' '));
        let max = width as f32 * LINE_WIDTH;
        let mut lines: Vec<Line> = Vec::new();
        let mut current = Line { words: Vec::new(), width: 0.0 };
        for (index, word) in words.iter().enumerate() {
            let w = self.text_width(word.text.trim(), scale);
            let x = if current.words.is_empty() { 0.0 } else { current.width + space };
            if !current.words.is_empty() && x + w > max {
                lines.push(std::mem::replace(&mut current, Line { words: Vec::new(), width: 0.0 }));
                current.words.push(PlacedWord { index, x: 0.0, width: w });
                current.width = w;
            } else {
                current.words.push(PlacedWord { index, x, width: w });
                current.width = x + w;
            }
        }
        if !current.words.is_empty() {
            lines.push(current);
        }
        Layout { lines, font_px, line_height: (f.height() + f.line_gap()).ceil() }
    }

    /// The overlay for the sentence at playback time `t` on a `width × height` frame; `None` for no words.
    /// Cached: calling it every frame costs a comparison until the highlight or page changes.
    pub fn overlay(&mut self, words: &[Word], t: f64, width: u32, height: u32) -> Option<&Overlay> {
        if words.is_empty() || width == 0 || height == 0 {
            return None;
        }
        let layout = self.layout(words, width, height);
        let highlighted = heard_word(words, t);
        let page_of = |i: usize| layout.line_of(i).unwrap_or(0) / self.style.max_lines;
        let page = page_of(highlighted.unwrap_or_else(|| latest_started(words, t)));
        let key = Key { text: words.iter().map(|w| w.text.clone()).collect(), page, highlighted, width, height };
        if self.cache.as_ref().is_none_or(|(k, _)| *k != key) {
            let overlay = self.draw(words, &layout, page, highlighted, width, height);
            self.cache = Some((key, overlay));
        }
        self.cache.as_ref().map(|(_, o)| o)
    }

    /// Rasterises one page of `layout`: outline first (the glyph coverage dilated by `outline_px`), text over it.
    fn draw(
        &self,
        words: &[Word],
        layout: &Layout,
        page: usize,
        highlighted: Option<usize>,
        width: u32,
        height: u32,
    ) -> Overlay {
        let s = &self.style;
        let lines: Vec<&Line> = layout.lines.iter().skip(page * s.max_lines).take(s.max_lines).collect();
        let pad = s.outline_px.ceil() as u32 + 1;
        let band_h = (layout.line_height * lines.len() as f32).ceil() as u32 + 2 * pad;
        let band_h = band_h.min(height);
        let margin = (height as f32 * MARGIN) as u32;
        let y = match s.position {
            SubtitlePosition::Top => margin.min(height - band_h),
            SubtitlePosition::Bottom => height.saturating_sub(margin + band_h),
        };
        let (bw, bh) = (width as usize, band_h as usize);
        // Per pixel: glyph coverage, and whether it belongs to the highlighted word.
        let mut cover = vec![0f32; bw * bh];
        let mut is_highlight = vec![false; bw * bh];
        let scale = PxScale::from(layout.font_px);
        let f = self.font.as_scaled(scale);
        let mut boxes = Vec::new();
        for (li, line) in lines.iter().enumerate() {
            let left = ((width as f32 - line.width) / 2.0).max(0.0);
            let baseline = pad as f32 + li as f32 * layout.line_height + f.ascent();
            for placed in &line.words {
                let hl = highlighted == Some(placed.index);
                let mut caret = left + placed.x;
                let mut prev: Option<GlyphId> = None;
                for c in words[placed.index].text.trim().chars() {
                    let id = f.glyph_id(c);
                    if let Some(p) = prev {
                        caret += f.kern(p, id);
                    }
                    prev = Some(id);
                    let glyph = id.with_scale_and_position(scale, point(caret, baseline));
                    caret += f.h_advance(id);
                    let Some(outlined) = self.font.outline_glyph(glyph) else { continue };
                    let b = outlined.px_bounds();
                    outlined.draw(|gx, gy, c| {
                        let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                        if px >= 0 && py >= 0 && (px as usize) < bw && (py as usize) < bh {
                            let i = py as usize * bw + px as usize;
                            cover[i] = (cover[i] + c).min(1.0);
                            if c > 0.0 {
                                is_highlight[i] = hl;
                            }
                        }
                    });
                }
                let top = y as f32 + baseline - f.ascent();
                boxes.push(WordBox {
                    index: placed.index,
                    x0: (left + placed.x).floor() as u32,
                    y0: top.max(0.0) as u32,
                    x1: ((left + placed.x + placed.width).ceil() as u32).min(width),
                    y1: ((top + f.ascent() - f.descent()).ceil() as u32).min(height),
                });
            }
        }
        let outline = dilate(&cover, bw, bh, s.outline_px);
        let mut rgba = vec![0u8; bw * bh * 4];
        for i in 0..bw * bh {
            let (c, o) = (cover[i], outline[i]);
            if o <= 0.0 && c <= 0.0 {
                continue;
            }
            let fill = if is_highlight[i] { s.highlight } else { s.colour };
            let fa = c * fill[3] as f32 / 255.0;
            let oa = o * s.outline[3] as f32 / 255.0;
            // Premultiplied "fill over outline".
            for ch in 0..3 {
                let v = fill[ch] as f32 * fa + s.outline[ch] as f32 * oa * (1.0 - fa);
                rgba[i * 4 + ch] = v.round().clamp(0.0, 255.0) as u8;
            }
            rgba[i * 4 + 3] = ((fa + oa * (1.0 - fa)) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
        Overlay { x: 0, y, width, height: band_h, rgba, words: boxes, highlighted }
    }
}

/// Coverage grown by `radius` pixels in every direction (a disc), for the outline under the text.
fn dilate(cover: &[f32], w: usize, h: usize, radius: f32) -> Vec<f32> {
    if radius <= 0.0 {
        return vec![0.0; cover.len()];
    }
    let r = radius.ceil() as i64;
    let offsets: Vec<(i64, i64, f32)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dx, dy)))
        .filter_map(|(dx, dy)| {
            let d = ((dx * dx + dy * dy) as f32).sqrt();
            // Soft edge one pixel wide, so the outline is antialiased too.
            let weight = (radius + 0.5 - d).clamp(0.0, 1.0);
            (weight > 0.0).then_some((dx, dy, weight))
        })
        .collect();
    let mut out = vec![0f32; cover.len()];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let c = cover[y as usize * w + x as usize];
            if c <= 0.0 {
                continue;
            }
            for &(dx, dy, weight) in &offsets {
                let (nx, ny) = (x + dx, y + dy);
                if nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h {
                    let o = &mut out[ny as usize * w + nx as usize];
                    *o = o.max(c * weight);
                }
            }
        }
    }
    out
}

/// Draws `overlay` over `frame` (both premultiplied): `frame = overlay + frame × (1 − overlay alpha)`.
pub fn composite(frame: &mut Frame, overlay: &Overlay) {
    let fw = frame.width as usize;
    for oy in 0..overlay.height as usize {
        let fy = overlay.y as usize + oy;
        if fy >= frame.height as usize {
            break;
        }
        for ox in 0..overlay.width as usize {
            let fx = overlay.x as usize + ox;
            if fx >= fw {
                break;
            }
            let o = &overlay.rgba[(oy * overlay.width as usize + ox) * 4..][..4];
            if o[3] == 0 {
                continue;
            }
            let inv = 255 - o[3] as u32;
            let d = &mut frame.rgba[(fy * fw + fx) * 4..][..4];
            for c in 0..4 {
                d[c] = (o[c] as u32 + (d[c] as u32 * inv + 127) / 255).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(text: &str) -> Vec<Word> {
        text.split_whitespace().enumerate().map(|(i, w)| Word::new(w, i as f64 * 0.4, i as f64 * 0.4 + 0.3)).collect()
    }

    #[test]
    fn heard_word_follows_the_timeline() {
        let words = sentence("one two three");
        assert_eq!(heard_word(&words, -0.1), None);
        assert_eq!(heard_word(&words, 0.0), Some(0));
        assert_eq!(heard_word(&words, 0.29), Some(0));
        assert_eq!(heard_word(&words, 0.35), None, "pause between words");
        assert_eq!(heard_word(&words, 0.4), Some(1));
        assert_eq!(heard_word(&words, 0.95), Some(2));
        assert_eq!(heard_word(&words, 1.2), None);
    }

    #[test]
    fn bad_colour_names_the_key() {
        let s = SubtitleSettings { highlight_color: "yellow".into(), ..Default::default() };
        let e = Style::from_settings(&s).unwrap_err();
        assert!(e.contains("subtitles.highlight_color"), "{e}");
    }
}
