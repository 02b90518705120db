//! Estimating when each phoneme sounds, for models that do not say.
//!
//! First guess: phonemes take their typical lengths (vowels longer than stops, diphthongs longer still), pauses
//! sit at clause punctuation. Then the audio corrects the guess: leading and trailing silence is cut off, clause
//! pauses are snapped to the silent gaps actually found in the audio, and within each stretch between pauses the
//! phonemes are laid over the audio's loud frames (a silent frame carries little phoneme time), so long silences
//! get no phonemes and the mouth closes there.

use super::espeak::Phonemized;
use super::{TimedPhoneme, TimedWord, Timeline};

/// Frame hop of the loudness analysis.
const HOP_S: f64 = 0.01;
/// Frames quieter than the loudest by this much count as silence.
const SILENCE_DB: f32 = 38.0;
/// Shortest silent run taken as a pause in speech (stop closures are shorter).
const MIN_GAP_S: f64 = 0.12;

/// Splits a word's IPA into phonemes: stress marks dropped, length marks and diacritics kept with their phoneme,
/// diphthongs and affricates kept whole.
pub fn split_phonemes(ipa: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in ipa.chars() {
        if matches!(c, 'ˈ' | 'ˌ') || c.is_whitespace() {
            continue;
        }
        let attaches = matches!(c, 'ː' | 'ʰ' | 'ʲ' | '\u{0303}' | '\u{0329}' | '\u{032f}' | '\u{0361}');
        if let Some(last) = out.last_mut() {
            let pair: String = last.chars().chain(std::iter::once(c)).collect();
            let joins = matches!(
                pair.as_str(),
                "oʊ" | "eɪ" | "aɪ" | "aʊ" | "ɔɪ" | "əʊ" | "tʃ" | "dʒ" | "ɛə" | "ɪə" | "ʊə" | "ɑɪ" | "ɐɪ"
            );
            if attaches || joins {
                last.push(c);
                continue;
            }
        }
        out.push(c.to_string());
    }
    out
}

/// Typical length of a phoneme at normal speed, in seconds (American English read speech).
pub fn typical_length(phoneme: &str) -> f64 {
    let base = phoneme.chars().next().unwrap_or(' ');
    let long = phoneme.contains('ː');
    let n = phoneme.chars().filter(|c| !matches!(c, 'ː' | 'ʰ' | 'ʲ')).count();
    let len = match base {
        'ə' | 'ɐ' | 'ᵻ' | 'ɚ' => 0.055,
        'ɪ' | 'ʊ' | 'ɛ' | 'ʌ' | 'i' | 'u' | 'ɜ' => 0.075,
        'a' | 'æ' | 'ɑ' | 'ɔ' | 'o' | 'e' | 'ɒ' | 'œ' | 'ø' | 'y' => 0.095,
        'ɾ' | 'ʔ' => 0.03,
        'p' | 'b' | 't' | 'd' | 'k' | 'ɡ' | 'g' | 'c' | 'ɟ' | 'q' => 0.065,
        's' | 'z' | 'ʃ' | 'ʒ' | 'f' | 'v' | 'θ' | 'x' | 'ç' | 'χ' => 0.08,
        'ð' | 'h' => 0.045,
        'm' | 'n' | 'ŋ' | 'ɲ' => 0.06,
        'l' | 'ɹ' | 'r' | 'w' | 'j' | 'ɫ' | 'ʋ' => 0.055,
        'ʧ' | 'ʤ' => 0.09,
        _ => 0.065,
    };
    let len = if n > 1 { len + 0.04 } else { len };
    if long { len * 1.35 } else { len }
}

/// Typical pause after a clause ending in `end`.
fn pause_length(end: Option<char>) -> f64 {
    match end {
        Some(',') | Some(';') | Some(':') => 0.2,
        Some(_) => 0.35,
        None => 0.0,
    }
}

/// Loudness in dB of each 10 ms frame (20 ms windows).
pub fn frame_db(samples: &[f32], rate: u32) -> Vec<f32> {
    let hop = ((rate as f64 * HOP_S) as usize).max(1);
    let n = samples.len().div_ceil(hop);
    (0..n)
        .map(|i| {
            let a = (i * hop).saturating_sub(hop / 2);
            let b = (i * hop + hop + hop / 2).min(samples.len());
            let w = &samples[a..b.max(a)];
            let e = w.iter().map(|x| x * x).sum::<f32>() / w.len().max(1) as f32;
            10.0 * (e + 1e-10).log10()
        })
        .collect()
}

/// Which frames are silent: quieter than the loudest frame by [`SILENCE_DB`], or below an absolute floor.
fn silent_frames(db: &[f32]) -> Vec<bool> {
    let max = db.iter().copied().fold(-100.0f32, f32::max);
    let floor = (max - SILENCE_DB).max(-60.0);
    db.iter().map(|&d| d < floor).collect()
}

/// Silent runs in frames `[a, b)` at least `min_s` long.
fn gaps(silent: &[bool], min_s: f64) -> Vec<(usize, usize)> {
    let min = (min_s / HOP_S).round() as usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < silent.len() {
        if silent[i] {
            let a = i;
            while i < silent.len() && silent[i] {
                i += 1;
            }
            if i - a >= min {
                out.push((a, i));
            }
        } else {
            i += 1;
        }
    }
    out
}

/// One thing to place in time: a phoneme of a word, or a pause.
struct Unit {
    label: String,
    word: Option<usize>,
    weight: f64,
    pause: bool,
}

/// Estimates the timeline of `phonemized` spoken as `samples`.
pub fn estimate(phonemized: &Phonemized, samples: &[f32], rate: u32) -> Timeline {
    let mut units = Vec::new();
    let mut words = Vec::new();
    let n_clauses = phonemized.clauses.len();
    for (ci, clause) in phonemized.clauses.iter().enumerate() {
        for w in &clause.words {
            let wi = words.len();
            words.push(TimedWord {
                text: w.word.text.clone(),
                start_s: 0.0,
                end_s: 0.0,
                char_start: w.word.char_start,
                char_end: w.word.char_end,
            });
            let mut ph = split_phonemes(&w.ipa);
            if ph.is_empty() {
                // A word espeak-ng gave nothing for still takes some time, so later words stay in place.
                ph.push(String::new());
            }
            for p in ph {
                let weight = if p.is_empty() { 0.1 } else { typical_length(&p) };
                units.push(Unit { label: p, word: Some(wi), weight, pause: false });
            }
        }
        if ci + 1 < n_clauses {
            units.push(Unit { label: String::new(), word: None, weight: pause_length(clause.end), pause: true });
        }
    }
    place(units, words, samples, rate)
}

/// What one model token (one IPA character) stands for, for [`from_durations`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenChar {
    /// The character as espeak-ng wrote it (before any model-specific fix-up).
    pub ipa: char,
    /// Index of the word (in the piece's order) it belongs to; `None` for spaces, punctuation and padding.
    pub word: Option<usize>,
}

/// The characters of a piece as TTS models read them, with the word each belongs to: each word's IPA, a space
/// between words, clause punctuation kept, a space between clauses.
pub fn token_chars(p: &Phonemized) -> Vec<TokenChar> {
    let mut out = Vec::new();
    let mut wi = 0;
    for (ci, c) in p.clauses.iter().enumerate() {
        for (k, w) in c.words.iter().enumerate() {
            if k > 0 {
                out.push(TokenChar { ipa: ' ', word: None });
            }
            out.extend(w.ipa.chars().map(|ch| TokenChar { ipa: ch, word: Some(wi) }));
            wi += 1;
        }
        if let Some(e) = c.end {
            out.push(TokenChar { ipa: e, word: None });
        }
        if ci + 1 < p.clauses.len() {
            out.push(TokenChar { ipa: ' ', word: None });
        }
    }
    out
}

/// The exact timeline of `phonemized` from the model's own duration of each token: `tokens[i]` sounded for
/// `seconds[i]`, one after another from time 0 (pads and spaces included), over audio `duration_s` long. A word
/// spans its tokens; its phonemes ([`split_phonemes`]) follow one another inside it, each ending where the model
/// put its last character (a stress mark's time goes to the phoneme after it); spaces, punctuation and padding
/// become pauses; a phoneme running into a long silence of `samples` is cut at its edge.
pub fn from_durations(
    phonemized: &Phonemized,
    tokens: &[TokenChar],
    seconds: &[f64],
    samples: &[f32],
    rate: u32,
) -> Timeline {
    let duration_s = samples.len() as f64 / rate.max(1) as f64;
    let mut words: Vec<TimedWord> = phonemized
        .clauses
        .iter()
        .flat_map(|c| &c.words)
        .map(|w| TimedWord {
            text: w.word.text.clone(),
            start_s: f64::NAN,
            end_s: f64::NAN,
            char_start: w.word.char_start,
            char_end: w.word.char_end,
        })
        .collect();
    let ipa: Vec<&str> = phonemized.clauses.iter().flat_map(|c| &c.words).map(|w| w.ipa.as_str()).collect();
    // Each token's span, scaled so the tokens exactly cover the audio (the model's frames are a fixed hop).
    let total: f64 = seconds.iter().sum::<f64>().max(1e-9);
    let scale = duration_s / total;
    let mut spans = Vec::with_capacity(tokens.len());
    let mut t = 0.0;
    for s in seconds {
        let e = (t + s * scale).min(duration_s);
        spans.push((t, e));
        t = e;
    }
    let mut phonemes: Vec<TimedPhoneme> = Vec::new();
    let push_pause = |phonemes: &mut Vec<TimedPhoneme>, a: f64, b: f64| {
        if b <= a {
            return;
        }
        match phonemes.last_mut() {
            Some(last) if last.word_index.is_none() && last.phoneme.is_empty() => last.end_s = b,
            _ => phonemes.push(TimedPhoneme { phoneme: String::new(), start_s: a, end_s: b, word_index: None }),
        }
    };
    let mut i = 0;
    while i < tokens.len() {
        let Some(wi) = tokens[i].word else {
            push_pause(&mut phonemes, spans[i].0, spans[i].1);
            i += 1;
            continue;
        };
        let mut j = i;
        while j < tokens.len() && tokens[j].word == Some(wi) {
            j += 1;
        }
        let (word_start, word_end) = (spans[i].0, spans[j - 1].1);
        if let Some(w) = words.get_mut(wi).filter(|w| w.start_s.is_nan()) {
            w.start_s = word_start;
            w.end_s = word_end;
        }
        // Each phoneme ends at the end of its last character found among the word's tokens.
        let mut cursor = word_start;
        let mut k = i;
        let labels = split_phonemes(ipa.get(wi).copied().unwrap_or(""));
        let n_labels = labels.len();
        for (li, label) in labels.into_iter().enumerate() {
            let mut end = cursor;
            for c in label.chars() {
                if let Some(found) = (k..j).find(|&x| tokens[x].ipa == c) {
                    end = end.max(spans[found].1);
                    k = found + 1;
                }
            }
            if li + 1 == n_labels {
                end = word_end;
            }
            phonemes.push(TimedPhoneme { phoneme: label, start_s: cursor, end_s: end, word_index: Some(wi) });
            cursor = end;
        }
        if n_labels == 0 {
            phonemes.push(TimedPhoneme {
                phoneme: String::new(),
                start_s: word_start,
                end_s: word_end,
                word_index: Some(wi),
            });
        }
        i = j;
    }
    // Words the model got no tokens for (nothing espeak-ng said could be spoken) sit where the next word starts.
    let mut next = duration_s;
    for w in words.iter_mut().rev() {
        if w.start_s.is_nan() {
            w.start_s = next;
            w.end_s = next;
        }
        next = w.start_s;
    }
    if let Some(first) = phonemes.first_mut() {
        first.start_s = 0.0;
    }
    match phonemes.last_mut() {
        Some(last) => last.end_s = duration_s,
        None => {
            phonemes.push(TimedPhoneme { phoneme: String::new(), start_s: 0.0, end_s: duration_s, word_index: None })
        }
    }
    let silent = silent_frames(&frame_db(samples, rate));
    let first = silent.iter().position(|s| !s).unwrap_or(0);
    let last = silent.iter().rposition(|s| !s).map_or(silent.len(), |i| i + 1);
    let span = if first < last { (first, last) } else { (0, silent.len()) };
    cut_at_silences(phonemes, words, &silent, span, true, duration_s)
}

/// Estimates a words-only timeline (no phonemes) from the text's words: for audio from engines we cannot
/// phonemize for (remote TTS without espeak-ng). Each letter counts as a unit of time.
pub fn estimate_words(words: &[super::text::Word], clause_ends: &[usize], samples: &[f32], rate: u32) -> Timeline {
    let mut units = Vec::new();
    let mut tw = Vec::new();
    for (wi, w) in words.iter().enumerate() {
        tw.push(TimedWord {
            text: w.text.clone(),
            start_s: 0.0,
            end_s: 0.0,
            char_start: w.char_start,
            char_end: w.char_end,
        });
        units.push(Unit {
            label: String::new(),
            word: Some(wi),
            weight: 0.06 * w.text.chars().count() as f64,
            pause: false,
        });
        if clause_ends.contains(&wi) && wi + 1 < words.len() {
            units.push(Unit { label: String::new(), word: None, weight: 0.25, pause: true });
        }
    }
    let mut t = place(units, tw, samples, rate);
    t.phonemes.clear();
    t
}

fn place(units: Vec<Unit>, words: Vec<TimedWord>, samples: &[f32], rate: u32) -> Timeline {
    let duration = samples.len() as f64 / rate.max(1) as f64;
    let db = frame_db(samples, rate);
    let silent = silent_frames(&db);
    let nf = silent.len();
    // The speech span: from the first loud frame to the last.
    let first = silent.iter().position(|s| !s).unwrap_or(0);
    let last = silent.iter().rposition(|s| !s).map_or(nf, |i| i + 1);
    let (span_a, span_b) = if first < last { (first, last) } else { (0, nf) };

    // Pauses in the text, snapped to silent gaps found inside the speech span.
    let inner_gaps: Vec<(usize, usize)> =
        gaps(&silent, MIN_GAP_S).into_iter().filter(|&(a, b)| a > span_a && b < span_b).collect();
    let total_w: f64 = units.iter().map(|u| u.weight).sum::<f64>().max(1e-9);
    let span_frames = (span_b - span_a) as f64;
    let pause_idx: Vec<usize> = units.iter().enumerate().filter(|(_, u)| u.pause).map(|(i, _)| i).collect();
    // Where each pause's middle would fall if the span were spread evenly by weight.
    let mut expected = Vec::new();
    let mut acc = 0.0;
    for (i, u) in units.iter().enumerate() {
        if u.pause {
            expected.push(span_a as f64 + (acc + u.weight / 2.0) / total_w * span_frames);
        }
        acc += u.weight;
        let _ = i;
    }
    let matched = match_in_order(&expected, &inner_gaps, span_frames * 0.25);
    // Anchors: (unit index range, frame range) pieces that are laid out independently.
    let mut anchors: Vec<(usize, (usize, usize))> = Vec::new(); // pause unit index → gap frames
    for (k, m) in matched.iter().enumerate() {
        if let Some(g) = m {
            anchors.push((pause_idx[k], inner_gaps[*g]));
        }
    }
    // Frames' share of phoneme time: loud frames 1, short silences (stop closures) some, long unmatched silences
    // (a breath the text did not mark) almost none.
    let long_gap: Vec<bool> = {
        let mut v = vec![false; nf];
        for &(a, b) in &gaps(&silent, 0.2) {
            if !anchors.iter().any(|&(_, g)| g == (a, b)) {
                for x in &mut v[a..b] {
                    *x = true;
                }
            }
        }
        v
    };
    let activity: Vec<f64> = (0..nf)
        .map(|f| {
            if long_gap[f] {
                0.02
            } else if silent[f] {
                0.3
            } else {
                1.0
            }
        })
        .collect();

    // A pause the text marks but the audio does not have (no silence found for it) takes no time: the voice
    // ran on, and so does the mouth.
    let mut units = units;
    for (i, u) in units.iter_mut().enumerate() {
        if u.pause && !anchors.iter().any(|&(pi, _)| pi == i) {
            u.weight = 0.0;
        }
    }
    // A stop after silence (the "b" of "But" after a pause) closes the lips in the silence: its closure is
    // silent, only its release is loud. Such a stretch starts a stop's length before the sound does.
    let is_stop = |u: Option<&Unit>| {
        u.is_some_and(|u| matches!(u.label.chars().next(), Some('p' | 'b' | 't' | 'd' | 'k' | 'g' | 'ɡ')))
    };
    let closure = (0.05 / HOP_S) as usize;
    let mut times = vec![(0.0f64, 0.0f64); units.len()];
    let mut seg_start_unit = 0;
    let mut seg_start_frame = if is_stop(units.first()) { span_a.saturating_sub(closure) } else { span_a };
    let mut segments = Vec::new();
    for &(pi, (ga, gb)) in &anchors {
        segments.push((seg_start_unit, pi, seg_start_frame, ga));
        let start = if is_stop(units.get(pi + 1)) { gb.saturating_sub(closure).max(ga + 1).min(gb) } else { gb };
        times[pi] = (ga as f64 * HOP_S, start as f64 * HOP_S);
        seg_start_unit = pi + 1;
        seg_start_frame = start;
    }
    segments.push((seg_start_unit, units.len(), seg_start_frame, span_b));
    for (ua, ub, fa, fb) in segments {
        let fb = fb.max(fa);
        let seg_w: f64 = units[ua..ub].iter().map(|u| u.weight).sum::<f64>().max(1e-9);
        let mut cum_act = Vec::with_capacity(fb - fa + 1);
        cum_act.push(0.0);
        for a in &activity[fa..fb] {
            cum_act.push(cum_act.last().copied().unwrap_or(0.0) + a);
        }
        let total_act = cum_act.last().copied().unwrap_or(0.0);
        // Time at which a share `x` (0..1) of the segment's activity has passed.
        let time_at = |x: f64| -> f64 {
            if total_act <= 0.0 {
                return (fa as f64 + x * (fb - fa) as f64) * HOP_S;
            }
            let target = x * total_act;
            let i = cum_act.partition_point(|&c| c < target).max(1).min(cum_act.len() - 1);
            let (c0, c1) = (cum_act[i - 1], cum_act[i]);
            let frac = if c1 > c0 { (target - c0) / (c1 - c0) } else { 0.0 };
            (fa as f64 + (i - 1) as f64 + frac) * HOP_S
        };
        let mut acc = 0.0;
        for (k, u) in units[ua..ub].iter().enumerate() {
            let s = time_at(acc / seg_w);
            acc += u.weight;
            let e = time_at(acc / seg_w);
            times[ua + k] = (s, e);
        }
    }

    let clamp = |t: f64| t.clamp(0.0, duration);
    let mut phonemes: Vec<TimedPhoneme> = Vec::with_capacity(units.len() + 2);
    let lead = clamp(times.first().map_or(span_a as f64 * HOP_S, |t| t.0.min(span_a as f64 * HOP_S)));
    if lead > 0.0 {
        phonemes.push(TimedPhoneme { phoneme: String::new(), start_s: 0.0, end_s: lead, word_index: None });
    }
    let mut prev_end = lead;
    for (u, (s, e)) in units.iter().zip(times) {
        let s = clamp(s.max(prev_end));
        let e = clamp(e.max(s));
        if u.pause && e <= s {
            continue;
        }
        phonemes.push(TimedPhoneme { phoneme: u.label.clone(), start_s: s, end_s: e, word_index: u.word });
        prev_end = e;
    }
    if prev_end < duration {
        phonemes.push(TimedPhoneme { phoneme: String::new(), start_s: prev_end, end_s: duration, word_index: None });
    }
    cut_at_silences(phonemes, words, &silent, (span_a, span_b), false, duration)
}

/// Long silences hold no phoneme: a phoneme stretched into one (by the estimate's spreading, or by a model that
/// gave a final stop the pause after it) is cut at its edge, so the mouth closes there. Then the words are set to
/// the span of their phonemes. `silent` holds the silent frames, `span` the frames from the first loud one to
/// past the last; `edges` says whether the silences before and after that span are cut too.
fn cut_at_silences(
    mut phonemes: Vec<TimedPhoneme>,
    mut words: Vec<TimedWord>,
    silent: &[bool],
    (span_a, span_b): (usize, usize),
    edges: bool,
    duration: f64,
) -> Timeline {
    let clamp = |t: f64| t.clamp(0.0, duration);
    for &(a, b) in &gaps(silent, 0.2) {
        let (ga, gb) = (clamp(a as f64 * HOP_S), clamp(b as f64 * HOP_S));
        if !edges && (a <= span_a || b >= span_b) {
            continue;
        }
        let mut cut = Vec::with_capacity(phonemes.len() + 1);
        let mut inserted = false;
        for mut p in phonemes {
            // A stop's silent closure may sit at the end of the silence.
            let stop = matches!(p.phoneme.chars().next(), Some('p' | 'b' | 't' | 'd' | 'k' | 'g' | 'ɡ'));
            let gbe = if stop { (gb - 0.05).max(ga) } else { gb };
            if p.start_s < ga && p.end_s > ga {
                p.end_s = ga;
            } else if p.start_s >= ga && p.start_s < gbe {
                p.end_s = p.end_s.max(gb);
                p.start_s = gbe;
                if p.phoneme.is_empty() && p.word_index.is_none() && p.end_s <= gb + 1e-9 {
                    continue;
                }
            }
            if !inserted && p.start_s >= gbe - 1e-9 && p.start_s >= ga {
                cut.push(TimedPhoneme { phoneme: String::new(), start_s: ga, end_s: p.start_s, word_index: None });
                inserted = true;
            }
            cut.push(p);
        }
        // Zero-length pauses left by the cut, and ordering, are tidied below.
        phonemes = cut;
    }
    // A cut at the trailing silence leaves it to a pause, so the timeline still covers the audio.
    let end = phonemes.last().map_or(0.0, |p| p.end_s);
    if end < duration {
        phonemes.push(TimedPhoneme { phoneme: String::new(), start_s: end, end_s: duration, word_index: None });
    }
    let mut prev = 0.0;
    phonemes.retain_mut(|p| {
        p.start_s = p.start_s.max(prev);
        p.end_s = p.end_s.max(p.start_s);
        prev = p.end_s;
        !(p.word_index.is_none() && p.end_s <= p.start_s)
    });
    for (wi, w) in words.iter_mut().enumerate() {
        let mine = phonemes.iter().filter(|p| p.word_index == Some(wi));
        let (mut s, mut e) = (f64::INFINITY, f64::NEG_INFINITY);
        for p in mine {
            s = s.min(p.start_s);
            e = e.max(p.end_s);
        }
        if s.is_finite() {
            w.start_s = s;
            w.end_s = e;
        }
    }
    Timeline { phonemes, words }
}

/// Matches expected pause positions to gaps, in order, each at most once, minimising the distance; a pause with
/// no gap within `tolerance` frames stays unmatched. A small dynamic programme over (pause, gap).
fn match_in_order(expected: &[f64], gaps: &[(usize, usize)], tolerance: f64) -> Vec<Option<usize>> {
    let (n, m) = (expected.len(), gaps.len());
    // cost[i][j]: best cost using the first i pauses and the first j gaps; skipping a pause costs `tolerance`.
    let mut cost = vec![vec![f64::INFINITY; m + 1]; n + 1];
    let mut back = vec![vec![0u8; m + 1]; n + 1];
    for c in cost[0].iter_mut() {
        *c = 0.0;
    }
    for i in 1..=n {
        for j in 0..=m {
            // Skip pause i-1.
            let mut best = cost[i - 1][j] + tolerance;
            let mut how = 1u8;
            if j > 0 {
                // Skip gap j-1.
                if cost[i][j - 1] < best {
                    best = cost[i][j - 1];
                    how = 2;
                }
                let (a, b) = gaps[j - 1];
                let d = (expected[i - 1] - (a + b) as f64 / 2.0).abs();
                if d < tolerance && cost[i - 1][j - 1] + d < best {
                    best = cost[i - 1][j - 1] + d;
                    how = 3;
                }
            }
            cost[i][j] = best;
            back[i][j] = how;
        }
    }
    let mut out = vec![None; n];
    let (mut i, mut j) = (n, m);
    while i > 0 {
        match back[i][j] {
            3 => {
                out[i - 1] = Some(j - 1);
                i -= 1;
                j -= 1;
            }
            2 => j -= 1,
            _ => i -= 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phoneme_split() {
        assert_eq!(split_phonemes("həlˈoʊ"), ["h", "ə", "l", "oʊ"]);
        assert_eq!(split_phonemes("wˈɜːld"), ["w", "ɜː", "l", "d"]);
        assert_eq!(split_phonemes("tʃˈɜːtʃ"), ["tʃ", "ɜː", "tʃ"]);
    }

    #[test]
    fn pauses_follow_the_audio() {
        use crate::tts::espeak::{PhonemizedClause, PhonemizedWord};
        use crate::tts::text::Word;
        let w = |t: &str, ipa: &str, i: usize| PhonemizedWord {
            word: Word { text: t.into(), char_start: i, char_end: i + t.len() },
            ipa: ipa.into(),
        };
        let p = Phonemized {
            clauses: vec![
                PhonemizedClause { words: vec![w("mama", "mˈɑːmə", 0)], end: Some(',') },
                PhonemizedClause { words: vec![w("papa", "pˈɑːpə", 6)], end: Some('.') },
            ],
        };
        // 0.2 s silence, 0.4 s tone, 0.5 s silence, 0.6 s tone, 0.3 s silence at 16 kHz.
        let rate = 16000;
        let mut s = vec![0.0f32; 3200];
        let tone = |n: usize| (0..n).map(|i| 0.3 * (i as f32 * 0.1).sin()).collect::<Vec<_>>();
        s.extend(tone(6400));
        s.extend(vec![0.0; 8000]);
        s.extend(tone(9600));
        s.extend(vec![0.0; 4800]);
        let t = estimate(&p, &s, rate);
        let dur = s.len() as f64 / rate as f64;
        assert!((t.words[0].start_s - 0.2).abs() < 0.03, "{:?}", t.words);
        assert!((t.words[0].end_s - 0.6).abs() < 0.03, "{:?}", t.words);
        // "papa" starts with a stop: its silent closure comes 50 ms before the sound.
        assert!((t.words[1].start_s - 1.05).abs() < 0.03, "{:?}", t.words);
        assert!((t.words[1].end_s - 1.7).abs() < 0.03, "{:?}", t.words);
        assert_eq!(t.phonemes.first().unwrap().start_s, 0.0);
        assert!((t.phonemes.last().unwrap().end_s - dur).abs() < 1e-9);
        for p in t.phonemes.windows(2) {
            assert!(p[0].end_s <= p[1].start_s + 1e-9 && p[0].start_s <= p[0].end_s);
        }
        assert_eq!(t.time_of_char(6), t.words[1].start_s);
    }
}
