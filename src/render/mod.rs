//! Offline rendering: source → chain → sample-rate conversion → loudness
//! target gain → true-peak limiter → dither → encode, then re-measure.

pub mod album;
pub mod master;

pub use master::{MasterOptions, MasterReport, MatchReport, master_file};
