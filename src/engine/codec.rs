//! The codec preview (`:codec aac-256` in the interface): a track's master
//! as the engine plays it, encoded and decoded by a lossy codec
//! ([`crate::io::lossy`]), aligned to the master sample for sample, held in
//! memory for the callback. While a track has one, the player plays the
//! decoded audio in place of the chain's output (the chain keeps running,
//! so leaving the preview is seamless), and the delta listen mode plays
//! the codec's artifacts (decoded − master) instead of what the chain
//! changes.

use std::path::{Path, PathBuf};

use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::io::lossy::CodecSpec;
use crate::plan::PlanTrack;

/// A track's master and the codec's decoding of it, at the plan's rate,
/// frame `j` of each being the track's output frame `j` (before fades).
#[derive(Debug, Clone, PartialEq)]
pub struct CodecAudio {
    /// The codec.
    pub spec: CodecSpec,
    /// The master, one `Vec` per channel.
    pub master: Vec<Vec<f32>>,
    /// The decoded codec audio, aligned to `master`, same lengths.
    pub decoded: Vec<Vec<f32>>,
    /// The codec's delay removed by alignment, frames at its coding rate.
    pub delay_frames: i64,
}

impl CodecAudio {
    /// Output frame `j` of channel `c`: the decoded audio, or with
    /// `artifacts` the decoded minus the master; 0 outside the track.
    #[inline]
    pub fn sample(&self, c: usize, j: u64, artifacts: bool) -> f32 {
        let (Some(d), Some(m)) = (self.decoded.get(c), self.master.get(c)) else {
            return 0.0;
        };
        let j = j as usize;
        match (d.get(j), m.get(j)) {
            (Some(&d), Some(&m)) if artifacts => d - m,
            (Some(&d), _) => d,
            _ => 0.0,
        }
    }

    /// Frames held.
    pub fn frames(&self) -> usize {
        self.master.first().map_or(0, Vec::len)
    }

    /// Render `track` at `rate` Hz through its chain exactly as the player
    /// does (the same reader, the gain into the limiter, latency removed),
    /// then through `spec` and back.
    pub fn render(track: &PlanTrack, rate: u32, spec: CodecSpec) -> Result<Self> {
        let master = render_master(track, rate)?;
        let tmp = TempWav::new(rate, &master)?;
        let (decoded, delay_frames) =
            crate::analysis::codec::decode_aligned(tmp.path(), spec, rate, master[0].len())?;
        Ok(Self {
            spec,
            master,
            decoded,
            delay_frames,
        })
    }
}

/// The chain's output for `track`, latency-compensated: output frame `j`
/// is what the player's unit puts out for the track's frame `j`.
pub fn render_master(track: &PlanTrack, rate: u32) -> Result<Vec<Vec<f32>>> {
    let mut reader = super::reader::TrackReader::open(track, rate, 0)?;
    let ch = track.channels;
    let mut chain = Chain::from_config(&track.chain, rate, ch)?;
    chain.jump_target_gain_db(track.gain_db);
    let latency = chain.latency();
    const BLOCK: usize = 1024;
    let mut block = crate::io::AudioBlock::new(ch, BLOCK);
    let mut input: Vec<Vec<f32>> = vec![Vec::new(); ch];
    let mut out: Vec<Vec<f32>> = vec![Vec::new(); ch];
    let mut frames = 0usize;
    let mut tail = latency;
    loop {
        reader.read(BLOCK, &mut input)?;
        let n = input[0].len();
        frames += n;
        let k = if n > 0 {
            n
        } else if tail > 0 {
            // The track's end, then silence to push the chain's latency out.
            let k = tail.min(BLOCK);
            tail -= k;
            for c in &mut input {
                c.clear();
                c.resize(k, 0.0);
            }
            k
        } else {
            break;
        };
        for (b, i) in block.channels.iter_mut().zip(&input) {
            b[..k].copy_from_slice(&i[..k]);
        }
        block.frames = k;
        chain.process(&mut block);
        for (o, b) in out.iter_mut().zip(&block.channels) {
            o.extend_from_slice(&b[..k]);
        }
    }
    for o in &mut out {
        o.drain(..latency.min(o.len()));
        o.truncate(frames);
    }
    Ok(out)
}

/// A float WAV in the temporary folder, removed when dropped.
struct TempWav(PathBuf);

impl TempWav {
    fn new(rate: u32, audio: &[Vec<f32>]) -> Result<Self> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "lathe-codec-{}-{}.wav",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut w = crate::io::encode::WavOutput::create(
            &path,
            rate,
            audio.len(),
            crate::io::encode::SampleFormat::Float32,
            &[],
            true,
        )?;
        let mut block = crate::io::AudioBlock::new(audio.len(), 8192);
        let len = audio.first().map_or(0, Vec::len);
        let mut at = 0;
        while at < len {
            let n = (len - at).min(8192);
            for (b, a) in block.channels.iter_mut().zip(audio) {
                b[..n].copy_from_slice(&a[at..at + n]);
            }
            block.frames = n;
            w.write_block(&block)?;
            at += n;
        }
        w.finish()
            .map_err(|e| LatheError::write(&path, e.to_string()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempWav {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
