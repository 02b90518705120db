//! Barge-in: whether what the user is saying now should stop the character's reply.
//!
//! The decision combines the user's policy (REFERENCE: ignore, any, only while not speaking, at least N words,
//! N words and not speaking) with an echo guard: words the microphone picked up that are the words the character
//! is saying right now are its own voice leaking past the echo canceller, not the user.

use crate::config::BargeIn;

/// What the reply is doing when the user speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyPhase {
    /// Waiting for the first audio (LLM or TTS still working).
    Thinking,
    /// Audio is playing.
    Speaking,
}

/// The outcome for one partial or final transcript heard during a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Stop the reply; the user's utterance starts the next turn.
    Interrupt,
    /// Not (yet) enough to interrupt.
    Wait,
    /// What was heard is the character's own voice.
    Echo,
    /// The policy never lets this interrupt.
    Ignore,
}

/// Lower-case words, punctuation dropped.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace())
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// True when most of `heard` are words of `speaking` (what the character is saying around now): echo.
pub fn is_echo(heard: &str, speaking: &str) -> bool {
    let heard = words(heard);
    if heard.is_empty() {
        return false;
    }
    let spoken = words(speaking);
    let matched = heard.iter().filter(|w| spoken.contains(w)).count();
    matched * 10 >= heard.len() * 6
}

/// Decides what to do with `heard` (the user's transcript so far) during a reply.
/// `speaking` is the text the character is speaking around now (for the echo guard); empty while thinking.
pub fn decide(policy: BargeIn, min_words: u32, phase: ReplyPhase, heard: &str, speaking: &str) -> Decision {
    let n = words(heard).len() as u32;
    if n == 0 {
        return Decision::Wait;
    }
    // Judge the newest words: an utterance can begin with leaked echo and go on with the user's own words.
    let newest = words(heard).iter().rev().take(6).rev().cloned().collect::<Vec<_>>().join(" ");
    if phase == ReplyPhase::Speaking && is_echo(&newest, speaking) {
        return Decision::Echo;
    }
    let enough_words = n >= min_words.max(1);
    match (policy, phase) {
        (BargeIn::Ignore, _) => Decision::Ignore,
        (BargeIn::Any, _) => Decision::Interrupt,
        (BargeIn::WhenNotSpeaking | BargeIn::MinWordsNotSpeaking, ReplyPhase::Speaking) => Decision::Ignore,
        (BargeIn::WhenNotSpeaking, ReplyPhase::Thinking) => Decision::Interrupt,
        (BargeIn::MinWords | BargeIn::MinWordsNotSpeaking, _) if enough_words => Decision::Interrupt,
        (BargeIn::MinWords | BargeIn::MinWordsNotSpeaking, _) => Decision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BargeIn::*;
    use ReplyPhase::*;

    #[test]
    fn policies() {
        let two = "wait stop";
        let three = "wait, stop that";
        assert_eq!(decide(Ignore, 3, Speaking, three, ""), Decision::Ignore);
        assert_eq!(decide(Any, 3, Speaking, "hey", ""), Decision::Interrupt);
        assert_eq!(decide(WhenNotSpeaking, 3, Speaking, three, ""), Decision::Ignore);
        assert_eq!(decide(WhenNotSpeaking, 3, Thinking, "hey", ""), Decision::Interrupt);
        assert_eq!(decide(MinWords, 3, Speaking, two, ""), Decision::Wait);
        assert_eq!(decide(MinWords, 3, Speaking, three, ""), Decision::Interrupt);
        assert_eq!(decide(MinWordsNotSpeaking, 3, Speaking, three, ""), Decision::Ignore);
        assert_eq!(decide(MinWordsNotSpeaking, 3, Thinking, three, ""), Decision::Interrupt);
        assert_eq!(decide(MinWords, 3, Thinking, "  ...  ", ""), Decision::Wait);
    }

    #[test]
    fn own_voice_is_echo_not_an_interruption() {
        let speaking = "Octopuses have three hearts, and two of them stop when they swim.";
        assert_eq!(decide(Any, 1, Speaking, "three hearts and two of them", speaking), Decision::Echo);
        assert_eq!(decide(Any, 1, Speaking, "no wait that's wrong", speaking), Decision::Interrupt);
        // Echo first, then the user's own words: the newest words decide.
        let mixed = "three hearts and two of them stop wait stop that please";
        assert_eq!(decide(Any, 1, Speaking, mixed, speaking), Decision::Interrupt);
        // While thinking nothing is playing, so nothing can be echo.
        assert_eq!(decide(Any, 1, Thinking, "three hearts", speaking), Decision::Interrupt);
        assert!(!is_echo("", speaking));
        assert_eq!(words("Don't STOP, now!"), vec!["don't", "stop", "now"]);
    }
}
