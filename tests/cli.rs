//! The `lathe` binary end to end: help, analyze output, and bad input.
//! Every bad-input fixture is generated here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn lathe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(args)
        .output()
        .expect("run lathe")
}

fn analyze(paths: &[&Path], json: bool) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref()];
    if json {
        args.push("--json".as_ref());
    }
    for p in paths {
        args.push(p.as_os_str());
    }
    lathe(&args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_lists_subcommands_and_version_prints() {
    let o = lathe(&["--help".as_ref()]);
    assert!(o.status.success());
    let s = stdout(&o);
    for cmd in ["analyze", "demo"] {
        assert!(s.contains(cmd), "--help lacks {cmd}: {s}");
    }
    let v = lathe(&["--version".as_ref()]);
    assert!(stdout(&v).starts_with("lathe "));
    // An unknown subcommand or flag is a usage error, not a panic.
    let bad = lathe(&["analyse-this".as_ref()]);
    assert_eq!(bad.status.code(), Some(2));
}

fn header_wav(
    format_tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    data_len_claimed: u32,
    data: &[u8],
) -> Vec<u8> {
    let block_align = channels.max(1) * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data_len_claimed).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&format_tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    v.extend_from_slice(&block_align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&data_len_claimed.to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn pcm16(frames: usize, channels: usize) -> Vec<u8> {
    (0..frames * channels)
        .flat_map(|i| (((i as f64 * 0.05).sin() * 12_000.0) as i16).to_le_bytes())
        .collect()
}

struct Fixtures {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixtures {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().to_path_buf();
        Self { _dir: dir, root }
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root.join(name);
        std::fs::write(&p, bytes).expect("write fixture");
        p
    }
}

/// Each bad file: one line on stderr naming the file, exit 1, nothing on stdout.
#[test]
fn bad_files_fail_cleanly_with_one_line_naming_the_file() {
    let fx = Fixtures::new();
    let mut random = Vec::from(&b"RIFF\x24\x10\x00\x00WAVE"[..]);
    random.extend(
        common::noise(2000, 9)
            .iter()
            .map(|v| (v * 127.0) as i8 as u8),
    );
    let mut flac_garbage = Vec::from(&b"fLaC"[..]);
    flac_garbage.extend(
        common::noise(500, 3)
            .iter()
            .map(|v| (v * 127.0) as i8 as u8),
    );
    let nan: Vec<u8> = (0..2000)
        .flat_map(|i| {
            if i == 700 {
                f32::NAN.to_le_bytes()
            } else {
                0.25f32.to_le_bytes()
            }
        })
        .collect();
    let inf: Vec<u8> = (0..2000)
        .flat_map(|i| {
            if i == 3 {
                f32::INFINITY.to_le_bytes()
            } else {
                0.25f32.to_le_bytes()
            }
        })
        .collect();
    let cases: Vec<(PathBuf, &str)> = vec![
        (fx.file("empty.wav", b""), "empty"),
        (
            fx.file(
                "truncated.wav",
                &header_wav(1, 2, 44_100, 16, 1000, b"")[..30],
            ),
            "",
        ),
        (
            fx.file("text.wav", b"This is not audio at all, just some text.\n"),
            "",
        ),
        (fx.file("random.wav", &random), ""),
        (fx.file("garbage.flac", &flac_garbage), ""),
        (
            fx.file(
                "zero-channels.wav",
                &header_wav(1, 0, 44_100, 16, 4000, &pcm16(1000, 2)),
            ),
            "",
        ),
        (
            fx.file(
                "zero-rate.wav",
                &header_wav(1, 2, 0, 16, 4000, &pcm16(1000, 2)),
            ),
            "",
        ),
        (
            fx.file(
                "unknown-codec.wav",
                &header_wav(0x1234, 2, 44_100, 16, 4000, &pcm16(1000, 2)),
            ),
            "",
        ),
        (
            fx.file(
                "odd-depth.wav",
                &header_wav(1, 2, 44_100, 13, 4000, &pcm16(1000, 2)),
            ),
            "",
        ),
        (
            fx.file(
                "nan.wav",
                &header_wav(3, 1, 44_100, 32, nan.len() as u32, &nan),
            ),
            "NaN",
        ),
        (
            fx.file(
                "inf.wav",
                &header_wav(3, 1, 44_100, 32, inf.len() as u32, &inf),
            ),
            "NaN or infinite",
        ),
        (fx.root.join("missing.wav"), "no such file"),
        (fx.root.clone(), "directory"),
    ];
    for (path, reason) in &cases {
        let o = analyze(&[path], false);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: exit {:?}, stderr {err}",
            path.display(),
            o.status.code()
        );
        assert!(
            stdout(&o).is_empty(),
            "{}: printed {}",
            path.display(),
            stdout(&o)
        );
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{}: not one line: {err}", path.display());
        assert!(
            lines[0].contains(&path.display().to_string()),
            "{}: line does not name the file: {err}",
            path.display()
        );
        assert!(
            lines[0].to_lowercase().contains(&reason.to_lowercase()),
            "{}: reason missing ({reason}): {err}",
            path.display()
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // Nothing was written next to the inputs.
    let count = std::fs::read_dir(&fx.root).expect("ls").count();
    assert_eq!(count, cases.len() - 2);
}

#[test]
fn unreadable_file_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixtures::new();
    let p = fx.file(
        "locked.wav",
        &header_wav(1, 2, 44_100, 16, 4000, &pcm16(1000, 2)),
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::File::open(&p).is_ok() {
        println!("SKIPPED: running as root, a mode-000 file is still readable");
        return;
    }
    let o = analyze(&[&p], false);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
}

#[test]
fn odd_but_readable_files_are_read_like_ffmpeg_does() {
    let fx = Fixtures::new();
    // Header claims 10x more data than present: read to the end, warn.
    let data = pcm16(44_100, 2);
    let long = fx.file(
        "short-data.wav",
        &header_wav(1, 2, 44_100, 16, data.len() as u32 * 10, &data),
    );
    let o = analyze(&[&long], true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning"), "no warning: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert!(
        (v["duration_s"].as_f64().unwrap_or(0.0) - 1.0).abs() < 1e-3,
        "{v}"
    );
    // A trailing odd byte is ignored.
    let mut odd = header_wav(1, 2, 44_100, 16, data.len() as u32 + 1, &data);
    odd.push(0x7f);
    let oddp = fx.file("odd-byte.wav", &odd);
    let o = analyze(&[&oddp], true);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
    assert_eq!(v["sample_rate"], 44_100);
}

#[test]
fn json_has_the_keys_and_silence_is_null() {
    let fx = Fixtures::new();
    let tone = fx.root.join("tone.wav");
    common::write_wav_i24(&tone, &common::sine(1000.0, -20.0, 5.0, 48_000, 2), 48_000);
    let silent = fx.root.join("silent.wav");
    common::write_wav_i24(&silent, &common::silence(2.0, 48_000, 2), 48_000);
    let o = analyze(&[&tone, &silent], true);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    for key in [
        "file",
        "format",
        "sample_rate",
        "channels",
        "duration_s",
        "integrated_lufs",
        "loudness_range_lu",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "momentary_max_lufs",
        "short_term_max_lufs",
    ] {
        assert!(lines[0].get(key).is_some(), "missing {key}");
    }
    // Argument order is kept.
    assert!(
        lines[0]["file"]
            .as_str()
            .unwrap_or("")
            .ends_with("tone.wav")
    );
    // −20 dBFS 1 kHz stereo is −20 LUFS (±0.1), true peak −20 dBTP.
    assert!((lines[0]["integrated_lufs"].as_f64().unwrap_or(0.0) + 20.0).abs() < 0.1);
    assert!((lines[0]["true_peak_dbtp"].as_f64().unwrap_or(0.0) + 20.0).abs() < 0.1);
    assert_eq!(lines[0]["channels"], 2);
    assert!(lines[1]["integrated_lufs"].is_null());
    assert!(lines[1]["true_peak_dbtp"].is_null());
    assert!(lines[1]["momentary_max_lufs"].is_null());
}

#[test]
fn good_files_are_still_reported_when_one_fails() {
    let fx = Fixtures::new();
    let tone = fx.root.join("ok.wav");
    common::write_wav_i24(&tone, &common::sine(1000.0, -14.0, 3.0, 44_100, 2), 44_100);
    let bad = fx.file("bad.wav", b"nope");
    let o = analyze(&[&tone, &bad, &tone], false);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(
        out.matches("ok.wav").count(),
        4,
        "two reports plus the summary rows: {out}"
    );
    assert!(out.contains("Spotify"));
    assert!(stderr(&o).contains("bad.wav"));
}

#[test]
fn text_report_shows_platform_normalization() {
    let fx = Fixtures::new();
    let quiet = fx.root.join("quiet.wav");
    // −26 dBFS tone: −26 LUFS, peak −26 dBTP. Spotify wants +12 dB, capped by −1 dBTP at +25: +12.
    common::write_wav_i24(&quiet, &common::sine(1000.0, -26.0, 5.0, 44_100, 2), 44_100);
    let o = analyze(&[&quiet], false);
    let out = stdout(&o);
    let spotify = out
        .lines()
        .find(|l| l.contains("Spotify"))
        .expect("Spotify row");
    assert!(spotify.contains("+12.0 dB"), "{spotify}");
    let yt = out
        .lines()
        .find(|l| l.contains("YouTube"))
        .expect("YouTube row");
    assert!(yt.contains("+0.0 dB"), "{yt}");
}

#[test]
fn chunked_parallel_analysis_equals_a_single_pass() {
    let fx = Fixtures::new();
    let p = fx.root.join("long.wav");
    let n = 44_100 * 47 + 123;
    let l: Vec<f32> = common::noise(n, 5)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (0.2 + 0.15 * ((i as f32) / 30_000.0).sin()))
        .collect();
    let r: Vec<f32> = common::noise(n, 6).iter().map(|v| v * 0.3).collect();
    common::write_wav_i24(&p, &[l, r], 44_100);
    let one = lathe::analysis::analyze_file_with(&p, 1).expect("single");
    for threads in [2, 3] {
        let many = lathe::analysis::analyze_file_with(&p, threads).expect("chunked");
        assert_eq!(many.frames, one.frames);
        assert!((many.loudness.integrated_lufs - one.loudness.integrated_lufs).abs() < 1e-6);
        assert!((many.loudness.loudness_range_lu - one.loudness.loudness_range_lu).abs() < 1e-6);
        assert!((many.loudness.momentary_max_lufs - one.loudness.momentary_max_lufs).abs() < 1e-6);
        assert!(
            (many.loudness.short_term_max_lufs - one.loudness.short_term_max_lufs).abs() < 1e-6
        );
        assert!((many.true_peak_dbtp - one.true_peak_dbtp).abs() < 1e-6);
        assert_eq!(many.sample_peak_dbfs, one.sample_peak_dbfs);
    }
}

#[test]
fn demo_writes_its_album_and_refuses_to_overwrite() {
    let fx = Fixtures::new();
    let dir = fx.root.join("demo");
    let o = lathe(&["demo".as_ref(), "--write".as_ref(), dir.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let wavs: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .filter_map(|e| e.ok())
        .collect();
    assert!(wavs.len() >= 3);
    let again = lathe(&["demo".as_ref(), "--write".as_ref(), dir.as_os_str()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"));
    // The loud track has intersample overs; the quiet one is quiet.
    let loud = lathe::analysis::analyze_file(&dir.join("02 Loud Single.wav")).expect("analyze");
    assert!(loud.true_peak_dbtp > 0.0 && loud.sample_peak_dbfs <= 0.0);
    let quiet = lathe::analysis::analyze_file(&dir.join("01 Quiet Ballad.wav")).expect("analyze");
    assert!(quiet.loudness.integrated_lufs < loud.loudness.integrated_lufs - 10.0);
}

#[test]
fn the_interface_refuses_to_start_without_a_terminal_or_on_missing_files() {
    let dir = tempfile::tempdir().expect("tmp");
    // Not a terminal (the test harness pipes stdout): a one-line error, exit 1.
    let o = lathe(&["demo".as_ref(), "--write".as_ref(), dir.path().as_os_str()]);
    assert!(o.status.success());
    let session = dir.path().join("session.toml");
    let o = lathe(&[session.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let o = lathe(&[dir.path().join("nope.wav").as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.wav: no such file"));
    // A bad session file is named with its line, before any terminal work.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[album]\ntitle = 3\n").expect("w");
    let o = lathe(&[bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml:3"), "{err}");
}

#[test]
fn a_theme_asked_for_on_the_command_line_must_exist() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = lathe(&["demo".as_ref(), "--theme".as_ref(), "sparkly".as_ref()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("theme 'sparkly': not found"), "{err}");
    let bad = dir.path().join("t.toml");
    std::fs::write(&bad, "name = \"t\"\n[colors]\naccent = \"nope\"\n").expect("w");
    let o = lathe(&["demo".as_ref(), "--theme".as_ref(), bad.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("t.toml:3: accent"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// Set a WAV's `data` chunk size (and its RIFF size to match) to `claim`
/// bytes, whatever the file holds: what a crashed recorder leaves.
fn claim_data_bytes(wav: &[u8], claim: u32) -> Vec<u8> {
    let mut b = wav.to_vec();
    let mut pos = 12;
    while pos + 8 <= b.len() {
        let size = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        if &b[pos..pos + 4] == b"data" {
            b[pos + 4..pos + 8].copy_from_slice(&claim.to_le_bytes());
            let riff = u32::try_from(pos as u64 + 8 + u64::from(claim) - 8).unwrap_or(u32::MAX);
            b[4..8].copy_from_slice(&riff.to_le_bytes());
            return b;
        }
        pos += 8 + size + (size & 1);
    }
    panic!("fixture has no data chunk");
}

/// Issue 10.1: a data chunk claiming any size up to 4 GB (or 0, as an
/// unfinished writer leaves it) is read to the file's end with a warning, in
/// `analyze`, `master`, `render` and `play`, and reads the same as the
/// honest file.
#[test]
fn a_wav_claiming_any_data_size_is_read_to_its_end_everywhere() {
    let fx = Fixtures::new();
    let dir = fx.root.join("demo");
    let o = lathe(&["demo".as_ref(), "--write".as_ref(), dir.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let honest_path = dir.join("02 Loud Single.wav");
    let honest = std::fs::read(&honest_path).expect("read");
    let truth = lathe::analysis::analyze_file(&honest_path).expect("analyze");
    let claims: [u32; 9] = [
        0,
        honest.len() as u32 * 10,
        1_000_000_000,
        2_000_000_000,
        i32::MAX as u32,
        1 << 31,
        4_000_000_000,
        u32::MAX - 8,
        u32::MAX,
    ];
    for claim in claims {
        let p = fx.file(
            &format!("lying-{claim}.wav"),
            &claim_data_bytes(&honest, claim),
        );
        let o = analyze(&[&p], true);
        assert!(o.status.success(), "claim {claim}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("ends before its header says"),
            "claim {claim}: no warning: {}",
            stderr(&o)
        );
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("json");
        let dur = v["duration_s"].as_f64().unwrap_or(0.0);
        assert!((dur - truth.duration_s).abs() < 1e-6, "claim {claim}: {v}");
        let lufs = v["integrated_lufs"].as_f64().unwrap_or(f64::NAN);
        assert!(
            (lufs - truth.loudness.integrated_lufs).abs() < 6e-4,
            "claim {claim}: {lufs} vs {}",
            truth.loudness.integrated_lufs
        );
    }
    // master, render and play on a file claiming 2 GB.
    let lying = std::fs::read(dir.join("02 Loud Single.wav")).expect("read");
    let before = claim_data_bytes(&lying, 2_000_000_000);
    std::fs::write(&honest_path, &before).expect("write");
    let out = fx.root.join("mastered.wav");
    let o = lathe(&[
        "master".as_ref(),
        honest_path.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(o.status.success(), "master: {}", stderr(&o));
    assert!(
        stderr(&o).contains("ends before its header says"),
        "{}",
        stderr(&o)
    );
    let mastered = lathe::analysis::analyze_file(&out).expect("analyze");
    assert!((mastered.duration_s - truth.duration_s).abs() < 1e-6);
    let rendered = fx.root.join("render");
    let o = lathe(&[
        "render".as_ref(),
        dir.join("session.toml").as_os_str(),
        "-o".as_ref(),
        rendered.as_os_str(),
        "--delivery".as_ref(),
        "streaming".as_ref(),
    ]);
    assert!(o.status.success(), "render: {}", stderr(&o));
    let track = std::fs::read_dir(rendered.join("streaming"))
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("Loud Single"))
        .expect("rendered track");
    let t = lathe::analysis::analyze_file(&track).expect("analyze");
    assert!(
        (t.duration_s - truth.duration_s).abs() < 0.001,
        "{}",
        t.duration_s
    );
    let o = lathe(&[
        "play".as_ref(),
        "--silent".as_ref(),
        honest_path.as_os_str(),
    ]);
    assert!(o.status.success(), "play: {}", stderr(&o));
    assert!(
        stderr(&o).contains("ends before its header says"),
        "{}",
        stderr(&o)
    );
    // The meter line at the end shows the whole file's length.
    let len = format!(
        "/{}:{:06.3}",
        (truth.duration_s / 60.0).floor(),
        truth.duration_s % 60.0
    );
    assert!(
        stdout(&o).contains(&len),
        "play: {len} not in {}",
        stdout(&o)
    );
    // The input was never modified.
    assert_eq!(std::fs::read(&honest_path).expect("read"), before);
}

/// Issue 10.2: a 5-channel WAV without a channel mask is L R C Ls Rs (EBU
/// Tech 3341 case 6: −23 LUFS ±0.1 LU), as ffmpeg and libebur128 take it.
#[test]
fn a_five_channel_wav_without_a_mask_weights_its_surrounds() {
    let fx = Fixtures::new();
    // Case 6: 20 s of 1 kHz, L R at −28 dBFS, C at −24, Ls Rs at −30.
    let rate = 48_000;
    let ch: Vec<Vec<f32>> = [-28.0, -28.0, -24.0, -30.0, -30.0]
        .iter()
        .map(|&l| common::sine(1000.0, l, 20.0, rate, 1).remove(0))
        .collect();
    let p = fx.root.join("case6.wav");
    common::write_wav_f32(&p, &ch, rate);
    // hound writes 5 channels as WAVE_FORMAT_EXTENSIBLE with a mask; strip it
    // to plain IEEE float the way many writers store it.
    let mut b = std::fs::read(&p).expect("read");
    assert_eq!(&b[12..16], b"fmt ");
    let fmt_len = u32::from_le_bytes([b[16], b[17], b[18], b[19]]) as usize;
    let mut plain = Vec::new();
    plain.extend_from_slice(&b[..16]);
    plain.extend_from_slice(&16u32.to_le_bytes());
    plain.extend_from_slice(&3u16.to_le_bytes()); // WAVE_FORMAT_IEEE_FLOAT
    plain.extend_from_slice(&b[22..36]);
    plain.extend_from_slice(&b[20 + fmt_len..]);
    let riff = (plain.len() - 8) as u32;
    plain[4..8].copy_from_slice(&riff.to_le_bytes());
    b = plain;
    for (name, bytes) in [
        ("plain", b.clone()),
        ("zero-mask", {
            let mut x = std::fs::read(&p).expect("read");
            // Extensible with a zero channel mask (offset 20 + 20 in the fmt chunk).
            x[40..44].copy_from_slice(&0u32.to_le_bytes());
            x
        }),
    ] {
        let f = fx.file(&format!("case6-{name}.wav"), &bytes);
        let r = lathe::analysis::analyze_file(&f).expect("analyze");
        assert!(
            (r.loudness.integrated_lufs + 23.0).abs() <= 0.1,
            "{name}: {} LUFS",
            r.loudness.integrated_lufs
        );
    }
    // With a mask naming the surrounds (side or back), the same; hound's own
    // mask (the first five positions) names channel 4 LFE, which then counts 0.
    for mask in [0x607u32, 0x37] {
        let mut x = std::fs::read(&p).expect("read");
        x[40..44].copy_from_slice(&mask.to_le_bytes());
        let f = fx.file(&format!("case6-{mask:x}.wav"), &x);
        let r = lathe::analysis::analyze_file(&f).expect("analyze");
        assert!(
            (r.loudness.integrated_lufs + 23.0).abs() <= 0.1,
            "mask {mask:x}: {}",
            r.loudness.integrated_lufs
        );
    }
}
