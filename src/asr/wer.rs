//! Word error rate, the standard measure of how well speech was recognised: (substitutions + deletions +
//! insertions) / words in the reference, after normalising what does not change the words heard: case,
//! punctuation, hyphens, and numbers written as digits ("42" is "forty two").

use crate::llm::speech::cardinal;

/// The words of `text` as they would be spoken: lower case, no punctuation, digits spelled out.
pub fn normalize(text: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let digit_around = |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| c.is_ascii_digit());
        match c {
            // "3.5" and "1,000" keep their separators; a sentence's full stop does not.
            '.' | ',' if digit_around(i.checked_sub(1)) && digit_around(Some(i + 1)) => spaced.push(c),
            '%' => spaced.push_str(" percent "),
            '&' => spaced.push_str(" and "),
            '\'' | '’' => {}
            c if c.is_alphanumeric() => spaced.extend(c.to_lowercase()),
            _ => spaced.push(' '),
        }
    }
    let mut words = Vec::new();
    for w in spaced.split_whitespace() {
        if w.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            words.extend(number_words(w));
        } else {
            words.push(w.to_owned());
        }
    }
    words
}

/// "1,234.5" → one thousand two hundred thirty four point five; "3rd" and other suffixes keep the digits' words.
fn number_words(token: &str) -> Vec<String> {
    let digits_end = token.find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.')).unwrap_or(token.len());
    let (num, rest) = token.split_at(digits_end);
    let mut out = Vec::new();
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    let int: String = int.chars().filter(char::is_ascii_digit).collect();
    // Numbers are spelled as the speech side says them (`llm::speech::cardinal`), split into plain words.
    let spelled = |n: u64, out: &mut Vec<String>| out.extend(cardinal(n).split([' ', '-']).map(str::to_owned));
    match int.parse::<u64>() {
        Ok(n) if n < 1_000_000_000_000_000 => spelled(n, &mut out),
        _ => int.chars().filter_map(|c| c.to_digit(10)).for_each(|d| spelled(d as u64, &mut out)),
    }
    if let Some(f) = frac.filter(|f| !f.is_empty()) {
        out.push("point".into());
        f.chars().filter_map(|c| c.to_digit(10)).for_each(|d| spelled(d as u64, &mut out));
    }
    if !rest.is_empty() && !matches!(rest, "st" | "nd" | "rd" | "th" | "s") {
        out.push(rest.to_owned());
    }
    out
}

/// Word error rate of `hypothesis` against `reference`, both normalised; 0.0 is perfect. An empty reference
/// gives 0.0 for an empty hypothesis and 1.0 otherwise.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f32 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    edit_distance(&r, &h) as f32 / r.len() as f32
}

/// Word-level Levenshtein distance.
pub fn edit_distance(a: &[String], b: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, wa) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, wb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(wa != wb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_punctuation_numbers() {
        assert_eq!(word_error_rate("Hello, World!", "hello world"), 0.0);
        assert_eq!(word_error_rate("I have 42 cats.", "I have forty-two cats"), 0.0);
        assert_eq!(word_error_rate("It costs 1,250 dollars", "it costs one thousand two hundred fifty dollars"), 0.0);
        assert_eq!(word_error_rate("pi is 3.14", "Pi is three point one four."), 0.0);
        assert_eq!(word_error_rate("Don't stop", "dont stop"), 0.0);
        assert_eq!(word_error_rate("50% more", "fifty percent more"), 0.0);
    }

    #[test]
    fn counts_errors() {
        assert_eq!(word_error_rate("a b c d", "a x c d"), 0.25);
        assert_eq!(word_error_rate("a b c d", "a c d"), 0.25);
        assert_eq!(word_error_rate("a b c d", "a b c d e f"), 0.5);
        assert_eq!(word_error_rate("", ""), 0.0);
        assert_eq!(word_error_rate("", "x"), 1.0);
        assert_eq!(word_error_rate("a", ""), 1.0);
    }
}
