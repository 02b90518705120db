//! The tag parser: runs over the token stream and takes out what is not meant to be said.
//!
//! - Emotion tags, `[EMOTION:😊]` (the tag names are configurable, matched without regard to case), and bare
//!   `[😊]` when the value is one the character knows. They become [`TagEvent::Emotion`] at their place in the text.
//! - A leading speaker prefix, `[Mira]`, `[Mira]:` or `Mira:`, which models copy from chat transcripts.
//! - `[User]` (the user's name) after the reply has begun: the model has started to write the user's next line
//!   itself, so the reply ends there ([`TagEvent::Stop`]).
//!
//! Tags may arrive split across any number of tokens; text is held back only while it could still be a tag (a `[`
//! not yet closed, at most `max_tag_chars` long, on one line), so ordinary text flows through at once.

/// What the parser knows about the conversation.
#[derive(Debug, Clone)]
pub struct TagOptions {
    /// Names of emotion tags, as in `[EMOTION:x]`.
    pub tag_names: Vec<String>,
    /// Values accepted on their own in brackets (`[😊]`): the character's emotion set.
    pub emotion_values: Vec<String>,
    /// The character's name, stripped when the reply starts with it.
    pub character_name: String,
    /// The user's name: `[User]` inside a reply ends it.
    pub user_name: String,
    /// A `[` not closed within this many characters is ordinary text.
    pub max_tag_chars: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            tag_names: vec!["EMOTION".into()],
            emotion_values: Vec::new(),
            character_name: String::new(),
            user_name: "User".into(),
            max_tag_chars: 32,
        }
    }
}

/// What comes out of the parser, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagEvent {
    Text(String),
    Emotion(String),
    /// The reply is over (the model began to speak for the user); ignore whatever follows.
    Stop,
}

#[derive(Debug)]
pub struct TagParser {
    opts: TagOptions,
    /// An unfinished `[...` that may be a tag.
    bracket: String,
    /// Text at the very start held back while it may be a `Name:` prefix.
    prefix: String,
    /// Nothing but whitespace and tags has been seen so far.
    at_start: bool,
    /// A `[Name]` prefix was just stripped: a `:` right after belongs to it.
    skip_colon: bool,
    stopped: bool,
}

impl TagParser {
    pub fn new(opts: TagOptions) -> TagParser {
        TagParser {
            opts,
            bracket: String::new(),
            prefix: String::new(),
            at_start: true,
            skip_colon: false,
            stopped: false,
        }
    }

    pub fn push(&mut self, text: &str) -> Vec<TagEvent> {
        let mut out = Vec::new();
        for c in text.chars() {
            if self.stopped {
                break;
            }
            self.char(c, &mut out);
        }
        out
    }

    /// The stream ended: whatever was held back is text after all.
    pub fn finish(&mut self) -> Vec<TagEvent> {
        let mut out = Vec::new();
        if !self.stopped {
            let held = std::mem::take(&mut self.prefix) + &std::mem::take(&mut self.bracket);
            text(&mut out, &held);
        }
        out
    }

    fn char(&mut self, c: char, out: &mut Vec<TagEvent>) {
        if !self.bracket.is_empty() {
            if c == ']' {
                self.bracket.push(c);
                let tag = std::mem::take(&mut self.bracket);
                self.resolve(&tag, out);
            } else if c == '[' || c == '\n' || self.bracket.chars().count() >= self.opts.max_tag_chars {
                let held = std::mem::take(&mut self.bracket);
                self.plain(&held, out);
                self.char(c, out);
            } else {
                self.bracket.push(c);
            }
            return;
        }
        if c == '[' {
            self.bracket.push(c);
            return;
        }
        if self.skip_colon {
            self.skip_colon = false;
            if c == ':' {
                return;
            }
        }
        let mut s = [0u8; 4];
        self.plain(c.encode_utf8(&mut s), out);
    }

    /// Ordinary text; at the start it may still turn out to be a `Name:` prefix.
    fn plain(&mut self, s: &str, out: &mut Vec<TagEvent>) {
        if !self.at_start {
            text(out, s);
            return;
        }
        self.prefix.push_str(s);
        let trimmed = self.prefix.trim_start();
        if trimmed.is_empty() {
            return;
        }
        let name = self.opts.character_name.trim();
        if !name.is_empty() {
            let with_colon = format!("{}:", name.to_lowercase());
            let lower = trimmed.to_lowercase();
            if lower == with_colon {
                self.prefix.clear();
                return; // "Mira:" stripped; keep waiting for the first real text
            }
            if with_colon.starts_with(&lower) {
                return; // could still be the prefix
            }
        }
        self.at_start = false;
        let held = std::mem::take(&mut self.prefix);
        text(out, &held);
    }

    fn resolve(&mut self, tag: &str, out: &mut Vec<TagEvent>) {
        let inner = tag[1..tag.len() - 1].trim();
        if let Some((name, value)) = inner.split_once(':')
            && self.opts.tag_names.iter().any(|n| n.eq_ignore_ascii_case(name.trim()))
        {
            let value = value.trim();
            if !value.is_empty() {
                out.push(TagEvent::Emotion(value.to_owned()));
            }
            return;
        }
        if self.opts.emotion_values.iter().any(|v| v == inner) {
            out.push(TagEvent::Emotion(inner.to_owned()));
            return;
        }
        let name = self.opts.character_name.trim();
        if !name.is_empty() && inner.eq_ignore_ascii_case(name) {
            if self.at_start && self.prefix.trim().is_empty() {
                self.prefix.clear();
                self.skip_colon = true;
            }
            return; // the character's own name as a speaker label: never said
        }
        let user = self.opts.user_name.trim();
        if !user.is_empty() && inner.eq_ignore_ascii_case(user) && !self.at_start {
            self.stopped = true;
            out.push(TagEvent::Stop);
            return;
        }
        self.plain(tag, out);
    }
}

fn text(out: &mut Vec<TagEvent>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(TagEvent::Text(t)) = out.last_mut() {
        t.push_str(s);
    } else {
        out.push(TagEvent::Text(s.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tokens: &[&str]) -> Vec<TagEvent> {
        let mut p = TagParser::new(TagOptions {
            character_name: "Mira".into(),
            emotion_values: vec!["😊".into()],
            ..TagOptions::default()
        });
        let mut out = Vec::new();
        for t in tokens {
            for e in p.push(t) {
                match (out.last_mut(), e) {
                    (Some(TagEvent::Text(a)), TagEvent::Text(b)) => a.push_str(&b),
                    (_, e) => out.push(e),
                }
            }
        }
        for e in p.finish() {
            match (out.last_mut(), e) {
                (Some(TagEvent::Text(a)), TagEvent::Text(b)) => a.push_str(&b),
                (_, e) => out.push(e),
            }
        }
        out
    }

    fn t(s: &str) -> TagEvent {
        TagEvent::Text(s.into())
    }
    fn e(s: &str) -> TagEvent {
        TagEvent::Emotion(s.into())
    }

    #[test]
    fn tags_split_across_tokens() {
        assert_eq!(run(&["Oh", " [EMO", "TION:", "😲", "] wow"]), vec![t("Oh "), e("😲"), t(" wow")]);
        assert_eq!(run(&["[emotion: 🤔 ]", "Hmm"]), vec![e("🤔"), t("Hmm")]);
        assert_eq!(run(&["a [😊] b"]), vec![t("a "), e("😊"), t(" b")]);
    }

    #[test]
    fn speaker_prefixes() {
        assert_eq!(run(&["[Mi", "ra]", ": Hello"]), vec![t(" Hello")]);
        assert_eq!(run(&["Mi", "ra", ": Hello"]), vec![t(" Hello")]);
        assert_eq!(run(&["Mir", "acles happen"]), vec![t("Miracles happen")]);
        assert_eq!(run(&["[EMOTION:😊][Mira] Hi"]), vec![e("😊"), t(" Hi")]);
        assert_eq!(run(&["Sure. [User] And you?"]), vec![t("Sure. "), TagEvent::Stop]);
    }

    #[test]
    fn non_tags_are_text() {
        assert_eq!(run(&["see [1] and [", "link](x)"]), vec![t("see [1] and [link](x)")]);
        assert_eq!(run(&["unclosed [abc"]), vec![t("unclosed [abc")]);
        let long = format!("[{}", "x".repeat(40));
        assert_eq!(run(&[&long, "]"]), vec![t(&format!("{long}]"))]);
    }
}
