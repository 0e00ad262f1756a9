//! The 1/3-octave bands tonal balance is measured in (25 Hz – 16 kHz,
//! base-10 centres as IEC 61260), shared by the meters and the processors.

/// Number of 1/3-octave bands, 25 Hz to 16 kHz.
pub const BANDS: usize = 29;
/// Centre of band `i` (0 = 25 Hz), Hz: 1000·10^((i − 16)/10).
pub fn band_centre_hz(i: usize) -> f64 {
    1000.0 * 10f64.powf((i as f64 - 16.0) / 10.0)
}

/// Lower and upper edge of band `i`, Hz (centre · 10^(∓1/20)).
pub fn band_edges_hz(i: usize) -> (f64, f64) {
    let c = band_centre_hz(i);
    (c * 10f64.powf(-0.05), c * 10f64.powf(0.05))
}
