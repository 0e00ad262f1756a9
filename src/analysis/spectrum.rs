//! A running spectrum for the meters: 8192-point Hann FFT of the mid
//! signal every 2048 samples, power summed into 1/6-octave bands from 20 Hz
//! to 20 kHz, levels in dB relative to a full-scale sine (a sine of
//! amplitude A reads 20·log10(A) in its band), with a smoothed display value
//! and a decaying peak hold.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// FFT length, samples.
pub const FFT_LEN: usize = 8192;
/// Samples between analyses.
pub const HOP: usize = 2048;
/// Bands per octave.
pub const BANDS_PER_OCTAVE: usize = 6;
/// Lowest band centre, Hz.
pub const LOW_HZ: f64 = 20.0;
/// Number of bands (20 Hz … 20 kHz).
pub const BANDS: usize = 60;

/// Centre frequency of band `i`, Hz.
pub fn band_centre_hz(i: usize) -> f64 {
    LOW_HZ * 2f64.powf(i as f64 / BANDS_PER_OCTAVE as f64)
}

/// A running band spectrum.
pub struct Spectrum {
    fft: Arc<dyn RealToComplex<f64>>,
    window: Vec<f64>,
    ring: Vec<f64>,
    filled: usize,
    since: usize,
    input: Vec<f64>,
    output: Vec<realfft::num_complex::Complex<f64>>,
    scratch: Vec<realfft::num_complex::Complex<f64>>,
    /// First and one-past-last FFT bin of each band.
    edges: Vec<(usize, usize)>,
    level: Vec<f32>,
    smooth: Vec<f32>,
    peak: Vec<f32>,
    norm: f64,
    analyses: u64,
}

impl Spectrum {
    /// A spectrum for audio at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let mut planner = RealFftPlanner::<f64>::new();
        let fft = planner.plan_fft_forward(FFT_LEN);
        let window: Vec<f64> = crate::audio::hann(FFT_LEN).collect();
        let sum_sq: f64 = window.iter().map(|w| w * w).sum();
        let bin_hz = f64::from(rate) / FFT_LEN as f64;
        let half = FFT_LEN / 2;
        let edges = (0..BANDS)
            .map(|i| {
                let c = band_centre_hz(i);
                let lo = c / 2f64.powf(0.5 / BANDS_PER_OCTAVE as f64);
                let hi = c * 2f64.powf(0.5 / BANDS_PER_OCTAVE as f64);
                let a = ((lo / bin_hz).ceil() as usize).clamp(1, half);
                let b = ((hi / bin_hz).ceil() as usize).clamp(a, half);
                if b > a {
                    (a, b)
                } else {
                    // Narrower than a bin: the bin nearest the centre.
                    let n = ((c / bin_hz).round() as usize).clamp(1, half - 1);
                    (n, n + 1)
                }
            })
            .collect();
        let input = fft.make_input_vec();
        let output = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self {
            fft,
            window,
            ring: vec![0.0; FFT_LEN],
            filled: 0,
            since: 0,
            input,
            output,
            scratch,
            edges,
            level: vec![-120.0; BANDS],
            smooth: vec![-120.0; BANDS],
            peak: vec![-120.0; BANDS],
            // One-sided power of a windowed sine of amplitude A summed over
            // its main lobe: A²/4 · N · Σw²/N … normalised so it reads A²/2,
            // then ×2 so a full-scale sine reads 0 dB.
            norm: 4.0 / (FFT_LEN as f64 * sum_sq),
            analyses: 0,
        }
    }

    /// Feed a stereo block (analysed as mid, (L+R)/2).
    pub fn push(&mut self, left: &[f32], right: &[f32]) {
        for (l, r) in left.iter().zip(right) {
            let pos = (self.filled + self.since) % FFT_LEN;
            self.ring[pos] = 0.5 * (f64::from(*l) + f64::from(*r));
            self.since += 1;
            if self.since == HOP {
                self.filled = (self.filled + HOP) % FFT_LEN;
                self.since = 0;
                self.analyse();
            }
        }
    }

    fn analyse(&mut self) {
        // The ring's oldest sample is at `filled`.
        for i in 0..FFT_LEN {
            self.input[i] = self.ring[(self.filled + i) % FFT_LEN] * self.window[i];
        }
        if self
            .fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .is_err()
        {
            return;
        }
        self.analyses += 1;
        for (b, &(lo, hi)) in self.edges.iter().enumerate() {
            let p: f64 = self.output[lo..hi].iter().map(|c| c.norm_sqr()).sum();
            let db = (10.0 * (p * self.norm).max(1e-12).log10()) as f32;
            self.level[b] = db;
            // Display smoothing: fast attack, ~1.5 s to fall 20 dB.
            self.smooth[b] = if db > self.smooth[b] {
                db
            } else {
                (self.smooth[b] - 0.6).max(db)
            };
            self.peak[b] = if db > self.peak[b] {
                db
            } else {
                (self.peak[b] - 0.15).max(db)
            };
        }
    }

    /// Latest raw band levels, dB.
    pub fn raw_levels(&self) -> &[f32] {
        &self.level
    }

    /// Analyses done so far.
    pub fn analyses(&self) -> u64 {
        self.analyses
    }

    /// Smoothed band levels for display, dB.
    pub fn levels_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.smooth);
    }

    /// Decaying peak-hold levels, dB.
    pub fn peaks_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.peak);
    }
}
