//! Finding mains hum: its exact frequency and which harmonics stand above
//! the music, so hum removal notches only what is there.
//!
//! Method: the spectrum of the mid (L+R)/2 from Hann-windowed FFTs of
//! about 1.4 s (65,536 points at 44.1/48 kHz: a bin of 0.7 Hz) every half
//! window over the whole track. Hum is steady, music is not: a note's
//! partials come and decay, and a melody in G puts a comb of partials on
//! 49 Hz as regular as any hum. So each bin below 1 kHz keeps a histogram
//! of its power frame by frame (1 dB classes), and detection reads its
//! 25th percentile: what the bin holds three quarters of the time, which
//! is the hum and not the notes. For each of 50 and 60 Hz the fundamental
//! is searched within ±0.6 Hz in 0.01 Hz steps for the comb whose first
//! three harmonics stand highest above their local floor (the median of
//! the bins within ±15 Hz, the peak's own bins left out), counting only
//! steady bins (whose frame power spreads by at most 6 dB between its
//! quartiles: a note's partial comes and goes, hum does not);
//! the frequency is then refined by quadratic interpolation of the
//! strongest harmonic's peak in the mean spectrum. A harmonic counts as
//! present when its peak is within 0.75 bin of its place on the comb and
//! stands at least [`PRESENT_ABOVE_DB`] above the floor.

use std::sync::Arc;

pub use crate::audio::hum::{HumFound, HumHarmonic};
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

/// Harmonics considered (including the fundamental).
pub const MAX_HARMONICS: u32 = 8;
/// A harmonic this far above the local floor of the spectrum counts as hum, dB.
pub const PRESENT_ABOVE_DB: f64 = 10.0;
/// Half-width of the neighbourhood the local floor is taken from, Hz.
const FLOOR_HZ: f64 = 15.0;
/// Histogram classes of a bin's frame power: 1 dB from −250 dB.
const CLASSES: usize = 300;
/// The lowest class, dB.
const CLASS_LOW_DB: f64 = -250.0;
/// The percentile of a bin's frame powers detection reads.
const STEADY_PERCENTILE: f64 = 0.25;
/// A bin whose frame power spreads wider than this between its 25th and
/// 75th percentiles is music coming and going, not hum, dB.
const MAX_SPREAD_DB: f64 = 6.0;

/// Streaming hum detection: feed planar blocks, then [`HumAnalyzer::finish`].
/// Memory is fixed (about 2 MB) whatever the length.
pub struct HumAnalyzer {
    rate: u32,
    len: usize,
    fft: Arc<dyn realfft::RealToComplex<f64>>,
    window: Vec<f64>,
    input: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    hist: Vec<f64>,
    filled: usize,
    power: Vec<f64>,
    /// Per bin below `hist_bins`: counts of its frame power per 1 dB class.
    classes: Vec<u32>,
    hist_bins: usize,
    /// The steady spectrum (see the module docs), made by `finish`.
    steady: Vec<f64>,
    /// Per bin, how far its frame power spreads (75th − 25th percentile), dB.
    spread: Vec<f64>,
    frames: usize,
}

impl std::fmt::Debug for HumAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HumAnalyzer")
            .field("rate", &self.rate)
            .field("frames", &self.frames)
            .finish()
    }
}

impl HumAnalyzer {
    /// An analyzer for audio at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let len = ((f64::from(rate) * 1.4) as usize).next_power_of_two();
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(len);
        let bin = f64::from(rate) / len as f64;
        let hist_bins = (((1000.0 + 2.0 * FLOOR_HZ) / bin).ceil() as usize).min(len / 2 + 1);
        Self {
            rate,
            len,
            window: crate::audio::hann(len).collect(),
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            hist: vec![0.0; len],
            filled: 0,
            power: vec![0.0; len / 2 + 1],
            classes: vec![0; hist_bins * CLASSES],
            hist_bins,
            steady: Vec::new(),
            spread: Vec::new(),
            frames: 0,
        }
    }

    /// Feed `frames` frames of planar audio (the mid of the first two channels).
    pub fn push(&mut self, planar: &[Vec<f32>], frames: usize) {
        let mut at = 0;
        while at < frames {
            let n = (self.len - self.filled).min(frames - at);
            for i in 0..n {
                let v = match planar {
                    [l, r, ..] => (f64::from(l[at + i]) + f64::from(r[at + i])) * 0.5,
                    [m] => f64::from(m[at + i]),
                    [] => 0.0,
                };
                self.hist[self.filled + i] = v;
            }
            self.filled += n;
            at += n;
            if self.filled == self.len {
                for ((x, h), w) in self.input.iter_mut().zip(&self.hist).zip(&self.window) {
                    *x = h * w;
                }
                // The lengths are the plan's own: this cannot fail.
                let _ = self.fft.process_with_scratch(
                    &mut self.input,
                    &mut self.spectrum,
                    &mut self.scratch,
                );
                for (k, (p, c)) in self.power.iter_mut().zip(&self.spectrum).enumerate() {
                    let v = c.norm_sqr();
                    *p += v;
                    if k < self.hist_bins {
                        let db = 10.0 * v.max(1e-30).log10();
                        let class = ((db - CLASS_LOW_DB).max(0.0) as usize).min(CLASSES - 1);
                        self.classes[k * CLASSES + class] += 1;
                    }
                }
                self.frames += 1;
                let half = self.len / 2;
                self.hist.copy_within(half.., 0);
                self.filled = self.len - half;
            }
        }
    }

    /// The local floor around bin `k`: the median of the bins within
    /// ±15 Hz, the peak's own (±3 bins) left out.
    fn floor(&self, k: usize) -> f64 {
        let bin = f64::from(self.rate) / self.len as f64;
        let span = (FLOOR_HZ / bin).ceil() as usize;
        let mut v: Vec<f64> = (k.saturating_sub(span)..=(k + span).min(self.steady.len() - 1))
            .filter(|j| j.abs_diff(k) > 3)
            .map(|j| self.steady[j])
            .collect();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// The largest bin within one bin of `hz`: (bin, power).
    fn peak_near(&self, hz: f64) -> (usize, f64) {
        let bin = f64::from(self.rate) / self.len as f64;
        let c = (hz / bin).round() as usize;
        (c.saturating_sub(1)..=(c + 1).min(self.steady.len() - 1))
            .map(|j| (j, self.steady[j]))
            .fold((c, 0.0), |a, b| if b.1 > a.1 { b } else { a })
    }

    /// How far the comb on `f0` stands above the music: the sum over its
    /// first three harmonics of their height above the floor beyond 6 dB,
    /// dB. Only the low harmonics choose the frequency: searching ±0.6 Hz
    /// moves the 8th harmonic over ±5 Hz, enough to land on some steady
    /// partial of the music; they are counted once the comb is fixed.
    fn comb_score(&self, f0: f64) -> f64 {
        (1..=3)
            .map(|h| f0 * f64::from(h))
            .filter(|f| *f < 1000.0 && *f < 0.45 * f64::from(self.rate))
            .map(|f| (self.standing(f).1 - 6.0).max(0.0))
            .sum()
    }

    /// The steady spectrum (each bin's 25th-percentile frame power) and
    /// each bin's spread.
    fn make_steady(&mut self) {
        let class_at = |k: usize, q: f64| {
            let want = ((self.frames as f64 * q).ceil() as u32).max(1);
            let mut seen = 0;
            self.classes[k * CLASSES..(k + 1) * CLASSES]
                .iter()
                .position(|c| {
                    seen += c;
                    seen >= want
                })
                .unwrap_or(0) as f64
        };
        self.steady = (0..self.hist_bins)
            .map(|k| 10f64.powf((CLASS_LOW_DB + class_at(k, STEADY_PERCENTILE) + 0.5) / 10.0))
            .collect();
        self.spread = (0..self.hist_bins)
            .map(|k| class_at(k, 0.75) - class_at(k, STEADY_PERCENTILE))
            .collect();
    }

    /// How far the peak near `hz` stands above its floor, dB, counting
    /// only a steady peak (0 for one that comes and goes): (bin, dB).
    fn standing(&self, hz: f64) -> (usize, f64) {
        let (k, p) = self.peak_near(hz);
        let fl = self.floor(k);
        if p <= 0.0 || fl <= 0.0 || self.spread.get(k).is_none_or(|s| *s > MAX_SPREAD_DB) {
            return (k, 0.0);
        }
        (k, 10.0 * (p / fl).log10())
    }

    /// What was found (None: too little audio to tell, under 3 s).
    pub fn finish(mut self) -> Option<HumFound> {
        if self.frames < 3 {
            return None;
        }
        self.make_steady();
        let bin = f64::from(self.rate) / self.len as f64;
        // The best comb around 50 and around 60 Hz.
        let mut best = (0.0, 50.0);
        for base in [50.0, 60.0] {
            for step in -60..=60 {
                let f0 = base + f64::from(step) * 0.01;
                let s = self.comb_score(f0);
                if s > best.0 {
                    best = (s, f0);
                }
            }
        }
        let mut f0 = best.1;
        // Refine: each harmonic standing clear of the music gives f0 from
        // its peak (quadratic interpolation on the mean spectrum); higher
        // harmonics pin it finer, so they weigh by their number squared.
        let mut sum = (0.0, 0.0);
        for h in 1..=MAX_HARMONICS {
            let f = f0 * f64::from(h);
            if f >= 1000.0 || f >= 0.45 * f64::from(self.rate) {
                break;
            }
            let (k, above) = self.standing(f);
            if above < PRESENT_ABOVE_DB || k == 0 || k + 1 >= self.steady.len() {
                continue;
            }
            let (a, b, c) = (
                self.power[k - 1].max(f64::MIN_POSITIVE).ln(),
                self.power[k].max(f64::MIN_POSITIVE).ln(),
                self.power[k + 1].max(f64::MIN_POSITIVE).ln(),
            );
            let den = a - 2.0 * b + c;
            let d = if den.abs() > 1e-12 {
                (0.5 * (a - c) / den).clamp(-0.5, 0.5)
            } else {
                0.0
            };
            let w = f64::from(h * h);
            sum.0 += w * (k as f64 + d) * bin / f64::from(h);
            sum.1 += w;
        }
        if sum.1 > 0.0 {
            f0 = sum.0 / sum.1;
        }
        // Amplitude of a sine whose windowed peak power is `p`: the Hann
        // window's coherent gain is len/2, the one-sided peak |X| = A·len/4.
        let amp = |p: f64| 4.0 * p.sqrt() / self.len as f64;
        let mean = |p: f64| p / self.frames as f64;
        let harmonics = (1..=MAX_HARMONICS)
            .filter_map(|h| {
                let f = f0 * f64::from(h);
                if f >= 1000.0 || f >= 0.45 * f64::from(self.rate) {
                    return None;
                }
                let (k, p) = self.peak_near(f);
                // The peak must sit on the comb, not beside it.
                let local_max = k > 0
                    && k + 1 < self.steady.len()
                    && p >= self.steady[k - 1]
                    && p >= self.steady[k + 1];
                let off = (k as f64 * bin - f).abs();
                let above = self.standing(f).1;
                (local_max && off <= 0.75 * bin && above >= PRESENT_ABOVE_DB).then(|| HumHarmonic {
                    number: h,
                    freq_hz: f,
                    level_dbfs: 20.0 * amp(mean(self.power[k])).max(1e-12).log10(),
                    above_db: above,
                })
            })
            .collect();
        Some(HumFound {
            freq_hz: f0,
            harmonics,
        })
    }
}
