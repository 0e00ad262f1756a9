//! Unit conversions: decibels, linear gain, time and frames.

/// Convert decibels (dB) to a linear amplitude gain.
pub fn db_to_linear(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Convert a linear amplitude gain to decibels (dB); 0 gives minus infinity.
pub fn linear_to_db(gain: f64) -> f64 {
    if gain <= 0.0 {
        f64::NEG_INFINITY
    } else {
        20.0 * gain.log10()
    }
}

/// Convert a mean-square power ratio to decibels (dB); 0 gives minus infinity.
pub fn power_to_db(power: f64) -> f64 {
    if power <= 0.0 {
        f64::NEG_INFINITY
    } else {
        10.0 * power.log10()
    }
}

/// Convert a duration in seconds to a whole number of frames at `sample_rate` Hz (rounded).
pub fn seconds_to_frames(seconds: f64, sample_rate: u32) -> u64 {
    (seconds * f64::from(sample_rate)).round().max(0.0) as u64
}

/// Convert a number of frames at `sample_rate` Hz to seconds.
pub fn frames_to_seconds(frames: u64, sample_rate: u32) -> f64 {
    frames as f64 / f64::from(sample_rate)
}

/// Format a duration in seconds as `m:ss.mmm` (or `h:mm:ss.mmm` past an hour).
pub fn format_duration(seconds: f64) -> String {
    let total_ms = (seconds.max(0.0) * 1000.0).round() as u64;
    let ms = total_ms % 1000;
    let s = (total_ms / 1000) % 60;
    let m = (total_ms / 60_000) % 60;
    let h = total_ms / 3_600_000;
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{m}:{s:02}.{ms:03}")
    }
}

/// A number for JSON reports: rounded to 0.001, `null` when not finite
/// (minus infinity for digital silence).
pub fn json_number(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!((v * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_round_trip() {
        for db in [-120.0, -6.0, 0.0, 3.0, 12.5] {
            assert!((linear_to_db(db_to_linear(db)) - db).abs() < 1e-9);
        }
        // −6.0206 dB is exactly one half in amplitude.
        assert!((linear_to_db(0.5) + 6.020_599_913).abs() < 1e-6);
        assert_eq!(linear_to_db(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(61.5), "1:01.500");
        assert_eq!(format_duration(3723.0), "1:02:03.000");
        assert_eq!(seconds_to_frames(1.0, 44_100), 44_100);
    }
}
