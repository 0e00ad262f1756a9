//! Album sessions: the record as the unit of work. Tracks in play order with
//! trims, fades, gaps and gain offsets, the album chain, balancing, and one
//! or more deliveries. Loaded and saved as TOML (`version = 1`).
//!
//! ```toml
//! version = 1
//! [album]
//! title = "Demo"
//! artist = "lathe"
//! balance = "album"            # album | consistent | track | none
//! [chain]                      # the chain format of `lathe master --chain`
//! [[chain.module]]
//! type = "compressor"
//! [[track]]
//! path = "01 Intro.wav"        # relative to the session file's folder
//! title = "Intro"
//! gap_s = 0.0
//! [[delivery]]
//! name = "cd"
//! format = "wav"
//! bits = "16"
//! rate_hz = 44100
//! album_file = true            # one continuous file plus a CUE sheet
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chain::{ChainConfig, ModuleConfig, toml_error};
use crate::error::{LatheError, Result};

/// The session file format version this build writes.
pub const SESSION_VERSION: u32 = 1;

/// How tracks are balanced against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// One gain for all tracks so the album hits the target; relative levels kept.
    #[default]
    Album,
    /// Each track to the target.
    Track,
    /// No loudness targeting (per-track gain offsets only).
    None,
    /// As an engineer balances by ear: each track's loud passages (the
    /// 90th percentile of its short-term loudness, after the limiter) level
    /// with the others', then one gain for all so the album as one
    /// programme hits the target; a ballad's quieter average stays quieter.
    Consistent,
}

/// Fade shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FadeCurve {
    /// Linear in amplitude.
    Linear,
    /// Equal-power (sine) curve.
    #[default]
    EqualPower,
    /// Exponential-sounding (cubic) curve.
    Exponential,
}

impl FadeCurve {
    /// Gain at position `x` in 0..=1 of a fade-in.
    pub fn gain(self, x: f64) -> f64 {
        let x = x.clamp(0.0, 1.0);
        match self {
            Self::Linear => x,
            Self::EqualPower => (x * std::f64::consts::FRAC_PI_2).sin(),
            Self::Exponential => x * x * x,
        }
    }
}

/// Album metadata and balancing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Album {
    /// Album title.
    pub title: String,
    /// Album artist.
    pub artist: String,
    /// Release year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<u32>,
    /// UPC/EAN barcode (12 or 13 digits, check digit verified).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upc: Option<String>,
    /// Balancing mode.
    pub balance: Balance,
}

/// One track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Audio file; relative paths resolve against the session file's folder.
    pub path: PathBuf,
    /// Title.
    pub title: String,
    /// Artist, if different from the album's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// ISRC (CC-XXX-YY-NNNNN, dashes optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isrc: Option<String>,
    /// Audio skipped at the start, seconds.
    #[serde(default)]
    pub trim_start_s: f64,
    /// Audio skipped at the end, seconds.
    #[serde(default)]
    pub trim_end_s: f64,
    /// Fade-in length, seconds.
    #[serde(default)]
    pub fade_in_s: f64,
    /// Fade-out length, seconds.
    #[serde(default)]
    pub fade_out_s: f64,
    /// Fade shape.
    #[serde(default)]
    pub fade_curve: FadeCurve,
    /// Silence before the track in the album, seconds (0 = gapless).
    #[serde(default)]
    pub gap_s: f64,
    /// Crossfade with the previous track in the album file, seconds (used
    /// when `gap_s` is 0; complementary linear gains keep the ceiling).
    #[serde(default)]
    pub crossfade_s: f64,
    /// Gain offset, dB (−24 to +24), on top of balancing.
    #[serde(default)]
    pub gain_db: f64,
    /// Extra modules for this track, run after the album chain's.
    #[serde(default, rename = "module", skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<ModuleConfig>,
}

/// Delivery container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Container {
    /// RIFF WAVE.
    #[default]
    Wav,
    /// FLAC.
    Flac,
    /// A DDP 2.00 fileset for CD pressing (`io::ddp`): 44.1 kHz, 16-bit,
    /// the album as one image with its PQ descriptor, CD-TEXT and
    /// checksums; the Red Book is checked as for `cd = true`.
    Ddp,
}

impl Track {
    /// A track of `path` titled `title`, everything else at its default
    /// (no trims, fades, gap, crossfade, gain or modules of its own).
    pub fn new(path: PathBuf, title: String) -> Self {
        Self {
            path,
            title,
            artist: None,
            isrc: None,
            trim_start_s: 0.0,
            trim_end_s: 0.0,
            fade_in_s: 0.0,
            fade_out_s: 0.0,
            fade_curve: FadeCurve::default(),
            gap_s: 0.0,
            crossfade_s: 0.0,
            gain_db: 0.0,
            modules: Vec::new(),
        }
    }
}

/// One delivery format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Name; also the output subfolder.
    pub name: String,
    /// Container.
    #[serde(default)]
    pub format: Container,
    /// Word length: "16", "24" or "32f".
    #[serde(default = "default_bits")]
    pub bits: String,
    /// Sample rate, Hz.
    pub rate_hz: u32,
    /// Dither for integer formats: tpdf, shaped or none.
    #[serde(default = "default_dither")]
    pub dither: String,
    /// Loudness target, LUFS (none: the chain's target, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_lufs: Option<f64>,
    /// True-peak ceiling, dBTP.
    #[serde(default = "default_ceiling")]
    pub ceiling_dbtp: f64,
    /// The most gain reduction the limiter may apply to reach the target,
    /// dB (0 to 30; none: the chain's `max_limiting_db`, if any). With it
    /// the target is a maximum: tracks stop short of it rather than limit
    /// more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_limiting_db: Option<f64>,
    /// Write one file per track (`NN Title.ext`).
    #[serde(default = "yes")]
    pub track_files: bool,
    /// Write one continuous album file with a CUE sheet.
    #[serde(default)]
    pub album_file: bool,
    /// For CD pressing: the Red Book's rules are checked before rendering
    /// (`plan::redbook`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cd: bool,
    /// Codecs each written file is checked through after rendering
    /// (`"aac-256"`, `"mp3-320"`, `"opus-160"`; see
    /// [`crate::analysis::codec`]): a decoded true peak over 0 dBTP fails
    /// the delivery.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codec_check: Vec<String>,
    /// With `codec_check`: the decoded true peak must stay under the
    /// delivery's ceiling, not only under 0 dBTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

impl Delivery {
    /// The delivery as it renders: a DDP fileset is one album image (no
    /// track files) for CD (Red Book checks on).
    pub fn normalized(mut self) -> Self {
        if self.format == Container::Ddp {
            self.track_files = false;
            self.album_file = true;
            self.cd = true;
        }
        self
    }

    /// The codecs of `codec_check`, parsed (checked valid at load).
    pub fn codecs(&self) -> Vec<crate::io::lossy::CodecSpec> {
        self.codec_check
            .iter()
            .filter_map(|c| crate::io::lossy::CodecSpec::parse(c).ok())
            .collect()
    }

    /// The decoded true peak a codec check must stay under, dBTP: the
    /// ceiling with `strict`, else 0.
    pub fn codec_limit_dbtp(&self) -> f64 {
        if self.strict { self.ceiling_dbtp } else { 0.0 }
    }
}

fn default_bits() -> String {
    "24".into()
}
fn default_dither() -> String {
    "tpdf".into()
}
fn default_ceiling() -> f64 {
    -1.0
}
fn yes() -> bool {
    true
}

/// A whole session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// File format version (1).
    pub version: u32,
    /// Album metadata and balancing.
    #[serde(default)]
    pub album: Album,
    /// The album chain.
    #[serde(default = "empty_chain")]
    pub chain: ChainConfig,
    /// Tracks in play order.
    #[serde(default, rename = "track")]
    pub tracks: Vec<Track>,
    /// Deliveries rendered in one run.
    #[serde(default, rename = "delivery")]
    pub deliveries: Vec<Delivery>,
}

fn empty_chain() -> ChainConfig {
    ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: Vec::new(),
    }
}

/// Validate an ISRC: 2 letters, 3 alphanumerics, 2 digits, 5 digits.
pub fn valid_isrc(s: &str) -> bool {
    let c: Vec<char> = s.chars().filter(|c| *c != '-').collect();
    c.len() == 12
        && c[..2].iter().all(|c| c.is_ascii_uppercase())
        && c[2..5]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && c[5..].iter().all(|c| c.is_ascii_digit())
}

/// Validate a UPC-A (12) or EAN-13 barcode by its check digit.
pub fn valid_upc(s: &str) -> bool {
    let d: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != s.len() || !(d.len() == 12 || d.len() == 13) {
        return false;
    }
    let body = &d[..d.len() - 1];
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, v)| if i % 2 == 0 { v * 3 } else { *v })
        .sum();
    (10 - sum % 10) % 10 == d[d.len() - 1]
}

/// Line (1-based) of the `nth` line starting with `needle` (1 if none).
pub fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    let mut count = 0;
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with(needle) {
            if count == nth {
                return i + 1;
            }
            count += 1;
        }
    }
    1
}

impl Session {
    /// Parse session TOML; `origin` names the file in `ORIGIN:LINE: reason` errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let s: Session = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        if s.version != SESSION_VERSION {
            return Err(LatheError::Invalid(format!(
                "{origin}:{}: version = {} is not supported (this lathe reads version {SESSION_VERSION})",
                line_of(text, "version", 0),
                s.version
            )));
        }
        s.validate(text, origin)?;
        Ok(s)
    }

    fn validate(&self, text: &str, origin: &str) -> Result<()> {
        let err =
            |line: usize, msg: String| Err(LatheError::Invalid(format!("{origin}:{line}: {msg}")));
        self.chain
            .validate()
            .map_err(|m| LatheError::Invalid(format!("{origin}: chain: {m}")))?;
        if let Some(u) = &self.album.upc
            && !valid_upc(u)
        {
            return err(
                line_of(text, "upc", 0),
                format!("upc = \"{u}\" is not a valid UPC/EAN (12 or 13 digits, check digit)"),
            );
        }
        if self.tracks.is_empty() {
            return err(1, "the session has no [[track]]".into());
        }
        let mut seen: Vec<&Path> = Vec::new();
        for (i, t) in self.tracks.iter().enumerate() {
            let line = line_of(text, "[[track]]", i);
            if let Some(isrc) = &t.isrc
                && !valid_isrc(isrc)
            {
                return err(
                    line,
                    format!(
                        "track {}: isrc = \"{isrc}\" is not an ISRC (CC-XXX-YY-NNNNN)",
                        i + 1
                    ),
                );
            }
            for (name, v, lo, hi) in [
                ("trim_start_s", t.trim_start_s, 0.0, 36_000.0),
                ("trim_end_s", t.trim_end_s, 0.0, 36_000.0),
                ("fade_in_s", t.fade_in_s, 0.0, 600.0),
                ("fade_out_s", t.fade_out_s, 0.0, 600.0),
                ("gap_s", t.gap_s, 0.0, 600.0),
                ("crossfade_s", t.crossfade_s, 0.0, 30.0),
                ("gain_db", t.gain_db, -24.0, 24.0),
            ] {
                if !(lo..=hi).contains(&v) {
                    return err(
                        line,
                        format!(
                            "track {}: {name} = {v} is out of range: allowed {lo} to {hi}",
                            i + 1
                        ),
                    );
                }
            }
            if t.title.trim().is_empty() {
                return err(line, format!("track {}: title is empty", i + 1));
            }
            if seen.contains(&t.path.as_path()) {
                return err(
                    line,
                    format!(
                        "track {}: {} is already track {}",
                        i + 1,
                        t.path.display(),
                        seen.iter().position(|p| *p == t.path).map_or(0, |p| p + 1)
                    ),
                );
            }
            seen.push(&t.path);
            if t.modules
                .iter()
                .any(|m| matches!(m, ModuleConfig::Limiter(_)))
            {
                return err(
                    line,
                    format!(
                        "track {}: the limiter belongs to the album chain and deliveries, not to a track",
                        i + 1
                    ),
                );
            }
        }
        if self.deliveries.is_empty() {
            return err(1, "the session has no [[delivery]]".into());
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, d) in self.deliveries.iter().enumerate() {
            let line = line_of(text, "[[delivery]]", i);
            if d.name.is_empty() || d.name.contains(['/', '\\']) || d.name.starts_with('.') {
                return err(
                    line,
                    format!(
                        "delivery {}: name \"{}\" must be a plain folder name",
                        i + 1,
                        d.name
                    ),
                );
            }
            if names.contains(&d.name.as_str()) {
                return err(
                    line,
                    format!(
                        "delivery {}: name \"{}\" is used twice (each delivery writes its own folder)",
                        i + 1,
                        d.name
                    ),
                );
            }
            names.push(&d.name);
            let fmt_ok = matches!(
                (d.format, d.bits.as_str()),
                (Container::Wav, "16" | "24" | "32f")
                    | (Container::Flac, "16" | "24")
                    | (Container::Ddp, "16")
            );
            if !fmt_ok {
                return err(
                    line,
                    format!(
                        "delivery {}: bits = \"{}\" is impossible for {:?} (WAV: 16, 24, 32f; FLAC: 16, 24; DDP: 16)",
                        i + 1,
                        d.bits,
                        d.format
                    ),
                );
            }
            if !(8_000..=384_000).contains(&d.rate_hz) {
                return err(
                    line,
                    format!(
                        "delivery {}: rate_hz = {} is outside 8000..=384000",
                        i + 1,
                        d.rate_hz
                    ),
                );
            }
            if !matches!(d.dither.as_str(), "tpdf" | "shaped" | "none") {
                return err(
                    line,
                    format!(
                        "delivery {}: dither = \"{}\": use tpdf, shaped or none",
                        i + 1,
                        d.dither
                    ),
                );
            }
            if let Some(t) = d.target_lufs
                && !(-40.0..=0.0).contains(&t)
            {
                return err(
                    line,
                    format!(
                        "delivery {}: target_lufs = {t} is out of range: allowed -40 to 0",
                        i + 1
                    ),
                );
            }
            if let Some(m) = d.max_limiting_db
                && !(0.0..=30.0).contains(&m)
            {
                return err(
                    line,
                    format!(
                        "delivery {}: max_limiting_db = {m} is out of range: allowed 0 to 30",
                        i + 1
                    ),
                );
            }
            if !(-12.0..=0.0).contains(&d.ceiling_dbtp) {
                return err(
                    line,
                    format!(
                        "delivery {}: ceiling_dbtp = {} is out of range: allowed -12 to 0",
                        i + 1,
                        d.ceiling_dbtp
                    ),
                );
            }
            for c in &d.codec_check {
                if let Err(why) = crate::io::lossy::CodecSpec::parse(c) {
                    return err(line, format!("delivery {}: codec_check: {why}", i + 1));
                }
            }
            if !d.track_files && !d.album_file {
                return err(
                    line,
                    format!(
                        "delivery {}: writes nothing (track_files and album_file both false)",
                        i + 1
                    ),
                );
            }
        }
        Ok(())
    }

    /// Load a session file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LatheError::open(path, e.to_string()))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Serialize to TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| LatheError::Invalid(format!("cannot write session: {e}")))
    }

    /// Save atomically; an existing file is kept as `FILE.bak`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = self.to_toml()?;
        if path.exists() {
            let mut bak = path.as_os_str().to_owned();
            bak.push(".bak");
            std::fs::copy(path, PathBuf::from(bak))
                .map_err(|e| LatheError::write(path, format!("cannot keep a backup: {e}")))?;
        }
        let mut f = crate::io::atomic::AtomicFile::create(path, &[], true)?;
        use std::io::Write;
        f.write_all(text.as_bytes())
            .map_err(|e| LatheError::write(path, e.to_string()))?;
        f.commit()?;
        Ok(())
    }

    /// A track's audio path, resolved against the session file's folder.
    pub fn track_path(&self, session_file: &Path, track: &Track) -> PathBuf {
        if track.path.is_absolute() {
            track.path.clone()
        } else {
            session_file
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(&track.path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isrc_and_upc_validation() {
        assert!(valid_isrc("USRC17607839"));
        assert!(valid_isrc("US-RC1-76-07839"));
        assert!(!valid_isrc("USRC1760783"));
        assert!(!valid_isrc("us-rc1-76-07839"));
        assert!(valid_upc("036000291452")); // UPC-A
        assert!(valid_upc("4006381333931")); // EAN-13
        assert!(!valid_upc("036000291453"));
    }
}
