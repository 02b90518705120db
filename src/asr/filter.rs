//! Whisper's hallucinations on silence and noise: it was trained on subtitles, so quiet or noisy audio often comes
//! out as "Thank you.", "[BLANK_AUDIO]", "(music)" or a phrase repeated to the end of the window. These never
//! reach the conversation.

use super::Segment;

/// Whole-segment texts Whisper produces from non-speech (compared lower-case, without punctuation).
const PHANTOMS: &[&str] = &[
    "thank you",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "thanks for watching and ill see you next time",
    "please subscribe",
    "subscribe",
    "you",
    "bye",
    "so",
    "um",
    "uh",
    "oh",
    "hmm",
];

fn letters(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a segment's text is a non-speech annotation: `[BLANK_AUDIO]`, `(music)`, `*sigh*`, `♪ ♪`.
fn is_annotation(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() || !t.chars().any(char::is_alphanumeric) {
        return true;
    }
    let mut depth = 0i32;
    let mut outside = false;
    for c in t.chars() {
        match c {
            '[' | '(' | '{' | '<' => depth += 1,
            ']' | ')' | '}' | '>' => depth -= 1,
            '*' | '♪' => {}
            c if depth <= 0 && c.is_alphanumeric() => outside = true,
            _ => {}
        }
    }
    !outside || (t.starts_with('*') && t.ends_with('*'))
}

/// Keeps the segments that hold speech: drops annotations, and stock phrases when the model itself thought the
/// audio held no speech or when they are the whole transcript (a lone "Thank you." from a pause).
pub fn clean_segments(segments: Vec<(Segment, f32)>) -> Vec<Segment> {
    let only_one = segments.len() == 1;
    segments
        .into_iter()
        .filter(|(s, no_speech)| {
            if is_annotation(&s.text) {
                return false;
            }
            let phantom = PHANTOMS.contains(&letters(&s.text).as_str());
            !(phantom && (only_one || *no_speech > 0.3))
        })
        .map(|(s, _)| s)
        .collect()
}

/// Collapses a phrase repeated three or more times in a row ("I'm sorry. I'm sorry. I'm sorry. ...") to one, and
/// a whole transcript that is one phrase of three or more words said twice ("Tell me a story Tell me a story",
/// whisper tiny's echo of a short utterance) to the phrase.
pub fn collapse_repeats(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let key = |w: &str| letters(w);
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    'outer: while i < words.len() {
        for n in 1..=8.min((words.len() - i) / 3) {
            let same = |a: usize, b: usize| (0..n).all(|k| key(words[a + k]) == key(words[b + k]));
            let mut reps = 1;
            while i + (reps + 1) * n <= words.len() && same(i, i + reps * n) {
                reps += 1;
            }
            if reps >= 3 {
                out.extend_from_slice(&words[i..i + n]);
                i += reps * n;
                continue 'outer;
            }
        }
        out.push(words[i]);
        i += 1;
    }
    let half = out.len() / 2;
    if out.len() >= 6 && out.len() % 2 == 0 && (0..half).all(|k| key(out[k]) == key(out[half + k])) {
        out.truncate(half);
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(text: &str) -> Segment {
        Segment { start_s: 0.0, end_s: 1.0, text: text.into() }
    }

    #[test]
    fn drops_phantoms_keeps_speech() {
        assert!(clean_segments(vec![(seg(" [BLANK_AUDIO]"), 0.0)]).is_empty());
        assert!(clean_segments(vec![(seg(" (upbeat music)"), 0.0)]).is_empty());
        assert!(clean_segments(vec![(seg(" Thank you."), 0.0)]).is_empty());
        assert!(clean_segments(vec![(seg(" ♪ ♪"), 0.0)]).is_empty());
        let kept = clean_segments(vec![(seg(" Hello there."), 0.1), (seg(" Thank you."), 0.05)]);
        assert_eq!(kept.len(), 2, "a real thank-you after speech stays");
        assert_eq!(clean_segments(vec![(seg(" I [laughs] agree."), 0.0)]).len(), 1);
    }

    #[test]
    fn repeats_collapse() {
        assert_eq!(collapse_repeats("I'm sorry. I'm sorry. I'm sorry. I'm sorry."), "I'm sorry.");
        assert_eq!(collapse_repeats("no no no"), "no");
        assert_eq!(collapse_repeats("ask not what you can do, ask what"), "ask not what you can do, ask what");
        assert_eq!(collapse_repeats("very very good"), "very very good");
        assert_eq!(collapse_repeats("Tell me a story Tell me a story."), "Tell me a story");
        assert_eq!(collapse_repeats("I'm sorry, I'm sorry."), "I'm sorry, I'm sorry.", "short phrases are said twice");
        assert_eq!(
            collapse_repeats("tell me a story, tell me a story about"),
            "tell me a story, tell me a story about"
        );
    }
}
