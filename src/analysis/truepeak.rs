//! True-peak measurement (ITU-R BS.1770-4 Annex 2): oversample with the
//! interpolator in [`crate::audio::interp`] and take the largest absolute
//! value.

pub use crate::audio::interp::{
    Phases, TAPS_PER_PHASE, abs_max, design, interp_peaks, l1_bound, oversampling_for,
};

/// Samples the meter looks at together when deciding whether a stretch can
/// raise the true peak.
const WINDOW: usize = 512;

/// Streaming true-peak meter for one channel.
#[derive(Debug, Clone)]
pub struct TruePeakMeter {
    phases: Phases,
    /// The last TAPS_PER_PHASE − 1 samples, then room for new input.
    buf: Vec<f32>,
    scratch: Vec<f32>,
    gain_bound: f32,
    peak: f32,
    sample_peak: f32,
}

impl TruePeakMeter {
    /// A meter for a channel at `rate` Hz.
    pub fn new(rate: u32) -> Self {
        let phases = design(oversampling_for(rate));
        Self {
            gain_bound: l1_bound(&phases),
            phases,
            buf: vec![0.0; TAPS_PER_PHASE - 1],
            scratch: Vec::new(),
            peak: 0.0,
            sample_peak: 0.0,
        }
    }

    /// Feed samples.
    pub fn push(&mut self, x: &[f32]) {
        for part in x.chunks(WINDOW) {
            self.push_window(part);
        }
    }

    /// Feed up to [`WINDOW`] samples: interpolate only where a new peak is
    /// possible. No interpolated point can exceed its window's largest
    /// sample times the largest phase's L1 norm, so windows that cannot
    /// raise the peak are skipped (exact, not an approximation).
    fn push_window(&mut self, x: &[f32]) {
        let hist = TAPS_PER_PHASE - 1;
        let x_max = abs_max(x);
        self.sample_peak = self.sample_peak.max(x_max);
        let mut peak = self.peak.max(x_max);
        if !self.phases.is_empty() {
            let window_max = x_max.max(abs_max(&self.buf[..hist]));
            if window_max * self.gain_bound > peak {
                self.buf.truncate(hist);
                self.buf.extend_from_slice(x);
                let n = self.buf.len() - hist;
                self.scratch.resize(n, 0.0);
                interp_peaks(&self.buf, &self.phases, &mut self.scratch);
                peak = peak.max(abs_max(&self.scratch));
                let len = self.buf.len();
                self.buf.copy_within(len - hist.., 0);
                self.buf.truncate(hist);
            } else if x.len() >= hist {
                self.buf[..hist].copy_from_slice(&x[x.len() - hist..]);
            } else {
                self.buf.copy_within(x.len()..hist, 0);
                self.buf[hist - x.len()..hist].copy_from_slice(x);
            }
        }
        self.peak = peak;
    }

    /// Largest true-peak value so far, linear (1.0 = 0 dBTP).
    pub fn true_peak(&self) -> f64 {
        f64::from(self.peak)
    }

    /// Largest absolute sample value so far, linear (1.0 = 0 dBFS).
    pub fn sample_peak(&self) -> f64 {
        f64::from(self.sample_peak)
    }

    /// Forget the peaks but keep the filter history.
    pub fn reset_peaks(&mut self) {
        self.peak = 0.0;
        self.sample_peak = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_zero_would_be_identity_and_dc_gain_is_unity() {
        for l in [2usize, 4] {
            for ph in design(l).iter() {
                let s: f32 = ph.iter().sum();
                assert!((s - 1.0).abs() < 0.01, "phase DC gain {s}");
            }
        }
    }

    #[test]
    fn sine_between_samples_reads_its_true_amplitude() {
        // fs/4 at 45°: samples sit at ±0.707 of the amplitude.
        let rate = 48_000;
        let x: Vec<f32> = (0..4800)
            .map(|n| {
                (0.5 * (std::f64::consts::FRAC_PI_2 * n as f64 + std::f64::consts::FRAC_PI_4).sin())
                    as f32
            })
            .collect();
        let mut m = TruePeakMeter::new(rate);
        // Skip the abrupt onset, whose ideal reconstruction rings (Gibbs).
        m.push(&x[..2400]);
        m.reset_peaks();
        m.push(&x[2400..]);
        let db = 20.0 * m.true_peak().log10();
        assert!((db + 6.02).abs() < 0.1, "true peak {db} dBTP");
        assert!((20.0 * m.sample_peak().log10() + 9.03).abs() < 0.01);
    }
}
