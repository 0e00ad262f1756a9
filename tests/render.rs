//! `lathe render` and album sessions end to end, on the demo session and
//! variations of it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lathe::session::album::Session;

fn lathe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(args)
        .output()
        .expect("run lathe")
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

struct Demo {
    _d: tempfile::TempDir,
    dir: PathBuf,
    session: PathBuf,
}

fn demo() -> Demo {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path().to_path_buf();
    let o = lathe(&[os("demo"), os("--write"), dir.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let session = dir.join("session.toml");
    assert!(session.exists());
    Demo {
        _d: d,
        dir,
        session,
    }
}

fn render_json(session: &Path, out: &Path, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let mut args = vec![
        os("render"),
        session.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--json"),
    ];
    args.extend(extra.iter().map(|s| os(s)));
    let o = lathe(&args);
    let lines = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (o, lines)
}

#[test]
fn the_demo_session_renders_every_delivery_within_its_limits() {
    let d = demo();
    let out = d.dir.join("out");
    let (o, lines) = render_json(&d.session, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // CD: 4 track files + album file; streaming: 4 track files.
    assert_eq!(lines.len(), 9, "{lines:?}");
    for l in &lines {
        for key in [
            "delivery",
            "file",
            "integrated_lufs",
            "true_peak_dbtp",
            "loudness_range_lu",
            "target_lufs",
            "ceiling_dbtp",
            "sample_rate",
            "bits",
            "gain_db",
        ] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
        let tp = l["true_peak_dbtp"].as_f64().expect("tp");
        assert!(tp <= l["ceiling_dbtp"].as_f64().expect("ceiling"), "{l}");
        let file = out.join(l["file"].as_str().expect("file"));
        assert!(file.exists(), "{}", file.display());
        assert_eq!(l["ok"], true);
    }
    let cd: Vec<&serde_json::Value> = lines.iter().filter(|l| l["delivery"] == "cd").collect();
    assert!(
        cd.iter()
            .all(|l| l["sample_rate"] == 44_100 && l["bits"] == 16)
    );
    let album = cd
        .iter()
        .find(|l| l["track"].is_null())
        .expect("album file");
    assert!(
        (album["integrated_lufs"].as_f64().unwrap_or(0.0) + 11.0).abs() <= 0.5,
        "{album}"
    );
    // The demo balances consistently: the rendered tracks' loud passages
    // within 1.5 LU of each other, as the report says and the files measure.
    let loud: Vec<f64> = cd
        .iter()
        .filter_map(|l| l["loud_passage_lufs"].as_f64())
        .collect();
    assert_eq!(loud.len(), 4, "{cd:?}");
    let spread = loud.iter().copied().fold(f64::MIN, f64::max)
        - loud.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread <= 1.5, "{loud:?}");
    for l in cd.iter().filter(|l| !l["track"].is_null()) {
        let a = lathe::analysis::analyze_file(&out.join(l["file"].as_str().expect("file")))
            .expect("analyze");
        let measured = a.summary.loud_passage_lufs();
        let reported = l["loud_passage_lufs"].as_f64().expect("loud");
        // The report measures before dither, the file after 16-bit dither.
        assert!(
            (measured - reported).abs() < 0.05,
            "{measured} vs {reported}"
        );
    }
    let streaming: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["delivery"] == "streaming")
        .collect();
    assert!(
        streaming
            .iter()
            .all(|l| l["sample_rate"] == 48_000 && l["bits"] == 24)
    );
    // The demo's streaming delivery is checked through AAC, MP3 and Opus:
    // every decoded file stays under 0 dBTP (ffmpeg's AAC may be skipped,
    // with its reason, where ffmpeg is missing).
    for l in &streaming {
        let codecs = l["codec"].as_array().expect("codec checks");
        assert_eq!(codecs.len(), 3, "{l}");
        for c in codecs {
            if let Some(why) = c["skipped"].as_str() {
                assert!(c["codec"] == "aac-256" && why.contains("ffmpeg"), "{c}");
                continue;
            }
            let tp = c["true_peak_dbtp"].as_f64().expect("decoded true peak");
            assert!(tp < 0.0 && tp > -6.0, "{c}");
            assert_eq!(c["overs"][0]["on_sample"], 0, "{c}");
        }
    }
    // The demo's match module (on the hissy track, toward the album's
    // average) is measured by the plan and shapes that track.
    let plan = lathe::plan::Plan::session(&d.session, Some("cd")).expect("plan");
    let matched: Vec<&str> = plan
        .tracks
        .iter()
        .filter(|t| {
            t.chain.modules.iter().any(|m| {
                matches!(m, lathe::session::ModuleConfig::Match(c)
                    if c.analysis.as_ref().is_some_and(|a| !lathe::dsp::matcheq::design_curve(c, a).is_flat()))
            })
        })
        .map(|t| t.title.as_str())
        .collect();
    assert_eq!(matched, ["Dusty Tape"]);
    // … and the render says so for that track alone.
    let said: Vec<&str> = cd
        .iter()
        .filter(|l| {
            l["findings"]
                .as_array()
                .is_some_and(|f| f.iter().any(|v| v == "matched 40 % toward album average"))
        })
        .filter_map(|l| l["file"].as_str())
        .collect();
    assert_eq!(said, ["cd/03 Dusty Tape.wav"]);
    // Realistic levels in: no track hotter than a hot mix.
    for l in cd.iter().filter(|l| !l["track"].is_null()) {
        let before = l["before_integrated_lufs"].as_f64().expect("before");
        assert!((-30.0..-10.0).contains(&before), "{l}");
        assert!(
            l["before_true_peak_dbtp"].as_f64().expect("tp") < 1.0,
            "{l}"
        );
    }
    // No partial or spool files are left anywhere.
    for sub in ["cd", "streaming"] {
        for e in std::fs::read_dir(out.join(sub)).expect("ls").flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with('.'), "left behind: {n}");
        }
    }
}

fn wav_frames(path: &Path) -> (u32, Vec<i32>, usize) {
    let mut r = hound::WavReader::open(path).expect("wav");
    let spec = r.spec();
    let s: Vec<i32> = r.samples::<i32>().map(|v| v.expect("sample")).collect();
    (spec.sample_rate, s, spec.channels as usize)
}

#[test]
fn album_file_gaps_and_cue_sheet_land_on_the_track_starts() {
    let d = demo();
    let out = d.dir.join("out");
    let (o, _) = render_json(&d.session, &out, &["--delivery", "cd"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let session = Session::load(&d.session).expect("session");
    let (rate, album, ch) = wav_frames(&out.join("cd/lathe demo.wav"));
    assert_eq!(rate, 44_100);
    let mut starts = Vec::new();
    let mut pos = 0usize;
    for (i, t) in session.tracks.iter().enumerate() {
        let len = {
            let (_, s, c) = wav_frames(&out.join(format!("cd/{:02} {}.wav", i + 1, t.title)));
            s.len() / c
        };
        let gap = (t.gap_s * 44_100.0).round() as usize;
        let start = (pos + gap).div_ceil(588) * 588;
        // The gap is silence (dither only: at most 2 LSB).
        for f in pos..start {
            for c in 0..ch {
                assert!(
                    album[f * ch + c].abs() <= 2,
                    "gap before track {} not silent at {f}",
                    i + 1
                );
            }
        }
        assert!(
            start - pos >= gap && start - pos < gap + 588,
            "gap rounding"
        );
        starts.push(start);
        pos = start + len;
    }
    assert_eq!(album.len() / ch, pos, "album length = tracks + gaps");
    let cue = std::fs::read_to_string(out.join("cd/lathe demo.cue")).expect("cue");
    let index01: Vec<usize> = cue
        .lines()
        .filter_map(|l| l.trim().strip_prefix("INDEX 01 "))
        .map(|t| {
            let p: Vec<usize> = t.split(':').map(|x| x.parse().expect("mm:ss:ff")).collect();
            ((p[0] * 60 + p[1]) * 75 + p[2]) * 588
        })
        .collect();
    assert_eq!(index01, starts, "{cue}");
    // A gap makes an INDEX 00 pregap; the gapless track has none.
    assert_eq!(
        cue.matches("INDEX 00").count(),
        session.tracks.iter().filter(|t| t.gap_s > 0.0).count()
    );
    assert!(cue.contains("ISRC XXLTH2600001"), "{cue}");
}

#[test]
fn track_balance_brings_every_track_to_the_target() {
    let d = demo();
    let text = std::fs::read_to_string(&d.session)
        .expect("read")
        .replace("balance = \"consistent\"", "balance = \"track\"");
    std::fs::write(&d.session, text).expect("write");
    let out = d.dir.join("out");
    let (o, lines) = render_json(&d.session, &out, &["--delivery", "streaming"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for l in &lines {
        assert!(
            (l["integrated_lufs"].as_f64().unwrap_or(0.0) + 14.0).abs() <= 0.5,
            "{l}"
        );
    }
}

#[test]
fn sessions_round_trip_and_saving_keeps_a_backup() {
    let d = demo();
    let s = Session::load(&d.session).expect("load");
    let copy = d.dir.join("copy.toml");
    s.save(&copy).expect("save");
    assert_eq!(Session::load(&copy).expect("reload"), s);
    s.save(&copy).expect("save again");
    assert!(d.dir.join("copy.toml.bak").exists());
}

/// Files (not folders) under `dir`, recursively.
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        count_files(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn bad_sessions_fail_before_writing_anything() {
    let d = demo();
    let base = std::fs::read_to_string(&d.session).expect("read");
    let out = d.dir.join("out");
    let cases: Vec<(String, &str)> = vec![
        (
            base.replace("02 Loud Single.wav", "02 Missing.wav"),
            "02 Missing.wav: no such file",
        ),
        (
            base.replace(
                "path = \"03 Dusty Tape.wav\"",
                "path = \"01 Quiet Ballad.wav\"",
            ),
            "already track 1",
        ),
        (
            base.replace("bits = \"16\"", "bits = \"16f\""),
            "impossible",
        ),
        (
            base.replace("name = \"streaming\"", "name = \"cd\""),
            "used twice",
        ),
        (
            base.replace(
                "balance = \"consistent\"",
                "balance = \"consistent\"\nbalanse = 1",
            ),
            "balanse",
        ),
        (
            base.replace("isrc = \"XX-LTH-26-00002\"", "isrc = \"nope\""),
            "isrc",
        ),
        (base.replace("version = 1", "version = 9"), "version = 9"),
        (
            base.replace(
                "format = \"flac\"\nbits = \"24\"",
                "format = \"flac\"\nbits = \"32f\"",
            ),
            "impossible",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&d.session, &text).expect("write");
        let o = lathe(&[
            os("render"),
            d.session.as_os_str(),
            os("-o"),
            out.as_os_str(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{want}: {err}");
        assert!(err.contains(want), "expected '{want}' in: {err}");
        assert_eq!(err.lines().count(), 1, "not one line: {err}");
        assert_eq!(count_files(&out), 0, "{want}: files written");
    }
    std::fs::write(&d.session, &base).expect("restore");
    // Unknown delivery name.
    let o = lathe(&[
        os("render"),
        d.session.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--delivery"),
        os("vinyl"),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no delivery named 'vinyl'"));
    // Existing outputs are not replaced without --force.
    let (o, _) = render_json(&d.session, &out, &["--delivery", "streaming"]);
    assert!(o.status.success());
    let before = std::fs::read(out.join("streaming/01 Quiet Ballad.flac")).expect("read");
    let (o, _) = render_json(&d.session, &out, &["--delivery", "streaming"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read(out.join("streaming/01 Quiet Ballad.flac")).expect("read"),
        before
    );
}

#[test]
fn crossfades_overlap_tracks_in_the_album_file() {
    let d = demo();
    // Track 3 follows track 2 with no gap and a 1 s crossfade.
    let text = std::fs::read_to_string(&d.session).expect("read").replace(
        "gap_s = 0.0\n\n[[track.module]]",
        "gap_s = 0.0\ncrossfade_s = 1.0\n\n[[track.module]]",
    );
    std::fs::write(&d.session, text).expect("write");
    let session = Session::load(&d.session).expect("session");
    assert_eq!(session.tracks[2].crossfade_s, 1.0);
    let out = d.dir.join("out");
    let (o, lines) = render_json(&d.session, &out, &["--delivery", "cd"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(lines.iter().all(|l| l["ok"] == true), "{lines:?}");
    let (_, album, ch) = wav_frames(&out.join("cd/lathe demo.wav"));
    let tracks: Vec<Vec<i32>> = (0..4)
        .map(|i| {
            wav_frames(&out.join(format!("cd/{:02} {}.wav", i + 1, session.tracks[i].title))).1
        })
        .collect();
    let len = |i: usize| tracks[i].len() / ch;
    let xf = 44_100usize;
    // Album length: tracks + gaps − the crossfade.
    let mut pos = 0usize;
    let mut starts = Vec::new();
    for (i, t) in session.tracks.iter().enumerate() {
        let gap = (t.gap_s * 44_100.0).round() as usize;
        let start = if gap > 0 {
            (pos + gap).div_ceil(588) * 588
        } else if i == 2 {
            pos - xf
        } else {
            pos
        };
        starts.push(start);
        pos = start + len(i);
    }
    assert_eq!(album.len() / ch, pos);
    // In the overlap the album is the complementary mix of the two tracks (dither: a few LSB).
    let s3 = starts[2];
    let tail2 = len(1) - xf;
    for j in (0..xf).step_by(997) {
        let g = (j as f64 + 0.5) / xf as f64;
        for c in 0..ch {
            let want = f64::from(tracks[1][(tail2 + j) * ch + c]) * (1.0 - g)
                + f64::from(tracks[2][j * ch + c]) * g;
            let got = f64::from(album[(s3 + j) * ch + c]);
            assert!((got - want).abs() <= 4.0, "frame {j}: {got} vs {want}");
        }
    }
    let cue = std::fs::read_to_string(out.join("cd/lathe demo.cue")).expect("cue");
    let idx: Vec<&str> = cue
        .lines()
        .filter_map(|l| l.trim().strip_prefix("INDEX 01 "))
        .collect();
    let p: Vec<usize> = idx[2].split(':').map(|x| x.parse().expect("n")).collect();
    let frames75 = (p[0] * 60 + p[1]) * 75 + p[2];
    assert_eq!(frames75, s3 * 75 / 44_100, "{cue}");
}

#[test]
fn ctrl_c_stops_cleanly_without_partial_files() {
    let d = demo();
    let out = d.dir.join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args([
            os("render"),
            d.session.as_os_str(),
            os("-o"),
            out.as_os_str(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(400));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        println!("SKIPPED: the render finished before the signal arrived");
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        hidden_files(&out).is_empty(),
        "partial files left: {:?}",
        hidden_files(&out)
    );
}

/// Hidden files (spools, half-written outputs) anywhere under `dir`.
fn hidden_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .flat_map(|e| {
                    if e.path().is_dir() {
                        hidden_files(&e.path())
                    } else {
                        let n = e.file_name().to_string_lossy().into_owned();
                        if n.starts_with('.') { vec![n] } else { vec![] }
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Issue 10.3: a render killed hard (SIGKILL) twice, then rendered again,
/// leaves no hidden file: temporary files are anonymous on Linux, and what a
/// dead process left by name (the fallback where the platform cannot) is
/// removed before the next render writes.
#[test]
fn renders_killed_hard_leave_no_hidden_files() {
    let d = demo();
    let out = d.dir.join("out");
    let mut dead_pid = 0;
    for (delay_ms, named) in [(900u64, false), (2200, true)] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lathe"));
        cmd.args([
            os("render"),
            d.session.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--force"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        if named {
            // The fallback of systems without O_TMPFILE: named temporary files.
            cmd.env("LATHE_NO_TMPFILE", "1");
        }
        let mut child = cmd.spawn().expect("spawn");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        dead_pid = child.id();
        if !named {
            assert!(
                hidden_files(&out).is_empty(),
                "a render killed hard left {:?}",
                hidden_files(&out)
            );
        }
    }
    // What a dead process leaves by name where it cannot unlink early.
    let streaming = out.join("streaming");
    std::fs::create_dir_all(&streaming).expect("dir");
    for name in [
        format!(".lathe-spool-{dead_pid}-1f.f32"),
        format!(".01 Quiet Ballad.flac.{dead_pid}.lathe-partial"),
    ] {
        std::fs::write(streaming.join(name), vec![0u8; 4096]).expect("write");
    }
    // Somebody else's hidden file and a live process's spool are left alone.
    let mine = streaming.join(format!(".lathe-spool-{}-2e.f32", std::process::id()));
    std::fs::write(&mine, b"x").expect("write");
    std::fs::write(streaming.join(".notes"), b"x").expect("write");
    let (o, _) = render_json(&d.session, &out, &["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut left = hidden_files(&out);
    left.sort();
    let mut expected = vec![
        ".notes".to_string(),
        mine.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ];
    expected.sort();
    assert_eq!(left, expected);
}

/// Issue 10.6: a delivery's `max_limiting_db` makes its target a maximum:
/// the album (balanced as one) stops short so that no track is limited by
/// more than that, the render succeeds and says by how much and why, and
/// every file reports how hard its limiter worked.
#[test]
fn a_delivery_limit_on_limiting_stops_the_album_short() {
    let d = demo();
    // Balanced as one album (the demo balances consistently).
    let base = std::fs::read_to_string(&d.session)
        .expect("read")
        .replace("balance = \"consistent\"", "balance = \"album\"");
    let capped = base.replacen(
        "ceiling_dbtp = -0.5\n",
        "ceiling_dbtp = -0.5\nmax_limiting_db = 4.0\n",
        1,
    );
    assert_ne!(capped, base);
    std::fs::write(&d.session, &capped).expect("write");
    let out = d.dir.join("out");
    let (o, lines) = render_json(&d.session, &out, &["--delivery", "cd"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let mut worst: f64 = 0.0;
    for l in &lines {
        let peak = l["limiting"]["peak_gr_db"].as_f64().expect("peak");
        assert!(peak <= 4.05, "{l}");
        worst = worst.max(peak);
        assert!(l["limiting_cut_db"].as_f64().expect("cut") > 1.0, "{l}");
    }
    assert!(
        worst > 3.9,
        "the worst track is limited by exactly the limit: {worst}"
    );
    let album = lines
        .iter()
        .find(|l| l["track"].is_null())
        .expect("album file");
    assert!(album["integrated_lufs"].as_f64().expect("lufs") < -11.5);
    assert!(
        album["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("missed by") && n.contains("max_limiting_db 4.0")),
        "{album}"
    );
    assert!(err.contains("max_limiting_db 4.0"), "{err}");
    // Out of range in a session or a chain: one line with the range.
    std::fs::write(
        &d.session,
        base.replacen(
            "ceiling_dbtp = -0.5\n",
            "ceiling_dbtp = -0.5\nmax_limiting_db = 31.0\n",
            1,
        ),
    )
    .expect("write");
    let (o, _) = render_json(&d.session, &out, &["--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("max_limiting_db = 31"),
        "{err}"
    );
    let chain = lathe::session::ChainConfig::from_toml("max_limiting_db = -1.0\n", "chain.toml");
    assert!(chain.is_err_and(|e| e.to_string().contains("max_limiting_db")));
}

/// Noise in sections of the given levels (dBFS RMS, `secs` seconds each),
/// stereo at 48 kHz.
fn sections(levels: &[(f64, usize)], seed: u64) -> Vec<Vec<f32>> {
    let total: usize = levels.iter().map(|(_, s)| s * 48_000).sum();
    (0..2)
        .map(|c| {
            let n = common::noise(total, seed + c);
            let mut out = Vec::with_capacity(total);
            let mut at = 0;
            for (db, secs) in levels {
                // Uniform noise in ±0.5 has an RMS of 0.289 (−10.8 dBFS).
                let g = 10f64.powf((db + 10.79) / 20.0) as f32;
                out.extend(n[at..at + secs * 48_000].iter().map(|v| v * g));
                at += secs * 48_000;
            }
            out
        })
        .collect()
}

#[test]
fn consistent_balance_levels_the_loud_passages_and_keeps_the_ballad_quieter() {
    let d = tempfile::tempdir().expect("tmp");
    let dir = d.path();
    // A ballad: long quiet verses, one louder chorus; a loud song, loud
    // almost throughout; a mid-level song with a quiet bridge.
    let ballad = sections(&[(-34.0, 9), (-24.0, 5), (-34.0, 6)], 1);
    let loud = sections(&[(-14.0, 6), (-16.0, 2), (-12.0, 10)], 3);
    let mid = sections(&[(-22.0, 7), (-30.0, 3), (-20.0, 8)], 5);
    common::write_wav_f32(&dir.join("ballad.wav"), &ballad, 48_000);
    common::write_wav_f32(&dir.join("loud.wav"), &loud, 48_000);
    common::write_wav_f32(&dir.join("mid.wav"), &mid, 48_000);
    let session = dir.join("s.toml");
    std::fs::write(
        &session,
        r#"version = 1
[album]
title = "t"
artist = "a"
balance = "consistent"
[chain]
target_lufs = -14.0
[[chain.module]]
type = "limiter"
ceiling_dbtp = -1.0
[[track]]
path = "ballad.wav"
title = "Ballad"
[[track]]
path = "loud.wav"
title = "Loud"
[[track]]
path = "mid.wav"
title = "Mid"
[[delivery]]
name = "cd"
format = "wav"
bits = "16"
rate_hz = 44100
ceiling_dbtp = -1.0
track_files = true
album_file = true
"#,
    )
    .expect("session");
    let out = dir.join("out");
    let (o, lines) = render_json(&session, &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Measured again from the written files, independently of the report.
    let tracks: Vec<lathe::analysis::FileAnalysis> = ["01 Ballad.wav", "02 Loud.wav", "03 Mid.wav"]
        .iter()
        .map(|f| lathe::analysis::analyze_file(&out.join("cd").join(f)).expect("analyze"))
        .collect();
    let loud_passages: Vec<f64> = tracks
        .iter()
        .map(|a| a.summary.loud_passage_lufs())
        .collect();
    let hi = loud_passages.iter().copied().fold(f64::MIN, f64::max);
    let lo = loud_passages.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "loud passages {loud_passages:?}, integrated {:?}",
        tracks
            .iter()
            .map(|a| a.loudness.integrated_lufs)
            .collect::<Vec<_>>()
    );
    assert!(hi - lo <= 1.0, "loud passages {loud_passages:?}");
    let integrated: Vec<f64> = tracks.iter().map(|a| a.loudness.integrated_lufs).collect();
    assert!(
        integrated[0] < integrated[1] - 3.0,
        "the ballad {:.2} vs the loud song {:.2} LUFS",
        integrated[0],
        integrated[1]
    );
    let album = lathe::analysis::analyze_file(&out.join("cd").join("t.wav")).expect("album");
    assert!(
        (album.loudness.integrated_lufs + 14.0).abs() <= 0.5,
        "album {:.2} LUFS",
        album.loudness.integrated_lufs
    );
    assert!(
        album.true_peak_dbtp <= -1.0,
        "album {:.2} dBTP",
        album.true_peak_dbtp
    );
    // The report says how level the tracks came out.
    let spread = lines[0]["delivery_loud_passage_spread_lu"]
        .as_f64()
        .expect("spread");
    assert!(
        (spread - (hi - lo)).abs() < 0.3,
        "reported {spread} vs measured {}",
        hi - lo
    );
    assert!(
        lines[0]["delivery_integrated_spread_lu"]
            .as_f64()
            .expect("spread")
            > 3.0
    );
}

/// A session of `tracks` tracks (`extra` TOML after each `[[track]]`'s
/// path and title) and one CD delivery (`delivery` lines added).
fn cd_session(tracks: &[&str], delivery: &str) -> String {
    let mut s = String::from(
        "version = 1\n[album]\ntitle = \"t\"\nartist = \"a\"\nbalance = \"none\"\n[[chain.module]]\ntype = \"limiter\"\n",
    );
    for (k, extra) in tracks.iter().enumerate() {
        s += &format!(
            "[[track]]\npath = \"t{}.wav\"\ntitle = \"T{}\"\n{extra}",
            k + 1,
            k + 1
        );
    }
    s += &format!("[[delivery]]\nname = \"cd\"\nformat = \"wav\"\ncd = true\n{delivery}");
    s
}

#[test]
fn red_book_rules_are_checked_before_a_cd_delivery_renders() {
    use lathe::plan::redbook::check;
    let cd = "bits = \"16\"\nrate_hz = 44100\n";
    let run = |tracks: &[&str], delivery: &str, lengths: &[f64]| {
        let text = cd_session(tracks, delivery);
        let s = Session::from_toml(&text, "s.toml").expect("session");
        let d = s.deliveries[0].clone();
        check(&s, "s.toml", &text, lengths, &d)
    };
    // A clean CD: nothing to say.
    let ok = run(&["", "gap_s = 2.0\n"], cd, &[200.0, 180.0]);
    assert_eq!(ok, Default::default());
    // The wrong rate and depth: named at the delivery's line.
    let r = run(&[""], "bits = \"24\"\nrate_hz = 48000\n", &[200.0]);
    assert!(
        r.errors.len() == 1
            && r.errors[0].starts_with("s.toml:11: delivery 'cd'")
            && r.errors[0].contains("44100 Hz, 16-bit"),
        "{r:?}"
    );
    // A track under 4 s, named at its line; after trims too.
    let r = run(&["", "trim_start_s = 2.0\n"], cd, &[200.0, 5.5]);
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert!(
        r.errors[0].starts_with("s.toml:11: track 2: is 3.50 s long"),
        "{r:?}"
    );
    // 100 tracks; the 100th named.
    let many = vec!["gap_s = 0.0\n"; 100];
    let r = run(&many, cd, &[30.0; 100]);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("track 100: a CD holds at most 99")),
        "{r:?}"
    );
    // Too long: 80:00 of audio (+2 s pause). Over 74 minutes: a warning.
    let r = run(&["", ""], cd, &[2400.0, 2400.0]);
    assert!(
        r.errors
            .iter()
            .any(|e| e.contains("lasts 80:02") && e.contains("79:57")),
        "{r:?}"
    );
    let r = run(&["", ""], cd, &[2250.0, 2250.0]);
    assert!(
        r.errors.is_empty() && r.warnings.iter().any(|w| w.contains("lasts 75:02")),
        "{r:?}"
    );
    // Crossfades shorten the programme; gaps lengthen it.
    let r = run(&["", "crossfade_s = 30.0\n"], cd, &[2400.0, 2400.0]);
    assert!(r.errors.is_empty(), "{r:?}");
    // A gap off the CD frame grid is an error (1.5 s is 112.5 frames); a
    // pregap over 3 s a warning.
    let r = run(&["", "gap_s = 1.5\n", "gap_s = 4.0\n"], cd, &[60.0; 3]);
    assert!(
        r.errors.len() == 1
            && r.errors[0].contains(
                "track 2: gap_s = 1.5 is not on the CD frame grid (1/75 s); use 1.4933 or 1.5067"
            ),
        "{r:?}"
    );
    assert!(
        r.warnings.len() == 1 && r.warnings[0].contains("track 3: a pregap of 4.00 s"),
        "{r:?}"
    );
    // ISRCs on some tracks only.
    let r = run(
        &[
            "isrc = \"USRC17607839\"\n",
            "",
            "isrc = \"USRC17607840\"\n",
            "",
        ],
        cd,
        &[60.0; 4],
    );
    assert!(
        r.warnings.len() == 1
            && r.warnings[0]
                .contains("track 2: no ISRC while other tracks have one (tracks without: 2, 4)"),
        "{r:?}"
    );
}

#[test]
fn a_cd_delivery_breaking_the_red_book_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    for k in 1..=2 {
        common::write_wav_f32(
            &dir.path().join(format!("t{k}.wav")),
            &common::sine(440.0, -12.0, if k == 1 { 6.0 } else { 3.0 }, 44_100, 2),
            44_100,
        );
    }
    let session = dir.path().join("s.toml");
    std::fs::write(
        &session,
        cd_session(&["", "gap_s = 2.0\n"], "bits = \"16\"\nrate_hz = 44100\n"),
    )
    .expect("write");
    let out = dir.path().join("out");
    let o = lathe(&[os("render"), session.as_os_str(), os("-o"), out.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("s.toml:11: track 2: is 3.00 s long; a CD track must last at least 4 s"),
        "{err}"
    );
    assert!(
        !out.join("cd").exists() || std::fs::read_dir(out.join("cd")).map_or(0, |d| d.count()) == 0
    );
    // Long enough, a pregap over 3 s: renders, with the warning.
    common::write_wav_f32(
        &dir.path().join("t2.wav"),
        &common::sine(440.0, -12.0, 5.0, 44_100, 2),
        44_100,
    );
    std::fs::write(
        &session,
        cd_session(&["", "gap_s = 4.0\n"], "bits = \"16\"\nrate_hz = 44100\n"),
    )
    .expect("write");
    let o = lathe(&[os("render"), session.as_os_str(), os("-o"), out.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("warning") && err.contains("track 2: a pregap of 4.00 s"),
        "{err}"
    );
}

/// A delivery's `codec_check` runs after rendering: a dense master whose
/// MP3 decodes over 0 dBTP fails its delivery, naming the file and codec;
/// `strict = true` holds the decoded peak to the ceiling instead; bad
/// codec names are refused at load with the session's line.
#[test]
fn codec_check_fails_a_delivery_whose_decoded_peaks_are_over() {
    if lathe::io::lossy::CodecSpec::parse("mp3-320")
        .and_then(|s| s.encoder())
        .is_err()
    {
        eprintln!("SKIP: LAME is not installed (apt-get install libmp3lame0)");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 44_100;
    // The piano with snare-like bursts, mastered hard into the limiter.
    common::write_wav_f32(
        &dir.path().join("t1.wav"),
        &common::restore::dense_mix(12.0, rate),
        rate,
    );
    let session = dir.path().join("s.toml");
    let write = |ceiling: f64, extra: &str| {
        std::fs::write(
            &session,
            format!(
                "version = 1\n[album]\ntitle = \"t\"\nartist = \"a\"\nbalance = \"track\"\n[chain]\ntarget_lufs = -8.0\n[[chain.module]]\ntype = \"limiter\"\n[[track]]\npath = \"t1.wav\"\ntitle = \"Loud\"\n[[delivery]]\nname = \"web\"\nformat = \"wav\"\nbits = \"24\"\nrate_hz = 44100\nceiling_dbtp = {ceiling}\n{extra}"
            ),
        )
        .expect("write session")
    };
    // Ceiling −0.3 dBTP: the MP3 decodes over 0 dBTP.
    write(-0.3, "codec_check = [\"mp3-320\"]\n");
    let out = dir.path().join("out");
    let (o, lines) = render_json(&session, &out, &["--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    let r = &lines[0];
    let c = &r["codec"][0];
    assert_eq!(c["codec"], "mp3-320");
    let tp = c["true_peak_dbtp"].as_f64().expect("decoded true peak");
    assert!(tp > 0.0, "{tp}");
    assert!(r["true_peak_dbtp"].as_f64().expect("tp") <= -0.3 + 1e-3);
    let failure = r["failure"].as_str().expect("failure");
    assert!(failure.contains("mp3-320 decodes to +"), "{failure}");
    assert!(
        err.lines()
            .any(|l| l.contains("01 Loud.wav") && l.contains("mp3-320 decodes to")),
        "{err}"
    );
    // The decoded peak follows the master's level: 3 dB lower (ceiling
    // −3.3 dBTP) decodes under 0 dBTP and passes; with `strict` it must
    // stay under −3.3 dBTP too, and does not.
    write(-3.3, "codec_check = [\"mp3-320\"]\n");
    let (o, lines) = render_json(&session, &out, &["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tp3 = lines[0]["codec"][0]["true_peak_dbtp"].as_f64().expect("tp");
    assert!(tp3 < 0.0 && tp3 > -3.3, "{tp3}");
    assert!((tp - tp3 - 3.0).abs() < 0.5, "{tp} vs {tp3}");
    let trim = lines[0]["codec"][0]["trim_db"].as_f64().expect("trim");
    assert!((trim - crate_trim(tp3, -3.3)).abs() < 1e-9);
    write(-3.3, "codec_check = [\"mp3-320\"]\nstrict = true\n");
    let (o, lines) = render_json(&session, &out, &["--force"]);
    assert!(!o.status.success());
    assert!(
        lines[0]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("over -3.3 dBTP")),
        "{}",
        lines[0]
    );
    // A codec lathe does not know: refused at load, nothing written.
    write(-1.0, "codec_check = [\"wma-192\"]\n");
    let fresh = dir.path().join("fresh");
    let o = lathe(&[
        os("render"),
        session.as_os_str(),
        os("-o"),
        fresh.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("s.toml:13: delivery 1: codec_check: codec 'wma-192'"),
        "{err}"
    );
    assert!(!fresh.exists());
}

/// The trim the check suggests: the decoded excess over the ceiling,
/// rounded up to 0.1 dB (written here from its definition).
fn crate_trim(tp: f64, ceiling: f64) -> f64 {
    if tp > ceiling {
        -((tp - ceiling) * 10.0).ceil() / 10.0
    } else {
        0.0
    }
}

/// A session of three tracks (a 2 s pregap before track 2, ISRCs, a
/// UPC, a guest performer) with a WAV album delivery and a DDP delivery.
fn ddp_session(dir: &Path) -> PathBuf {
    for (k, secs) in [(1, 6.0), (2, 5.0), (3, 4.5)] {
        common::write_wav_f32(
            &dir.join(format!("t{k}.wav")),
            &common::sine(220.0 * f64::from(k), -14.0, secs, 44_100, 2),
            44_100,
        );
    }
    let session = dir.join("s.toml");
    std::fs::write(
        &session,
        "version = 1\n[album]\ntitle = \"Pressing\"\nartist = \"The Lathes\"\nupc = \"0012345678905\"\nbalance = \"none\"\n[[chain.module]]\ntype = \"limiter\"\n\
         [[track]]\npath = \"t1.wav\"\ntitle = \"One\"\nisrc = \"USABC2600001\"\n\
         [[track]]\npath = \"t2.wav\"\ntitle = \"Two\"\ngap_s = 2.0\nisrc = \"USABC2600002\"\n\
         [[track]]\npath = \"t3.wav\"\ntitle = \"Three\"\nartist = \"Guest\"\nisrc = \"USABC2600003\"\n\
         [[delivery]]\nname = \"cd\"\nformat = \"wav\"\nbits = \"16\"\nrate_hz = 44100\ntrack_files = false\nalbum_file = true\n\
         [[delivery]]\nname = \"ddp\"\nformat = \"ddp\"\nbits = \"16\"\nrate_hz = 44100\n",
    )
    .expect("write session");
    session
}

/// The `data` chunk of a WAV file.
/// `lathe ddp FOLDER --extract OUT`.
fn ddp_extract(folder: &Path, out: &Path) -> Output {
    lathe(&[
        os("ddp"),
        folder.as_os_str(),
        os("--extract"),
        out.as_os_str(),
    ])
}

fn wav_data(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).expect("read wav");
    let mut i = 12;
    while i + 8 <= b.len() {
        let size = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if &b[i..i + 4] == b"data" {
            return b[i + 8..i + 8 + size].to_vec();
        }
        i += 8 + size + (size & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// The (track, index, CD frame) lines of a CUE sheet.
fn cue_indexes(cue: &str) -> Vec<(u8, u8, u64)> {
    let mut track = 0;
    let mut out = Vec::new();
    for l in cue.lines().map(str::trim) {
        if let Some(rest) = l.strip_prefix("TRACK ") {
            track = rest[..2].parse().expect("track number");
        } else if let Some(rest) = l.strip_prefix("INDEX ") {
            let (idx, t) = rest.split_once(' ').expect("index time");
            let p: Vec<u64> = t.split(':').map(|v| v.parse().expect("mm:ss:ff")).collect();
            out.push((
                track,
                idx.parse().expect("index"),
                p[0] * 4500 + p[1] * 75 + p[2],
            ));
        }
    }
    out
}

/// A DDP delivery: IMAGE.DAT is the album file's audio sample for sample
/// (whole sectors), the PQ descriptor carries the CUE sheet's times 2 s
/// later (the pause before track 1), the ISRCs, the UPC and the lead-out,
/// CD-TEXT the titles and performers, and every checksum verifies;
/// `lathe ddp` reads it back, a flipped byte fails its checksum, and
/// `--extract` gives back the album file exactly.
#[test]
fn a_ddp_delivery_reads_back_as_the_album_file_and_cue_sheet() {
    use lathe::io::ddp;
    let dir = tempfile::tempdir().expect("tmp");
    let session = ddp_session(dir.path());
    let out = dir.path().join("out");
    let o = lathe(&[os("render"), session.as_os_str(), os("-o"), out.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let folder = out.join("ddp");
    let album = wav_data(&out.join("cd").join("Pressing.wav"));
    let image = std::fs::read(folder.join("IMAGE.DAT")).expect("image");
    assert_eq!(image.len() % ddp::SECTOR_BYTES, 0);
    assert_eq!(&image[..album.len()], &album[..]);
    assert!(image[album.len()..].iter().all(|&b| b == 0));
    assert!(image.len() - album.len() < ddp::SECTOR_BYTES);
    // The PQ sheet against the CUE sheet.
    let set = ddp::read(&folder).expect("read fileset");
    assert_eq!(set.level, "DDP 2.00");
    assert_eq!(set.upc.as_deref(), Some("0012345678905"));
    assert_eq!(set.image_sector, ddp::PAUSE_SECTORS);
    let cue = std::fs::read_to_string(out.join("cd").join("Pressing.cue")).expect("cue");
    let from_cue = cue_indexes(&cue);
    let from_pq: Vec<(u8, u8, u64)> = set
        .pq
        .iter()
        .filter_map(|e| {
            e.track
                .filter(|&t| t > 0)
                .map(|t| (t, e.index, e.sector - ddp::PAUSE_SECTORS))
        })
        .collect();
    assert_eq!(from_pq, from_cue);
    assert_eq!(from_cue.len(), 4, "track 2 has an index 00: {cue}");
    let isrcs: Vec<Option<String>> = set.tracks().into_iter().map(|t| t.3).collect();
    assert_eq!(
        isrcs,
        ["USABC2600001", "USABC2600002", "USABC2600003"].map(|s| Some(s.to_string()))
    );
    assert_eq!(
        set.lead_out(),
        Some(ddp::PAUSE_SECTORS + (image.len() / ddp::SECTOR_BYTES) as u64)
    );
    assert_eq!(set.titles, ["Pressing", "One", "Two", "Three"]);
    assert_eq!(
        set.performers,
        ["The Lathes", "The Lathes", "The Lathes", "Guest"]
    );
    let sums = set.verify().expect("CHECKSUM.MD5");
    assert_eq!(sums.len(), 5);
    assert!(sums.iter().all(|(_, v)| v.is_none()), "{sums:?}");
    // `md5sum -c` agrees (the usual tool a plant runs).
    if let Ok(st) = Command::new("md5sum")
        .args(["-c", "--quiet", "CHECKSUM.MD5"])
        .current_dir(&folder)
        .status()
    {
        assert!(st.success());
    }
    // lathe ddp: the sheet, the checksums, the Red Book.
    let o = lathe(&[os("ddp"), folder.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("02     00     00:08:00"), "{text}");
    assert!(text.contains("02     01     00:10:00"), "{text}");
    assert!(text.contains("USABC2600003  Three / Guest"), "{text}");
    assert!(text.contains("Checksums: 5 files verified"), "{text}");
    assert!(text.contains("Red Book: OK"), "{text}");
    // The fileset plays and measures as audio: the album's loudness.
    let a = lathe::analysis::analyze_file(&folder).expect("analyze the fileset");
    let b = lathe::analysis::analyze_file(&out.join("cd").join("Pressing.wav")).expect("album");
    assert!((a.loudness.integrated_lufs - b.loudness.integrated_lufs).abs() < 0.01);
    // --extract: the image as a WAV equal to the album file, the tracks.
    let ex = dir.path().join("ex");
    let o = ddp_extract(&folder, &ex);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(wav_data(&ex.join("image.wav")), image);
    let extracted = std::fs::read_to_string(ex.join("image.cue")).expect("cue");
    assert_eq!(cue_indexes(&extracted), from_cue);
    let t1 = wav_data(&ex.join("01 One.wav"));
    let t2_start = (from_cue[1].2 * 2352) as usize;
    assert_eq!(&t1[..], &image[..t2_start]);
    // Again without --force: refused, nothing replaced.
    let o = ddp_extract(&folder, &ex);
    assert!(!o.status.success());
    // A flipped byte in the image: its checksum fails, by name.
    let mut damaged = image.clone();
    damaged[1000] ^= 1;
    std::fs::write(folder.join("IMAGE.DAT"), &damaged).expect("damage");
    let o = lathe(&[os("ddp"), folder.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("IMAGE.DAT: MD5") && err.contains("does not match"),
        "{err}"
    );
    // Not a fileset: one line naming it.
    let o = lathe(&[os("ddp"), out.join("cd").as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("DDPID"), "{err}");
}

/// A DDP delivery must be 16-bit (refused at load) and keep the Red
/// Book (a 3 s track refuses the render before anything is written).
#[test]
fn a_ddp_delivery_keeps_the_red_book() {
    let dir = tempfile::tempdir().expect("tmp");
    let session = ddp_session(dir.path());
    let text = std::fs::read_to_string(&session).expect("read");
    std::fs::write(
        &session,
        text.replace(
            "format = \"ddp\"\nbits = \"16\"",
            "format = \"ddp\"\nbits = \"24\"",
        ),
    )
    .expect("write");
    let out = dir.path().join("out");
    let o = lathe(&[os("render"), session.as_os_str(), os("-o"), out.as_os_str()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("DDP: 16"), "{err}");
    std::fs::write(&session, &text).expect("write");
    common::write_wav_f32(
        &dir.path().join("t3.wav"),
        &common::sine(440.0, -14.0, 3.0, 44_100, 2),
        44_100,
    );
    let o = lathe(&[
        os("render"),
        session.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--delivery"),
        os("ddp"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("track 3: is 3.00 s long"), "{err}");
    assert!(!out.join("ddp").join("IMAGE.DAT").exists());
}

/// `lathe play DIR` plays a DDP image as it will be pressed (no chain):
/// the meter line reads the image's length.
#[test]
fn lathe_play_plays_a_ddp_image() {
    use lathe::io::ddp;
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("image");
    std::fs::create_dir(&folder).expect("mkdir");
    let tone = common::sine(1000.0, -20.0, 1.0, 44_100, 2);
    let mut w = ddp::ImageWriter::create(&folder.join(ddp::IMAGE), false).expect("image");
    let mut block = lathe::io::AudioBlock::new(2, tone[0].len());
    for (b, t) in block.channels.iter_mut().zip(&tone) {
        b.copy_from_slice(t);
    }
    block.frames = tone[0].len();
    w.write_block(&block).expect("write");
    w.finish().expect("finish");
    let disc = ddp::Disc {
        title: String::new(),
        performer: String::new(),
        upc: None,
        tracks: vec![ddp::DiscTrack {
            title: String::new(),
            performer: String::new(),
            isrc: None,
            index0: None,
            index1: 0,
        }],
        sectors: 75,
    };
    ddp::write_description(&folder, &disc, false).expect("describe");
    assert!(!folder.join(ddp::CDTEXT_FILE).exists());
    let o = lathe(&[os("play"), os("--silent"), folder.as_os_str()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("/0:01.000"), "{text}");
    // The tone plays at its own level (-20 dBFS): no chain, no loudness
    // target (the default preset would raise it to -14 LUFS).
    let words: Vec<&str> = text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tp: f64 = words
        .iter()
        .position(|w| *w == "TP")
        .and_then(|i| words.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no TP in {text}"));
    assert!((tp + 20.0).abs() < 0.2, "{tp}: {text}");
    let a = lathe::analysis::analyze_file(&folder).expect("analyze");
    assert!(
        (a.sample_peak_dbfs + 20.0).abs() < 0.01,
        "{}",
        a.sample_peak_dbfs
    );
    // The Red Book flags a 1 s track.
    let o = lathe(&[os("ddp"), folder.as_os_str()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("track 1: is 0:01.00 long"));
}

/// A fileset whose audio is one file per track (as some tools write it:
/// several D0 streams in DDPMS, each starting where the last ends) reads
/// as one image: the same PQ sheet, the same audio when extracted.
#[test]
fn a_ddp_image_split_into_one_file_per_track_reads_as_one() {
    use lathe::io::ddp::{self, ms};
    let dir = tempfile::tempdir().expect("tmp");
    let session = ddp_session(dir.path());
    let out = dir.path().join("out");
    let o = lathe(&[
        os("render"),
        session.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--delivery"),
        os("ddp"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let folder = out.join("ddp");
    let image = std::fs::read(folder.join(ddp::IMAGE)).expect("image");
    let set = ddp::read(&folder).expect("read");
    // Cut the image at track 2's index 00 (a sector boundary).
    let cut_sector = set.tracks()[1].1.expect("track 2 has a pregap") - ddp::PAUSE_SECTORS;
    let cut = cut_sector as usize * ddp::SECTOR_BYTES;
    std::fs::write(folder.join("TRACK01.DAT"), &image[..cut]).expect("write");
    std::fs::write(folder.join("TRACK02.DAT"), &image[cut..]).expect("write");
    std::fs::remove_file(folder.join(ddp::IMAGE)).expect("remove");
    std::fs::remove_file(folder.join(ddp::CHECKSUMS)).expect("remove");
    let map = std::fs::read(folder.join("DDPMS")).expect("map");
    let mut d0 = map[..ddp::MS_LEN].to_vec();
    assert_eq!(ddp::get(&d0, ms::DST), "D0");
    let mut second = d0.clone();
    ddp::put(&mut d0, ms::DSL, &format!("{cut_sector:08}"));
    ddp::put(&mut d0, ms::NAM, "TRACK01.DAT");
    let total = (image.len() / ddp::SECTOR_BYTES) as u64;
    ddp::put(
        &mut second,
        ms::DSP,
        &format!("{:08}", ddp::PAUSE_SECTORS + cut_sector),
    );
    ddp::put(&mut second, ms::DSL, &format!("{:08}", total - cut_sector));
    ddp::put(&mut second, ms::PRE2, "0000");
    ddp::put(&mut second, ms::NAM, "TRACK02.DAT");
    let mut new_map = d0;
    new_map.extend_from_slice(&second);
    new_map.extend_from_slice(&map[ddp::MS_LEN..]);
    std::fs::write(folder.join("DDPMS"), &new_map).expect("write map");
    let split = ddp::read(&folder).expect("read split");
    assert_eq!(split.images.len(), 2);
    assert_eq!(split.image_sectors().expect("sectors"), total);
    assert_eq!(split.pq, set.pq);
    let o = lathe(&[os("ddp"), folder.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("Red Book: OK") && text.contains("no CHECKSUM.MD5"),
        "{text}"
    );
    let ex = dir.path().join("ex");
    let o = ddp_extract(&folder, &ex);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(wav_data(&ex.join("image.wav")), image);
    // Streams that do not follow on are refused with their names.
    let mut gap = new_map.clone();
    ddp::put(
        &mut gap[ddp::MS_LEN..],
        ms::DSP,
        &format!("{:08}", ddp::PAUSE_SECTORS + cut_sector + 5),
    );
    std::fs::write(folder.join("DDPMS"), &gap).expect("write map");
    let e = ddp::read(&folder).expect_err("a hole between the streams");
    assert!(
        e.to_string().contains("TRACK02.DAT starts at sector"),
        "{e}"
    );
}
