//! Tonal balance: a track's long-term spectrum in 1/3-octave bands
//! (25 Hz – 16 kHz, base-10 centres as IEC 61260), loudness-normalized so
//! tracks of any level compare, over the passages that carry the music:
//! silence, fade-outs and quiet tails do not count.
//!
//! Method: Hann-windowed 8192-point FFTs every 4096 frames (Welch); each
//! frame's power (all channels added) is summed into the bands, edge bins
//! split by the share of their width inside each band. Frames are gated as
//! BS.1770 gates loudness blocks: absolute −70 dB, then 20 dB below the
//! mean power of the frames above it. The band levels are the mean gated
//! power per band in dB, less the file's integrated loudness (LUFS), so
//! 0 dB in a band means "as loud in that band as the track is overall".

use std::path::Path;

use realfft::RealFftPlanner;

pub use crate::audio::bands::{BANDS, band_centre_hz, band_edges_hz};

use crate::analysis::loudness::LoudnessMeter;
use crate::audio::AudioBlock;
use crate::error::Result;
use crate::io::{AudioSource, open_source};

/// FFT length, frames.
pub const FFT_LEN: usize = 8192;
/// Hop between FFT frames, frames (50 % overlap).
pub const HOP: usize = 4096;
/// Bands from this centre (Hz) up to [`SUMMARY_HIGH_HZ`] count in the one-number summary.
pub const SUMMARY_LOW_HZ: f64 = 40.0;
/// See [`SUMMARY_LOW_HZ`].
pub const SUMMARY_HIGH_HZ: f64 = 12_000.0;
/// Frames more than this far below the mean gated frame power do not count, dB.
const RELATIVE_GATE_DB: f64 = -20.0;
/// Frames below this mean-square power (dB re full scale) do not count.
const ABSOLUTE_GATE_DB: f64 = -70.0;

/// Short label of band `i`'s nominal centre ("25", "1k", "12.5k").
pub fn band_label(i: usize) -> &'static str {
    const LABELS: [&str; BANDS] = [
        "25", "31.5", "40", "50", "63", "80", "100", "125", "160", "200", "250", "315", "400",
        "500", "630", "800", "1k", "1.25k", "1.6k", "2k", "2.5k", "3.15k", "4k", "5k", "6.3k",
        "8k", "10k", "12.5k", "16k",
    ];
    LABELS[i]
}

/// A track's tonal balance.
#[derive(Debug, Clone, PartialEq)]
pub struct TonalProfile {
    /// Mean gated power per band less the integrated loudness, dB
    /// (−∞ where a band is empty, e.g. above the Nyquist frequency).
    pub bands_db: Vec<f64>,
    /// Integrated loudness of the track, LUFS.
    pub integrated_lufs: f64,
    /// FFT frames that passed the gate, of all frames.
    pub frames_used: usize,
    /// FFT frames in all.
    pub frames_total: usize,
}

/// Audio consumed before `history` is compacted, frames.
const COMPACT_AT: usize = 16 * HOP;

/// Σ w·p over the two slices, in four running sums side by side.
fn weighted_sum(w: &[f64], p: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (wc, pc) = (w.chunks_exact(4), p.chunks_exact(4));
    let tail: f64 = wc
        .remainder()
        .iter()
        .zip(pc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in wc.zip(pc) {
        for k in 0..4 {
            acc[k] += a[k] * b[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Per band, the share of each FFT bin's width that lies in the band:
/// (band, first bin, weights).
fn band_bins(rate: u32) -> Vec<(usize, Vec<f64>)> {
    let bin_hz = f64::from(rate) / FFT_LEN as f64;
    let nyquist = f64::from(rate) / 2.0;
    (0..BANDS)
        .map(|b| {
            let (lo, hi) = band_edges_hz(b);
            let hi = hi.min(nyquist);
            if lo >= hi {
                return (0, Vec::new());
            }
            // Bin k covers [(k − ½)·Δ, (k + ½)·Δ].
            let first = ((lo / bin_hz) + 0.5).floor().max(1.0) as usize;
            let last = ((hi / bin_hz) + 0.5).floor() as usize;
            let weights = (first..=last)
                .map(|k| {
                    let (a, z) = ((k as f64 - 0.5) * bin_hz, (k as f64 + 0.5) * bin_hz);
                    ((z.min(hi) - a.max(lo)) / bin_hz).clamp(0.0, 1.0)
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// Streaming tonal-balance measurement: feed planar blocks, then
/// [`TonalAnalyzer::finish`] with the integrated loudness. Holds one FFT
/// frame per channel and 240 bytes per 85 ms of audio analyzed. The FFTs
/// run in f32 (their rounding is far below the 0.01 dB shown); the powers
/// add up in f64.
pub struct TonalAnalyzer {
    bins: Vec<(usize, Vec<f64>)>,
    fft: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    window: Vec<f32>,
    norm: f64,
    history: Vec<Vec<f32>>,
    /// Where the next FFT frame starts in `history` (consumed audio is
    /// dropped from the front only now and then, not at every hop).
    start: usize,
    /// One FFT frame's power per bin, all channels added.
    bin_power: Vec<f64>,
    /// Per FFT frame: mean-square power (all channels added), band powers.
    frames: Vec<(f64, [f64; BANDS])>,
}

impl std::fmt::Debug for TonalAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TonalAnalyzer")
            .field("frames", &self.frames.len())
            .finish()
    }
}

impl TonalAnalyzer {
    /// An analyzer for `channels` channels at `rate` Hz.
    pub fn new(rate: u32, channels: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FFT_LEN);
        let window: Vec<f32> = crate::audio::hann(FFT_LEN).map(|w| w as f32).collect();
        // Power of a full-scale sine per bin after the window: (Σw / 2)².
        let sum: f64 = window.iter().map(|w| f64::from(*w)).sum();
        Self {
            bins: band_bins(rate),
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            norm: 4.0 / (sum * sum),
            history: vec![Vec::with_capacity(COMPACT_AT + FFT_LEN + 8192); channels],
            start: 0,
            bin_power: vec![0.0; FFT_LEN / 2 + 1],
            frames: Vec::new(),
        }
    }

    /// Feed `frames` frames of planar audio.
    pub fn push(&mut self, planar: &[Vec<f32>], frames: usize) {
        for (h, c) in self.history.iter_mut().zip(planar) {
            h.extend_from_slice(&c[..frames]);
        }
        let mut start = self.start;
        while self
            .history
            .first()
            .is_some_and(|h| h.len() - start >= FFT_LEN)
        {
            let mut power = 0.0;
            self.bin_power.iter_mut().for_each(|p| *p = 0.0);
            for h in &self.history {
                let frame = &h[start..start + FFT_LEN];
                // Four running sums side by side (one would wait on
                // each addition in turn).
                let mut acc = [0.0f64; 4];
                for c in frame.chunks_exact(4) {
                    for (a, v) in acc.iter_mut().zip(c) {
                        *a += f64::from(*v) * f64::from(*v);
                    }
                }
                power += ((acc[0] + acc[1]) + (acc[2] + acc[3])) / FFT_LEN as f64;
                for ((i, x), w) in self.input.iter_mut().zip(frame).zip(&self.window) {
                    *i = x * w;
                }
                // The lengths are the plan's own: this cannot fail.
                let _ = self.fft.process_with_scratch(
                    &mut self.input,
                    &mut self.spectrum,
                    &mut self.scratch,
                );
                for (p, c) in self.bin_power.iter_mut().zip(&self.spectrum) {
                    *p += f64::from(c.norm_sqr());
                }
            }
            let mut bands = [0.0f64; BANDS];
            for (band, (first, weights)) in bands.iter_mut().zip(&self.bins) {
                let p = &self.bin_power[*first..*first + weights.len()];
                *band = weighted_sum(weights, p) * self.norm;
            }
            self.frames.push((power, bands));
            start += HOP;
        }
        if start >= COMPACT_AT {
            for h in &mut self.history {
                h.drain(..start);
            }
            start = 0;
        }
        self.start = start;
    }

    /// The profile of what was pushed, whose integrated loudness was
    /// `integrated_lufs`.
    pub fn finish(&self, integrated_lufs: f64) -> TonalProfile {
        let db = |p: f64| 10.0 * p.log10();
        let loud: Vec<&(f64, [f64; BANDS])> = self
            .frames
            .iter()
            .filter(|f| db(f.0) > ABSOLUTE_GATE_DB)
            .collect();
        let mean = loud.iter().map(|f| f.0).sum::<f64>() / loud.len().max(1) as f64;
        let used: Vec<&&(f64, [f64; BANDS])> = loud
            .iter()
            .filter(|f| db(f.0) > db(mean) + RELATIVE_GATE_DB)
            .collect();
        let bands_db = (0..BANDS)
            .map(|b| {
                if used.is_empty() || self.bins[b].1.is_empty() || !integrated_lufs.is_finite() {
                    return f64::NEG_INFINITY;
                }
                let p = used.iter().map(|f| f.1[b]).sum::<f64>() / used.len() as f64;
                db(p) - integrated_lufs
            })
            .collect();
        TonalProfile {
            bands_db,
            integrated_lufs,
            frames_used: used.len(),
            frames_total: self.frames.len(),
        }
    }
}

/// The tonal balance of the audio file at `path`.
pub fn tonal_profile(path: &Path) -> Result<TonalProfile> {
    let mut src = open_source(path)?;
    let info = src.info().clone();
    let mut meter = LoudnessMeter::new(info.sample_rate, &info.channel_weights);
    let mut tonal = TonalAnalyzer::new(info.sample_rate, info.channels);
    let mut block = AudioBlock::new(info.channels, 8192);
    loop {
        let n = src.read(&mut block)?;
        if n == 0 {
            break;
        }
        meter.push(&block.channels, n);
        tonal.push(&block.channels, n);
    }
    Ok(tonal.finish(meter.stats().integrated_lufs))
}

/// The average of several profiles per band, dB (bands empty in any
/// profile are −∞).
pub fn average_db(profiles: &[&TonalProfile]) -> Vec<f64> {
    let levels: Vec<&[f64]> = profiles.iter().map(|p| p.bands_db.as_slice()).collect();
    average_of(&levels)
}

/// The per-band average of band levels (each [`BANDS`] long), dB (−∞
/// where any is empty, or with none).
pub fn average_of(levels: &[&[f64]]) -> Vec<f64> {
    (0..BANDS)
        .map(|b| {
            let v: Vec<f64> = levels.iter().map(|p| p[b]).collect();
            if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
                f64::NEG_INFINITY
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect()
}

/// A profile's deviation from `reference` per band, dB (0 where either is
/// empty).
pub fn deviation_db(profile: &TonalProfile, reference: &[f64]) -> Vec<f64> {
    deviation_of(&profile.bands_db, reference)
}

/// Band levels' deviation from `reference` per band, dB (0 where either is
/// empty).
pub fn deviation_of(levels: &[f64], reference: &[f64]) -> Vec<f64> {
    levels
        .iter()
        .zip(reference)
        .map(|(a, r)| {
            if a.is_finite() && r.is_finite() {
                a - r
            } else {
                0.0
            }
        })
        .collect()
}

/// One number for a deviation: its RMS over the bands from
/// [`SUMMARY_LOW_HZ`] to [`SUMMARY_HIGH_HZ`], dB.
pub fn rms_deviation_db(deviation: &[f64]) -> f64 {
    let v: Vec<f64> = deviation
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let c = band_centre_hz(*i);
            (SUMMARY_LOW_HZ * 0.99..=SUMMARY_HIGH_HZ).contains(&c)
        })
        .map(|(_, d)| *d)
        .collect();
    (v.iter().map(|d| d * d).sum::<f64>() / v.len().max(1) as f64).sqrt()
}
