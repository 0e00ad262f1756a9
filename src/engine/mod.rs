//! The real-time playback engine. A [`plan::Plan`] (one file, or
//! an album session's delivery with its chains, balancing gains, gaps,
//! fades and crossfades, planned as the renderer plans them) is placed on a
//! [`timeline::Timeline`]; the [`reader`] thread decodes ahead into a
//! lock-free ring (a lane per overlapping track); the audio callback
//! ([`Player::render`]) drains control commands and loop jumps from other
//! lock-free queues, runs each track's [`Chain`](crate::dsp::chain::Chain) exactly as the renderer
//! does, crossfades between processed and original (A/B, level-matched),
//! applies the listen mode and taps processed and original signals into a
//! ring for the [`meters`] thread. The callback never allocates, locks,
//! does I/O or logs (tested under an allocation-failing guard). Output goes
//! to a cpal device ([`output`]), or, with no device (SSH, CI) or when the
//! device is lost, to a [`null_output`] clocked in real time so every meter
//! stays live. [`session::Playback`] ties them together.

pub mod codec;
pub mod control;
pub mod convert;
pub mod meters;
pub mod null_output;
pub mod output;
pub mod player;
pub mod reader;
pub mod session;

pub use crate::plan::timeline::{Span, Timeline};
pub use player::{Command, Jump, ListenMode, Player, PlayerShared, Swap, TrackUnit, Unit};
