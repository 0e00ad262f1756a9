//! A temporary on-disk spool of f32 audio (interleaved, native endian), so
//! that the loudness search can run the limiter over the processed signal
//! several times without holding it in memory. Removed when dropped.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{LatheError, Result};
use crate::io::AudioBlock;

/// A spool file being written or read.
pub struct Spool {
    path: PathBuf,
    channels: usize,
    frames: u64,
    writer: Option<BufWriter<File>>,
    scratch: Vec<u8>,
}

impl Spool {
    /// Create a spool in `dir` for `channels` channels.
    pub fn create(dir: &Path, channels: usize) -> Result<Self> {
        let path = dir.join(format!(
            ".lathe-spool-{}-{:x}.f32",
            std::process::id(),
            rand_suffix()
        ));
        let f = File::options()
            .write(true)
            .read(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| LatheError::write(&path, format!("cannot create spool: {e}")))?;
        Ok(Self {
            path,
            channels,
            frames: 0,
            writer: Some(BufWriter::with_capacity(1 << 20, f)),
            scratch: Vec::new(),
        })
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Append the valid frames of `block`.
    pub fn write(&mut self, block: &AudioBlock) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Err(LatheError::write(&self.path, "spool already closed"));
        };
        self.scratch.clear();
        for i in 0..block.frames {
            for ch in &block.channels {
                self.scratch.extend_from_slice(&ch[i].to_ne_bytes());
            }
        }
        w.write_all(&self.scratch)
            .map_err(|e| LatheError::write(&self.path, format!("spool write failed: {e}")))?;
        self.frames += block.frames as u64;
        Ok(())
    }

    /// Finish writing; the spool can then be read any number of times.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.into_inner().map_err(|e| {
                LatheError::write(&self.path, format!("spool flush failed: {}", e.error()))
            })?;
        }
        Ok(())
    }

    /// A reader from the start.
    pub fn reader(&self) -> Result<SpoolReader> {
        self.reader_at(0)
    }

    /// A reader starting at frame `frame`.
    pub fn reader_at(&self, frame: u64) -> Result<SpoolReader> {
        let frame = frame.min(self.frames);
        let mut f =
            File::open(&self.path).map_err(|e| LatheError::open(&self.path, e.to_string()))?;
        f.seek(SeekFrom::Start(frame * self.channels as u64 * 4))
            .map_err(|e| LatheError::open(&self.path, e.to_string()))?;
        Ok(SpoolReader {
            inner: BufReader::with_capacity(1 << 20, f),
            channels: self.channels,
            left: self.frames - frame,
            bytes: Vec::new(),
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.writer.take();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::ptr::addr_of!(t) as u64)
}

/// Reads a spool back in blocks.
pub struct SpoolReader {
    inner: BufReader<File>,
    channels: usize,
    left: u64,
    bytes: Vec<u8>,
}

impl SpoolReader {
    /// Fill `block` (up to its capacity); returns frames read, 0 at the end.
    pub fn read(&mut self, block: &mut AudioBlock) -> Result<usize> {
        let n = (block.capacity() as u64).min(self.left) as usize;
        self.bytes.resize(n * self.channels * 4, 0);
        self.inner
            .read_exact(&mut self.bytes)
            .map_err(|e| LatheError::Invalid(format!("spool read failed: {e}")))?;
        for i in 0..n {
            for (c, ch) in block.channels.iter_mut().enumerate() {
                let o = (i * self.channels + c) * 4;
                ch[i] = f32::from_ne_bytes([
                    self.bytes[o],
                    self.bytes[o + 1],
                    self.bytes[o + 2],
                    self.bytes[o + 3],
                ]);
            }
        }
        self.left -= n as u64;
        block.frames = n;
        Ok(n)
    }
}
