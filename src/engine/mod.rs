//! The real-time playback engine (first cut): a read-ahead thread decodes
//! into a lock-free ring; the audio callback ([`Player::render`]) drains
//! control commands from another lock-free queue, runs the same [`Chain`]
//! the renderer uses, crossfades between processed and original (A/B,
//! level-matched), applies the listen mode and taps its output into a third
//! ring for the meter thread. The callback never allocates, locks, does I/O
//! or logs (tested under an allocation-failing guard). Output goes to a cpal
//! device, or, with no device (SSH, CI), to a silent output clocked in real
//! time so every meter stays live.

pub mod meters;
pub mod null_output;
pub mod output;
pub mod plan;
pub mod player;
pub mod reader;
pub mod session;
pub mod timeline;

pub use player::{Command, Jump, ListenMode, Player, PlayerShared, Swap, TrackUnit, Unit};
pub use timeline::{Span, Timeline};
