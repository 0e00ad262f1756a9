//! `lathe master` end to end: loudness target and true-peak ceiling met on
//! the written file (checked by lathe's analyzer and, when installed, by
//! ffmpeg's ebur128 true-peak meter), reports, and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lathe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(args)
        .output()
        .expect("run lathe")
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// A dense, loud-ish stereo mix with intersample overs: kick, bass, chords,
/// noise hats, hard-clipped, at 48 kHz.
fn loud_mix(seconds: f64, gain: f32) -> Vec<Vec<f32>> {
    let rate = 48_000.0f64;
    let n = (seconds * rate) as usize;
    let noise = common::noise(n, 3);
    let mut l = vec![0f32; n];
    let mut r = vec![0f32; n];
    for i in 0..n {
        let t = i as f64 / rate;
        let bt = t % 0.5;
        let kick = (std::f64::consts::TAU * (50.0 + 100.0 * (-bt * 30.0).exp()) * bt).sin()
            * (-bt * 8.0).exp();
        let chord: f64 = [220.0, 277.2, 329.6]
            .iter()
            .map(|f| (std::f64::consts::TAU * f * t).sin())
            .sum::<f64>()
            / 3.0;
        let hat = if (t % 0.25) < 0.03 {
            f64::from(noise[i]) * 0.4
        } else {
            0.0
        };
        let v = gain as f64 * (0.6 * kick + 0.5 * chord + hat);
        l[i] = v.clamp(-1.0, 1.0) as f32;
        r[i] = (gain as f64 * (0.6 * kick + 0.4 * chord - hat)).clamp(-1.0, 1.0) as f32;
    }
    vec![l, r]
}

struct Tmp {
    _d: tempfile::TempDir,
    root: PathBuf,
}

fn tmp() -> Tmp {
    let d = tempfile::tempdir().expect("tmp");
    let root = d.path().to_path_buf();
    Tmp { _d: d, root }
}

fn report(path: &Path) -> serde_json::Value {
    let o = lathe(&[os("analyze"), os("--json"), path.as_os_str()]);
    serde_json::from_slice(&o.stdout).expect("analyze json")
}

/// ffmpeg's true peak (linear, 3 decimals) of a file, if ffmpeg is installed.
fn ffmpeg_true_peak(path: &Path) -> Option<f64> {
    if !common::have("ffmpeg") {
        return None;
    }
    let meta = path.with_extension("meta.txt");
    let filter = format!(
        "ebur128=peak=true:metadata=1,ametadata=mode=print:file={}",
        meta.display()
    );
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-af", &filter, "-f", "null", "-"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let text = std::fs::read_to_string(&meta).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("lavfi.r128.true_peak="))
        .filter_map(|v| v.parse::<f64>().ok())
        .reduce(f64::max)
}

#[test]
fn every_preset_meets_its_target_and_ceiling_after_src_and_dither() {
    let t = tmp();
    let input = t.root.join("mix.wav");
    common::write_wav_f32(&input, &loud_mix(12.0, 1.6), 48_000);
    let quiet = t.root.join("quiet.wav");
    common::write_wav_f32(&quiet, &loud_mix(12.0, 0.05), 48_000);
    if !common::have("ffmpeg") {
        println!("SKIPPED ffmpeg cross-check: ffmpeg is not installed");
    }
    for preset in ["streaming", "apple", "broadcast", "cd-loud", "gentle"] {
        for (src, name, rate) in [
            (&input, "loud", "44100"),
            (&quiet, "quiet", "44100"),
            (&input, "same-rate", "48000"),
        ] {
            let out = t.root.join(format!("{preset}-{name}.wav"));
            let o = lathe(&[
                os("master"),
                src.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--preset"),
                os(preset),
                os("--rate"),
                os(rate),
                os("--bits"),
                os("16"),
                os("--json"),
            ]);
            assert!(
                o.status.success(),
                "{preset}/{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );

            let rep: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            let target = rep["target_lufs"].as_f64().expect("target");
            let ceiling = rep["ceiling_dbtp"].as_f64().expect("ceiling");
            // Measured independently by re-analyzing the written file.
            let a = report(&out);
            assert_eq!(a["sample_rate"].to_string(), rate);
            let i = a["integrated_lufs"].as_f64().expect("I");
            let tp = a["true_peak_dbtp"].as_f64().expect("TP");
            assert!(
                tp <= ceiling,
                "{preset}/{name}: true peak {tp} over {ceiling}"
            );
            assert!(
                (i - target).abs() <= 0.3,
                "{preset}/{name}: {i} LUFS, target {target}"
            );
            if let Some(ff) = ffmpeg_true_peak(&out) {
                // ffmpeg prints 3 decimals of linear peak: allow half a unit.
                let lim = 10f64.powf(ceiling / 20.0) + 0.0005;
                assert!(
                    ff <= lim,
                    "{preset}/{name}: ffmpeg true peak {ff} over {lim}"
                );
            }
        }
    }
}

#[test]
fn overrides_defaults_and_text_report() {
    let t = tmp();
    let input = t.root.join("in.wav");
    common::write_wav_f32(&input, &loud_mix(8.0, 0.3), 44_100);
    let out = t.root.join("out.wav");
    let o = lathe(&[
        os("master"),
        input.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--target"),
        os("-18"),
        os("--ceiling"),
        os("-2"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Integrated") && text.contains("True peak") && text.contains("before"),
        "{text}"
    );
    let a = report(&out);
    assert_eq!(a["sample_rate"], 44_100, "keeps the input rate");
    assert_eq!(a["bits_per_sample"], 24, "24-bit by default");
    assert!((a["integrated_lufs"].as_f64().unwrap_or(0.0) + 18.0).abs() <= 0.3);
    assert!(a["true_peak_dbtp"].as_f64().unwrap_or(0.0) <= -2.0);
    // 32-bit float output has no dither.
    let f = t.root.join("f.wav");
    let o = lathe(&[
        os("master"),
        input.as_os_str(),
        os("-o"),
        f.as_os_str(),
        os("--bits"),
        os("32f"),
        os("--json"),
    ]);
    let rep: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(rep["dither"], "none");
    assert_eq!(rep["float"], true);
    // --list-presets shows each preset's chain.
    let l = lathe(&[os("master"), os("--list-presets")]);
    let s = String::from_utf8_lossy(&l.stdout);
    for p in ["streaming", "apple", "broadcast", "cd-loud", "gentle"] {
        assert!(s.contains(&format!("# {p}")), "{s}");
    }
}

#[test]
fn a_chain_file_drives_the_master() {
    let t = tmp();
    let input = t.root.join("in.wav");
    common::write_wav_f32(&input, &loud_mix(6.0, 0.5), 48_000);
    let chain = t.root.join("chain.toml");
    std::fs::write(
        &chain,
        "target_lufs = -12.0\n[[module]]\ntype = \"eq\"\n[[module.band]]\ntype = \"high-shelf\"\nfreq_hz = 8000.0\ngain_db = 2.0\n[[module]]\ntype = \"imager\"\nwidth_pct = 80.0\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = -0.5\n",
    )
    .expect("write chain");
    let out = t.root.join("o.wav");
    let o = lathe(&[
        os("master"),
        input.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--chain"),
        chain.as_os_str(),
        os("--json"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = report(&out);
    assert!((a["integrated_lufs"].as_f64().unwrap_or(0.0) + 12.0).abs() <= 0.3);
    assert!(a["true_peak_dbtp"].as_f64().unwrap_or(0.0) <= -0.5);
}

#[test]
fn bad_master_input_fails_cleanly_and_writes_nothing() {
    let t = tmp();
    let input = t.root.join("in.wav");
    common::write_wav_f32(&input, &loud_mix(2.0, 0.5), 48_000);
    let existing = t.root.join("exists.wav");
    std::fs::write(&existing, b"precious").expect("write");
    let bad_chain = t.root.join("bad.toml");
    std::fs::write(
        &bad_chain,
        "[[module]]\ntype = \"compressor\"\n\nratio = 50.0\n",
    )
    .expect("write");
    let six = t.root.join("six.wav");
    common::write_wav_f32(&six, &vec![vec![0.1f32; 4800]; 6], 48_000);
    let out = t.root.join("out.wav");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (
            vec![
                os("master"),
                os("/nonexistent/in.wav"),
                os("-o"),
                out.as_os_str(),
            ],
            "no such file",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                existing.as_os_str(),
            ],
            "already exists",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                input.as_os_str(),
                os("--force"),
            ],
            "input",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--chain"),
                bad_chain.as_os_str(),
            ],
            "bad.toml:4:",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--bits"),
                os("12"),
            ],
            "--bits 12",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--preset"),
                os("louder"),
            ],
            "unknown preset",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("--target"),
                os("5"),
            ],
            "--target 5",
        ),
        (
            vec![os("master"), six.as_os_str(), os("-o"), out.as_os_str()],
            "6 channels",
        ),
        (
            vec![
                os("master"),
                input.as_os_str(),
                os("-o"),
                t.root
                    .join("no/such/dir/o.wav")
                    .as_os_str()
                    .to_owned()
                    .leak(),
            ],
            "does not exist",
        ),
    ];
    for (args, want) in cases {
        let o = lathe(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(want), "{args:?}: expected '{want}' in: {err}");
    }
    assert_eq!(std::fs::read(&existing).expect("read"), b"precious");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&t.root)
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// Read a 32-bit float WAV as planar samples.
fn read_f32(path: &Path) -> Vec<Vec<f32>> {
    let mut r = hound::WavReader::open(path).expect("open");
    let ch = usize::from(r.spec().channels);
    let all: Vec<f32> = r.samples::<f32>().map(|s| s.expect("sample")).collect();
    (0..ch)
        .map(|c| all.iter().skip(c).step_by(ch).copied().collect())
        .collect()
}

/// The limiter's gain per frame, measured independently of lathe's own
/// counting: with a limiter-only chain and float output the written file is
/// the input × the target gain × the limiter's gain, sample for sample.
/// Returns (peak reduction dB, share of frames over 3 dB) over the frames
/// loud enough to read the gain from.
fn measured_limiting(input: &Path, output: &Path, gain_db: f64) -> (f64, f64) {
    let (a, b) = (read_f32(input), read_f32(output));
    assert_eq!(a[0].len(), b[0].len(), "the master keeps the length");
    let g = 10f64.powf(gain_db / 20.0);
    let (mut peak, mut over3, mut n) = (0.0f64, 0usize, 0usize);
    for i in 0..a[0].len() {
        let c = if a[0][i].abs() >= a[1][i].abs() { 0 } else { 1 };
        let x = f64::from(a[c][i]) * g;
        if x.abs() < 0.05 {
            continue;
        }
        let gr = -20.0 * (f64::from(b[c][i]) / x).log10();
        peak = peak.max(gr);
        over3 += usize::from(gr > 3.0);
        n += 1;
    }
    (peak, over3 as f64 / n.max(1) as f64)
}

/// Issue 10.6: how hard the limiter worked is reported (and agrees with an
/// independent reading of the files), heavy limiting is warned about, and
/// `--max-limiting` makes the target a maximum: the master stops short at
/// that much limiting and says by how much and why.
#[test]
fn limiting_is_reported_warned_and_can_be_capped() {
    let t = tmp();
    let input = t.root.join("in.wav");
    common::write_wav_f32(&input, &loud_mix(12.0, 0.3), 48_000);
    let chain = t.root.join("chain.toml");
    std::fs::write(
        &chain,
        "target_lufs = -6.0\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = -1.0\n",
    )
    .expect("write chain");
    let run = |out: &Path, extra: &[&str]| -> (Output, serde_json::Value) {
        let mut args = vec![
            os("master"),
            input.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--chain"),
            chain.as_os_str(),
            os("--bits"),
            os("32f"),
            os("--json"),
        ];
        args.extend(extra.iter().map(|s| os(s)));
        let o = lathe(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = serde_json::from_slice(&o.stdout).expect("json");
        (o, v)
    };
    // Crushed to −6 LUFS: reported and warned about.
    let out = t.root.join("crushed.wav");
    let (o, v) = run(&out, &[]);
    let lim = &v["limiting"];
    let (peak, share3) = measured_limiting(&input, &out, v["gain_db"].as_f64().expect("gain"));
    let rep_peak = lim["peak_gr_db"].as_f64().expect("peak");
    assert!(peak > 6.0, "the test signal is crushed: {peak} dB");
    assert!(
        (rep_peak - peak).abs() < 0.05,
        "reported {rep_peak} dB, measured {peak} dB"
    );
    let rep3 = lim["share_over_3db"].as_f64().expect("share");
    assert!(
        (rep3 - share3).abs() < 0.03,
        "reported {rep3}, measured {share3}"
    );
    assert_eq!(lim["heavy"], true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("heavy limiting"), "{err}");
    assert!((v["after"]["integrated_lufs"].as_f64().unwrap_or(0.0) + 6.0).abs() <= 0.3);
    // At most 3 dB of limiting: stops short of the target, exactly at 3 dB.
    let out = t.root.join("capped.wav");
    let (o, v) = run(&out, &["--max-limiting", "3"]);
    let (peak, _) = measured_limiting(&input, &out, v["gain_db"].as_f64().expect("gain"));
    assert!((2.9..=3.05).contains(&peak), "peak limiting {peak} dB");
    let cut = v["limiting_cut_db"].as_f64().expect("cut");
    assert!(cut > 1.0, "{v}");
    assert_eq!(v["target_reached"], false);
    let after = v["after"]["integrated_lufs"].as_f64().expect("lufs");
    assert!(after < -6.5, "stopped short: {after} LUFS");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("missed by") && err.contains("max_limiting_db 3.0"),
        "{err}"
    );
    // A limit out of range is a one-line usage error, nothing written.
    let bad = t.root.join("bad.wav");
    let o = lathe(&[
        os("master"),
        input.as_os_str(),
        os("-o"),
        bad.as_os_str(),
        os("--max-limiting"),
        os("40"),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--max-limiting 40"));
    assert!(!bad.exists());
}
