//! Real-time-safe audio processing: the mastering chain and its modules.
//!
//! Contract for every [`Processor`]: all memory is allocated in the
//! constructor; [`Processor::process`],
//! [`Processor::reset`] and parameter setters never allocate, lock, log or do
//! I/O (proved by tests under an allocation-failing guard). Every
//! continuous parameter is smoothed, so changes never click. Each module
//! reports its latency in frames so the chain can stay time-aligned.

pub mod biquad;
pub mod chain;
pub mod compressor;
pub mod dc;
pub mod declick;
pub mod dehiss;
pub mod eq;
pub mod gain;
pub mod hum;
pub mod imager;
pub mod limiter;
pub mod matcheq;
pub mod multiband;
pub mod smoother;
pub mod vmath;

use crate::audio::AudioBlock;

/// The most frames a single `process` call may carry.
pub const MAX_BLOCK: usize = 4096;

/// A block-based audio processor (see the module docs for the contract).
pub trait Processor: Send {
    /// Short machine name (`eq`, `compressor`, …).
    fn name(&self) -> &'static str;
    /// Process the valid frames of `block` in place.
    fn process(&mut self, block: &mut AudioBlock);
    /// Clear internal state (filters, envelopes, delay lines) to silence.
    fn reset(&mut self);
    /// Delay this module adds, in frames.
    fn latency(&self) -> usize {
        0
    }
    /// Gain reduction applied in the last block, dB (≥ 0), for metering.
    fn gain_reduction_db(&self) -> f64 {
        0.0
    }
}

/// Convert a time constant in milliseconds to a one-pole coefficient at `rate` Hz.
pub fn one_pole_coeff(ms: f64, rate: f64) -> f64 {
    if ms <= 0.0 {
        0.0
    } else {
        (-1.0 / (ms * 0.001 * rate)).exp()
    }
}

/// A fixed-length delay line per channel (allocation-free after `new`).
#[derive(Debug, Clone)]
pub struct DelayLine {
    buf: Vec<Vec<f32>>,
    pos: usize,
}

impl DelayLine {
    /// A delay of `frames` frames for `channels` channels.
    pub fn new(channels: usize, frames: usize) -> Self {
        Self {
            buf: vec![vec![0.0; frames]; channels],
            pos: 0,
        }
    }

    /// Delay in frames.
    pub fn len(&self) -> usize {
        self.buf.first().map_or(0, Vec::len)
    }

    /// True when the delay is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Delay the valid frames of `block` in place.
    pub fn process(&mut self, block: &mut AudioBlock) {
        let len = self.len();
        if len == 0 {
            return;
        }
        let start = self.pos;
        for (line, ch) in self.buf.iter_mut().zip(block.channels.iter_mut()) {
            // Swap the block with the line in runs up to the line's end.
            let mut p = start;
            let mut i = 0;
            while i < block.frames {
                let k = (len - p).min(block.frames - i);
                line[p..p + k].swap_with_slice(&mut ch[i..i + k]);
                i += k;
                p = if p + k == len { 0 } else { p + k };
            }
        }
        self.pos = (start + block.frames) % len;
    }

    /// Take in the valid frames of `block` without giving the delayed ones
    /// out: the line afterwards holds what [`DelayLine::process`] would have
    /// left in it (only the last `len` frames need copying).
    pub fn feed(&mut self, block: &AudioBlock) {
        let len = self.len();
        if len == 0 {
            return;
        }
        let frames = block.frames;
        let skip = frames.saturating_sub(len);
        let start = (self.pos + skip) % len;
        for (line, ch) in self.buf.iter_mut().zip(&block.channels) {
            let mut p = start;
            let mut i = skip;
            while i < frames {
                let k = (len - p).min(frames - i);
                line[p..p + k].copy_from_slice(&ch[i..i + k]);
                i += k;
                p = if p + k == len { 0 } else { p + k };
            }
        }
        self.pos = (self.pos + frames) % len;
    }

    /// Zero the line.
    pub fn reset(&mut self) {
        for l in &mut self.buf {
            l.iter_mut().for_each(|s| *s = 0.0);
        }
        self.pos = 0;
    }
}
