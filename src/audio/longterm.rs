//! Long-term mid/side spectra as data: the logarithmic grid they live on,
//! the spectra, and what a match module is designed from. Measured by
//! `analysis::longterm`; used by the processors (`dsp::matcheq`), which
//! import no meters.

use crate::audio::bands::{BANDS, band_edges_hz};

/// Grid points per octave.
pub const PER_OCTAVE: usize = 48;
/// Lowest grid point, Hz.
pub const GRID_LOW_HZ: f64 = 16.0;
/// Grid points (16 Hz to 23.2 kHz).
pub const GRID_POINTS: usize = PER_OCTAVE * 10 + 25;

/// Frequency of grid point `g`, Hz.
pub fn grid_hz(g: usize) -> f64 {
    GRID_LOW_HZ * 2f64.powf(g as f64 / PER_OCTAVE as f64)
}

/// Width of grid point `g`'s cell (1/48 octave around it), Hz.
pub fn grid_width_hz(g: usize) -> f64 {
    let h = 2f64.powf(0.5 / PER_OCTAVE as f64);
    grid_hz(g) * (h - 1.0 / h)
}

/// A loudness-normalized long-term spectrum on the log grid: power density
/// per Hz relative to the K-weighted total. 0 at points the audio cannot
/// hold (above 0.45 × its rate).
#[derive(Debug, Clone, PartialEq)]
pub struct MsSpectrum {
    /// Mid (L+R)/2 power density, per grid point.
    pub mid: Vec<f64>,
    /// Side (L−R)/2 power density, per grid point (0 for mono).
    pub side: Vec<f64>,
    /// FFT frames that passed the gate.
    pub frames_used: usize,
    /// FFT frames in all.
    pub frames_total: usize,
}

impl MsSpectrum {
    /// The 1/3-octave band levels (25 Hz – 16 kHz, as `analysis::tonal`)
    /// of the mid and side, dB re the loudness (−∞ where a band is empty).
    pub fn bands_db(&self) -> (Vec<f64>, Vec<f64>) {
        let band = |v: &[f64], b: usize| {
            let (lo, hi) = band_edges_hz(b);
            let p: f64 = (0..GRID_POINTS)
                .filter(|&g| grid_hz(g) >= lo && grid_hz(g) < hi)
                .map(|g| v[g] * grid_width_hz(g))
                .sum();
            10.0 * p.log10()
        };
        (
            (0..BANDS).map(|b| band(&self.mid, b)).collect(),
            (0..BANDS).map(|b| band(&self.side, b)).collect(),
        )
    }

    /// A spectrum whose mid and side both follow `level · (f / 1 kHz)^exponent`
    /// (synthetic: for tests and benchmarks of the match filter).
    pub fn power_law(level: f64, exponent: f64) -> Self {
        let v: Vec<f64> = (0..GRID_POINTS)
            .map(|g| level * (grid_hz(g) / 1000.0).powf(exponent))
            .collect();
        Self {
            mid: v.clone(),
            side: v,
            frames_used: 1,
            frames_total: 1,
        }
    }

    /// The average of several spectra, point by point in dB (a geometric
    /// mean; points empty in any spectrum stay empty).
    pub fn average(all: &[&MsSpectrum]) -> Option<MsSpectrum> {
        if all.is_empty() {
            return None;
        }
        let avg = |pick: &dyn Fn(&MsSpectrum) -> &Vec<f64>| -> Vec<f64> {
            (0..GRID_POINTS)
                .map(|g| {
                    if all.iter().any(|s| pick(s)[g] <= 0.0) {
                        return 0.0;
                    }
                    let l: f64 = all.iter().map(|s| pick(s)[g].ln()).sum();
                    (l / all.len() as f64).exp()
                })
                .collect()
        };
        Some(MsSpectrum {
            mid: avg(&|s| &s.mid),
            side: avg(&|s| &s.side),
            frames_used: all.iter().map(|s| s.frames_used).sum(),
            frames_total: all.iter().map(|s| s.frames_total).sum(),
        })
    }
}

/// What a match module's curve is designed from: the track as it enters
/// the module and the reference, both measured the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchAnalysis {
    /// The track at the module's input.
    pub track: MsSpectrum,
    /// The reference.
    pub reference: MsSpectrum,
    /// The reference as named in reports (a file name, or "album average").
    pub reference_label: String,
}

impl MatchAnalysis {
    /// A fingerprint of the measured values (for cache keys downstream).
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for v in [
            &self.track.mid,
            &self.track.side,
            &self.reference.mid,
            &self.reference.side,
        ] {
            for x in v {
                x.to_bits().hash(&mut h);
            }
        }
        h.finish()
    }
}
