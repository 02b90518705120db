//! The little text clean-up synthesis itself needs: words with their char offsets, clauses ending at punctuation,
//! emoji and symbols dropped. Numbers are left to espeak-ng; fuller normalisation happens before text gets here.

use super::{MAX_CHARS, TtsError};

/// A word of the input and where it is (char offsets, so offsets from the LLM's text map onto it).
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub char_start: usize,
    pub char_end: usize,
}

/// Words spoken as one breath group, and the punctuation that ends it (`,` `.` `!` `?` `;` `:`), which both
/// models use to shape the pause and the intonation.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub words: Vec<Word>,
    pub end: Option<char>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Characters that may sit inside a word when word characters are on both sides ("don't", "well-known", "3.5").
fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '’' | '-' | '.' | ',')
}

/// The punctuation a clause ends with, as the models know it.
fn clause_end(c: char) -> Option<char> {
    match c {
        ',' | '.' | '!' | '?' | ';' | ':' => Some(c),
        '—' | '–' | '(' | ')' => Some(','),
        '…' => Some('.'),
        '\n' => Some('.'),
        _ => None,
    }
}

/// Splits `text` into clauses of words. Errors for empty text, text with nothing speakable, and text over
/// [`MAX_CHARS`].
pub fn clauses(text: &str) -> Result<Vec<Clause>, TtsError> {
    if text.trim().is_empty() {
        return Err(TtsError::EmptyText);
    }
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > MAX_CHARS {
        return Err(TtsError::TooLong { chars: chars.len() });
    }
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_word_char(c) {
            let start = i;
            let mut end = i + 1;
            while end < chars.len() {
                if is_word_char(chars[end]) {
                    end += 1;
                } else if is_joiner(chars[end])
                    && end + 1 < chars.len()
                    && is_word_char(chars[end + 1])
                    // "3.5" and "5,000" but not "end.Next" or "a,b": dots and commas join digits only.
                    && (!matches!(chars[end], '.' | ',') || (chars[end - 1].is_numeric() && chars[end + 1].is_numeric()))
                {
                    end += 2;
                } else {
                    break;
                }
            }
            let word: String = chars[start..end].iter().map(|&c| if c == '’' { '\'' } else { c }).collect();
            current.push(Word { text: word, char_start: start, char_end: end });
            i = end;
        } else {
            if let Some(p) = clause_end(c) {
                if !current.is_empty() {
                    out.push(Clause { words: std::mem::take(&mut current), end: Some(p) });
                } else if let Some(last) = out.last_mut() {
                    // "Wait?!" or "so... then": keep the stronger mark of a run.
                    if matches!(p, '!' | '?') {
                        last.end = Some(p);
                    }
                }
            }
            i += 1;
        }
    }
    if !current.is_empty() {
        out.push(Clause { words: current, end: None });
    }
    if out.is_empty() {
        return Err(TtsError::NothingToSay(text.chars().take(80).collect()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_clauses_and_offsets() {
        let text = "Héllo 😊 world, it's 3.5 degrees!  Don’t—stop";
        let c = clauses(text).unwrap();
        assert_eq!(c.len(), 4);
        let words: Vec<&str> = c.iter().flat_map(|c| c.words.iter().map(|w| w.text.as_str())).collect();
        assert_eq!(words, ["Héllo", "world", "it's", "3.5", "degrees", "Don't", "stop"]);
        assert_eq!(c[0].end, Some(','));
        assert_eq!(c[1].end, Some('!'));
        assert_eq!(c[2].end, Some(','), "a dash is a pause");
        let w = &c[0].words[1];
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars[w.char_start..w.char_end].iter().collect::<String>(), "world");
    }

    #[test]
    fn bad_text() {
        assert!(matches!(clauses("  \n"), Err(TtsError::EmptyText)));
        assert!(matches!(clauses("😊🔥 ✨!"), Err(TtsError::NothingToSay(_))));
        assert!(matches!(clauses(&"a ".repeat(2500)), Err(TtsError::TooLong { chars: 5000 })));
    }
}
