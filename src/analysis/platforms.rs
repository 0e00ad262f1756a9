//! What each streaming service's loudness normalization does to a master.
//!
//! The table is the one place to update when a service changes its policy.

/// One service's playback normalization policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platform {
    /// Service name as shown to the user.
    pub name: &'static str,
    /// Reference loudness the service normalizes to, LUFS.
    pub target_lufs: f64,
    /// Whether quiet tracks are turned up (and then how far, see `peak_limit_dbtp`).
    pub turns_up: bool,
    /// When turning up, the true-peak level (dBTP) the service will not push
    /// the track past; `None` if it does not cap upward gain.
    pub peak_limit_dbtp: Option<f64>,
}

/// Normalization policies of the major services (default playback settings).
pub const PLATFORMS: &[Platform] = &[
    Platform {
        name: "Spotify",
        target_lufs: -14.0,
        turns_up: true,
        peak_limit_dbtp: Some(-1.0),
    },
    Platform {
        name: "Apple Music",
        target_lufs: -16.0,
        turns_up: true,
        peak_limit_dbtp: None,
    },
    Platform {
        name: "YouTube",
        target_lufs: -14.0,
        turns_up: false,
        peak_limit_dbtp: None,
    },
    Platform {
        name: "Tidal",
        target_lufs: -14.0,
        turns_up: false,
        peak_limit_dbtp: None,
    },
    Platform {
        name: "Amazon Music",
        target_lufs: -14.0,
        turns_up: false,
        peak_limit_dbtp: None,
    },
    Platform {
        name: "Deezer",
        target_lufs: -15.0,
        turns_up: false,
        peak_limit_dbtp: None,
    },
];

/// The level above which turned-up audio is flagged, dBTP.
pub const PEAK_WARNING_DBTP: f64 = -1.0;

/// What one service would do to a track.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Normalization {
    /// Service name.
    pub platform: &'static str,
    /// The service's reference loudness, LUFS.
    pub target_lufs: f64,
    /// Gain the service applies, dB (negative turns down).
    pub gain_db: f64,
    /// True peak after that gain, dBTP.
    pub true_peak_after_dbtp: f64,
    /// Whether the result exceeds −1 dBTP (a risk of clipping in lossy decoding).
    pub exceeds_peak_warning: bool,
}

/// What `platform` does to a track of `integrated_lufs` and `true_peak_dbtp`.
/// Returns `None` for digital silence (no loudness to normalize).
pub fn normalize(
    platform: &Platform,
    integrated_lufs: f64,
    true_peak_dbtp: f64,
) -> Option<Normalization> {
    if !integrated_lufs.is_finite() {
        return None;
    }
    let mut gain = platform.target_lufs - integrated_lufs;
    if gain > 0.0 {
        if !platform.turns_up {
            gain = 0.0;
        } else if let Some(limit) = platform.peak_limit_dbtp
            && true_peak_dbtp.is_finite()
        {
            gain = gain.min((limit - true_peak_dbtp).max(0.0));
        }
    }
    let after = true_peak_dbtp + gain;
    Some(Normalization {
        platform: platform.name,
        target_lufs: platform.target_lufs,
        gain_db: gain,
        true_peak_after_dbtp: after,
        exceeds_peak_warning: after > PEAK_WARNING_DBTP,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loud_master_is_turned_down_everywhere() {
        for p in PLATFORMS {
            let n = normalize(p, -8.0, -0.2).unwrap_or_else(|| unreachable!());
            assert!((n.gain_db - (p.target_lufs + 8.0)).abs() < 1e-9);
        }
    }

    #[test]
    fn spotify_caps_upward_gain_at_minus_1_dbtp() {
        let spotify = &PLATFORMS[0];
        // −20 LUFS, −3 dBTP: wants +6 dB, peak room is only +2 dB.
        let n = normalize(spotify, -20.0, -3.0).unwrap_or_else(|| unreachable!());
        assert!((n.gain_db - 2.0).abs() < 1e-9);
        assert!(!n.exceeds_peak_warning);
        // Apple turns up fully (+4 dB) and the peak lands at +1 dBTP: flagged.
        let apple = &PLATFORMS[1];
        let a = normalize(apple, -20.0, -3.0).unwrap_or_else(|| unreachable!());
        assert!((a.gain_db - 4.0).abs() < 1e-9);
        assert!(a.exceeds_peak_warning);
        // YouTube never turns up.
        let yt = &PLATFORMS[2];
        assert_eq!(normalize(yt, -20.0, -3.0).map(|n| n.gain_db), Some(0.0));
    }
}
