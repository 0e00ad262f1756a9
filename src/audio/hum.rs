//! What hum detection (`analysis::hum`) found, as data the hum removal
//! module (`dsp::hum`) is built from.

/// One harmonic found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumHarmonic {
    /// Harmonic number (1: the fundamental).
    pub number: u32,
    /// Its frequency, Hz.
    pub freq_hz: f64,
    /// Its level, dBFS (a sine of that peak amplitude in the mid).
    pub level_dbfs: f64,
    /// How far it stands above the music around it, dB.
    pub above_db: f64,
}

/// What hum detection found in a track.
#[derive(Debug, Clone, PartialEq)]
pub struct HumFound {
    /// The fundamental, Hz (refined to about 0.01 Hz).
    pub freq_hz: f64,
    /// The harmonics present, in order (empty: no hum).
    pub harmonics: Vec<HumHarmonic>,
}

impl HumFound {
    /// "50.02 Hz: harmonics 1 2 3 5 (-48 -54 -57 -63 dBFS)" or "no hum".
    pub fn describe(&self) -> String {
        if self.harmonics.is_empty() {
            return "no hum found".into();
        }
        let nums: Vec<String> = self
            .harmonics
            .iter()
            .map(|h| h.number.to_string())
            .collect();
        let levels: Vec<String> = self
            .harmonics
            .iter()
            .map(|h| format!("{:.0}", h.level_dbfs))
            .collect();
        format!(
            "{:.2} Hz: harmonics {} ({} dBFS)",
            self.freq_hz,
            nums.join(" "),
            levels.join(" ")
        )
    }
}
