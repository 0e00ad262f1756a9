//! The outside world of audio: decoding files, writing them atomically,
//! sample-rate conversion and word-length reduction (dither).
//!
//! Audio moves through lathe as **planar `f32`** blocks ([`AudioBlock`]): one
//! `Vec<f32>` per channel, samples nominally in −1.0..=1.0 (0 dBFS = 1.0).

pub mod atomic;
pub mod decode;
pub mod dither;
pub mod encode;
pub mod flac;
pub mod mkv;
pub mod opus;
pub mod resample;
pub mod riff;

pub use decode::{AudioSource, FileSource, SourceInfo, open_source};

/// A planar block of audio: `channels[c][i]` is frame `i` of channel `c`.
///
/// Capacity is fixed when the block is made; `frames` says how many frames
/// are valid. Reading into a block never reallocates it.
#[derive(Debug, Clone)]
pub struct AudioBlock {
    /// One buffer per channel, each at least `capacity` samples long.
    pub channels: Vec<Vec<f32>>,
    /// Number of valid frames in each channel buffer.
    pub frames: usize,
}

impl AudioBlock {
    /// A silent block of `channels` channels that can hold `capacity` frames.
    pub fn new(channels: usize, capacity: usize) -> Self {
        Self {
            channels: vec![vec![0.0; capacity]; channels],
            frames: 0,
        }
    }

    /// Number of channels.
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Maximum number of frames the block can hold.
    pub fn capacity(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// The valid samples of channel `c`.
    pub fn channel(&self, c: usize) -> &[f32] {
        &self.channels[c][..self.frames]
    }
}
