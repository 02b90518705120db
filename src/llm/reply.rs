//! [`ReplyProcessor`]: what the pipeline feeds the reply into, token by token.
//!
//! tokens → tag parser (emotions, speaker prefix) → chunker (speakable pieces, early) → speech normalisation →
//! [`SpeechChunk`]s. Along the way it reports the display text as it grows and each emotion as it fires, for the
//! screen, and keeps the whole reply for the history and the log.

use super::chunker::{Chunker, ChunkerOptions, TextChunk};
use super::speech::normalise_with_marks;
use super::tags::{TagEvent, TagOptions, TagParser};
use crate::character::Character;

/// A piece of the reply ready to be spoken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechChunk {
    /// 0, 1, 2... within the reply.
    pub index: usize,
    /// What to say: normalised for speech (numbers, currency, times, symbols as words; no markdown, actions or
    /// emoji). May be empty when the piece only carries emotions (a tag at the very end of the reply).
    pub text: String,
    /// The same piece as shown on screen (tags and speaker prefix removed, everything else as written).
    pub display_text: String,
    /// Emotions that fire in this piece: (char offset into `text`, tag value such as "😊"). The offset is where the
    /// feeling starts in the spoken words; the voice maps it to a time in its audio.
    pub emotions: Vec<(usize, String)>,
    /// Char offset of `display_text` in the whole reply's display text: with [`SpeechChunk::reply_offset_at`], how
    /// playback turns "heard up to here" into a place in the reply for [`super::History::push_interrupted`].
    pub display_start: usize,
}

impl SpeechChunk {
    /// The char offset in the whole reply's display text that corresponds to having heard `spoken_chars` of `text`
    /// (proportionally: spoken and display text differ where numbers were spelled out).
    pub fn reply_offset_at(&self, spoken_chars: usize) -> usize {
        let spoken = self.text.chars().count();
        let shown = self.display_text.chars().count();
        if spoken == 0 || spoken_chars >= spoken {
            return self.display_start + shown;
        }
        self.display_start + (spoken_chars * shown).div_ceil(spoken).min(shown)
    }
}

/// What the processor reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyEvent {
    /// More display text (for the chat window and subtitles as they are typed).
    Text(String),
    /// An emotion tag was read at this point of the display text.
    Emotion(String),
    /// A piece ready for the voice.
    Chunk(SpeechChunk),
    /// The model began writing the user's part; nothing more of this reply will be used. Cancel the request.
    Stopped,
}

/// Settings of the processor.
#[derive(Debug, Clone, Default)]
pub struct ReplyOptions {
    pub tags: TagOptions,
    pub chunker: ChunkerOptions,
}

impl ReplyOptions {
    /// Options for a character: its name (prefix stripping), its emotion set, the user's name.
    pub fn for_character(character: &Character, user_name: &str) -> ReplyOptions {
        ReplyOptions {
            tags: TagOptions {
                character_name: character.info.name.clone(),
                user_name: user_name.to_owned(),
                emotion_values: character.info.emotions.keys().cloned().collect(),
                ..TagOptions::default()
            },
            chunker: ChunkerOptions::default(),
        }
    }
}

pub struct ReplyProcessor {
    tags: TagParser,
    chunker: Chunker,
    display: String,
    display_chars: usize,
    emotions: Vec<(usize, String)>,
    chunks: usize,
    started: bool,
    stopped: bool,
}

impl ReplyProcessor {
    pub fn new(opts: ReplyOptions) -> ReplyProcessor {
        ReplyProcessor {
            tags: TagParser::new(opts.tags),
            chunker: Chunker::new(opts.chunker),
            display: String::new(),
            display_chars: 0,
            emotions: Vec::new(),
            chunks: 0,
            started: false,
            stopped: false,
        }
    }

    /// Feeds a piece of the reply as it arrives.
    pub fn push(&mut self, delta: &str) -> Vec<ReplyEvent> {
        let events = self.tags.push(delta);
        self.apply(events)
    }

    /// The reply is complete (or cut off): flushes what is left.
    pub fn finish(&mut self) -> Vec<ReplyEvent> {
        let held = self.tags.finish();
        let mut out = self.apply(held);
        let rest = self.chunker.finish();
        self.chunks_out(rest, &mut out);
        out
    }

    /// The whole reply as displayed so far (tags and prefix removed), trimmed: what history and the log keep.
    pub fn display_text(&self) -> &str {
        self.display.trim_end()
    }

    /// Every emotion of the reply so far with its char offset in [`Self::display_text`].
    pub fn emotions(&self) -> &[(usize, String)] {
        &self.emotions
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn apply(&mut self, events: Vec<TagEvent>) -> Vec<ReplyEvent> {
        let mut out = Vec::new();
        for e in events {
            if self.stopped {
                break;
            }
            match e {
                TagEvent::Text(mut t) => {
                    if !self.started {
                        t = t.trim_start().to_owned();
                        if t.is_empty() {
                            continue;
                        }
                        self.started = true;
                    }
                    // A tag taken out between two spaces leaves one space, not two.
                    if self.display.ends_with(' ') {
                        t = t.trim_start_matches(' ').to_owned();
                        if t.is_empty() {
                            continue;
                        }
                    }
                    self.display.push_str(&t);
                    self.display_chars += t.chars().count();
                    out.push(ReplyEvent::Text(t.clone()));
                    let ready = self.chunker.push(&t);
                    self.chunks_out(ready, &mut out);
                }
                TagEvent::Emotion(e) => {
                    self.emotions.push((self.display_chars, e.clone()));
                    self.chunker.mark(&e);
                    out.push(ReplyEvent::Emotion(e));
                }
                TagEvent::Stop => {
                    self.stopped = true;
                    out.push(ReplyEvent::Stopped);
                }
            }
        }
        out
    }

    fn chunks_out(&mut self, pieces: Vec<TextChunk>, out: &mut Vec<ReplyEvent>) {
        for p in pieces {
            let (text, emotions) = normalise_with_marks(&p.text, &p.marks);
            if text.is_empty() && emotions.is_empty() {
                continue; // only markup or emoji: nothing to say
            }
            out.push(ReplyEvent::Chunk(SpeechChunk {
                index: self.chunks,
                text,
                display_text: p.text,
                emotions,
                display_start: p.start,
            }));
            self.chunks += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks_of(pieces: &[&str]) -> Vec<SpeechChunk> {
        let mut p = ReplyProcessor::new(ReplyOptions {
            tags: TagOptions { character_name: "Mira".into(), ..TagOptions::default() },
            ..ReplyOptions::default()
        });
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(p.push(piece));
        }
        out.extend(p.finish());
        out.into_iter().filter_map(|e| if let ReplyEvent::Chunk(c) = e { Some(c) } else { None }).collect()
    }

    /// However the stream is cut into tokens, the same pieces come out with the same emotions.
    #[test]
    fn token_boundaries_never_change_the_pieces() {
        let reply = "[Mira]: [EMOTION:🤩] Oh wow, Dr. Ng paid $3.50 at 3:30 pm, e.g. for tea... \
                     [EMOTION:😅] Visit https://tea.example.com/a.b now! 50% off *grins* 🍵 The end.";
        let whole = chunks_of(&[reply]);
        assert!(whole.len() >= 3, "{whole:?}");
        let chars: Vec<String> = reply.chars().map(String::from).collect();
        assert_eq!(chunks_of(&chars.iter().map(String::as_str).collect::<Vec<_>>()), whole, "char by char");
        for (cut, _) in reply.char_indices().skip(1) {
            assert_eq!(chunks_of(&[&reply[..cut], &reply[cut..]]), whole, "cut at byte {cut}");
        }
        let texts: Vec<&str> = whole.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Oh wow, Doctor Ng paid three dollars and fifty cents at three thirty P M,",
                "for example for tea... Visit tea dot example dot com slash a dot b now!",
                "fifty percent off The end.",
            ]
        );
        assert_eq!(whole[0].emotions, vec![(0, "🤩".to_string())]);
        assert_eq!(whole[1].emotions, vec![(23, "😅".to_string())], "before \"Visit\"");
    }

    #[test]
    fn end_to_end_pieces() {
        let mut p = ReplyProcessor::new(ReplyOptions {
            tags: TagOptions { character_name: "Mira".into(), ..TagOptions::default() },
            ..ReplyOptions::default()
        });
        let mut chunks = Vec::new();
        for tok in [
            "[Mi",
            "ra] ",
            "[EMOTION:",
            "😲]",
            " Wait",
            ",",
            " octopuses",
            " have",
            " 3",
            " hearts",
            "?",
            " [EMO",
            "TION:😊] That",
            "'s $5",
            ".",
        ] {
            for e in p.push(tok) {
                if let ReplyEvent::Chunk(c) = e {
                    chunks.push(c);
                }
            }
        }
        for e in p.finish() {
            if let ReplyEvent::Chunk(c) = e {
                chunks.push(c);
            }
        }
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["Wait, octopuses have three hearts?", "That's five dollars."]);
        assert_eq!(chunks[0].emotions, vec![(0, "😲".into())]);
        assert_eq!(chunks[1].emotions, vec![(0, "😊".into())]);
        assert_eq!(p.display_text(), "Wait, octopuses have 3 hearts? That's $5.");
        assert_eq!(chunks[1].display_start, 31);
        assert_eq!(&p.display_text()[31..], "That's $5.");
    }
}
