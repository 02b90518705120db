//! The conversation: services wired from settings, the turn state machine, barge-in, metrics.

pub mod barge_in;
pub mod bench;
pub mod conversation;
pub mod metrics;
pub mod show;
pub mod stage;
pub mod status;

pub use status::{Control, ConversationState, SharedStatus, Status, TurnLatency};
