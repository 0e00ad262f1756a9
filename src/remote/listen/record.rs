//! `--record`: the stream as received, lossless, aligned by the server's
//! frame numbers.

use super::*;

/// The recording: what was received, aligned by the server's frame numbers
/// (gaps as silence), written atomically as 32-bit float.
pub(super) struct Recorder {
    pub(super) out: crate::io::encode::WavOutput,
    pub(super) rate: u32,
    pub(super) next: u64,
    pub(super) channels: usize,
}

impl Recorder {
    pub(super) fn open(path: &std::path::Path, f: Format, first: u64) -> Result<Self, String> {
        let out = crate::io::encode::WavOutput::create(
            path,
            f.rate,
            f.channels as usize,
            crate::io::encode::SampleFormat::Float32,
            &[],
            true,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            out,
            rate: f.rate,
            next: first,
            channels: f.channels as usize,
        })
    }

    pub(super) fn write(&mut self, first: u64, interleaved: &[f32]) -> Result<(), String> {
        if first < self.next {
            return Ok(());
        }
        let gap = (first - self.next) as usize;
        let n = interleaved.len() / self.channels;
        let mut b = crate::io::AudioBlock::new(self.channels, gap + n);
        for i in 0..n {
            for c in 0..self.channels {
                b.channels[c][gap + i] = interleaved[i * self.channels + c];
            }
        }
        b.frames = gap + n;
        self.out.write_block(&b).map_err(|e| e.to_string())?;
        self.next = first + n as u64;
        Ok(())
    }
}
