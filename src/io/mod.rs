//! The outside world of audio: decoding files, writing them atomically,
//! sample-rate conversion and word-length reduction (dither). Blocks are
//! [`crate::audio::AudioBlock`], re-exported here.

pub mod atomic;
pub mod ddp;
pub mod decode;
pub mod device;
pub mod dither;
pub mod encode;
pub mod flac;
pub mod lossy;
pub mod mkv;
pub mod opus;
pub mod resample;
pub mod riff;

pub use decode::{AudioSource, FileSource, SourceInfo, open_source};

pub use crate::audio::AudioBlock;
