//! Album render speed and memory (run: `cargo bench --bench render`): a
//! 10-track album of 4-minute 44.1 kHz stereo tracks to a CD delivery
//! (WAV 16-bit per-track files + album file + CUE) and a streaming delivery
//! (FLAC 48 kHz/24-bit, −14 LUFS). Targets: ≥ 60× real time for both
//! deliveries together, both cores busy, peak memory < 300 MB.

use std::path::Path;

#[path = "dense.rs"]
mod dense;
#[path = "launch.rs"]
mod launch;

fn write_track(path: &Path, seconds: usize, seed: u64, level: f64) {
    let rate = 44_100u32;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    let mut dense = dense::Dense::new(seed, rate, level);
    for i in 0..seconds * rate as usize {
        for v in dense.frame(i) {
            w.write_sample((v * 8_388_607.0) as i32).expect("write");
        }
    }
    w.finalize().expect("finish");
}

fn main() {
    launch::launcher_main();
    let dir = tempfile::tempdir().expect("tmp");
    let mut session = String::from(
        "version = 1\n[album]\ntitle = \"Bench\"\nartist = \"lathe\"\nbalance = \"album\"\n\n[chain]\n[[chain.module]]\ntype = \"eq\"\n[[chain.module.band]]\ntype = \"high-pass\"\nfreq_hz = 25.0\n[[chain.module]]\ntype = \"compressor\"\n[[chain.module]]\ntype = \"limiter\"\n",
    );
    for i in 0..10 {
        let name = format!("t{i:02}.wav");
        write_track(
            &dir.path().join(&name),
            240,
            0x9e37_79b9 + i as u64,
            0.4 + 0.05 * i as f64,
        );
        session.push_str(&format!(
            "\n[[track]]\npath = \"{name}\"\ntitle = \"Track {}\"\ngap_s = 2.0\n",
            i + 1
        ));
    }
    session.push_str(
        "\n[[delivery]]\nname = \"cd\"\nformat = \"wav\"\nbits = \"16\"\nrate_hz = 44100\ntarget_lufs = -11.0\nceiling_dbtp = -0.5\nalbum_file = true\n\n[[delivery]]\nname = \"streaming\"\nformat = \"flac\"\nbits = \"24\"\nrate_hz = 48000\ntarget_lufs = -14.0\nceiling_dbtp = -1.0\n",
    );
    let sp = dir.path().join("session.toml");
    std::fs::write(&sp, session).expect("session");
    let out = dir.path().join("out");
    let lathe = env!("CARGO_BIN_EXE_lathe");
    let (t, mem, ok, cpu) = launch::run_cpu(
        lathe,
        &[
            "render".as_ref(),
            sp.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--force".as_ref(),
        ],
    );
    assert!(ok, "lathe render failed");
    let album_s = 2400.0;
    println!(
        "render benchmark: 10 x 4-minute tracks, CD (WAV 16-bit + album + CUE) and streaming (FLAC 48 kHz/24-bit)"
    );
    println!(
        "  lathe render   {:>7.2} s   {:>5.1}x real time (target >= 60x)   CPU {:.2} s = {:.2} cores busy   peak RSS {:.1} MB (target < 300 MB)",
        t.as_secs_f64(),
        album_s / t.as_secs_f64(),
        cpu,
        cpu / t.as_secs_f64(),
        mem
    );
}
