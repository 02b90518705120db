//! Transcribing a recording of any length: short ones in one Whisper run; long ones cut by the VAD into stretches
//! of speech (silence is skipped, not transcribed), each stretch up to `MAX_GROUP_S` long, with times put back on
//! the recording's clock.

use super::{AsrError, SAMPLE_RATE, Segment, Transcriber, Transcript, Word};
use crate::config::VadSettings;
use crate::vad::{CHUNK, Segmenter, SegmenterEvent, SileroVad, VadError};

/// Recordings up to this long go to the transcriber whole (Whisper's window is 30 s).
pub const WHOLE_MAX_S: f32 = 30.0;
/// Utterances are grouped into stretches of at most this many seconds.
const MAX_GROUP_S: f32 = 25.0;

#[derive(Debug, thiserror::Error)]
pub enum LongError {
    #[error(transparent)]
    Asr(#[from] AsrError),
    #[error(transparent)]
    Vad(#[from] VadError),
}

/// Transcribes 16 kHz audio of any length. `progress` gets (seconds done, seconds total) for long recordings.
pub fn transcribe_recording(
    transcriber: &mut dyn Transcriber,
    vad: &mut SileroVad,
    vad_settings: &VadSettings,
    audio: &[f32],
    mut progress: impl FnMut(f32, f32),
) -> Result<Transcript, LongError> {
    let total_s = audio.len() as f32 / SAMPLE_RATE as f32;
    if total_s <= WHOLE_MAX_S {
        return Ok(transcriber.transcribe(audio)?);
    }
    // Find the utterances: (first sample, end sample) of each, padding included.
    vad.reset();
    let mut segmenter = Segmenter::new(vad_settings);
    let mut events = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut collect = |events: &mut Vec<SegmenterEvent>| {
        for e in events.drain(..) {
            if let SegmenterEvent::UtteranceEnded { audio: a, audio_start_s, .. } = e {
                let start = (audio_start_s * SAMPLE_RATE as f32).round() as usize;
                spans.push((start, (start + a.len()).min(audio.len())));
            }
        }
    };
    for chunk in audio.chunks(CHUNK) {
        let p = vad.process(chunk)?;
        segmenter.push(p, chunk, &mut events);
        collect(&mut events);
    }
    segmenter.finish(&mut events);
    collect(&mut events);

    // Group neighbouring utterances, keeping the pauses between them (Whisper reads context across them).
    let max_group = (MAX_GROUP_S * SAMPLE_RATE as f32) as usize;
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        match groups.last_mut() {
            Some(g) if e - g.0 <= max_group => g.1 = e,
            _ => groups.push((s, e)),
        }
    }

    let mut segments = Vec::new();
    let mut words = Vec::new();
    for (s, e) in groups {
        let offset = s as f32 / SAMPLE_RATE as f32;
        progress(offset, total_s);
        let t = transcriber.transcribe(&audio[s..e])?;
        segments.extend(t.segments.into_iter().map(|x| Segment {
            start_s: x.start_s + offset,
            end_s: x.end_s + offset,
            text: x.text,
        }));
        words.extend(t.words.into_iter().map(|w| Word { start_s: w.start_s + offset, end_s: w.end_s + offset, ..w }));
    }
    progress(total_s, total_s);
    Ok(Transcript::from_segments(segments, words))
}
