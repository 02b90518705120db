//! The chunker: cuts the reply into pieces that can be spoken while the model is still writing.
//!
//! The first piece goes out as early as is natural: at the first clause break (a comma, semicolon, colon or dash
//! followed by a space) once it has a few words, or at the first sentence end if that comes sooner. After that,
//! whole sentences. A break is only taken once the character after it is known, which is what keeps "3.5",
//! "Dr. Smith", "e.g. this", "wait... what" and "example.com/a.b" whole; abbreviations and initials are recognised
//! by the word before the period. Text inside `*actions*`, `(...)` and `[...]` is not cut. Whatever is left is
//! flushed when the stream ends, and a run-on without any break is cut at a space after `max_chars`.
//!
//! Offsets are in `char`s, so that they mean the same thing to everyone downstream.

/// Tuning of the chunker.
#[derive(Debug, Clone)]
pub struct ChunkerOptions {
    /// Words needed before a clause break may end the first piece.
    pub first_clause_min_words: usize,
    /// A piece with no break at all is cut at a space after this many characters.
    pub max_chars: usize,
}

impl Default for ChunkerOptions {
    fn default() -> Self {
        ChunkerOptions { first_clause_min_words: 3, max_chars: 220 }
    }
}

/// A piece of display text, with the emotion marks that fell inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextChunk {
    pub text: String,
    /// (char offset in `text`, emotion).
    pub marks: Vec<(usize, String)>,
    /// Char offset of `text` in the whole reply.
    pub start: usize,
}

/// Words before a period that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "mt", "approx", "fig", "inc", "ltd", "co", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "ca", "cf", "al",
];

const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '»', '*'];

#[derive(Debug, Default)]
pub struct Chunker {
    opts: ChunkerOptions,
    buf: Vec<char>,
    marks: Vec<(usize, String)>,
    /// Char offset of `buf[0]` in the reply.
    start: usize,
    released: usize,
}

impl Chunker {
    pub fn new(opts: ChunkerOptions) -> Chunker {
        Chunker { opts, ..Chunker::default() }
    }

    /// Adds text; returns the pieces it completes.
    pub fn push(&mut self, text: &str) -> Vec<TextChunk> {
        self.buf.extend(text.chars());
        let mut out = Vec::new();
        while let Some(end) = self.boundary() {
            self.release(end, false, &mut out);
        }
        out
    }

    /// An emotion at the current end of the text.
    pub fn mark(&mut self, emotion: &str) {
        self.marks.push((self.buf.len(), emotion.to_owned()));
    }

    /// The stream ended: the rest, if there is any text or an emotion left.
    pub fn finish(&mut self) -> Vec<TextChunk> {
        let mut out = Vec::new();
        if !self.buf.is_empty() || !self.marks.is_empty() {
            self.release(self.buf.len(), true, &mut out);
        }
        out
    }

    /// Releases `buf[..end]`. A mark right at `end` belongs to the next piece (the feeling starts with what
    /// follows), unless this is the last piece.
    fn release(&mut self, end: usize, last: bool, out: &mut Vec<TextChunk>) {
        let piece: Vec<char> = self.buf.drain(..end).collect();
        let (taken, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.marks).into_iter().partition(|(at, _)| *at < end || last);
        self.marks = kept.into_iter().map(|(at, e)| (at - end, e)).collect();
        // Trim whitespace at both ends; marks move with the text.
        let lead = piece.iter().take_while(|c| c.is_whitespace()).count();
        let trail = piece[lead..].iter().rev().take_while(|c| c.is_whitespace()).count();
        let text: String = piece[lead..piece.len() - trail].iter().collect();
        let len = piece.len() - lead - trail;
        let marks = taken.into_iter().map(|(at, e)| (at.saturating_sub(lead).min(len), e)).collect::<Vec<_>>();
        let start = self.start + lead;
        self.start += end;
        if text.is_empty() && marks.is_empty() {
            return;
        }
        if !text.is_empty() {
            self.released += 1;
        }
        out.push(TextChunk { text, marks, start });
    }

    /// The end (exclusive) of the first complete piece in the buffer, if one is decided.
    fn boundary(&self) -> Option<usize> {
        let b = &self.buf;
        let mut depth_paren = 0i32;
        let mut depth_square = 0i32;
        let mut in_action = false;
        let mut last_space = None;
        for i in 0..b.len() {
            let c = b[i];
            match c {
                '(' => depth_paren += 1,
                ')' => depth_paren -= 1,
                '[' => depth_square += 1,
                ']' => depth_square -= 1,
                '*' => in_action = !in_action,
                _ => {}
            }
            if c.is_whitespace() {
                last_space = Some(i);
            }
            if c == '\n' {
                if b[..i].iter().any(|c| !c.is_whitespace()) {
                    return Some(i + 1);
                }
                continue;
            }
            if i >= self.opts.max_chars
                && let Some(s) = last_space
                && b[..s].iter().any(|c| !c.is_whitespace())
            {
                return Some(s + 1);
            }
            let enclosed = depth_paren > 0 || depth_square > 0 || in_action;
            if enclosed {
                continue;
            }
            if matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？') {
                if let Some(end) = self.sentence_end(i) {
                    return end;
                }
            } else if self.released == 0
                && matches!(c, ',' | ';' | ':' | '—' | '–')
                && let Some(&next) = b.get(i + 1)
                && next.is_whitespace()
                && words(&b[..i]) >= self.opts.first_clause_min_words
            {
                return Some(i + 1);
            }
        }
        None
    }

    /// For terminal punctuation at `i`: `None` when it is not a sentence end; `Some(None)` when the decision needs
    /// text that has not arrived; `Some(Some(end))` for a sentence end.
    fn sentence_end(&self, i: usize) -> Option<Option<usize>> {
        let b = &self.buf;
        if i > 0 && matches!(b[i - 1], '.' | '!' | '?' | '…') {
            return None; // inside a run already looked at
        }
        let mut j = i;
        while j + 1 < b.len() && matches!(b[j + 1], '.' | '!' | '?' | '…') {
            j += 1;
        }
        let run: String = b[i..=j].iter().collect();
        let mut end = j + 1;
        while end < b.len() && CLOSERS.contains(&b[end]) && b[end] != '*' {
            end += 1;
        }
        if matches!(b[i], '。' | '！' | '？') {
            return Some(Some(end));
        }
        let Some(&next) = b.get(end) else { return Some(None) };
        if !next.is_whitespace() {
            return None; // "3.5", "example.com", "e.g" inside, "?!" followed by text
        }
        if run.contains("..") || run.contains('…') {
            // An ellipsis is a pause inside a thought; a new line after it still ends the piece.
            return if next == '\n' { Some(Some(end)) } else { None };
        }
        if run == "." {
            let word_start = b[..i].iter().rposition(|c| c.is_whitespace()).map_or(0, |p| p + 1);
            let word: String = b[word_start..i].iter().collect();
            let bare = word.trim_start_matches(|c: char| !c.is_alphanumeric());
            let lower = bare.to_lowercase();
            let is_initial = bare.chars().count() == 1 && bare.chars().all(char::is_uppercase);
            // e.g, i.e, U.S, p.m: short letter groups joined by periods (not a URL or a file name).
            let dotted = bare.contains('.')
                && bare.split('.').all(|g| (1..=2).contains(&g.chars().count()) && g.chars().all(char::is_alphabetic));
            let list_number = !bare.is_empty()
                && bare.chars().all(|c| c.is_ascii_digit())
                && b[..word_start].iter().rev().take_while(|c| **c != '\n').all(|c| c.is_whitespace());
            if ABBREVIATIONS.contains(&lower.as_str()) || is_initial || dotted || list_number {
                return None;
            }
        }
        Some(Some(end))
    }
}

fn words(cs: &[char]) -> usize {
    let mut n = 0;
    let mut inside = false;
    for c in cs {
        if c.is_alphanumeric() {
            if !inside {
                n += 1;
            }
            inside = true;
        } else if c.is_whitespace() {
            inside = false;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `text` one char at a time (the worst case for lookahead); returns the pieces.
    fn pieces(text: &str) -> Vec<String> {
        let mut c = Chunker::new(ChunkerOptions::default());
        let mut out = Vec::new();
        for ch in text.chars() {
            out.extend(c.push(&ch.to_string()).into_iter().map(|p| p.text));
        }
        out.extend(c.finish().into_iter().map(|p| p.text));
        out
    }

    #[test]
    fn first_clause_then_sentences() {
        assert_eq!(
            pieces("Well, you know what, I think so. It costs 3.5 dollars! Really?"),
            vec!["Well, you know what,", "I think so.", "It costs 3.5 dollars!", "Really?"]
        );
    }

    #[test]
    fn never_splits_numbers_abbreviations_ellipses_urls() {
        assert_eq!(
            pieces("Dr. Smith met Mr. J. Doe at 3.30 p.m. today. Next."),
            vec!["Dr. Smith met Mr. J. Doe at 3.30 p.m. today.", "Next."]
        );
        assert_eq!(
            pieces("Try fruit e.g. apples. Wait... what? See example.com/a.b?x=1. Done"),
            vec!["Try fruit e.g. apples.", "Wait... what?", "See example.com/a.b?x=1.", "Done"]
        );
    }

    #[test]
    fn actions_and_quotes_stay_whole() {
        assert_eq!(
            pieces("*waves. smiles.* Hi there. She said \"Go.\" Then left."),
            vec!["*waves. smiles.* Hi there.", "She said \"Go.\"", "Then left."]
        );
    }

    #[test]
    fn marks_move_with_trimmed_text() {
        let mut c = Chunker::new(ChunkerOptions::default());
        let mut out = c.push("  Hi ");
        c.mark("😊");
        out.extend(c.push("there. Bye"));
        c.mark("😢");
        out.extend(c.finish());
        assert_eq!(out[0], TextChunk { text: "Hi there.".into(), marks: vec![(3, "😊".into())], start: 2 });
        assert_eq!(out[1], TextChunk { text: "Bye".into(), marks: vec![(3, "😢".into())], start: 12 });
    }
}
