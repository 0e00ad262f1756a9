//! The FLAC writer lathe used before libFLAC, kept for the encoder
//! comparison in `benches/flac.rs` (the render now writes FLAC with
//! libFLAC: `lathe::io::flac`). Streaming FLAC writing with `flacenc`: frames of up to 4096 samples are encoded
//! and written as they fill, so memory does not grow with length; the
//! STREAMINFO block (block and frame sizes, total samples, MD5 of the audio)
//! is written last, over a placeholder. Every frame but the last has the same
//! block size, so min = max block size (symphonia refuses files where they
//! differ, flacenc issue 242). Written atomically like every output.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flacenc::component::BitRepr;
use flacenc::error::Verify;
use flacenc::source::{Context, Fill, FrameBuf};

use lathe::error::{LatheError, Result};
use lathe::io::AudioBlock;
use lathe::io::atomic::{AtomicFile, PendingFile};

/// Samples per FLAC frame (at most; see [`FlacencOutput::create`]).
pub const BLOCK: usize = 4096;

/// A FLAC file being written.
pub struct FlacencOutput {
    file: Option<std::io::BufWriter<std::fs::File>>,
    pending: Option<PendingFile>,
    target: PathBuf,
    config: flacenc::error::Verified<flacenc::config::Encoder>,
    /// Verbatim-only settings, for frames the predictive coder makes larger
    /// than raw PCM (flacenc's Rice parameter tops out at 14, which bloats
    /// loud, noisy 24-bit material).
    verbatim: flacenc::error::Verified<flacenc::config::Encoder>,
    info: flacenc::component::StreamInfo,
    ctx: Context,
    channels: usize,
    bits: u32,
    rate: u32,
    buf: Vec<i32>,
    block: usize,
    frame_number: usize,
    min_frame: usize,
    max_frame: usize,
    total: u64,
}

impl FlacencOutput {
    /// Create `path` for `channels` channels of `bits`-bit (16 or 24) audio
    /// at `rate` Hz, `total_frames` long. Knowing the length lets every frame
    /// have one block size (near 4096) while the last holds at least 32
    /// samples, as the encoder requires.
    pub fn create(
        path: &Path,
        rate: u32,
        channels: usize,
        bits: u32,
        total_frames: u64,
        inputs: &[PathBuf],
        force: bool,
    ) -> Result<Self> {
        if total_frames < 32 {
            return Err(LatheError::write(
                path,
                "too short for FLAC (under 32 samples)",
            ));
        }
        let block = (BLOCK - 512..=BLOCK)
            .rev()
            .find(|b| {
                let r = total_frames % *b as u64;
                r == 0 || r >= 32
            })
            .unwrap_or(BLOCK);
        if !matches!(bits, 16 | 24) {
            return Err(LatheError::write(
                path,
                format!("FLAC takes 16 or 24 bits, not {bits}"),
            ));
        }
        let err = |e: &dyn std::fmt::Display| LatheError::write(path, format!("FLAC encoder: {e}"));
        // Independent or mid/side stereo only (left/side and right/side rarely
        // win on mastered material and double the work).
        let mut fast = flacenc::config::Encoder::default();
        fast.stereo_coding.use_leftside = false;
        fast.stereo_coding.use_rightside = false;
        let config = fast.into_verified().map_err(|e| err(&format!("{e:?}")))?;
        let mut raw = flacenc::config::Encoder::default();
        raw.subframe_coding.use_lpc = false;
        raw.subframe_coding.use_fixed = false;
        let verbatim = raw.into_verified().map_err(|e| err(&format!("{e:?}")))?;
        let info = flacenc::component::StreamInfo::new(rate as usize, channels, bits as usize)
            .map_err(|e| err(&e))?;
        let atomic = AtomicFile::create(path, inputs, force)?;
        let (mut w, pending) = atomic.into_parts();
        // "fLaC" + a placeholder STREAMINFO block, rewritten in `finish`.
        w.write_all(b"fLaC")
            .and_then(|_| w.write_all(&[0u8; 38]))
            .map_err(|e| LatheError::write(path, e.to_string()))?;
        Ok(Self {
            file: Some(w),
            pending: Some(pending),
            target: path.to_path_buf(),
            config,
            verbatim,
            info,
            ctx: Context::new(bits as usize, channels),
            channels,
            bits,
            rate,
            buf: Vec::with_capacity(block * channels),
            block,
            frame_number: 0,
            min_frame: usize::MAX,
            max_frame: 0,
            total: 0,
        })
    }

    fn encode(&mut self) -> Result<()> {
        let n = self.buf.len() / self.channels;
        if n == 0 {
            return Ok(());
        }
        let err = |e: &dyn std::fmt::Debug| {
            LatheError::write(&self.target, format!("FLAC encoder: {e:?}"))
        };
        let mut fb = FrameBuf::with_size(self.channels, n).map_err(|e| err(&e))?;
        fb.fill_interleaved(&self.buf).map_err(|e| err(&e))?;
        self.ctx.fill_interleaved(&self.buf).map_err(|e| err(&e))?;
        let frame =
            flacenc::encode_fixed_size_frame(&self.config, &fb, self.frame_number, &self.info)
                .map_err(|e| err(&e))?;
        let mut sink = flacenc::bitsink::ByteSink::new();
        frame.write(&mut sink).map_err(|e| err(&e))?;
        let raw_bytes = n * self.channels * (self.bits as usize / 8) + 32;
        if sink.as_slice().len() > raw_bytes {
            let frame = flacenc::encode_fixed_size_frame(
                &self.verbatim,
                &fb,
                self.frame_number,
                &self.info,
            )
            .map_err(|e| err(&e))?;
            sink = flacenc::bitsink::ByteSink::new();
            frame.write(&mut sink).map_err(|e| err(&e))?;
        }
        let bytes = sink.as_slice();
        self.min_frame = self.min_frame.min(bytes.len());
        self.max_frame = self.max_frame.max(bytes.len());
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes)
                .map_err(|e| LatheError::write(&self.target, e.to_string()))?;
        }
        self.frame_number += 1;
        self.total += n as u64;
        self.buf.clear();
        Ok(())
    }

    /// Append the valid frames of `block` (samples already on the word-length grid).
    pub fn write_block(&mut self, block: &AudioBlock) -> Result<()> {
        let scale = f64::from(1u32 << (self.bits - 1));
        let max = scale - 1.0;
        for i in 0..block.frames {
            for ch in &block.channels {
                let v = (f64::from(ch[i]) * scale).round().clamp(-scale, max) as i32;
                self.buf.push(v);
            }
            if self.buf.len() == self.block * self.channels {
                self.encode()?;
            }
        }
        Ok(())
    }

    /// Encode the rest, write STREAMINFO and publish the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.encode()?;
        let target = self.target.clone();
        let mut si = [0u8; 38];
        // Metadata block header: last-block flag + type 0 (STREAMINFO), length 34.
        si[0] = 0x80;
        si[3] = 34;
        let b = &mut si[4..];
        let block = if self.frame_number <= 1 {
            self.total.max(16) as u16
        } else {
            self.block as u16
        };
        b[0..2].copy_from_slice(&block.to_be_bytes());
        b[2..4].copy_from_slice(&block.to_be_bytes());
        let (minf, maxf) = if self.frame_number == 0 {
            (0, 0)
        } else {
            (self.min_frame as u32, self.max_frame as u32)
        };
        b[4..7].copy_from_slice(&minf.to_be_bytes()[1..]);
        b[7..10].copy_from_slice(&maxf.to_be_bytes()[1..]);
        // 20 bits rate, 3 bits channels−1, 5 bits bps−1, 36 bits total samples.
        let packed: u64 = (u64::from(self.rate) << 44)
            | (((self.channels as u64) - 1) << 41)
            | ((u64::from(self.bits) - 1) << 36)
            | (self.total & 0xF_FFFF_FFFF);
        b[10..18].copy_from_slice(&packed.to_be_bytes());
        b[18..34].copy_from_slice(&self.ctx.md5_digest());
        let mut w = self
            .file
            .take()
            .ok_or_else(|| LatheError::write(&target, "already finished"))?;
        w.seek(SeekFrom::Start(4))
            .and_then(|_| w.write_all(&si))
            .and_then(|_| w.flush())
            .map_err(|e| LatheError::write(&target, e.to_string()))?;
        drop(w);
        match self.pending.take() {
            Some(p) => p.commit(),
            None => Err(LatheError::write(&target, "already finished")),
        }
    }
}
