//! WAV writing with hound: 16-bit and 24-bit integer PCM and 32-bit float,
//! always through an [`AtomicFile`] so a reader never sees a partial file.
//!
//! Integer formats expect samples already reduced to the target word length
//! (see [`crate::io::dither`]); the writer only scales, rounds and clamps.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::AudioBlock;
use super::atomic::{AtomicFile, PendingFile};
use crate::error::{LatheError, Result};

/// Sample format of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SampleFormat {
    /// 16-bit signed integer PCM.
    Int16,
    /// 24-bit signed integer PCM.
    Int24,
    /// 32-bit IEEE float.
    Float32,
}

impl SampleFormat {
    /// Bits per sample.
    pub fn bits(self) -> u32 {
        match self {
            Self::Int16 => 16,
            Self::Int24 => 24,
            Self::Float32 => 32,
        }
    }

    /// True for integer formats (which need dither when reducing word length).
    pub fn is_int(self) -> bool {
        !matches!(self, Self::Float32)
    }

    /// Parse `16`, `24`, `32f` (also `32`, `float`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "16" => Some(Self::Int16),
            "24" => Some(Self::Int24),
            "32f" | "32" | "float" | "f32" => Some(Self::Float32),
            _ => None,
        }
    }
}

/// Sample `v` (±1.0 full scale) on the `bits`-bit integer grid: rounded,
/// clamped to the grid's range, and whether it had to be clamped.
pub fn to_int(v: f32, bits: u32) -> (i64, bool) {
    let scale = (1i64 << (bits - 1)) as f64;
    let (min, max) = (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1);
    let r = (f64::from(v) * scale).round() as i64;
    let q = r.clamp(min, max);
    (q, q != r)
}

/// A WAV file being written atomically.
pub struct WavOutput {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    pending: Option<PendingFile>,
    format: SampleFormat,
    channels: usize,
    frames: u64,
    clipped: u64,
}

impl WavOutput {
    /// Create `path` for `channels` channels at `sample_rate` Hz. Fails if the
    /// file exists and `force` is false, or if `path` is one of `inputs`.
    pub fn create(
        path: &Path,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
        inputs: &[PathBuf],
        force: bool,
    ) -> Result<Self> {
        if channels == 0 || channels > u16::MAX as usize {
            return Err(LatheError::write(path, "invalid channel count"));
        }
        let atomic = AtomicFile::create(path, inputs, force)?;
        let (w, pending) = atomic.into_parts();
        let spec = hound::WavSpec {
            channels: channels as u16,
            sample_rate,
            bits_per_sample: format.bits() as u16,
            sample_format: if format.is_int() {
                hound::SampleFormat::Int
            } else {
                hound::SampleFormat::Float
            },
        };
        let writer = hound::WavWriter::new(w, spec)
            .map_err(|e| LatheError::write(path, format!("cannot start WAV: {e}")))?;
        Ok(Self {
            writer: Some(writer),
            pending: Some(pending),
            format,
            channels,
            frames: 0,
            clipped: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Samples that were outside −1.0..=1.0 and were clamped (integer formats).
    pub fn clipped_samples(&self) -> u64 {
        self.clipped
    }

    fn target(&self) -> PathBuf {
        self.pending
            .as_ref()
            .map(|p| p.target().to_path_buf())
            .unwrap_or_default()
    }

    /// Append the valid frames of `block` (which must have this file's channel count).
    pub fn write_block(&mut self, block: &AudioBlock) -> Result<()> {
        if block.num_channels() != self.channels {
            return Err(LatheError::Invalid(format!(
                "block has {} channels, file has {}",
                block.num_channels(),
                self.channels
            )));
        }
        let target = self.target();
        let Some(w) = self.writer.as_mut() else {
            return Err(LatheError::write(&target, "already finished"));
        };
        let err = |e: hound::Error| LatheError::write(&target, format!("write failed: {e}"));
        let mut clipped = 0u64;
        match self.format {
            SampleFormat::Float32 => {
                for i in 0..block.frames {
                    for ch in &block.channels {
                        w.write_sample(ch[i]).map_err(err)?;
                    }
                }
            }
            SampleFormat::Int16 | SampleFormat::Int24 => {
                let bits = self.format.bits();
                for i in 0..block.frames {
                    for ch in &block.channels {
                        let (q, clip) = to_int(ch[i], bits);
                        clipped += u64::from(clip);
                        if bits == 16 {
                            w.write_sample(q as i16).map_err(err)?;
                        } else {
                            w.write_sample(q as i32).map_err(err)?;
                        }
                    }
                }
            }
        }
        self.clipped += clipped;
        self.frames += block.frames as u64;
        Ok(())
    }

    /// Finish the header and publish the file under its final name.
    pub fn finish(mut self) -> Result<PathBuf> {
        let target = self.target();
        if let Some(w) = self.writer.take() {
            w.finalize()
                .map_err(|e| LatheError::write(&target, format!("cannot finish WAV: {e}")))?;
        }
        match self.pending.take() {
            Some(p) => p.commit(),
            None => Err(LatheError::write(&target, "already finished")),
        }
    }
}
