//! Long-term mid and side spectra, loudness-normalized, for reference
//! matching (`dsp::matcheq`) and its verification.
//!
//! Method: Hann-windowed 16,384-point FFTs every 8,192 frames of the mid
//! (L+R)/2 and side (L−R)/2 signals (a mono file is all mid). Each
//! frame's bin powers are gathered onto a fixed logarithmic grid, 48
//! points per octave from 16 Hz (the bins inside each point's 1/48-octave
//! cell averaged; below about 150 Hz, where cells are narrower than a bin,
//! interpolated between the two nearest bins). Frames are gated as
//! BS.1770 gates loudness blocks, so silence, fade-outs and quiet tails do
//! not count: absolute −70 dB, then 20 dB below the mean power of the
//! frames above it (frames are kept in 1 dB classes of their power, so the
//! memory is fixed whatever the length). The gated mean spectra are
//! divided by their own K-weighted total (the BS.1770 weighting applied to
//! the spectrum), so two files of any level compare at equal loudness and
//! the grid values are power densities per Hz relative to the loudness.

use std::path::Path;
use std::sync::Arc;

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

pub use crate::audio::longterm::*;

use crate::analysis::loudness::k_weighting_power;
use crate::audio::AudioBlock;
use crate::error::{LatheError, Result};
use crate::io::{AudioSource, open_source};

/// FFT length, frames.
pub const FFT_LEN: usize = 16_384;
/// Hop between FFT frames, frames (50 % overlap).
pub const HOP: usize = FFT_LEN / 2;
/// Frames below this power (dB re a full-scale sine's mid) do not count.
const ABSOLUTE_GATE_DB: f64 = -70.0;
/// Frames more than this far below the mean gated frame power do not count, dB.
const RELATIVE_GATE_DB: f64 = -20.0;
/// Power classes of 1 dB from the absolute gate up to +20 dB.
const CLASSES: usize = 90;

/// How one grid point is read from the FFT bins.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// Mean of bins `[first, last)`.
    Mean(usize, usize),
    /// Bins `k` and `k + 1` weighted `1 − t` and `t`.
    Lerp(usize, f64),
    /// Beyond what the rate holds.
    Empty,
}

/// Streaming long-term mid/side spectrum: feed planar blocks, then
/// [`MsAnalyzer::finish`]. Memory is fixed (about 1.6 MB) whatever the length.
pub struct MsAnalyzer {
    rate: u32,
    channels: usize,
    picks: Vec<Pick>,
    fft: Arc<dyn realfft::RealToComplex<f32>>,
    window: Vec<f32>,
    window_power: f64,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    mid_hist: Vec<f32>,
    side_hist: Vec<f32>,
    filled: usize,
    powers: Vec<f64>,
    grid_mid: Vec<f64>,
    grid_side: Vec<f64>,
    /// Per power class: frames, summed power, summed mid and side grids.
    counts: Vec<usize>,
    class_power: Vec<f64>,
    class_mid: Vec<f64>,
    class_side: Vec<f64>,
    frames_total: usize,
}

impl std::fmt::Debug for MsAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsAnalyzer")
            .field("rate", &self.rate)
            .field("frames_total", &self.frames_total)
            .finish()
    }
}

impl MsAnalyzer {
    /// An analyzer for `channels` channels (1 or 2; more: the first two) at `rate` Hz.
    pub fn new(rate: u32, channels: usize) -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(FFT_LEN);
        let window: Vec<f32> = crate::audio::hann(FFT_LEN).map(|w| w as f32).collect();
        let window_power = window.iter().map(|w| f64::from(*w).powi(2)).sum::<f64>();
        let bin_hz = f64::from(rate) / FFT_LEN as f64;
        let top = 0.45 * f64::from(rate);
        let h = 2f64.powf(0.5 / PER_OCTAVE as f64);
        let picks = (0..GRID_POINTS)
            .map(|g| {
                let f = grid_hz(g);
                if f > top {
                    return Pick::Empty;
                }
                let first = (f / h / bin_hz).ceil() as usize;
                let last = (f * h / bin_hz).ceil() as usize;
                if last >= first + 2 {
                    Pick::Mean(first, last.min(FFT_LEN / 2))
                } else {
                    let x = f / bin_hz;
                    Pick::Lerp(x.floor() as usize, x - x.floor())
                }
            })
            .collect();
        Self {
            rate,
            channels: channels.clamp(1, 2),
            picks,
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            window_power,
            mid_hist: vec![0.0; FFT_LEN],
            side_hist: vec![0.0; FFT_LEN],
            filled: 0,
            powers: vec![0.0; FFT_LEN / 2 + 1],
            grid_mid: vec![0.0; GRID_POINTS],
            grid_side: vec![0.0; GRID_POINTS],
            counts: vec![0; CLASSES],
            class_power: vec![0.0; CLASSES],
            class_mid: vec![0.0; CLASSES * GRID_POINTS],
            class_side: vec![0.0; CLASSES * GRID_POINTS],
            frames_total: 0,
        }
    }

    /// Feed `frames` frames of planar audio (`planar[c][..frames]`).
    pub fn push(&mut self, planar: &[Vec<f32>], frames: usize) {
        let mut at = 0;
        while at < frames {
            let n = (FFT_LEN - self.filled).min(frames - at);
            for i in 0..n {
                let (m, s) = if self.channels == 2 && planar.len() >= 2 {
                    let (l, r) = (planar[0][at + i], planar[1][at + i]);
                    ((l + r) * 0.5, (l - r) * 0.5)
                } else {
                    (planar[0][at + i], 0.0)
                };
                self.mid_hist[self.filled + i] = m;
                self.side_hist[self.filled + i] = s;
            }
            self.filled += n;
            at += n;
            if self.filled == FFT_LEN {
                self.frame();
                self.mid_hist.copy_within(HOP.., 0);
                self.side_hist.copy_within(HOP.., 0);
                self.filled = FFT_LEN - HOP;
            }
        }
    }

    /// Transform the mid (or side) onto its grid; returns its windowed power.
    fn transform(&mut self, side: bool) -> f64 {
        let (hist, grid) = if side {
            (&self.side_hist, &mut self.grid_side)
        } else {
            (&self.mid_hist, &mut self.grid_mid)
        };
        let mut power = 0.0;
        for ((i, x), w) in self.input.iter_mut().zip(hist).zip(&self.window) {
            *i = x * w;
            power += f64::from(*i) * f64::from(*i);
        }
        // The lengths are the plan's own: this cannot fail.
        let _ =
            self.fft
                .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch);
        for (p, c) in self.powers.iter_mut().zip(&self.spectrum) {
            *p = f64::from(c.norm_sqr());
        }
        let last = self.powers.len() - 1;
        for (out, pick) in grid.iter_mut().zip(&self.picks) {
            *out = match *pick {
                Pick::Mean(a, z) => self.powers[a..z].iter().sum::<f64>() / (z - a).max(1) as f64,
                Pick::Lerp(k, t) => {
                    self.powers[k.min(last)] * (1.0 - t) + self.powers[(k + 1).min(last)] * t
                }
                Pick::Empty => 0.0,
            };
        }
        power / self.window_power
    }

    fn frame(&mut self) {
        self.frames_total += 1;
        let mut power = self.transform(false);
        let class_of = |p: f64| -> Option<usize> {
            let db = 10.0 * p.log10() + 3.01;
            (db > ABSOLUTE_GATE_DB).then(|| ((db - ABSOLUTE_GATE_DB) as usize).min(CLASSES - 1))
        };
        if self.channels == 2 {
            power += self.transform(true);
        }
        let Some(c) = class_of(power) else {
            return;
        };
        self.counts[c] += 1;
        self.class_power[c] += power;
        let row = c * GRID_POINTS;
        for (acc, v) in self.class_mid[row..row + GRID_POINTS]
            .iter_mut()
            .zip(&self.grid_mid)
        {
            *acc += v;
        }
        for (acc, v) in self.class_side[row..row + GRID_POINTS]
            .iter_mut()
            .zip(&self.grid_side)
        {
            *acc += v;
        }
    }

    /// The gated, loudness-normalized spectrum of what was pushed; None
    /// when nothing passed the gate (silence).
    pub fn finish(&self) -> Option<MsSpectrum> {
        let n: usize = self.counts.iter().sum();
        if n == 0 {
            return None;
        }
        let mean = self.class_power.iter().sum::<f64>() / n as f64;
        let gate = 10.0 * mean.log10() + 3.01 + RELATIVE_GATE_DB;
        let mut mid = vec![0.0; GRID_POINTS];
        let mut side = vec![0.0; GRID_POINTS];
        let mut used = 0;
        for c in 0..CLASSES {
            // A class counts when its frames' mean power is above the gate.
            if self.counts[c] == 0
                || 10.0 * (self.class_power[c] / self.counts[c] as f64).log10() + 3.01 < gate
            {
                continue;
            }
            used += self.counts[c];
            let row = c * GRID_POINTS;
            for g in 0..GRID_POINTS {
                mid[g] += self.class_mid[row + g];
                side[g] += self.class_side[row + g];
            }
        }
        // Bin power → density per Hz, then relative to the K-weighted total.
        let bin_hz = f64::from(self.rate) / FFT_LEN as f64;
        let total: f64 = (0..GRID_POINTS)
            .map(|g| {
                k_weighting_power(self.rate, grid_hz(g)) * (mid[g] + side[g]) / bin_hz
                    * grid_width_hz(g)
            })
            .sum();
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        let scale = 1.0 / (bin_hz * total);
        mid.iter_mut().for_each(|v| *v *= scale);
        side.iter_mut().for_each(|v| *v *= scale);
        Some(MsSpectrum {
            mid,
            side,
            frames_used: used,
            frames_total: self.frames_total,
        })
    }
}

/// Read `src` to its end through `process` (e.g. the chain before a match
/// module) and return its long-term spectrum; None if it is silent.
pub fn spectrum_of(
    src: &mut dyn AudioSource,
    process: &mut dyn FnMut(&mut AudioBlock),
) -> Result<Option<MsSpectrum>> {
    let info = src.info().clone();
    let mut an = MsAnalyzer::new(info.sample_rate, info.channels);
    let mut block = AudioBlock::new(info.channels, 4096);
    loop {
        let n = src.read(&mut block)?;
        if n == 0 {
            break;
        }
        process(&mut block);
        an.push(&block.channels, block.frames);
    }
    Ok(an.finish())
}

/// The long-term spectrum of the audio file at `path`, as a match
/// reference: an error naming the file if it cannot be read or is silent.
pub fn reference_spectrum(path: &Path) -> Result<MsSpectrum> {
    reference_measure(path).map(|(s, _)| s)
}

/// [`reference_spectrum`] and the file's integrated loudness (LUFS), in one read.
pub fn reference_measure(path: &Path) -> Result<(MsSpectrum, f64)> {
    let mut src = open_source(path)?;
    let info = src.info().clone();
    let mut meter =
        crate::analysis::loudness::LoudnessMeter::new(info.sample_rate, &info.channel_weights);
    let spectrum = spectrum_of(&mut src, &mut |b| meter.push(&b.channels, b.frames))?;
    let lufs = meter.stats().integrated_lufs;
    match spectrum {
        Some(s) if lufs.is_finite() => Ok((s, lufs)),
        _ => Err(LatheError::decode(
            path,
            "the match reference is silent (nothing above -70 dB to match)",
        )),
    }
}
