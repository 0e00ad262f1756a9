//! Chain settings as TOML (serde): every module and parameter with its unit
//! in its name, documented range and default. Unknown keys and out-of-range
//! values are rejected with the file, line and allowed range.
//!
//! ```toml
//! name = "my master"
//! target_lufs = -14.0
//!
//! [[module]]
//! type = "eq"
//! [[module.band]]
//! type = "low-shelf"
//! freq_hz = 100.0
//! gain_db = 1.5
//!
//! [[module]]
//! type = "limiter"
//! ceiling_dbtp = -1.0
//! ```

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{LatheError, Result};

fn ranged<'de, D: Deserializer<'de>>(
    d: D,
    name: &str,
    lo: f64,
    hi: f64,
    unit: &str,
) -> std::result::Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !v.is_finite() || v < lo || v > hi {
        return Err(serde::de::Error::custom(format!(
            "{name} = {v} is out of range: allowed {lo} to {hi}{}{unit}",
            if unit.is_empty() { "" } else { " " }
        )));
    }
    Ok(v)
}

macro_rules! ranged_fn {
    ($fn_name:ident, $name:literal, $lo:expr, $hi:expr, $unit:literal) => {
        fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
            ranged(d, $name, $lo, $hi, $unit)
        }
    };
}

/// The same for an optional setting (present: in range).
macro_rules! ranged_opt_fn {
    ($fn_name:ident, $name:literal, $lo:expr, $hi:expr, $unit:literal) => {
        fn $fn_name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
            ranged(d, $name, $lo, $hi, $unit).map(Some)
        }
    };
}

ranged_fn!(r_gain_db, "gain_db", -24.0, 24.0, "dB");
ranged_fn!(r_amount_pct, "amount_pct", 0.0, 100.0, "%");
ranged_fn!(r_smoothing_oct, "smoothing_oct", 0.083, 1.0, "octave");
ranged_fn!(r_max_boost_db, "max_boost_db", 0.0, 12.0, "dB");
ranged_fn!(r_max_cut_db, "max_cut_db", 0.0, 24.0, "dB");
ranged_fn!(r_match_low_hz, "low_hz", 10.0, 2000.0, "Hz");
ranged_fn!(r_match_high_hz, "high_hz", 1000.0, 22_000.0, "Hz");

ranged_opt_fn!(r_side_amount_pct, "side_amount_pct", 0.0, 100.0, "%");
ranged_opt_fn!(r_profile_start_s, "profile_start_s", 0.0, 86_400.0, "s");
ranged_opt_fn!(r_profile_end_s, "profile_end_s", 0.0, 86_400.0, "s");
ranged_fn!(r_dc_hz, "cutoff_hz", 2.0, 40.0, "Hz");
ranged_fn!(r_freq_hz, "freq_hz", 10.0, 40_000.0, "Hz");
ranged_fn!(r_q, "q", 0.1, 18.0, "");
ranged_fn!(r_threshold_db, "threshold_db", -60.0, 0.0, "dB");
ranged_fn!(r_ratio, "ratio", 1.0, 20.0, ":1");
ranged_fn!(r_knee_db, "knee_db", 0.0, 24.0, "dB");
ranged_fn!(r_attack_ms, "attack_ms", 0.05, 200.0, "ms");
ranged_fn!(r_release_ms, "release_ms", 5.0, 3000.0, "ms");
ranged_fn!(r_makeup_db, "makeup_db", -12.0, 24.0, "dB");
ranged_fn!(r_sc_hp_hz, "sidechain_hp_hz", 0.0, 500.0, "Hz (0 = off)");
ranged_fn!(r_low_xover_hz, "low_hz", 40.0, 1000.0, "Hz");
ranged_fn!(r_high_xover_hz, "high_hz", 1000.0, 12_000.0, "Hz");
ranged_fn!(r_width_pct, "width_pct", 0.0, 200.0, "%");
ranged_fn!(r_bass_mono_hz, "bass_mono_hz", 0.0, 500.0, "Hz (0 = off)");
ranged_fn!(r_sensitivity, "sensitivity", 1.0, 10.0, "");
ranged_fn!(r_reduction_db, "reduction_db", 0.0, 40.0, "dB");
ranged_fn!(r_ceiling_dbtp, "ceiling_dbtp", -12.0, 0.0, "dBTP");
ranged_fn!(r_lookahead_ms, "lookahead_ms", 0.5, 10.0, "ms");
ranged_fn!(r_lim_release_ms, "release_ms", 1.0, 1000.0, "ms");

ranged_opt_fn!(r_target, "target_lufs", -40.0, 0.0, "LUFS");
ranged_opt_fn!(r_max_limiting, "max_limiting_db", 0.0, 30.0, "dB");

fn r_slope<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if matches!(v, 12 | 24 | 48) {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "slope_db_oct = {v} is not allowed: use 12, 24 or 48 dB/oct"
        )))
    }
}

/// A whole chain: ordered modules plus an optional loudness target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// A name for the chain (shown in reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Integrated loudness the output is brought to, LUFS (−40 to 0); none: no targeting.
    #[serde(
        default,
        deserialize_with = "r_target",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_lufs: Option<f64>,
    /// The most gain reduction the limiter may apply at any moment to reach
    /// the target, dB (0 to 30). With it the target is a maximum: the
    /// master stops short of the target rather than limit more. None: no
    /// limit.
    #[serde(
        default,
        deserialize_with = "r_max_limiting",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_limiting_db: Option<f64>,
    /// The modules in processing order. A true-peak limiter is always last:
    /// one is appended with default settings if the list has none.
    #[serde(default, rename = "module")]
    pub modules: Vec<ModuleConfig>,
}

/// One module's settings, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ModuleConfig {
    /// Gain / trim.
    Gain(GainConfig),
    /// DC removal (gentle high-pass).
    DcRemoval(DcConfig),
    /// Parametric EQ.
    Eq(EqConfig),
    /// Single-band compressor.
    Compressor(CompressorConfig),
    /// Three-band compressor.
    Multiband(MultibandConfig),
    /// Stereo imager.
    Imager(ImagerConfig),
    /// De-clicker.
    Declick(DeclickConfig),
    /// De-hisser.
    Dehiss(DehissConfig),
    /// Hum removal.
    Hum(HumConfig),
    /// Reference matching EQ.
    Match(MatchConfig),
    /// True-peak limiter.
    Limiter(LimiterConfig),
}

impl ModuleConfig {
    /// The module's `type` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Gain(_) => "gain",
            Self::DcRemoval(_) => "dc-removal",
            Self::Eq(_) => "eq",
            Self::Compressor(_) => "compressor",
            Self::Multiband(_) => "multiband",
            Self::Imager(_) => "imager",
            Self::Declick(_) => "declick",
            Self::Dehiss(_) => "dehiss",
            Self::Hum(_) => "hum",
            Self::Match(_) => "match",
            Self::Limiter(_) => "limiter",
        }
    }

    /// Whether the module is bypassed.
    pub fn bypass(&self) -> bool {
        match self {
            Self::Gain(c) => c.bypass,
            Self::DcRemoval(c) => c.bypass,
            Self::Eq(c) => c.bypass,
            Self::Compressor(c) => c.bypass,
            Self::Multiband(c) => c.bypass,
            Self::Imager(c) => c.bypass,
            Self::Declick(c) => c.bypass,
            Self::Dehiss(c) => c.bypass,
            Self::Hum(c) => c.bypass,
            Self::Match(c) => c.bypass,
            Self::Limiter(c) => c.bypass,
        }
    }
}

/// Gain / trim settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GainConfig {
    /// Skip this module.
    pub bypass: bool,
    /// Gain, dB (−24 to +24, default 0).
    #[serde(deserialize_with = "r_gain_db")]
    pub gain_db: f64,
}

impl Default for GainConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            gain_db: 0.0,
        }
    }
}

/// DC removal settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DcConfig {
    /// Skip this module.
    pub bypass: bool,
    /// High-pass corner, Hz (2 to 40, default 5).
    #[serde(deserialize_with = "r_dc_hz")]
    pub cutoff_hz: f64,
}

impl Default for DcConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            cutoff_hz: 5.0,
        }
    }
}

/// Which part of a stereo signal a band or processor works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelMode {
    /// Both channels alike.
    #[default]
    Stereo,
    /// Mid (L+R)/2 only.
    Mid,
    /// Side (L−R)/2 only.
    Side,
}

/// EQ band shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BandKind {
    /// Peaking bell.
    #[default]
    Bell,
    /// Low shelf.
    LowShelf,
    /// High shelf.
    HighShelf,
    /// High-pass (12, 24 or 48 dB/oct Butterworth).
    HighPass,
    /// Low-pass (12, 24 or 48 dB/oct Butterworth).
    LowPass,
}

/// One EQ band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BandConfig {
    /// Shape.
    #[serde(rename = "type")]
    pub kind: BandKind,
    /// Centre / corner frequency, Hz (10 to 40000; limited to 0.49 × the sample rate).
    #[serde(deserialize_with = "r_freq_hz")]
    pub freq_hz: f64,
    /// Gain, dB (−24 to +24; ignored by pass filters).
    #[serde(deserialize_with = "r_gain_db")]
    pub gain_db: f64,
    /// Quality factor (0.1 to 18, default 0.707; ignored by pass filters, which are Butterworth).
    #[serde(deserialize_with = "r_q")]
    pub q: f64,
    /// Pass-filter slope, dB/oct: 12, 24 or 48 (default 12).
    #[serde(deserialize_with = "r_slope")]
    pub slope_db_oct: u32,
    /// Stereo, mid only or side only.
    pub channels: ChannelMode,
    /// Whether the band is active.
    pub enabled: bool,
}

impl Default for BandConfig {
    fn default() -> Self {
        Self {
            kind: BandKind::Bell,
            freq_hz: 1000.0,
            gain_db: 0.0,
            q: 0.707,
            slope_db_oct: 12,
            channels: ChannelMode::Stereo,
            enabled: true,
        }
    }
}

/// Parametric EQ settings (up to 8 bands).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EqConfig {
    /// Skip this module.
    pub bypass: bool,
    /// The bands, in any order.
    #[serde(rename = "band")]
    pub bands: Vec<BandConfig>,
}

/// Most EQ bands per EQ module.
pub const MAX_EQ_BANDS: usize = 8;

/// How a compressor's detector combines stereo channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LinkMode {
    /// One gain for both channels from the louder one.
    #[default]
    Stereo,
    /// Mid and side compressed separately.
    MidSide,
}

/// Compressor settings (also one band of the multiband).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompressorConfig {
    /// Skip this module (or band).
    pub bypass: bool,
    /// Threshold, dBFS (−60 to 0, default −18).
    #[serde(deserialize_with = "r_threshold_db")]
    pub threshold_db: f64,
    /// Ratio (1 to 20, default 2).
    #[serde(deserialize_with = "r_ratio")]
    pub ratio: f64,
    /// Soft-knee width, dB (0 to 24, default 6).
    #[serde(deserialize_with = "r_knee_db")]
    pub knee_db: f64,
    /// Attack time, ms (0.05 to 200, default 10).
    #[serde(deserialize_with = "r_attack_ms")]
    pub attack_ms: f64,
    /// Release time, ms (5 to 3000, default 150).
    #[serde(deserialize_with = "r_release_ms")]
    pub release_ms: f64,
    /// Make-up gain, dB (−12 to +24, default 0).
    #[serde(deserialize_with = "r_makeup_db")]
    pub makeup_db: f64,
    /// Stereo-linked or mid/side detection.
    pub link: LinkMode,
    /// Side-chain high-pass corner, Hz (0 = off, up to 500; default 0).
    #[serde(deserialize_with = "r_sc_hp_hz")]
    pub sidechain_hp_hz: f64,
}

impl Default for CompressorConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            threshold_db: -18.0,
            ratio: 2.0,
            knee_db: 6.0,
            attack_ms: 10.0,
            release_ms: 150.0,
            makeup_db: 0.0,
            link: LinkMode::Stereo,
            sidechain_hp_hz: 0.0,
        }
    }
}

/// Three-band compressor settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultibandConfig {
    /// Skip this module.
    pub bypass: bool,
    /// Low/mid crossover, Hz (40 to 1000, default 120).
    #[serde(deserialize_with = "r_low_xover_hz")]
    pub low_hz: f64,
    /// Mid/high crossover, Hz (1000 to 12000, default 4000).
    #[serde(deserialize_with = "r_high_xover_hz")]
    pub high_hz: f64,
    /// Low band compressor.
    pub low: CompressorConfig,
    /// Mid band compressor.
    pub mid: CompressorConfig,
    /// High band compressor.
    pub high: CompressorConfig,
}

impl Default for MultibandConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            low_hz: 120.0,
            high_hz: 4000.0,
            low: CompressorConfig::default(),
            mid: CompressorConfig::default(),
            high: CompressorConfig::default(),
        }
    }
}

/// Stereo imager settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagerConfig {
    /// Skip this module.
    pub bypass: bool,
    /// Stereo width, % (0 = mono, 100 = unchanged, 200 = double side; default 100).
    #[serde(deserialize_with = "r_width_pct")]
    pub width_pct: f64,
    /// Below this frequency the side signal is removed, Hz (0 = off, up to 500).
    #[serde(deserialize_with = "r_bass_mono_hz")]
    pub bass_mono_hz: f64,
}

impl Default for ImagerConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            width_pct: 100.0,
            bass_mono_hz: 0.0,
        }
    }
}

/// De-clicker settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeclickConfig {
    /// Skip this module.
    pub bypass: bool,
    /// Detection sensitivity (1 = only obvious clicks, 10 = aggressive; default 5).
    #[serde(deserialize_with = "r_sensitivity")]
    pub sensitivity: f64,
}

impl Default for DeclickConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            sensitivity: 5.0,
        }
    }
}

/// De-hisser settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DehissConfig {
    /// Skip this module.
    pub bypass: bool,
    /// How far the noise floor is lowered where there is nothing but
    /// noise, dB (0 to 40, default 15).
    #[serde(deserialize_with = "r_reduction_db")]
    pub reduction_db: f64,
    /// Learn the noise from this passage (noise alone), seconds into the
    /// track: start. Both ends or neither; without them the noise is
    /// learnt from the whole track's quiet moments.
    #[serde(
        deserialize_with = "r_profile_start_s",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_start_s: Option<f64>,
    /// End of the passage the noise is learnt from, seconds into the track.
    #[serde(
        deserialize_with = "r_profile_end_s",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_end_s: Option<f64>,
    /// The noise profile learnt from the audio at this module's input:
    /// filled in by the plan layer (`plan::matching`) before the chain is
    /// built. Without it the de-hisser tracks the noise floor as it goes
    /// (minimum statistics), which is rougher.
    #[serde(skip)]
    pub profile: Option<std::sync::Arc<crate::audio::noise::NoiseProfile>>,
}

impl Default for DehissConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            reduction_db: 15.0,
            profile_start_s: None,
            profile_end_s: None,
            profile: None,
        }
    }
}

impl DehissConfig {
    /// What the noise is learnt from: the passage when both ends are set,
    /// else the whole track.
    pub fn learn(&self) -> crate::analysis::noise::Learn {
        match (self.profile_start_s, self.profile_end_s) {
            (Some(a), Some(b)) => crate::analysis::noise::Learn::Range(a, b),
            _ => crate::analysis::noise::Learn::Track,
        }
    }
}

/// The mains frequency a hum module notches.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum HumFreq {
    /// Found in the audio (50 or 60 Hz, refined to about 0.01 Hz).
    #[default]
    Auto,
    /// This frequency, Hz (40 to 70).
    Hz(f64),
}

/// Which harmonics a hum module notches.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum HumHarmonics {
    /// Those found standing above the music (up to the 8th, below 1 kHz).
    #[default]
    Auto,
    /// The first n (1 to 8), the fundamental included, whatever is there.
    Count(u32),
}

/// A setting that is "auto" or a number.
fn auto_or_number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<f64>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("\"auto\" or a number")
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            let t = v.trim();
            if t.eq_ignore_ascii_case("auto") {
                Ok(None)
            } else {
                t.parse::<f64>()
                    .map(Some)
                    .map_err(|_| E::custom(format!("'{v}' is neither \"auto\" nor a number")))
            }
        }
    }
    d.deserialize_any(V)
}

impl Serialize for HumFreq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Hz(v) => s.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for HumFreq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match auto_or_number(d)? {
            None => Ok(Self::Auto),
            Some(v) if v.is_finite() && (40.0..=70.0).contains(&v) => Ok(Self::Hz(v)),
            Some(v) => Err(serde::de::Error::custom(format!(
                "freq_hz = {v} is out of range: allowed \"auto\" or 40 to 70 Hz"
            ))),
        }
    }
}

impl Serialize for HumHarmonics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Count(n) => s.serialize_i64(i64::from(*n)),
        }
    }
}

impl<'de> Deserialize<'de> for HumHarmonics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match auto_or_number(d)? {
            None => Ok(Self::Auto),
            Some(v) if v.fract() == 0.0 && (1.0..=8.0).contains(&v) => Ok(Self::Count(v as u32)),
            Some(v) => Err(serde::de::Error::custom(format!(
                "harmonics = {v} is out of range: allowed \"auto\" or 1 to 8"
            ))),
        }
    }
}

/// Hum removal settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HumConfig {
    /// Skip this module.
    pub bypass: bool,
    /// Mains frequency: "auto" (default: found in the audio) or 40 to 70 Hz.
    pub freq_hz: HumFreq,
    /// Harmonics notched: "auto" (default: those found above the music) or
    /// the first 1 to 8, the fundamental included.
    pub harmonics: HumHarmonics,
    /// What detection found in the audio at this module's input: filled in
    /// by the plan layer (`plan::matching`) before the chain is built.
    /// Without it an "auto" setting notches nothing.
    #[serde(skip)]
    pub found: Option<std::sync::Arc<crate::audio::hum::HumFound>>,
}

impl Default for HumConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            freq_hz: HumFreq::Auto,
            harmonics: HumHarmonics::Auto,
            found: None,
        }
    }
}

impl HumConfig {
    /// Whether the module needs the audio measured (either setting "auto").
    pub fn needs_detection(&self) -> bool {
        self.freq_hz == HumFreq::Auto || self.harmonics == HumHarmonics::Auto
    }

    /// The notches to make: (harmonic number, frequency in Hz), the first
    /// `n` of the array. From the settings where they are numbers, from
    /// what was found where "auto" (nothing found: no notches). Allocates
    /// nothing.
    pub fn notches(&self) -> ([(u32, f64); 8], usize) {
        let mut out = [(0u32, 0.0f64); 8];
        let f0 = match (self.freq_hz, &self.found) {
            (HumFreq::Hz(f), _) => f,
            (HumFreq::Auto, Some(found)) => found.freq_hz,
            (HumFreq::Auto, None) => return (out, 0),
        };
        let mut n = 0;
        let mut put = |k: u32| {
            if n < out.len() {
                out[n] = (k, f0 * f64::from(k));
                n += 1;
            }
        };
        match (self.harmonics, &self.found) {
            (HumHarmonics::Count(c), _) => (1..=c).for_each(&mut put),
            (HumHarmonics::Auto, Some(found)) => found.harmonics.iter().for_each(|h| put(h.number)),
            (HumHarmonics::Auto, None) => {}
        }
        (out, n)
    }
}

/// Which filter a [`MatchConfig`] designs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MatchPhase {
    /// Linear phase: no phase change, latency of half the filter (about 170 ms).
    #[default]
    Linear,
    /// Minimum phase: no pre-ringing, low latency (about 21 ms), phase shifts where the curve bends.
    Minimum,
}

/// Reference matching settings: an EQ curve that moves the track's long-term
/// mid and side spectra toward a reference's (see `dsp::matcheq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Skip this module.
    pub bypass: bool,
    /// The reference: an audio file (relative to the chain or session
    /// file), or `"album"`: the average of the album's tracks as they enter
    /// this module (default).
    pub reference: String,
    /// How much of the difference is corrected, % (0 to 100, default 50).
    #[serde(deserialize_with = "r_amount_pct")]
    pub amount_pct: f64,
    /// The same for the side signal, % (0 to 100; default: `amount_pct`).
    #[serde(
        default,
        deserialize_with = "r_side_amount_pct",
        skip_serializing_if = "Option::is_none"
    )]
    pub side_amount_pct: Option<f64>,
    /// Smoothing of the spectra, octaves (1/12 to 1, default 1/3).
    #[serde(deserialize_with = "r_smoothing_oct")]
    pub smoothing_oct: f64,
    /// Largest boost, dB (0 to 12, default 6).
    #[serde(deserialize_with = "r_max_boost_db")]
    pub max_boost_db: f64,
    /// Largest cut, dB (0 to 24, default 9).
    #[serde(deserialize_with = "r_max_cut_db")]
    pub max_cut_db: f64,
    /// Lowest frequency matched, Hz (10 to 2000, default 30); the curve fades to 0 dB over half an octave below.
    #[serde(deserialize_with = "r_match_low_hz")]
    pub low_hz: f64,
    /// Highest frequency matched, Hz (1000 to 22000, default 16000); the curve fades to 0 dB over half an octave above.
    #[serde(deserialize_with = "r_match_high_hz")]
    pub high_hz: f64,
    /// Linear or minimum phase.
    pub phase: MatchPhase,
    /// The measured spectra the curve is designed from: filled in by the
    /// plan layer (`plan::matching`) before the chain is built; without
    /// it the module passes audio through unchanged (with its latency).
    #[serde(skip)]
    pub analysis: Option<std::sync::Arc<crate::audio::longterm::MatchAnalysis>>,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            reference: "album".into(),
            amount_pct: 50.0,
            side_amount_pct: None,
            smoothing_oct: 1.0 / 3.0,
            max_boost_db: 6.0,
            max_cut_db: 9.0,
            low_hz: 30.0,
            high_hz: 16_000.0,
            phase: MatchPhase::Linear,
            analysis: None,
        }
    }
}

impl MatchConfig {
    /// Whether the reference is the album's average.
    pub fn album_reference(&self) -> bool {
        self.reference.trim().eq_ignore_ascii_case("album")
    }
}

/// True-peak limiter settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterConfig {
    /// Skip this module (for auditioning only; a render always limits).
    pub bypass: bool,
    /// Ceiling, dBTP (−12 to 0, default −1).
    #[serde(deserialize_with = "r_ceiling_dbtp")]
    pub ceiling_dbtp: f64,
    /// Lookahead, ms (0.5 to 10, default 2).
    #[serde(deserialize_with = "r_lookahead_ms")]
    pub lookahead_ms: f64,
    /// Release time, ms (1 to 1000, default 80).
    #[serde(deserialize_with = "r_lim_release_ms")]
    pub release_ms: f64,
    /// Program-dependent release: faster after short peaks, slower under sustained limiting.
    pub auto_release: bool,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            bypass: false,
            ceiling_dbtp: -1.0,
            lookahead_ms: 2.0,
            release_ms: 80.0,
            auto_release: true,
        }
    }
}

/// One-line `ORIGIN:LINE: reason` for a TOML error. Errors inside a tagged
/// table carry the table's span; the line of the offending key is found by
/// looking for the key the message names.
pub fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> LatheError {
    let msg = e.message().trim().replace('\n', " ");
    let start = e.span().map_or(0, |s| s.start.min(text.len()));
    let key = if let Some(rest) = msg.split('`').nth(1) {
        Some(rest.to_string())
    } else {
        msg.split(" = ")
            .next()
            .filter(|k| !k.contains(' '))
            .map(str::to_string)
    };
    let mut offset = start;
    if let Some(key) = key {
        let mut pos = start;
        for line in text[start..].split_inclusive('\n') {
            let t = line.trim_start();
            if let Some(after) = t.strip_prefix(key.as_str())
                && after.trim_start().starts_with('=')
            {
                offset = pos;
                break;
            }
            pos += line.len();
        }
    }
    let line = text[..offset].matches('\n').count() + 1;
    LatheError::Invalid(format!("{origin}:{line}: {msg}"))
}

impl ChainConfig {
    /// Parse TOML text; `origin` names the file in error messages, which read
    /// `ORIGIN:LINE: reason`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let cfg: ChainConfig = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        cfg.validate()
            .map_err(|m| LatheError::Invalid(format!("{origin}: {m}")))?;
        Ok(cfg)
    }

    /// Read and parse a chain file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LatheError::open(path, e.to_string()))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Serialize to TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Cross-field checks that parsing alone cannot do.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (i, m) in self.modules.iter().enumerate() {
            match m {
                ModuleConfig::Eq(eq) if eq.bands.len() > MAX_EQ_BANDS => {
                    return Err(format!(
                        "module {} (eq) has {} bands; at most {MAX_EQ_BANDS}",
                        i + 1,
                        eq.bands.len()
                    ));
                }
                ModuleConfig::Multiband(mb) if mb.high_hz <= mb.low_hz * 2.0 => {
                    return Err(format!(
                        "module {} (multiband): high_hz ({}) must be at least twice low_hz ({})",
                        i + 1,
                        mb.high_hz,
                        mb.low_hz
                    ));
                }
                ModuleConfig::Match(m) if m.high_hz <= m.low_hz * 2.0 => {
                    return Err(format!(
                        "module {} (match): high_hz ({}) must be at least twice low_hz ({})",
                        i + 1,
                        m.high_hz,
                        m.low_hz
                    ));
                }
                ModuleConfig::Dehiss(d)
                    if d.profile_start_s.is_some() != d.profile_end_s.is_some() =>
                {
                    return Err(format!(
                        "module {} (dehiss): give both profile_start_s and profile_end_s, or neither",
                        i + 1
                    ));
                }
                ModuleConfig::Dehiss(d)
                    if d.profile_end_s.unwrap_or(1.0) - d.profile_start_s.unwrap_or(0.0) < 0.2 =>
                {
                    return Err(format!(
                        "module {} (dehiss): the noise passage {}-{} s is shorter than 0.2 s",
                        i + 1,
                        d.profile_start_s.unwrap_or(0.0),
                        d.profile_end_s.unwrap_or(0.0)
                    ));
                }
                ModuleConfig::Match(m) if m.reference.trim().is_empty() => {
                    return Err(format!(
                        "module {} (match): reference is empty; give an audio file or \"album\"",
                        i + 1
                    ));
                }
                ModuleConfig::Limiter(_) if i + 1 != self.modules.len() => {
                    return Err(format!(
                        "module {} (limiter) must be the last module",
                        i + 1
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The limiter settings (the last module's, or the defaults).
    pub fn limiter(&self) -> LimiterConfig {
        match self.modules.last() {
            Some(ModuleConfig::Limiter(l)) => l.clone(),
            _ => LimiterConfig::default(),
        }
    }

    /// Make sure the chain ends in a limiter, and set its ceiling if given.
    pub fn with_limiter(mut self, ceiling_dbtp: Option<f64>) -> Self {
        if !matches!(self.modules.last(), Some(ModuleConfig::Limiter(_))) {
            self.modules
                .push(ModuleConfig::Limiter(LimiterConfig::default()));
        }
        if let (Some(c), Some(ModuleConfig::Limiter(l))) = (ceiling_dbtp, self.modules.last_mut()) {
            l.ceiling_dbtp = c;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let text = r#"
name = "t"
target_lufs = -14.0

[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 30.0
slope_db_oct = 24
[[module.band]]
type = "bell"
freq_hz = 3000.0
gain_db = -2.0
q = 1.4
channels = "side"

[[module]]
type = "compressor"
threshold_db = -20.0
ratio = 3.0
link = "mid-side"

[[module]]
type = "limiter"
ceiling_dbtp = -1.0
"#;
        let c = ChainConfig::from_toml(text, "t.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.modules.len(), 3);
        let back = ChainConfig::from_toml(&c.to_toml(), "back").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, c);
    }

    #[test]
    fn rejects_unknown_keys_and_out_of_range_with_line_and_range() {
        let text = "[[module]]\ntype = \"gain\"\ngain_db = 40.0\n";
        let e = ChainConfig::from_toml(text, "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("c.toml:3:"), "{e}");
        assert!(e.contains("-24 to 24 dB"), "{e}");
        let text = "[[module]]\ntype = \"gain\"\ngian_db = 1.0\n";
        let e = ChainConfig::from_toml(text, "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("c.toml:3:") && e.contains("gian_db"), "{e}");
        let text = "[[module]]\ntype = \"flanger\"\n";
        let e = ChainConfig::from_toml(text, "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("flanger"), "{e}");
        let text = "target_lufs = 3.0\n";
        let e = ChainConfig::from_toml(text, "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("c.toml:1:") && e.contains("LUFS"), "{e}");
        let text = "[[module]]\ntype = \"limiter\"\n[[module]]\ntype = \"gain\"\n";
        let e = ChainConfig::from_toml(text, "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("last module"), "{e}");
    }
}
