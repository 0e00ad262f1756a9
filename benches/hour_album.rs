//! The hour-long album the engine and planning benchmarks plan and play:
//! one 4-minute 48 kHz stereo track (noise with a slow swell) linked fifteen
//! times, through the benchmarks' full chain, album balance to −14 LUFS, one 32-bit float
//! delivery at 48 kHz with a −1 dBTP ceiling.

use std::path::{Path, PathBuf};

use super::full_chain::CHAIN;

/// Write the album into `dir` (tracks with gain offsets of 0 to −2.8 dB
/// when `offsets`); returns the session file.
pub fn write(dir: &Path, offsets: bool) -> PathBuf {
    let wav = dir.join("four.wav");
    let mut w = hound::WavWriter::create(
        &wav,
        hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    )
    .expect("wav");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..48_000 * 240 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            * 0.5
            * (1.0 + (i as f32 / 48_000.0).sin());
        let _ = w.write_sample((v * 20_000.0) as i16);
        let _ = w.write_sample((v * 15_000.0) as i16);
    }
    w.finalize().expect("wav");
    let mut session = String::from(
        "version = 1\n[album]\ntitle = \"hour\"\nartist = \"b\"\nbalance = \"album\"\n[chain]\ntarget_lufs = -14.0\n",
    );
    for line in CHAIN.lines() {
        session.push_str(&line.replace("[[module", "[[chain.module"));
        session.push('\n');
    }
    for k in 0..15 {
        // A session refuses the same file twice: fifteen names for one file.
        let name = format!("four{k}.wav");
        std::fs::hard_link(&wav, dir.join(&name)).expect("link");
        let gain = if offsets { (k % 5) as f64 * -0.7 } else { 0.0 };
        session.push_str(&format!(
            "[[track]]\npath = \"{name}\"\ntitle = \"t{k}\"\ngain_db = {gain:.1}\n"
        ));
    }
    session.push_str("[[delivery]]\nname = \"f\"\nformat = \"wav\"\nbits = \"32f\"\nrate_hz = 48000\nceiling_dbtp = -1.0\n");
    let sp = dir.join("hour.toml");
    std::fs::write(&sp, session).expect("session");
    sp
}
