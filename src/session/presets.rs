//! Built-in chains with honest names: each says what it is for and what
//! loudness and true-peak ceiling it delivers.

use super::chain::ChainConfig;
use crate::error::{LatheError, Result};

/// A built-in preset.
#[derive(Debug, Clone, Copy)]
pub struct Preset {
    /// Name used with `--preset`.
    pub name: &'static str,
    /// One line saying what it is for.
    pub description: &'static str,
    /// The chain, as the same TOML a user would write.
    pub toml: &'static str,
}

const STREAMING: &str = r#"name = "streaming"
target_lufs = -14.0

[[module]]
type = "dc-removal"

[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 25.0
slope_db_oct = 24

[[module]]
type = "compressor"
threshold_db = -20.0
ratio = 1.5
knee_db = 8.0
attack_ms = 30.0
release_ms = 250.0
sidechain_hp_hz = 80.0

[[module]]
type = "limiter"
ceiling_dbtp = -1.0
lookahead_ms = 2.0
release_ms = 80.0
"#;

const APPLE: &str = r#"name = "apple"
target_lufs = -16.0

[[module]]
type = "dc-removal"

[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 25.0
slope_db_oct = 24

[[module]]
type = "compressor"
threshold_db = -22.0
ratio = 1.5
knee_db = 8.0
attack_ms = 30.0
release_ms = 250.0
sidechain_hp_hz = 80.0

[[module]]
type = "limiter"
ceiling_dbtp = -1.0
"#;

const BROADCAST: &str = r#"name = "broadcast"
target_lufs = -23.0

[[module]]
type = "dc-removal"

[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 30.0
slope_db_oct = 24

[[module]]
type = "limiter"
ceiling_dbtp = -1.0
release_ms = 150.0
"#;

const CD_LOUD: &str = r#"name = "cd-loud"
target_lufs = -9.0

[[module]]
type = "dc-removal"

[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 28.0
slope_db_oct = 24

[[module]]
type = "multiband"
low_hz = 120.0
high_hz = 4000.0
[module.low]
threshold_db = -22.0
ratio = 2.0
attack_ms = 30.0
release_ms = 200.0
[module.mid]
threshold_db = -20.0
ratio = 1.8
attack_ms = 15.0
release_ms = 150.0
[module.high]
threshold_db = -24.0
ratio = 1.6
attack_ms = 5.0
release_ms = 100.0

[[module]]
type = "limiter"
ceiling_dbtp = -0.3
lookahead_ms = 3.0
release_ms = 60.0
"#;

const GENTLE: &str = r#"name = "gentle"
target_lufs = -16.0

[[module]]
type = "dc-removal"

[[module]]
type = "limiter"
ceiling_dbtp = -1.0
lookahead_ms = 5.0
release_ms = 200.0
"#;

/// Every built-in preset.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "streaming",
        description: "Spotify/YouTube/Tidal: -14 LUFS, -1 dBTP, gentle glue compression",
        toml: STREAMING,
    },
    Preset {
        name: "apple",
        description: "Apple Music (Sound Check): -16 LUFS, -1 dBTP",
        toml: APPLE,
    },
    Preset {
        name: "broadcast",
        description: "EBU R128 broadcast: -23 LUFS, -1 dBTP, no compression",
        toml: BROADCAST,
    },
    Preset {
        name: "cd-loud",
        description: "loud CD master: -9 LUFS, -0.3 dBTP, three-band compression",
        toml: CD_LOUD,
    },
    Preset {
        name: "gentle",
        description: "transparent: -16 LUFS, -1 dBTP, limiting only",
        toml: GENTLE,
    },
];

/// The chain of preset `name`.
pub fn preset(name: &str) -> Result<ChainConfig> {
    match PRESETS.iter().find(|p| p.name == name) {
        Some(p) => ChainConfig::from_toml(p.toml, &format!("preset {}", p.name)),
        None => Err(LatheError::Invalid(format!(
            "unknown preset '{name}' (available: {})",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_states_its_target_and_ceiling() {
        for p in PRESETS {
            let c = preset(p.name).unwrap_or_else(|e| panic!("{e}"));
            let target = c.target_lufs.unwrap_or(f64::NAN);
            let ceiling = c.limiter().ceiling_dbtp;
            assert!(
                p.description.contains(&format!("{target:.0} LUFS")),
                "{}: {}",
                p.name,
                p.description
            );
            assert!(
                p.description.contains(&format!("{ceiling} dBTP")),
                "{}: {}",
                p.name,
                p.description
            );
        }
        assert!(preset("nope").is_err());
    }
}
