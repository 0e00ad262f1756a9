//! `lathe analyze` speed and memory, side by side with ffmpeg's ebur128
//! filter (`ffmpeg -i FILE -af ebur128=peak=true -f null -`) when installed.
//!
//! Run with `cargo bench --bench analyze`. Prints wall-clock medians of 3
//! runs, the lathe/ffmpeg ratio, and peak resident memory of each child
//! process (from `wait4`), for a 4-minute and a 60-minute 44.1 kHz 24-bit
//! stereo WAV generated here. Also times lathe's BS.1770 meter against the
//! `ebur128` crate in process, which is why lathe meters with its own code.

use std::path::Path;
use std::process::Command;

#[path = "launch.rs"]
mod launch;
use std::time::{Duration, Instant};

fn write_music_like(path: &Path, seconds: usize) {
    let rate = 44_100u32;
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create");
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut lp = [0f64; 2];
    let n = seconds * rate as usize;
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let env = 0.25 + 0.2 * (t * 0.5).sin().abs();
        for (c, state) in lp.iter_mut().enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let white = (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            *state += 0.3 * (white - *state);
            let tone = (std::f64::consts::TAU * (110.0 + 55.0 * c as f64) * t).sin() * 0.3;
            let v = (env * (*state + tone)).clamp(-1.0, 1.0);
            w.write_sample((v * 8_388_607.0) as i32).expect("write");
        }
    }
    w.finalize().expect("finish");
}

fn median3(mut f: impl FnMut() -> (Duration, f64, bool)) -> (Duration, f64, bool) {
    let mut v: Vec<_> = (0..3).map(|_| f()).collect();
    v.sort_by_key(|r| r.0);
    v[1]
}

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn main() {
    launch::launcher_main();
    let lathe = env!("CARGO_BIN_EXE_lathe");
    let dir = tempfile::tempdir().expect("tmp");
    let four = dir.path().join("four-minutes.wav");
    write_music_like(&four, 240);
    println!(
        "analyze benchmark: 4-minute 44.1 kHz 24-bit stereo WAV ({} MB)",
        std::fs::metadata(&four)
            .map(|m| m.len() / 1_000_000)
            .unwrap_or(0)
    );
    let (lt, lmem, lok) = median3(|| launch::run(lathe, &["analyze".as_ref(), four.as_os_str()]));
    assert!(lok, "lathe analyze failed");
    println!(
        "  lathe analyze                 {:>8.3} s   peak RSS {:>6.1} MB   ({:.0}x real time)",
        lt.as_secs_f64(),
        lmem,
        240.0 / lt.as_secs_f64()
    );
    if have_ffmpeg() {
        let (ft, fmem, fok) = median3(|| {
            launch::run(
                "ffmpeg",
                &[
                    "-hide_banner".as_ref(),
                    "-nostats".as_ref(),
                    "-i".as_ref(),
                    four.as_os_str(),
                    "-af".as_ref(),
                    "ebur128=peak=true".as_ref(),
                    "-f".as_ref(),
                    "null".as_ref(),
                    "-".as_ref(),
                ],
            )
        });
        assert!(fok, "ffmpeg failed");
        println!(
            "  ffmpeg ebur128=peak=true      {:>8.3} s   peak RSS {:>6.1} MB",
            ft.as_secs_f64(),
            fmem
        );
        println!(
            "  ratio: lathe is {:.2}x faster than ffmpeg (target >= 3x)",
            ft.as_secs_f64() / lt.as_secs_f64()
        );
    } else {
        println!("  SKIPPED ffmpeg comparison: ffmpeg is not installed");
    }

    let sixty = dir.path().join("sixty-minutes.wav");
    write_music_like(&sixty, 3600);
    // Measured before the in-process part below, whose memory a forked
    // child's peak-RSS figure would otherwise include.
    let (t60, mem60, ok60) = launch::run(lathe, &["analyze".as_ref(), sixty.as_os_str()]);
    assert!(ok60, "lathe analyze (60 min) failed");
    println!(
        "  lathe analyze, 60-minute file {:>8.3} s   peak RSS {:>6.1} MB   (4-minute file: {:.1} MB)",
        t60.as_secs_f64(),
        mem60,
        lmem
    );

    // In-process meter comparison on decoded audio.
    let mut src = lathe::io::open_source(&four).expect("open");
    let mut planar = vec![Vec::new(), Vec::new()];
    let mut block = lathe::io::AudioBlock::new(2, 65_536);
    use lathe::io::AudioSource;
    while src.read(&mut block).expect("read") > 0 {
        for (p, c) in planar.iter_mut().zip(&block.channels) {
            p.extend_from_slice(&c[..block.frames]);
        }
    }
    let t = Instant::now();
    let (stats, tp, _) = lathe::analysis::analyze_planar(&planar, 44_100, &[1.0, 1.0]);
    let ours = t.elapsed();
    let t = Instant::now();
    let mut e = ebur128::EbuR128::new(
        2,
        44_100,
        ebur128::Mode::I
            | ebur128::Mode::LRA
            | ebur128::Mode::TRUE_PEAK
            | ebur128::Mode::SAMPLE_PEAK
            | ebur128::Mode::M,
    )
    .expect("ebur128");
    let mut max_m = f64::NEG_INFINITY;
    for (a, b) in planar[0].chunks(4410).zip(planar[1].chunks(4410)) {
        e.add_frames_planar_f32(&[a, b]).expect("add");
        max_m = max_m.max(e.loudness_momentary().unwrap_or(f64::NEG_INFINITY));
    }
    let ei = e.loudness_global().unwrap_or(f64::NAN);
    let theirs = t.elapsed();
    println!(
        "  meter, one thread, in memory: lathe {:.3} s (I {:.2} LUFS, TP {:.2} dBTP, max M at 10 ms steps) vs ebur128 crate {:.3} s (I {:.2} LUFS, max M at 100 ms steps)",
        ours.as_secs_f64(),
        stats.integrated_lufs,
        tp,
        theirs.as_secs_f64(),
        ei
    );
}
