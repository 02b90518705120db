//! Phonemes from espeak-ng, run as a separate program (espeak-ng is GPL-3.0; Persona never links it).
//!
//! One process per piece: each clause goes on its own input line and comes back as one line of IPA, words
//! separated by spaces. espeak-ng joins some words ("of the" → `ʌvðə`) and splits others ("42" → `fˈoːɹɾi tˈuː`);
//! to keep a phoneme string per input word (so timings map back to words), such clauses are matched against the
//! words phonemized one by one, and the clause's own (context-aware) phonemes are split where the letters agree.

use std::io::Write;
use std::process::{Command, Stdio};

use super::TtsError;
use super::text::{Clause, Word};

/// The espeak-ng program and the language (voice) it phonemizes in.
#[derive(Debug, Clone)]
pub struct Espeak {
    program: String,
    language: String,
}

/// A word and its IPA (stress marks included).
#[derive(Debug, Clone, PartialEq)]
pub struct PhonemizedWord {
    pub word: Word,
    pub ipa: String,
}

/// A clause's words with their phonemes, and the punctuation that ends it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhonemizedClause {
    pub words: Vec<PhonemizedWord>,
    pub end: Option<char>,
}

/// A whole piece, phonemized.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Phonemized {
    pub clauses: Vec<PhonemizedClause>,
}

impl Phonemized {
    /// All words in order.
    pub fn words(&self) -> impl Iterator<Item = &PhonemizedWord> {
        self.clauses.iter().flat_map(|c| c.words.iter())
    }
}

impl Espeak {
    /// Checks that the program runs (`--version`), so a missing espeak-ng is reported when the engine is set up
    /// rather than at the first sentence.
    pub fn new(program: &str, language: &str) -> Result<Espeak, TtsError> {
        let program = if program.trim().is_empty() { "espeak-ng" } else { program.trim() };
        let missing = |reason: String| TtsError::EspeakMissing { program: program.to_owned(), reason };
        let out =
            Command::new(program).arg("--version").stdin(Stdio::null()).output().map_err(|e| missing(e.to_string()))?;
        if !out.status.success() {
            return Err(missing(format!("`{program} --version` exited with {}", out.status)));
        }
        let language = if language.trim().is_empty() { "en-us" } else { language.trim() };
        Ok(Espeak { program: program.to_owned(), language: language.to_owned() })
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    /// Runs espeak-ng on `lines` (one clause per line) and returns one line of IPA per input line.
    fn run(&self, lines: &[String]) -> Result<Vec<String>, TtsError> {
        let mut child = Command::new(&self.program)
            .args(["-q", "--ipa", "-b", "1", "-v", &self.language])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TtsError::EspeakMissing { program: self.program.clone(), reason: e.to_string() })?;
        let input = lines.join("\n") + "\n";
        let mut stdin = child.stdin.take().ok_or_else(|| TtsError::Espeak("no stdin".into()))?;
        // Write from another thread: a long input could fill the output pipe while we are still writing.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().map_err(|e| TtsError::Espeak(e.to_string()))?;
        let _ = writer.join();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(TtsError::Espeak(format!(
                "language \"{}\": {}",
                self.language,
                if err.is_empty() { out.status.to_string() } else { err }
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().map(clean_ipa).collect())
    }

    /// Phonemizes clauses, keeping one IPA string per input word.
    pub fn phonemize(&self, clauses: &[Clause]) -> Result<Phonemized, TtsError> {
        let lines: Vec<String> =
            clauses.iter().map(|c| c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")).collect();
        // The clauses, then every word on its own line, in one run of espeak-ng.
        let mut all = lines.clone();
        all.extend(clauses.iter().flat_map(|c| c.words.iter().map(|w| w.text.clone())));
        let mut got = self.run(&all)?;
        let n_words = all.len() - lines.len();
        let mut iso: Vec<String> =
            if got.len() == all.len() { got.split_off(lines.len()) } else { self.run(&all[lines.len()..])? };
        if iso.len() != n_words {
            iso = Vec::with_capacity(n_words);
            for w in &all[lines.len()..] {
                iso.push(self.run(std::slice::from_ref(w))?.join(" "));
            }
        }
        let mut iso_at = 0;
        if got.len() != lines.len() {
            // espeak-ng broke or merged lines in a way we cannot map: do one clause at a time.
            got = Vec::with_capacity(lines.len());
            for l in &lines {
                got.push(self.run(std::slice::from_ref(l))?.join(" "));
            }
        }
        let mut out = Phonemized::default();
        for (clause, ipa) in clauses.iter().zip(got) {
            let tokens: Vec<&str> = ipa.split_whitespace().collect();
            let isolated = &iso[iso_at..iso_at + clause.words.len()];
            iso_at += clause.words.len();
            // Equal counts map one to one, unless a word became several (numbers) while others merged.
            let words = if tokens.len() == clause.words.len() && isolated.iter().all(|s| !s.trim().contains(' ')) {
                clause
                    .words
                    .iter()
                    .zip(&tokens)
                    .map(|(w, t)| PhonemizedWord { word: w.clone(), ipa: (*t).to_owned() })
                    .collect()
            } else {
                split_by_isolated(&clause.words, &ipa, isolated)
            };
            out.clauses.push(PhonemizedClause { words, end: clause.end });
        }
        Ok(out)
    }
}

/// espeak-ng marks switches to another language's rules as `(fr)...(en)`; the markers are not phonemes.
fn clean_ipa(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut depth = 0;
    for c in line.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = (depth - 1).max(0),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

fn is_stress(c: char) -> bool {
    matches!(c, 'ˈ' | 'ˌ')
}

/// Splits a clause's IPA into one part per word, guided by the words phonemized in isolation: the two phoneme
/// streams (stress marks and spaces left out) are aligned by edit distance, and the clause's phonemes are cut
/// where the isolated words' boundaries fall. The clause's own phonemes keep espeak-ng's context (weak forms,
/// linking), the isolated ones only give the boundaries.
fn split_by_isolated(words: &[Word], clause_ipa: &str, isolated: &[String]) -> Vec<PhonemizedWord> {
    let clause: Vec<char> = clause_ipa.chars().filter(|c| !c.is_whitespace()).collect();
    // Positions in `clause` of the phoneme characters (not stress marks).
    let pos: Vec<usize> = (0..clause.len()).filter(|&i| !is_stress(clause[i])).collect();
    let a: Vec<char> = pos.iter().map(|&i| clause[i]).collect();
    let mut b = Vec::new();
    let mut bounds = Vec::new(); // start of each word in `b`
    for i in 0..words.len() {
        bounds.push(b.len());
        let iso = isolated.get(i).map_or("", |s| s.as_str());
        b.extend(iso.chars().filter(|&c| !is_stress(c) && !c.is_whitespace()));
    }
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0u32; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i as u32;
    }
    for j in 0..=m {
        d[0][j] = j as u32;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + u32::from(a[i - 1] != b[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    // at[j]: how many clause phonemes come before isolated phoneme j.
    let mut at = vec![0usize; m + 1];
    let (mut i, mut j) = (n, m);
    at[m] = n;
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && d[i][j] == d[i - 1][j - 1] + u32::from(a[i - 1] != b[j - 1]) {
            at[j - 1] = i - 1;
            i -= 1;
            j -= 1;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1 {
            i -= 1;
        } else {
            at[j - 1] = i;
            j -= 1;
        }
    }
    // Cut positions in `clause`: before the first phoneme of each word, with its stress mark.
    let cut = |k: usize| -> usize {
        if k == 0 {
            return 0;
        }
        let ai = at[bounds[k]].min(n);
        let mut c = if ai == n { clause.len() } else { pos[ai] };
        while c > 0 && is_stress(clause[c - 1]) {
            c -= 1;
        }
        c
    };
    let mut cuts: Vec<usize> = (0..words.len()).map(cut).collect();
    cuts.push(clause.len());
    for k in 1..cuts.len() {
        cuts[k] = cuts[k].max(cuts[k - 1]);
    }
    words
        .iter()
        .enumerate()
        .map(|(k, w)| PhonemizedWord { word: w.clone(), ipa: clause[cuts[k]..cuts[k + 1]].iter().collect() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tts::text::clauses;

    #[test]
    fn words_keep_their_phonemes() {
        let Ok(e) = Espeak::new("espeak-ng", "en-us") else {
            assert!(
                std::env::var("PERSONA_REQUIRE_MODELS").as_deref() != Ok("1"),
                "espeak-ng is needed (apt-get install espeak-ng)"
            );
            return;
        };
        let p = e.phonemize(&clauses("Hello world, one of the best. I am 42!").unwrap()).unwrap();
        let words: Vec<(&str, &str)> = p.words().map(|w| (w.word.text.as_str(), w.ipa.as_str())).collect();
        assert_eq!(words.len(), 9, "{words:?}");
        assert_eq!(words[0], ("Hello", "həlˈoʊ"));
        assert_eq!(words[3], ("of", "ʌv"));
        assert_eq!(words[4], ("the", "ðə"));
        assert!(words[8].1.contains("fˈoːɹɾi"), "{words:?}");
        assert_eq!(p.clauses[0].end, Some(','));
    }

    #[test]
    fn missing_program_says_how_to_install() {
        let e = Espeak::new("/nonexistent/espeak-ng", "en-us").unwrap_err();
        assert!(matches!(e, TtsError::EspeakMissing { .. }));
        assert!(e.to_string().contains("apt-get install espeak-ng"), "{e}");
    }

    #[test]
    fn unknown_language_is_an_error() {
        let Ok(e) = Espeak::new("espeak-ng", "xx-nope") else { return };
        let err = e.phonemize(&clauses("hi").unwrap()).unwrap_err();
        assert!(err.to_string().contains("xx-nope"), "{err}");
    }
}
