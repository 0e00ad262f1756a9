//! Reading Opus (Ogg and Matroska/WebM) through libopus, checked against
//! ffmpeg on the same files: loudness and true peak by ffmpeg's meter,
//! sample alignment by ffmpeg's decoder, exact seeking against a straight
//! decode, and damaged files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lathe::io::{AudioBlock, AudioSource, open_source};

fn ffmpeg_ready() -> bool {
    if !common::have("ffmpeg") {
        println!("SKIPPED: ffmpeg is not installed; the Opus tests need it to make their fixtures");
        return false;
    }
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .output();
    let has = out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("libopus"));
    if !has {
        println!("SKIPPED: this ffmpeg has no libopus encoder");
    }
    has
}

fn lathe(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(args)
        .env("LATHE_NO_AUDIO", "1")
        .output()
        .expect("run lathe")
}

/// Music-like stereo material: tones and noise bursts at changing levels,
/// with different content on each side (so mid and side both matter).
fn music(seconds: f64, rate: u32) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)) as usize;
    let noise_l = common::noise(n, 7);
    let noise_r = common::noise(n, 11);
    let mut l = vec![0.0f32; n];
    let mut r = vec![0.0f32; n];
    let mut lp = (0.0f32, 0.0f32);
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let section = (t / 2.5) as usize;
        let level = [0.5, 0.12, 0.35, 0.03, 0.6, 0.2, 0.45, 0.08, 0.3, 0.5][section % 10];
        let env = (1.0 - (t * 4.0).fract()).powf(2.0) as f32;
        let tone =
            (2.0 * std::f64::consts::PI * 220.0 * (1.0 + (section % 3) as f64) * t).sin() as f32;
        lp.0 += 0.15 * (noise_l[i] - lp.0);
        lp.1 += 0.15 * (noise_r[i] - lp.1);
        l[i] = level as f32 * (0.6 * tone + 0.5 * env * lp.0);
        r[i] = level as f32 * (0.5 * tone * 0.8 + 0.6 * env * lp.1);
    }
    vec![l, r]
}

/// Encode `src` to Opus in `dst` with ffmpeg's libopus and `args`.
fn encode(src: &Path, dst: &Path, args: &[&str]) {
    let mut all = vec!["-c:a", "libopus"];
    all.extend_from_slice(args);
    ffmpeg_make(src, dst, &all);
}

/// `ffmpeg -i src ARGS dst`, which must succeed.
fn ffmpeg_make(src: &Path, dst: &Path, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(args)
        .arg(dst)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg could not make {}: {}",
        dst.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ffmpeg's own measurement of `path`, decoded by ffmpeg: the `ebur128`
/// filter's integrated loudness (LUFS) and true peak (dBTP), read at full
/// precision from the metadata it attaches to the last frame.
fn ffmpeg_loudness(path: &Path) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tmp");
    let meta = dir.path().join("meta.txt");
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .arg("-af")
        .arg(format!(
            "ebur128=metadata=1:peak=true,ametadata=mode=print:file={}",
            meta.display()
        ))
        .args(["-f", "null", "-"])
        .status()
        .expect("run ffmpeg");
    assert!(st.success());
    let text = std::fs::read_to_string(&meta).expect("ffmpeg metadata");
    let last = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .next_back()
            .expect("ffmpeg figure")
    };
    let tp = last("lavfi.r128.true_peak=");
    (last("lavfi.r128.I="), 20.0 * tp.log10())
}

/// The file decoded by ffmpeg's libopus decoder, planar f32.
fn ffmpeg_decode(path: &Path, channels: usize) -> Vec<Vec<f32>> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-c:a", "libopus"])
        .args(["-request_sample_fmt", "flt", "-i"])
        .arg(path)
        .args(["-f", "f32le", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success());
    let samples: Vec<f32> = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (0..channels)
        .map(|c| samples.iter().skip(c).step_by(channels).copied().collect())
        .collect()
}

fn read_all(path: &Path) -> Vec<Vec<f32>> {
    read_all_warned(path).0
}

/// The whole file and the warnings met reading it.
fn read_all_warned(path: &Path) -> (Vec<Vec<f32>>, Vec<String>) {
    let mut src = open_source(path).expect("open");
    let ch = src.info().channels;
    let mut out = vec![Vec::new(); ch];
    let mut block = AudioBlock::new(ch, 4096);
    while src.read(&mut block).expect("read") > 0 {
        for (o, c) in out.iter_mut().zip(&block.channels) {
            o.extend_from_slice(&c[..block.frames]);
        }
    }
    (out, src.take_warnings())
}

struct Fixtures {
    _dir: tempfile::TempDir,
    stereo_ogg: Vec<PathBuf>,
    webm: PathBuf,
    mono_ogg: PathBuf,
    mono_webm: PathBuf,
    /// The WebM's packets copied into Ogg by ffmpeg: its first page starts
    /// at a granule above 0, which players must not take for missing audio.
    remux: PathBuf,
}

fn fixtures() -> Fixtures {
    let dir = tempfile::tempdir().expect("tmp");
    let src = dir.path().join("music.wav");
    common::write_wav_f32(&src, &music(25.0, 44_100), 44_100);
    let mono_src = dir.path().join("mono.wav");
    let m = music(21.0, 48_000);
    common::write_wav_f32(&mono_src, &m[..1], 48_000);
    let mut stereo_ogg = Vec::new();
    for kbps in ["64k", "128k", "256k"] {
        let p = dir.path().join(format!("music-{kbps}.opus"));
        encode(&src, &p, &["-b:a", kbps]);
        stereo_ogg.push(p);
    }
    let webm = dir.path().join("music.webm");
    encode(&src, &webm, &["-b:a", "160k"]);
    let mono_ogg = dir.path().join("mono.opus");
    encode(&mono_src, &mono_ogg, &["-ac", "1", "-b:a", "96k"]);
    let mono_webm = dir.path().join("mono.mka");
    encode(&mono_src, &mono_webm, &["-ac", "1", "-b:a", "48k"]);
    let remux = dir.path().join("remux.opus");
    ffmpeg_make(&webm, &remux, &["-c", "copy"]);
    Fixtures {
        _dir: dir,
        remux,
        stereo_ogg,
        webm,
        mono_ogg,
        mono_webm,
    }
}

#[test]
fn opus_loudness_and_true_peak_agree_with_ffmpeg() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    let mut files = f.stereo_ogg.clone();
    files.extend([f.webm.clone(), f.mono_ogg.clone(), f.mono_webm.clone()]);
    for file in &files {
        let out = lathe(&["analyze".as_ref(), "--json".as_ref(), file.as_os_str()]);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("json line")).expect("json");
        let i = v["integrated_lufs"].as_f64().expect("I");
        let tp = v["true_peak_dbtp"].as_f64().expect("TP");
        let (ff_i, ff_tp) = ffmpeg_loudness(file);
        println!(
            "{}: lathe {i:.3} LUFS {tp:.3} dBTP; ffmpeg {ff_i:.2} LUFS {ff_tp:.2} dBTP",
            file.display()
        );
        assert!(
            (i - ff_i).abs() <= 0.05,
            "{}: integrated {i} vs ffmpeg {ff_i}",
            file.display()
        );
        assert!(
            (tp - ff_tp).abs() <= 0.2,
            "{}: true peak {tp} vs ffmpeg {ff_tp}",
            file.display()
        );
        assert_eq!(v["sample_rate"], 48_000);
        assert!(
            v["bits_per_sample"].is_null(),
            "a lossy file has no bit depth"
        );
        let kbps = v["bitrate_kbps"].as_f64().expect("bit rate");
        assert!(kbps > 20.0 && kbps < 400.0, "bit rate {kbps}");
    }
}

#[test]
fn opus_decodes_sample_aligned_with_ffmpeg() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    for (file, ch) in [
        (&f.stereo_ogg[1], 2),
        (&f.webm, 2),
        (&f.mono_ogg, 1),
        (&f.mono_webm, 1),
        (&f.remux, 2),
    ] {
        let (ours, warnings) = read_all_warned(file);
        assert!(warnings.is_empty(), "{}: {warnings:?}", file.display());
        let theirs = ffmpeg_decode(file, ch);
        assert_eq!(ours.len(), ch);
        assert_eq!(
            ours[0].len(),
            theirs[0].len(),
            "{}: lathe decodes {} frames, ffmpeg {}",
            file.display(),
            ours[0].len(),
            theirs[0].len()
        );
        let mut max = 0.0f32;
        for (a, b) in ours.iter().zip(&theirs) {
            for (x, y) in a.iter().zip(b) {
                max = max.max((x - y).abs());
            }
        }
        println!(
            "{}: max difference from ffmpeg's libopus decode {max:e}",
            file.display()
        );
        assert!(
            max < 1e-5,
            "{}: differs from ffmpeg by {max}",
            file.display()
        );
        // The first real sample is where ffmpeg has it: the start is not silent
        // padding and not shifted (a shift of one sample would differ by far more).
        assert!(ours[0][..960].iter().any(|s| s.abs() > 1e-3));
    }
}

#[test]
fn opus_seeks_exactly() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    for file in [&f.stereo_ogg[0], &f.webm, &f.mono_ogg, &f.remux] {
        let whole = read_all(file);
        let len = whole[0].len() as u64;
        let mut src = open_source(file).expect("open");
        let ch = src.info().channels;
        let mut block = AudioBlock::new(ch, 2048);
        for at in [
            0,
            1,
            311,
            3_839,
            3_840,
            3_841,
            48_000 * 7 + 123,
            500_001,
            len - 1_000,
        ] {
            src.seek(at).expect("seek");
            let n = src.read(&mut block).expect("read");
            let want = (len - at).min(2048) as usize;
            assert_eq!(n, want, "{} at {at}", file.display());
            let mut max = 0.0f32;
            for (c, got) in block.channels.iter().enumerate() {
                for (i, &s) in got[..n].iter().enumerate() {
                    max = max.max((s - whole[c][at as usize + i]).abs());
                }
            }
            // After lathe's pre-roll libopus has converged: the same samples
            // as a straight decode (80 ms, the RFC's minimum, leaves 2e-2).
            assert!(max < 1e-6, "{} at {at}: {max}", file.display());
        }
    }
}

/// Overwrite the OpusHead's input-rate field in an Ogg Opus file and fix the
/// page checksum (CRC-32, polynomial 0x04c11db7, as RFC 3533 gives it).
fn set_input_rate(path: &Path, rate: u32) {
    let mut bytes = std::fs::read(path).expect("read");
    let head = bytes
        .windows(8)
        .position(|w| w == b"OpusHead")
        .expect("OpusHead");
    bytes[head + 12..head + 16].copy_from_slice(&rate.to_le_bytes());
    let page_len = {
        let segs = usize::from(bytes[26]);
        27 + segs
            + bytes[27..27 + segs]
                .iter()
                .map(|&b| usize::from(b))
                .sum::<usize>()
    };
    bytes[22..26].fill(0);
    let mut crc = 0u32;
    for &b in &bytes[..page_len] {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    bytes[22..26].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn opus_info_line_gives_codec_rate_and_input_rate() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    let file = f.stereo_ogg[1].clone();
    set_input_rate(&file, 44_100);
    let out = lathe(&["analyze".as_ref(), file.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = text.lines().nth(1).expect("info line");
    assert!(info.contains("ogg/opus"), "{info}");
    assert!(
        info.contains("48000 Hz (measured; input was 44100 Hz)"),
        "{info}"
    );
    assert!(info.contains("kb/s") && !info.contains("-bit"), "{info}");
    // AAC in Matroska: a bit rate, not the container's bogus 32-bit depth.
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("s.wav");
    common::write_wav_f32(&wav, &common::sine(997.0, -12.0, 3.0, 44_100, 2), 44_100);
    let mka = dir.path().join("a.mka");
    ffmpeg_make(&wav, &mka, &["-c:a", "aac", "-b:a", "192k"]);
    let out = lathe(&["analyze".as_ref(), mka.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let info = text.lines().nth(1).expect("info line");
    assert!(info.contains("/aac") && info.contains("kb/s"), "{info}");
    assert!(!info.contains("-bit"), "{info}");
}

#[test]
fn damaged_opus_files_are_one_line_each() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    let dir = tempfile::tempdir().expect("tmp");
    let whole = std::fs::read(&f.stereo_ogg[1]).expect("read");
    // Truncated mid-page: what is there is read, with a warning.
    let cut = dir.path().join("cut.opus");
    std::fs::write(&cut, &whole[..whole.len() * 6 / 10]).expect("write");
    // A corrupt page in the middle (checksum no longer matches).
    let corrupt = dir.path().join("corrupt.opus");
    let mut bad = whole.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 200] {
        *b ^= 0x5a;
    }
    std::fs::write(&corrupt, &bad).expect("write");
    // A damaged identification header: nothing to decode.
    let nohead = dir.path().join("nohead.opus");
    let mut bad = whole.clone();
    let head = bad.windows(8).position(|w| w == b"OpusHead").expect("head");
    bad[head..head + 8].copy_from_slice(b"OpusHeaX");
    std::fs::write(&nohead, &bad).expect("write");
    // Truncated WebM.
    let webm = std::fs::read(&f.webm).expect("read");
    let cut_webm = dir.path().join("cut.webm");
    std::fs::write(&cut_webm, &webm[..webm.len() / 2]).expect("write");

    for (file, readable) in [
        (&cut, true),
        (&corrupt, true),
        (&nohead, false),
        (&cut_webm, true),
    ] {
        let out = lathe(&["analyze".as_ref(), "--json".as_ref(), file.as_os_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        println!("{}: {err}", file.display());
        assert!(!err.contains("panicked"), "{err}");
        let name = file.file_name().and_then(|n| n.to_str()).expect("name");
        for line in err.lines() {
            assert!(line.contains(name), "a line not naming the file: {line}");
        }
        assert_eq!(out.status.success(), readable, "{}: {err}", file.display());
        if file == &corrupt {
            assert!(err.contains("damaged stretch"), "{err}");
        }
        if file == &cut || file == &cut_webm {
            assert!(err.contains("file ends before"), "{err}");
        }
        if readable {
            let v: serde_json::Value = serde_json::from_str(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .expect("json"),
            )
            .expect("json");
            assert!(v["duration_s"].as_f64().expect("duration") > 5.0);
            assert!(v["integrated_lufs"].as_f64().is_some());
        }
    }
}

#[test]
fn opus_masters_and_plays() {
    if !ffmpeg_ready() {
        return;
    }
    let f = fixtures();
    let dir = tempfile::tempdir().expect("tmp");
    let out_wav = dir.path().join("master.wav");
    let out = lathe(&[
        "master".as_ref(),
        f.webm.as_os_str(),
        "-o".as_ref(),
        out_wav.as_os_str(),
        "--target".as_ref(),
        "-16".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = lathe::analysis::analyze_file(&out_wav).expect("analyze master");
    assert!(
        (a.loudness.integrated_lufs + 16.0).abs() < 0.2,
        "{}",
        a.loudness.integrated_lufs
    );
    assert_eq!(a.sample_rate, 48_000);
    // Played whole (silent output, real time): the meter line shows its length.
    let wav = dir.path().join("short.wav");
    common::write_wav_f32(&wav, &common::sine(440.0, -10.0, 2.0, 48_000, 2), 48_000);
    let short = dir.path().join("short.opus");
    encode(&wav, &short, &["-b:a", "96k"]);
    let out = lathe(&["play".as_ref(), "--silent".as_ref(), short.as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/0:02.000"), "{text}");
}

/// Surround Opus (mapping family 1): six channels, each a tone of its own,
/// come out in lathe's L R C LFE Ls Rs order, and the loudness (LFE not
/// counted, surrounds weighted) agrees with ffmpeg's meter.
#[test]
fn surround_opus_keeps_channel_order_and_weights() {
    if !ffmpeg_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let freqs = [300.0, 500.0, 700.0, 100.0, 1100.0, 1300.0];
    let planar: Vec<Vec<f32>> = freqs
        .iter()
        .enumerate()
        .map(|(c, &f)| {
            let level = [-20.0, -22.0, -18.0, -12.0, -24.0, -26.0][c];
            common::sine(f, level, 12.0, 48_000, 1).remove(0)
        })
        .collect();
    let wav = dir.path().join("six.wav");
    common::write_wav_f32(&wav, &planar, 48_000);
    let file = dir.path().join("six.opus");
    encode(&wav, &file, &["-mapping_family", "1", "-b:a", "384k"]);
    let (ours, warnings) = read_all_warned(&file);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(ours.len(), 6);
    // Each output channel is strongest at its own tone's frequency.
    let power_at = |x: &[f32], f: f64| {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (i, &s) in x[48_000..96_000].iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * f * i as f64 / 48_000.0;
            re += f64::from(s) * w.cos();
            im += f64::from(s) * w.sin();
        }
        re * re + im * im
    };
    for (c, ch) in ours.iter().enumerate() {
        let best = freqs
            .iter()
            .enumerate()
            .max_by(|a, b| power_at(ch, *a.1).total_cmp(&power_at(ch, *b.1)))
            .map(|(i, _)| i);
        assert_eq!(
            best,
            Some(c),
            "output channel {c} carries another channel's tone"
        );
    }
    let out = lathe(&["analyze".as_ref(), "--json".as_ref(), file.as_os_str()]);
    let v: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("json"),
    )
    .expect("json");
    let i = v["integrated_lufs"].as_f64().expect("I");
    let (ff_i, _) = ffmpeg_loudness(&file);
    println!("5.1 Opus: lathe {i:.3} LUFS, ffmpeg {ff_i:.3} LUFS");
    assert!((i - ff_i).abs() <= 0.05, "integrated {i} vs ffmpeg {ff_i}");
}
