//! Mastering-chain speed and memory (run: `cargo bench --bench chain`).
//!
//! - In process, one thread, 4 minutes of 44.1 kHz stereo: EQ (6 bands) +
//!   compressor + imager + true-peak limiter (target ≥ 150× real time), and
//!   each restoration module (target ≥ 20× real time).
//! - The whole `lathe master` run on a 4-minute 48 kHz file to 44.1 kHz
//!   16-bit (decode, chain, SRC, loudness search, limiter, dither, write,
//!   re-measure; target ≥ 60× real time) beside ffmpeg's two-pass
//!   `loudnorm` to the same target (target: lathe ≥ 5× faster), and peak
//!   memory for 4 and 30 minutes (target < 100 MB, flat).

use std::path::Path;
use std::process::Command;

#[path = "full_chain.rs"]
mod full_chain;
#[path = "launch.rs"]
mod launch;
use std::time::{Duration, Instant};

use lathe::dsp::chain::Chain;
use lathe::io::AudioBlock;
use lathe::session::chain::ChainConfig;

/// Music-like test signal, one frame at a time (so long files need no memory).
fn music_frames(seconds: usize, rate: u32, mut f: impl FnMut([f32; 2])) {
    let n = seconds * rate as usize;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut lp = [0f64; 2];
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let bt = t % 0.5;
        let kick = (std::f64::consts::TAU * (50.0 + 100.0 * (-bt * 30.0).exp()) * bt).sin()
            * (-bt * 8.0).exp();
        let mut frame = [0f32; 2];
        for (c, o) in frame.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let white = (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            lp[c] += 0.3 * (white - lp[c]);
            let tone = (std::f64::consts::TAU * (110.0 + 55.0 * c as f64) * t).sin() * 0.2;
            *o = (0.3 * kick + 0.4 * lp[c] + tone) as f32;
        }
        f(frame);
    }
}

fn music(seconds: usize, rate: u32) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(), Vec::new()];
    music_frames(seconds, rate, |f| {
        out[0].push(f[0]);
        out[1].push(f[1]);
    });
    out
}

fn write_wav(path: &Path, seconds: usize, rate: u32) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    music_frames(seconds, rate, |f| {
        for v in f {
            w.write_sample((f64::from(v).clamp(-1.0, 1.0) * 8_388_607.0) as i32)
                .expect("write");
        }
    });
    w.finalize().expect("finish");
}

fn time_chain(toml: &str, planar: &[Vec<f32>], rate: u32) -> Duration {
    let cfg = ChainConfig::from_toml(toml, "bench").expect("chain");
    time_config(&cfg, planar, rate)
}

/// A match module with a real curve (a reference tilted 1 dB per octave
/// brighter than the track), before a bypassed limiter.
fn match_config() -> ChainConfig {
    use lathe::analysis::longterm::{MatchAnalysis, MsSpectrum};
    use lathe::session::chain::{LimiterConfig, MatchConfig, ModuleConfig};
    ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![
            ModuleConfig::Match(MatchConfig {
                reference: "bench".into(),
                amount_pct: 100.0,
                analysis: Some(std::sync::Arc::new(MatchAnalysis {
                    track: MsSpectrum::power_law(1e-4, 0.0),
                    reference: MsSpectrum::power_law(1e-4, 0.33),
                    reference_label: "bench".into(),
                })),
                ..MatchConfig::default()
            }),
            ModuleConfig::Limiter(LimiterConfig {
                bypass: true,
                ..LimiterConfig::default()
            }),
        ],
    }
}

fn time_config(cfg: &ChainConfig, planar: &[Vec<f32>], rate: u32) -> Duration {
    let mut chain = Chain::from_config(cfg, rate, 2).expect("build");
    let mut block = AudioBlock::new(2, 1024);
    let n = planar[0].len();
    let start = Instant::now();
    let mut pos = 0;
    while pos < n {
        let k = (n - pos).min(1024);
        for (d, s) in block.channels.iter_mut().zip(planar) {
            d[..k].copy_from_slice(&s[pos..pos + k]);
        }
        block.frames = k;
        chain.process(&mut block);
        pos += k;
    }
    start.elapsed()
}

fn ffmpeg_loudnorm_two_pass(input: &Path, output: &Path) -> Option<Duration> {
    let start = Instant::now();
    let first = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(input)
        .args([
            "-af",
            "loudnorm=I=-14:TP=-1:LRA=11:print_format=json",
            "-f",
            "null",
            "-",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&first.stderr);
    let json_start = text.rfind('{')?;
    let v: serde_json::Value = serde_json::from_str(text[json_start..].trim()).ok()?;
    let get = |k: &str| v[k].as_str().unwrap_or("0").to_string();
    let filter = format!(
        "loudnorm=I=-14:TP=-1:LRA=11:measured_I={}:measured_TP={}:measured_LRA={}:measured_thresh={}:offset={}:linear=true",
        get("input_i"),
        get("input_tp"),
        get("input_lra"),
        get("input_thresh"),
        get("target_offset")
    );
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(["-af", &filter, "-ar", "44100", "-c:a", "pcm_s16le"])
        .arg(output)
        .status()
        .ok()?
        .success();
    ok.then(|| start.elapsed())
}

fn main() {
    launch::launcher_main();
    let seconds = 240.0;
    let planar44 = music(240, 44_100);
    println!("chain benchmark, one thread, 4 minutes of 44.1 kHz stereo:");
    let t = time_chain(full_chain::CHAIN, &planar44, 44_100);
    println!(
        "  EQ(6) + compressor + imager + limiter   {:>7.3} s   {:>6.0}x real time (target >= 150x)",
        t.as_secs_f64(),
        seconds / t.as_secs_f64()
    );
    for (name, m) in [
        ("declick", "type = \"declick\""),
        ("dehiss", "type = \"dehiss\""),
        // Fixed settings: "auto" without a plan's detection removes nothing.
        (
            "hum (4 harmonics)",
            "type = \"hum\"\nfreq_hz = 50.0\nharmonics = 4",
        ),
    ] {
        let toml = format!("[[module]]\n{m}\n[[module]]\ntype = \"limiter\"\nbypass = true\n");
        let t = time_chain(&toml, &planar44, 44_100);
        println!(
            "  {name:<38} {:>7.3} s   {:>6.0}x real time (target >= 20x)",
            t.as_secs_f64(),
            seconds / t.as_secs_f64()
        );
    }
    let t = time_config(&match_config(), &planar44, 44_100);
    println!(
        "  {:<38} {:>7.3} s   {:>6.0}x real time",
        "match (16,384-tap linear phase, M/S)",
        t.as_secs_f64(),
        seconds / t.as_secs_f64()
    );
    drop(planar44);
    if std::env::var_os("LATHE_BENCH_IN_PROCESS").is_some() {
        return;
    }
    // The peak-RSS figures below are of the child process; they are taken
    // while this process holds little memory, since a forked child's
    // maximum resident size counts what it shared with its parent.

    let lathe = env!("CARGO_BIN_EXE_lathe");
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in48.wav");
    write_wav(&input, 240, 48_000);
    let out = dir.path().join("out.wav");
    let master_args = |inp: &Path| -> Vec<std::ffi::OsString> {
        [
            "master".into(),
            inp.as_os_str().to_owned(),
            "-o".into(),
            out.as_os_str().to_owned(),
            "--rate".into(),
            "44100".into(),
            "--bits".into(),
            "16".into(),
            "--force".into(),
        ]
        .to_vec()
    };
    let a4 = master_args(&input);
    let a4: Vec<&std::ffi::OsStr> = a4.iter().map(|s| s.as_os_str()).collect();
    let (lt, lmem, ok) = launch::run(lathe, &a4);
    assert!(ok, "lathe master failed");
    println!("full `lathe master` 48 kHz -> 44.1 kHz/16-bit, streaming preset:");
    println!(
        "  lathe master                            {:>7.3} s   {:>6.0}x real time (target >= 60x), peak RSS {:.1} MB",
        lt.as_secs_f64(),
        seconds / lt.as_secs_f64(),
        lmem
    );
    let ff_out = dir.path().join("ff.wav");
    match ffmpeg_loudnorm_two_pass(&input, &ff_out) {
        Some(ft) => {
            println!(
                "  ffmpeg loudnorm, two passes             {:>7.3} s",
                ft.as_secs_f64()
            );
            println!(
                "  ratio: lathe is {:.1}x faster than ffmpeg loudnorm (target >= 5x)",
                ft.as_secs_f64() / lt.as_secs_f64()
            );
        }
        None => println!("  SKIPPED ffmpeg comparison: ffmpeg not installed or failed"),
    }
    let long = dir.path().join("in30min.wav");
    write_wav(&long, 1800, 48_000);
    let a30 = master_args(&long);
    let a30: Vec<&std::ffi::OsStr> = a30.iter().map(|s| s.as_os_str()).collect();
    let (t30, mem30, ok30) = launch::run(lathe, &a30);
    assert!(ok30, "lathe master (30 min) failed");
    println!(
        "  lathe master, 30-minute file            {:>7.3} s   {:>6.0}x real time, peak RSS {:.1} MB (4 min: {:.1} MB; target < 100 MB)",
        t30.as_secs_f64(),
        1800.0 / t30.as_secs_f64(),
        mem30,
        lmem
    );
}
