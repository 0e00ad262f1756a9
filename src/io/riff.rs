//! A look at a WAV file's RIFF chunks before symphonia reads it.
//!
//! Two things symphonia cannot be told and lathe must know:
//!
//! - **Lying data sizes.** A crashed recorder or an interrupted copy leaves a
//!   `data` chunk that claims more bytes than the file holds (often with a
//!   RIFF size to match), or 0 / `0xFFFFFFFF` from a writer that never went
//!   back to fill it in. ffmpeg and sox read such files to their end. lathe
//!   does the same by presenting symphonia a corrected header: the file is
//!   read through [`PatchedFile`], which overlays the true sizes on the
//!   header bytes in memory (the file itself is never written).
//! - **Whether the file names its channel layout.** Without a channel mask
//!   (plain `WAVE_FORMAT_PCM`, or an extensible header with a zero mask)
//!   symphonia assumes the first N WAVE speaker positions, which makes the
//!   fifth channel of a 5-channel file LFE. lathe then weights channels in
//!   the usual order instead (L R C Ls Rs for 5, L R C LFE Ls Rs for 6).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use symphonia::core::io::MediaSource;

const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// What the chunk walk found in a RIFF/WAVE file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WavLayout {
    /// The `fmt ` chunk's channel mask, when the header is extensible and the
    /// mask is not zero.
    pub channel_mask: Option<u32>,
    /// Header bytes to present in place of the stored ones: (file offset,
    /// little-endian u32).
    pub patches: Vec<(u64, [u8; 4])>,
    /// Bytes of audio the `data` chunk claims.
    pub claimed_data_bytes: u64,
    /// Bytes of audio the file actually holds (whole frames only).
    pub actual_data_bytes: u64,
    /// Bytes per frame (the `fmt ` chunk's block align).
    pub block_align: u64,
}

impl WavLayout {
    /// True when the data chunk's size was corrected.
    pub fn data_size_patched(&self) -> bool {
        !self.patches.is_empty()
    }

    /// Whole frames the file holds.
    pub fn actual_frames(&self) -> u64 {
        self.actual_data_bytes / self.block_align.max(1)
    }
}

fn read_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn read_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// Walk the chunks of `file` (length `len` bytes) up to its `data` chunk.
/// Returns `None` when the file is not a RIFF/WAVE file or its chunks cannot
/// be followed (symphonia then reports what is wrong).
pub fn inspect(file: &mut File, len: u64) -> Option<WavLayout> {
    let mut head = [0u8; 12];
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_exact(&mut head).ok()?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return None;
    }
    let riff_claimed = u64::from(read_u32(&head[4..8]));
    let mut pos = 12u64;
    let mut layout = WavLayout::default();
    let mut have_fmt = false;
    // A bounded walk: a file with thousands of chunks before its audio is not
    // a WAV anyone made on purpose.
    for _ in 0..4096 {
        let mut hdr = [0u8; 8];
        file.seek(SeekFrom::Start(pos)).ok()?;
        file.read_exact(&mut hdr).ok()?;
        let id = [hdr[0], hdr[1], hdr[2], hdr[3]];
        let size = u64::from(read_u32(&hdr[4..8]));
        let body = pos + 8;
        match &id {
            b"fmt " => {
                let n = size.min(40) as usize;
                let mut fmt = vec![0u8; n];
                file.read_exact(&mut fmt).ok()?;
                if n < 16 {
                    return None;
                }
                let tag = read_u16(&fmt[0..2]);
                layout.block_align = u64::from(read_u16(&fmt[12..14]));
                if tag == WAVE_FORMAT_EXTENSIBLE && n >= 24 {
                    let mask = read_u32(&fmt[20..24]);
                    if mask != 0 {
                        layout.channel_mask = Some(mask);
                    }
                }
                have_fmt = true;
            }
            b"data" => {
                if !have_fmt || layout.block_align == 0 {
                    return None;
                }
                let held = len.saturating_sub(body);
                let whole = held / layout.block_align * layout.block_align;
                layout.claimed_data_bytes = size;
                // 0 and 0xFFFFFFFF are what unfinished writers leave; anything
                // beyond the end of the file is a lie. Either way: what is there.
                let lying = size > held || (size == 0 && held > 0) || size == u64::from(u32::MAX);
                if lying {
                    let fixed = u32::try_from(whole).unwrap_or(u32::MAX);
                    layout.patches.push((pos + 4, fixed.to_le_bytes()));
                    let riff = (body + u64::from(fixed)).saturating_sub(8);
                    if riff_claimed != riff {
                        let riff = u32::try_from(riff).unwrap_or(u32::MAX);
                        layout.patches.push((4, riff.to_le_bytes()));
                    }
                    layout.actual_data_bytes = u64::from(fixed);
                } else {
                    layout.actual_data_bytes = size / layout.block_align * layout.block_align;
                }
                return Some(layout);
            }
            _ => {}
        }
        pos = body + size + (size & 1);
        if pos >= len {
            return None;
        }
    }
    None
}

/// A file read with some header bytes replaced in memory.
pub struct PatchedFile {
    file: File,
    len: u64,
    pos: u64,
    patches: Vec<(u64, Vec<u8>)>,
    seekable: bool,
}

impl PatchedFile {
    /// Read `file` (of `len` bytes) with `patches` laid over it.
    pub fn new(mut file: File, len: u64, patches: Vec<(u64, Vec<u8>)>) -> std::io::Result<Self> {
        file.seek(SeekFrom::Start(0))?;
        Ok(Self {
            file,
            len,
            pos: 0,
            patches,
            seekable: true,
        })
    }

    /// Tell the demuxer the file cannot seek, so it reads forward only (a
    /// cut Matroska file's index points past its end).
    pub fn forward_only(mut self) -> Self {
        self.seekable = false;
        self
    }
}

impl Read for PatchedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        let start = self.pos;
        let end = start + n as u64;
        for (at, bytes) in &self.patches {
            for (k, b) in bytes.iter().enumerate() {
                let p = at + k as u64;
                if p >= start && p < end {
                    buf[(p - start) as usize] = *b;
                }
            }
        }
        self.pos = end;
        Ok(n)
    }
}

impl Seek for PatchedFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

impl MediaSource for PatchedFile {
    fn is_seekable(&self) -> bool {
        self.seekable
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}
