//! The codec check (`lathe analyze --codec`, `analysis::codec`): what AAC,
//! MP3 and Opus do to a master's peaks and loudness, measured on the
//! decoded float signal aligned to the source.
//!
//! Opus and MP3 run in process (libopus, LAME); AAC needs ffmpeg. Tests
//! that need a codec missing here say so and skip.

mod common;

use std::path::Path;
use std::process::Command;

use lathe::analysis::codec::{self, CodecReport};
use lathe::io::lossy::CodecSpec;
use lathe::session::chain::ChainConfig;

fn spec(s: &str) -> CodecSpec {
    CodecSpec::parse(s).expect("valid codec")
}

/// The codecs of `want` that can run here; the others are named as skipped.
fn available(want: &[&str]) -> Vec<CodecSpec> {
    want.iter()
        .map(|s| spec(s))
        .filter(|s| match s.encoder() {
            Ok(_) => true,
            Err(why) => {
                eprintln!("SKIP {s}: {why}");
                false
            }
        })
        .collect()
}

fn check(path: &Path, s: CodecSpec, ceiling: f64) -> CodecReport {
    codec::check(path, s, ceiling).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A full-scale square wave (±1.0, 441 Hz, not band-limited): every codec
/// rebuilds it band-limited, and the Gibbs overshoot of the rebuilt edges
/// goes past full scale (about 9 % for a band-limited square).
#[test]
fn full_scale_square_overs_after_mp3_and_aac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("square.wav");
    let rate = 44_100;
    let x: Vec<f32> = (0..rate * 4)
        .map(|i| if (i / 50) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    common::write_wav_f32(&path, &[x.clone(), x], rate as u32);
    for s in available(&["mp3-320", "aac-256", "opus-160"]) {
        let r = check(&path, s, -1.0);
        eprintln!(
            "{s}: true peak {:.2} dBTP, sample peak {:.2} dBFS, overs {:?}",
            r.true_peak_dbtp, r.sample_peak_dbfs, r.overs
        );
        assert!(r.sample_peak_dbfs > 0.3, "{s}: {:.2}", r.sample_peak_dbfs);
        for (c, o) in r.overs.iter().enumerate() {
            // Two edges per 100-sample period over 4 s: 3,528 edges per
            // channel, each ringing past full scale on some samples.
            assert!(o.on_sample > 1000, "{s} channel {c}: {o:?}");
        }
        assert!(!r.first_overs.is_empty());
        assert!(r.first_overs.iter().all(|o| o.level_db > 0.0));
        // The trim brings the decoded true peak under the ceiling.
        assert!(r.trim_db <= -1.0 - r.true_peak_dbtp.max(0.0) + 0.05);
        assert!(r.trim_db < -1.3, "{s}: trim {}", r.trim_db);
    }
}

/// A dense master limited to −0.3 dBTP: its true peak is legal, the
/// decoded MP3 and AAC are not.
#[test]
fn master_limited_to_minus_0_3_dbtp_overs_after_mp3_and_aac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mix = dir.path().join("mix.wav");
    let master = dir.path().join("master.wav");
    let rate = 44_100;
    // Brighter and denser than the piano alone (snare-like bursts falling
    // off above ~3 kHz: white noise would put a tenth of its energy above
    // the encoders' 20 kHz low-pass).
    common::write_wav_f32(&mix, &common::restore::dense_mix(20.0, rate), rate);
    let chain = ChainConfig::from_toml(
        "target_lufs = -8.0\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = -0.3\n",
        "test",
    )
    .expect("chain");
    common::master_float(&mix, &master, chain).expect("master");
    let before = lathe::analysis::analyze_file(&master).expect("analyze");
    assert!(before.true_peak_dbtp <= -0.29, "{}", before.true_peak_dbtp);
    assert!((before.loudness.integrated_lufs + 8.0).abs() < 0.3);
    for s in available(&["mp3-320", "aac-256"]) {
        let r = check(&master, s, -0.3);
        eprintln!(
            "{s}: {:.2} -> {:.2} dBTP, sample peak {:.2}, overs {:?}, loudness {:+.3} LU, artifacts {:.1} LUFS, trim {}",
            r.source_true_peak_dbtp,
            r.true_peak_dbtp,
            r.sample_peak_dbfs,
            r.overs,
            r.loudness_change_lu,
            r.artifacts_lufs,
            r.trim_db
        );
        // The source at the coding rate is the master itself (no
        // conversion): the same true peak as `lathe analyze` reads.
        assert!((r.source_true_peak_dbtp - before.true_peak_dbtp).abs() < 0.01);
        assert!(r.true_peak_dbtp > 0.0, "{s}: {:.2}", r.true_peak_dbtp);
        assert!(r.total_overs() > 0, "{s}");
        assert!(r.trim_db < -0.3, "{s}: {}", r.trim_db);
        // A codec keeps the loudness; its artifacts are far below the music.
        assert!(r.loudness_change_lu.abs() < 0.3, "{s}");
        assert!(r.artifacts_lufs < -8.0 - 15.0, "{s}: {}", r.artifacts_lufs);
        assert!((r.source_lufs - before.loudness.integrated_lufs).abs() < 0.05);
        // An independent round trip of the same encoder: ffmpeg's
        // libmp3lame and ffmpeg's own MP3 decoder, measured by `lathe
        // analyze` on the decoded float file.
        if s.kind == lathe::io::lossy::CodecKind::Mp3 && common::have("ffmpeg") {
            let peer = dir.path().join("peer.wav");
            let st = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(&master)
                .args(["-c:a", "libmp3lame", "-b:a", "320k", "-f", "mp3", "-"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|enc| {
                    Command::new("ffmpeg")
                        .args([
                            "-v",
                            "error",
                            "-y",
                            "-f",
                            "mp3",
                            "-i",
                            "-",
                            "-c:a",
                            "pcm_f32le",
                        ])
                        .arg(&peer)
                        .stdin(enc.stdout.expect("pipe"))
                        .status()
                })
                .expect("ffmpeg");
            assert!(st.success());
            let p = lathe::analysis::analyze_file(&peer).expect("peer");
            eprintln!(
                "ffmpeg libmp3lame round trip: {:.2} dBTP, sample peak {:.2} dBFS",
                p.true_peak_dbtp, p.sample_peak_dbfs
            );
            assert!((p.true_peak_dbtp - r.true_peak_dbtp).abs() < 0.2);
        }
    }
}

/// A sine at −6 dBTP: no overs after any codec, the peak and loudness kept.
#[test]
fn sine_at_minus_6_dbtp_has_no_overs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sine.wav");
    let rate = 44_100;
    // Faded in and out over 50 ms: an abrupt start is a click, which
    // AAC smears into a pre-echo 0.4 dB above the sine.
    let mut x = common::sine(997.0, -6.0, 5.0, rate, 2);
    let len = x[0].len();
    let fade = (rate / 20) as usize;
    for c in &mut x {
        for i in 0..fade {
            let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / fade as f32).cos();
            c[i] *= g;
            c[len - 1 - i] *= g;
        }
    }
    common::write_wav_f32(&path, &x, rate);
    for s in available(&["mp3-320", "aac-256", "opus-160", "mp3-128", "opus-96"]) {
        let r = check(&path, s, -1.0);
        eprintln!(
            "{s}: {:.3} dBTP, loudness {:+.3} LU, artifacts {:.1} LUFS",
            r.true_peak_dbtp, r.loudness_change_lu, r.artifacts_lufs
        );
        assert_eq!(r.total_overs(), 0, "{s}");
        assert!(r.first_overs.is_empty());
        assert_eq!(r.trim_db, 0.0);
        if s.kbps >= 160 {
            assert!(
                (r.true_peak_dbtp + 6.0).abs() < 0.3,
                "{s}: {}",
                r.true_peak_dbtp
            );
            assert!(r.loudness_change_lu.abs() < 0.1, "{s}");
        } else {
            // LAME at 128 kb/s takes 0.45 dB off a lone tone (ffmpeg's
            // libmp3lame round trip reads the same -6.5 dBTP).
            assert!(
                (-7.0..-5.7).contains(&r.true_peak_dbtp),
                "{s}: {}",
                r.true_peak_dbtp
            );
        }
        // A lone sine is the easiest signal there is: the decoded one
        // differs by far less than the sine's own level (−9 LUFS).
        let most = if s.kbps >= 160 { -40.0 } else { -25.0 };
        assert!(r.artifacts_lufs < most, "{s}: {}", r.artifacts_lufs);
    }
}

/// Each codec's delay, found by cross-correlation, is the one its makers
/// document: LAME 576 encoder + 529 decoder samples, AAC 1,024 priming
/// samples, Opus its encoder's lookahead (312 samples at 48 kHz, 6.5 ms).
#[test]
fn codec_delays_are_the_documented_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("music.wav");
    let rate = 44_100;
    common::write_wav_f32(&path, &common::restore::piano(8.0, rate), rate);
    for (name, delay) in [("mp3-320", 1105), ("aac-256", 1024), ("opus-160", 312)] {
        if available(&[name]).is_empty() {
            continue;
        }
        let r = check(&path, spec(name), -1.0);
        assert_eq!(r.delay_frames, delay, "{name}");
        assert!(codec::aligned(&r), "{name}: {}", r.correlation);
        // The shape survives (LAME's 20 kHz low-pass costs a little).
        assert!(r.correlation > 0.95, "{name}: {}", r.correlation);
        assert_eq!(
            r.rate,
            if name.starts_with("opus") {
                48_000
            } else {
                rate
            }
        );
    }
}

/// The delay of a signal against itself shifted by a known number of
/// samples, either way, is found exactly (the alignment the check uses).
#[test]
fn alignment_is_exact_against_a_known_delay() {
    let x = common::restore::piano(6.0, 44_100);
    let mono: Vec<f32> = x[0].iter().zip(&x[1]).map(|(a, b)| a + b).collect();
    for delay in [0i64, 1, 529, 1105, 2048, 16_000, -1, -700] {
        let shifted: Vec<f32> = (0..mono.len() as i64)
            .map(|i| {
                let j = i - delay;
                if j >= 0 && (j as usize) < mono.len() {
                    mono[j as usize]
                } else {
                    0.0
                }
            })
            .collect();
        let (found, corr) = codec::find_delay(&mono, &shifted, codec::MAX_DELAY, 0).expect("delay");
        assert_eq!(found, delay);
        assert!(corr > 0.95, "{delay}: {corr}");
    }
}

fn lathe(args: &[&str], path_env: Option<&str>, lame: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lathe"));
    cmd.args(args);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    if let Some(l) = lame {
        cmd.env("LATHE_LAME_LIBRARY", l);
    }
    cmd.output().expect("run lathe")
}

/// A missing encoder is a one-line message naming the codec and what to
/// install; the other codecs still report, and the command succeeds.
#[test]
fn a_missing_encoder_skips_its_codec_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sine.wav");
    common::write_wav_f32(&path, &common::sine(440.0, -6.0, 2.0, 48_000, 2), 48_000);
    let p = path.to_str().expect("utf-8 path");
    // No ffmpeg on PATH: AAC cannot run; LAME named wrongly: MP3 neither.
    let o = lathe(
        &["analyze", p, "--codec", "aac-256,opus-160,mp3-320"],
        Some("/nonexistent"),
        Some("libmp3lame-missing.so.0"),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("aac-256 not checked") && l.contains("ffmpeg is not installed")),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains("mp3-320 not checked") && l.contains("LAME is not installed")),
        "{err}"
    );
    let opus_row = out
        .lines()
        .find(|l| l.trim_start().starts_with("opus-160 "))
        .unwrap_or_else(|| panic!("no opus row in:\n{out}"));
    assert!(opus_row.contains("dBTP"), "{opus_row}");
    // JSON: the skipped codecs carry their reason.
    let o = lathe(
        &["analyze", p, "--json", "--codec", "aac-256,opus-160"],
        Some("/nonexistent"),
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    let codecs = v["codec"].as_array().expect("codec array");
    assert!(
        codecs[0]["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("ffmpeg"))
    );
    assert!(
        codecs[1]["true_peak_dbtp"]
            .as_f64()
            .is_some_and(|t| (t + 6.0).abs() < 0.3)
    );
    assert_eq!(codecs[1]["overs"][0]["on_sample"], 0);
}

/// Bad codec names and bit rates are refused before anything runs.
#[test]
fn bad_codec_arguments_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sine.wav");
    common::write_wav_f32(&path, &common::sine(440.0, -6.0, 1.0, 48_000, 2), 48_000);
    let p = path.to_str().expect("utf-8 path");
    for (arg, says) in [
        ("wma-128", "use aac-KBPS"),
        ("aac-512", "outside 96..=320"),
        ("mp3-200", "MP3 has no 200 kb/s"),
    ] {
        let o = lathe(&["analyze", p, "--codec", arg], None, None);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{arg}: {err}");
    }
}

/// A measurement that fails midway stops the codec's processes and
/// threads (no deadlock between the feeder, the encoder and the decoder):
/// the round trip returns the error promptly.
#[test]
fn a_failing_measurement_stops_the_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("long.wav");
    common::write_wav_f32(&path, &common::sine(440.0, -6.0, 60.0, 44_100, 2), 44_100);
    for s in available(&["aac-256", "mp3-320", "opus-160"]) {
        let p = path.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut blocks = 0;
            let r = lathe::io::lossy::round_trip(s, &p, &mut |_| {
                blocks += 1;
                if blocks > 2 {
                    Err(lathe::LatheError::Invalid("stop here".into()))
                } else {
                    Ok(())
                }
            });
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{s}: the round trip did not stop"));
        assert_eq!(r, Err("stop here".to_string()), "{s}");
    }
}

/// A mono master goes through every codec as mono: one channel of overs,
/// the tone's peak kept.
#[test]
fn mono_masters_are_checked_as_mono() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mono.wav");
    let mut x = common::sine(997.0, -6.0, 4.0, 48_000, 1);
    let len = x[0].len();
    for i in 0..2400 {
        let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / 2400.0).cos();
        x[0][i] *= g;
        x[0][len - 1 - i] *= g;
    }
    common::write_wav_f32(&path, &x, 48_000);
    for s in available(&["mp3-320", "aac-256", "opus-160"]) {
        let r = check(&path, s, -1.0);
        assert_eq!(r.overs.len(), 1, "{s}");
        assert_eq!(r.total_overs(), 0, "{s}");
        assert!(
            (r.true_peak_dbtp + 6.0).abs() < 0.3,
            "{s}: {}",
            r.true_peak_dbtp
        );
        assert!(
            r.loudness_change_lu.abs() < 0.1,
            "{s}: {}",
            r.loudness_change_lu
        );
    }
}

/// `lathe master --codec`: the master is checked after it is written; a
/// decoded true peak over 0 dBTP is an error naming the file and codec
/// (exit 1), a master with room to spare passes; JSON carries `codec`.
#[test]
fn lathe_master_checks_its_output_through_codecs() {
    if available(&["mp3-320"]).is_empty() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mix = dir.path().join("mix.wav");
    let rate = 44_100;
    common::write_wav_f32(&mix, &common::restore::dense_mix(12.0, rate), rate);
    let master = |ceiling: &str, json: bool| {
        let out = dir.path().join(format!("m{ceiling}.wav"));
        let mut args = vec![
            "master".to_string(),
            mix.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "--target".into(),
            "-8".into(),
            "--ceiling".into(),
            ceiling.into(),
            "--codec".into(),
            "mp3-320".into(),
        ];
        if json {
            args.push("--json".into());
        }
        let o = Command::new(env!("CARGO_BIN_EXE_lathe"))
            .args(&args)
            .output()
            .expect("lathe master");
        (o, out)
    };
    let (o, out) = master("-0.3", false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(out.exists(), "the master is written before it is checked");
    assert!(
        err.lines()
            .any(|l| l.contains("m-0.3.wav: mp3-320 decodes to +") && l.contains("over 0 dBTP")),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Codec check"));
    let (o, _) = master("-3", true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let tp = v["codec"][0]["true_peak_dbtp"]
        .as_f64()
        .expect("decoded true peak");
    assert!(tp < 0.0, "{tp}");
}
