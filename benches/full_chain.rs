//! The chain the chain, engine and planning benchmarks run: EQ (6 bands),
//! compressor, imager, limiter.

/// EQ (6 bands), compressor, imager, limiter, as chain TOML.
pub const CHAIN: &str = r#"
[[module]]
type = "eq"
[[module.band]]
type = "high-pass"
freq_hz = 25.0
slope_db_oct = 24
[[module.band]]
type = "low-shelf"
freq_hz = 90.0
gain_db = 1.0
[[module.band]]
type = "bell"
freq_hz = 300.0
gain_db = -1.5
[[module.band]]
type = "bell"
freq_hz = 2500.0
gain_db = 1.0
channels = "mid"
[[module.band]]
type = "high-shelf"
freq_hz = 10000.0
gain_db = 1.5
[[module.band]]
type = "low-pass"
freq_hz = 20000.0
[[module]]
type = "compressor"
[[module]]
type = "imager"
width_pct = 110.0
bass_mono_hz = 100.0
[[module]]
type = "limiter"
"#;
