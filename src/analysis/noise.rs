//! Learning a track's noise floor for the de-hisser.
//!
//! Each channel is cut into the de-hisser's own frames (Hann, hop of a
//! quarter frame: `audio::noise::frame_len`) so the profile's powers
//! compare with the de-hisser's bin for bin.
//!
//! From the whole track: every bin keeps a histogram of its frame power
//! (0.25 dB classes). Stationary noise alone gives a bin an exponentially
//! distributed power, whose 10th percentile is −ln 0.9 ≈ 0.105 of its mean;
//! music only ever adds power, so the 10th percentile is the noise as long
//! as the bin is free of music a tenth of the time, and the mean follows
//! from it exactly (no empirical bias factor). A bin that music fills all
//! the time (a sustained bass note, its partials) reads high; hiss is
//! smooth across frequency, so each bin's floor is the 20th percentile of
//! the estimates of the bins around it (±1/12 octave, at least ±4 bins),
//! held under an envelope that rises at most 6 dB an octave going up and
//! 1 dB an octave going down: bass bins that music fills all the time
//! cannot read higher than the noise the bins above reveal (without it
//! they read 26 dB high under dense piano).
//!
//! From a chosen passage of noise alone (`profile_start_s`..`profile_end_s`,
//! as Audacity's and RX's "learn"): the mean power of its frames, lightly
//! smoothed across ±2 bins.

use std::sync::Arc;

pub use crate::audio::noise::{NoiseProfile, ProfileSource, frame_len};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

/// Histogram classes per dB.
const PER_DB: f64 = 4.0;
/// The lowest class, dB (re |X|² of full-scale-normalized samples).
const LOW_DB: f64 = -260.0;
/// Classes (−260 dB to +60 dB).
const CLASSES: usize = 1280;
/// The percentile of a bin's frame power read as its noise.
const PERCENTILE: f64 = 0.10;
/// How fast the noise floor may rise going up in frequency, dB per
/// octave (hiss tilts up; a recorder's pre-emphasis reaches about 6).
const RISE_UP_DB_OCT: f64 = 6.0;
/// How fast it may rise going down in frequency, dB per octave: hiss is
/// flat or falls toward the bass, and the bass is where music hides it.
const RISE_DOWN_DB_OCT: f64 = 1.0;
/// The percentile across neighbouring bins taken as a bin's floor.
const ACROSS: f64 = 0.20;

/// What a [`NoiseProfiler`] learns from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Learn {
    /// The whole track.
    Track,
    /// The frames wholly inside `start`..`end` seconds.
    Range(f64, f64),
}

/// Streaming noise-floor learning: feed planar blocks, then
/// [`NoiseProfiler::finish`]. Memory is fixed (about 5 MB a channel for
/// the whole-track histograms) whatever the length.
pub struct NoiseProfiler {
    rate: u32,
    frame: usize,
    hop: usize,
    learn: Learn,
    fft: Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    /// Per channel, the last `frame` samples.
    input: Vec<Vec<f32>>,
    filled: usize,
    /// Samples seen per channel.
    pos: u64,
    time: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Per channel: per bin × class counts (Track) or per bin power sums (Range).
    counts: Vec<Vec<u32>>,
    sums: Vec<Vec<f64>>,
    frames: usize,
}

impl std::fmt::Debug for NoiseProfiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseProfiler")
            .field("rate", &self.rate)
            .field("frames", &self.frames)
            .finish()
    }
}

impl NoiseProfiler {
    /// A profiler for `channels` channels at `rate` Hz.
    pub fn new(rate: u32, channels: usize, learn: Learn) -> Self {
        let frame = frame_len(rate);
        let bins = frame / 2 + 1;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(frame);
        let per_bin = match learn {
            Learn::Track => bins * CLASSES,
            Learn::Range(..) => 0,
        };
        Self {
            rate,
            frame,
            hop: frame / 4,
            learn,
            window: crate::audio::hann(frame).map(|w| w as f32).collect(),
            input: vec![vec![0.0; frame]; channels],
            filled: 0,
            pos: 0,
            time: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            counts: vec![vec![0; per_bin]; channels],
            sums: vec![vec![0.0; bins]; channels],
            frames: 0,
        }
    }

    /// Feed `frames` frames of planar audio.
    pub fn push(&mut self, channels: &[Vec<f32>], frames: usize) {
        let mut done = 0;
        while done < frames {
            let take = (self.frame - self.filled).min(frames - done);
            for (buf, ch) in self.input.iter_mut().zip(channels) {
                buf[self.filled..self.filled + take].copy_from_slice(&ch[done..done + take]);
            }
            self.filled += take;
            self.pos += take as u64;
            done += take;
            if self.filled == self.frame {
                self.analyze();
                for buf in &mut self.input {
                    buf.copy_within(self.hop.., 0);
                }
                self.filled = self.frame - self.hop;
            }
        }
    }

    fn analyze(&mut self) {
        if let Learn::Range(a, b) = self.learn {
            let end = self.pos as f64 / f64::from(self.rate);
            let start = end - self.frame as f64 / f64::from(self.rate);
            if start < a || end > b {
                return;
            }
        }
        let bins = self.frame / 2 + 1;
        for ch in 0..self.input.len() {
            for ((t, x), w) in self.time.iter_mut().zip(&self.input[ch]).zip(&self.window) {
                *t = x * w;
            }
            let _ = self.fft.process_with_scratch(
                &mut self.time,
                &mut self.spectrum,
                &mut self.scratch,
            );
            match self.learn {
                Learn::Track => {
                    let counts = &mut self.counts[ch];
                    for (k, c) in self.spectrum.iter().enumerate() {
                        let db = 10.0 * (f64::from(c.norm_sqr())).max(1e-40).log10();
                        let class = (((db - LOW_DB) * PER_DB).max(0.0) as usize).min(CLASSES - 1);
                        counts[k * CLASSES + class] += 1;
                    }
                }
                Learn::Range(..) => {
                    for (s, c) in self.sums[ch].iter_mut().zip(&self.spectrum[..bins]) {
                        *s += f64::from(c.norm_sqr());
                    }
                }
            }
        }
        self.frames += 1;
    }

    /// The profile learnt; None when no frame was analyzed (a track or a
    /// range shorter than one frame).
    pub fn finish(self) -> Option<NoiseProfile> {
        if self.frames == 0 {
            return None;
        }
        let bins = self.frame / 2 + 1;
        let power = match self.learn {
            Learn::Track => self
                .counts
                .iter()
                .map(|counts| {
                    let raw: Vec<f64> = (0..bins)
                        .map(|k| {
                            let h = &counts[k * CLASSES..(k + 1) * CLASSES];
                            percentile_db(h, PERCENTILE)
                        })
                        .collect();
                    // Exponential power: the mean is the percentile over −ln(1 − p).
                    let scale = 1.0 / -(1.0 - PERCENTILE).ln();
                    across(&raw, self.rate, self.frame)
                        .into_iter()
                        .map(|db| (10f64.powf(db / 10.0) * scale) as f32)
                        .collect()
                })
                .collect(),
            Learn::Range(..) => self
                .sums
                .iter()
                .map(|s| {
                    (0..bins)
                        .map(|k| {
                            let lo = k.saturating_sub(2);
                            let hi = (k + 3).min(bins);
                            (s[lo..hi].iter().sum::<f64>() / ((hi - lo) * self.frames) as f64)
                                as f32
                        })
                        .collect()
                })
                .collect(),
        };
        Some(NoiseProfile {
            rate: self.rate,
            frame: self.frame,
            power,
            source: match self.learn {
                Learn::Track => ProfileSource::Track,
                Learn::Range(a, b) => ProfileSource::Range(a, b),
            },
        })
    }
}

/// The `p` percentile of a histogram of 1/`PER_DB` dB classes, dB
/// (interpolated within its class).
fn percentile_db(h: &[u32], p: f64) -> f64 {
    let total: u64 = h.iter().map(|&c| u64::from(c)).sum();
    let want = p * total as f64;
    let mut seen = 0.0;
    for (i, &c) in h.iter().enumerate() {
        let next = seen + f64::from(c);
        if next >= want && c > 0 {
            let frac = (want - seen) / f64::from(c);
            return LOW_DB + (i as f64 + frac) / PER_DB;
        }
        seen = next;
    }
    LOW_DB
}

/// Each bin's floor: the [`ACROSS`] percentile of the bins within ±1/12
/// octave (at least ±4 bins), then held under a lower envelope: going up
/// in frequency the floor may rise at most [`RISE_UP_DB_OCT`], going down
/// at most [`RISE_DOWN_DB_OCT`]. Music that fills the low bins all the
/// time cannot raise their floor above what the noise-revealing bins
/// above allow. dB.
fn across(raw: &[f64], rate: u32, frame: usize) -> Vec<f64> {
    let bin_hz = f64::from(rate) / frame as f64;
    let n = raw.len();
    let mut win = Vec::with_capacity(n);
    let mut floor: Vec<f64> = (0..n)
        .map(|k| {
            let f = k as f64 * bin_hz;
            let half = ((f * (2f64.powf(1.0 / 12.0) - 1.0) / bin_hz) as usize).max(4);
            let lo = k.saturating_sub(half);
            let hi = (k + half + 1).min(n);
            win.clear();
            win.extend_from_slice(&raw[lo..hi]);
            let at = ((win.len() - 1) as f64 * ACROSS).round() as usize;
            let (_, v, _) = win.select_nth_unstable_by(at, f64::total_cmp);
            *v
        })
        .collect();
    // Octaves between neighbouring bins (bin 0 counts as bin 1).
    let oct = |k: usize| ((k + 1) as f64 / k.max(1) as f64).log2();
    for k in 1..n {
        floor[k] = floor[k].min(floor[k - 1] + RISE_UP_DB_OCT * oct(k - 1));
    }
    for k in (0..n - 1).rev() {
        floor[k] = floor[k].min(floor[k + 1] + RISE_DOWN_DB_OCT * oct(k));
    }
    floor
}
