//! A noise profile (what `analysis::noise` learns from a track) as data
//! the de-hisser (`dsp::dehiss`) is built from.

/// The de-hisser's STFT frame at `rate` Hz, samples: 2048 up to 64 kHz,
/// 4096 up to 128 kHz, 8192 above (about 43 ms at 48 kHz). Its profile is
/// measured with the same frames, so their powers compare bin for bin.
pub fn frame_len(rate: u32) -> usize {
    if rate > 128_000 {
        8192
    } else if rate > 64_000 {
        4096
    } else {
        2048
    }
}

/// Where a noise profile was learnt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProfileSource {
    /// From the whole track: each bin's quiet moments (a low percentile of
    /// its power), smoothed across frequency.
    Track,
    /// From a passage of noise alone, `start`..`end` seconds into the track.
    Range(f64, f64),
}

/// The noise floor of a track per channel and STFT bin.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseProfile {
    /// Rate it was measured at, Hz.
    pub rate: u32,
    /// Frame length, samples ([`frame_len`] of `rate`).
    pub frame: usize,
    /// Per channel, per bin (0..=frame/2): the noise's expected power in a
    /// Hann-windowed FFT of full-scale-normalized samples (|X|², linear).
    pub power: Vec<Vec<f32>>,
    /// Where it was learnt.
    pub source: ProfileSource,
}

impl NoiseProfile {
    /// The noise's RMS level per channel in `lo`..`hi` Hz, dBFS (what the
    /// profile says is hiss there).
    pub fn band_rms_dbfs(&self, lo: f64, hi: f64) -> Vec<f64> {
        let bin = f64::from(self.rate) / self.frame as f64;
        // E|X|² = σ²·Σw² for white noise of variance σ² (Hann: Σw² = 3N/8);
        // a band of bins holds its share of the variance, two-sided.
        let norm = 2.0 / (self.frame as f64 * 3.0 * self.frame as f64 / 8.0);
        self.power
            .iter()
            .map(|p| {
                let e: f64 = p
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| {
                        let f = *k as f64 * bin;
                        f >= lo && f < hi
                    })
                    .map(|(_, v)| f64::from(*v))
                    .sum();
                10.0 * (e * norm).max(1e-30).log10()
            })
            .collect()
    }

    /// "hiss -62 dBFS above 6 kHz (learnt from the whole track)".
    pub fn describe(&self) -> String {
        let lvl = self
            .band_rms_dbfs(6000.0, 16_000.0)
            .into_iter()
            .fold(f64::MIN, f64::max);
        let from = match self.source {
            ProfileSource::Track => "learnt from the whole track".to_string(),
            ProfileSource::Range(a, b) => format!("learnt from {a:.1}-{b:.1} s"),
        };
        format!("noise floor {lvl:.0} dBFS at 6-16 kHz ({from})")
    }

    /// A number that changes when the profile does (for cache keys).
    pub fn fingerprint(&self) -> u64 {
        self.power
            .iter()
            .flatten()
            .fold(self.rate as u64, |acc, v| {
                acc.rotate_left(5) ^ u64::from(v.to_bits())
            })
    }
}
