//! The conversation: services wired from settings, the turn state machine, barge-in, metrics.

pub mod status;

pub use status::{Control, ConversationState, SharedStatus, Status, TurnLatency};
