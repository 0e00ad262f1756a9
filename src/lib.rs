//! lathe: a mastering workstation for the terminal.
//!
//! The library holds everything testable; `src/main.rs` is a thin command
//! line over it. Audio flows as planar `f32` blocks ([`audio::AudioBlock`])
//! from an [`io::AudioSource`] through analysis, processing and encoding.
//! [`plan`] decides what to play or write; [`render`] writes a plan and
//! [`engine`] plays one, neither importing the other.

#![warn(missing_docs)]

pub mod analysis;
pub mod audio;
pub mod cancel;
pub mod cli;
pub mod demo;
pub mod engine;
pub mod error;
pub mod io;
pub mod plan;
pub mod remote;
pub mod render;
pub mod session;
pub mod units;

pub use error::{LatheError, Result};
pub mod dsp;
pub mod ui;
