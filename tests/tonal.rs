//! Tonal balance (`lathe analyze --tonal`) against known spectra: white
//! noise (+1 dB per 1/3-octave band), a one-pole low-pass of known response,
//! level and silence that must not change a profile.

mod common;

use lathe::analysis::tonal::{self, BANDS, band_centre_hz, band_edges_hz, tonal_profile};

const RATE: u32 = 48_000;

fn white(seconds: usize, seed: u64, gain: f32) -> Vec<f32> {
    common::noise(RATE as usize * seconds, seed)
        .iter()
        .map(|v| v * gain)
        .collect()
}

/// y[n] = a·y[n−1] + (1 − a)·x[n].
fn one_pole(x: &[f32], a: f64) -> Vec<f32> {
    let mut s = 0.0f64;
    x.iter()
        .map(|v| {
            s = a * s + (1.0 - a) * f64::from(*v);
            s as f32
        })
        .collect()
}

/// The one-pole's power response averaged over band `b` (white input), dB.
fn one_pole_band_db(a: f64, b: usize) -> f64 {
    let (lo, hi) = band_edges_hz(b);
    let n = 400;
    let mean = (0..n)
        .map(|k| {
            let f = lo + (hi - lo) * (k as f64 + 0.5) / n as f64;
            let w = std::f64::consts::TAU * f / f64::from(RATE);
            (1.0 - a).powi(2) / (1.0 - 2.0 * a * w.cos() + a * a)
        })
        .sum::<f64>()
        / n as f64;
    10.0 * mean.log10()
}

fn write(dir: &std::path::Path, name: &str, x: &[f32]) -> std::path::PathBuf {
    let p = dir.join(name);
    common::write_wav_f32(&p, &[x.to_vec(), x.to_vec()], RATE);
    p
}

#[test]
fn white_noise_rises_one_db_per_third_octave() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = tonal_profile(&write(dir.path(), "w.wav", &white(20, 1, 0.5))).expect("profile");
    for b in 0..BANDS - 1 {
        if band_centre_hz(b) < 200.0 {
            continue;
        }
        let step = p.bands_db[b + 1] - p.bands_db[b];
        assert!(
            (step - 1.0).abs() < 0.3,
            "{} Hz -> next: {step:.2} dB",
            band_centre_hz(b)
        );
    }
}

#[test]
fn a_known_filter_shows_as_its_response() {
    let dir = tempfile::tempdir().expect("tmp");
    let x = white(20, 2, 0.5);
    let a = 0.9;
    let y = one_pole(&x, a);
    let pw = tonal_profile(&write(dir.path(), "w.wav", &x)).expect("white");
    let pl = tonal_profile(&write(dir.path(), "l.wav", &y)).expect("low-pass");
    // Loudness normalization shifts every band alike: compare relative to 1 kHz.
    let k1 = 16;
    let diff = |b: usize| (pl.bands_db[b] - pw.bands_db[b]) - (pl.bands_db[k1] - pw.bands_db[k1]);
    for b in 0..BANDS {
        if band_centre_hz(b) < 50.0 {
            continue;
        }
        let want = one_pole_band_db(a, b) - one_pole_band_db(a, k1);
        assert!(
            (diff(b) - want).abs() < 0.3,
            "{} Hz: {:.2} vs {want:.2} dB",
            band_centre_hz(b),
            diff(b)
        );
    }
}

#[test]
fn level_and_silence_do_not_change_a_profile() {
    let dir = tempfile::tempdir().expect("tmp");
    let x = one_pole(&white(12, 3, 0.5), 0.6);
    let base = tonal_profile(&write(dir.path(), "a.wav", &x)).expect("profile");
    // 12 dB quieter: loudness-normalized, the same.
    let quiet: Vec<f32> = x.iter().map(|v| v * 0.25).collect();
    let q = tonal_profile(&write(dir.path(), "q.wav", &quiet)).expect("quiet");
    // With 8 s of silence and a tail 40 dB down: gated away.
    let mut long = x.clone();
    long.extend(std::iter::repeat_n(0.0, RATE as usize * 8));
    long.extend(white(4, 4, 0.005));
    let l = tonal_profile(&write(dir.path(), "l.wav", &long)).expect("long");
    assert!(l.frames_used < l.frames_total);
    for b in 0..BANDS {
        if band_centre_hz(b) < 40.0 {
            continue;
        }
        assert!(
            (q.bands_db[b] - base.bands_db[b]).abs() < 0.05,
            "quiet, band {b}"
        );
        assert!(
            (l.bands_db[b] - base.bands_db[b]).abs() < 0.15,
            "silence, band {b}"
        );
    }
    assert!(tonal::rms_deviation_db(&tonal::deviation_db(&q, &base.bands_db)) < 0.05);
}

#[test]
fn analyze_tonal_reports_each_file_against_the_average() {
    let dir = tempfile::tempdir().expect("tmp");
    let x = white(8, 5, 0.5);
    let a = write(dir.path(), "a.wav", &x);
    let b = write(dir.path(), "b.wav", &one_pole(&x, 0.8));
    let missing = dir.path().join("missing.wav");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["analyze", "--tonal", "--json"])
        .args([&a, &b, &missing])
        .output()
        .expect("run");
    // A missing file is an error naming it; the others are still reported.
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.wav"));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let dev = |k: usize| -> Vec<f64> {
        lines[k]["tonal"]["deviation_db"]
            .as_array()
            .expect("deviation")
            .iter()
            .map(|v| v.as_f64().unwrap_or(0.0))
            .collect()
    };
    let (da, db) = (dev(0), dev(1));
    assert_eq!(da.len(), BANDS);
    // Two files against their average: equal and opposite.
    for (x, y) in da.iter().zip(&db) {
        assert!((x + y).abs() <= 0.02, "{x} {y}");
    }
    // Against the average of the two, the low-pass shows half its own
    // response: 100 Hz to 10 kHz, half the filter's fall between them.
    let at = |hz: f64| {
        (0..BANDS)
            .position(|i| (band_centre_hz(i) - hz).abs() / hz < 0.05)
            .expect("band")
    };
    let (lo, hi) = (at(100.0), at(10_000.0));
    let want = 0.5 * (one_pole_band_db(0.8, hi) - one_pole_band_db(0.8, lo));
    assert!(want < -6.0);
    assert!(
        (db[hi] - db[lo] - want).abs() < 0.3,
        "{:.2} vs {want:.2}",
        db[hi] - db[lo]
    );
    let rms = lines[1]["tonal"]["rms_deviation_db"].as_f64().expect("rms");
    assert!((rms - tonal::rms_deviation_db(&db)).abs() < 0.05);
    assert!(lines[2]["tonal_average"]["level_db"].is_array());
    // The text form has one row per band and the RMS line.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["analyze", "--tonal"])
        .args([&a, &b])
        .output()
        .expect("run");
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Tonal balance") && text.contains("12.5k") && text.contains("RMS"),
        "{text}"
    );
}

#[test]
fn analyze_compares_with_a_reference_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let x = white(8, 5, 0.5);
    let a = write(dir.path(), "a.wav", &x);
    let b = write(dir.path(), "b.wav", &one_pole(&x, 0.8));
    // b against a as the reference: the whole low-pass response.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["analyze", "--json", "--reference"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let db: Vec<f64> = lines[0]["tonal"]["deviation_db"]
        .as_array()
        .expect("deviation")
        .iter()
        .map(|v| v.as_f64().unwrap_or(0.0))
        .collect();
    let at = |hz: f64| {
        (0..BANDS)
            .position(|i| (band_centre_hz(i) - hz).abs() / hz < 0.05)
            .expect("band")
    };
    let (lo, hi) = (at(100.0), at(10_000.0));
    let want = one_pole_band_db(0.8, hi) - one_pole_band_db(0.8, lo);
    assert!(
        (db[hi] - db[lo] - want).abs() < 0.3,
        "{:.2} vs {want:.2}",
        db[hi] - db[lo]
    );
    assert!(
        lines[1]["tonal_reference"]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("a.wav"))
    );
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .args(["analyze", "--tonal", "--reference"])
        .arg(&a)
        .arg(&b)
        .output()
        .expect("run");
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(
        t.contains("files vs the reference") && t.contains("ref"),
        "{t}"
    );
    // A missing or silent reference: one line naming it, exit 1.
    let silent = write(dir.path(), "silent.wav", &vec![0.0; RATE as usize * 2]);
    for r in [dir.path().join("nope.wav"), silent] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
            .args(["analyze", "--reference"])
            .arg(&r)
            .arg(&b)
            .output()
            .expect("run");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        let name = r.file_name().expect("name").to_string_lossy().into_owned();
        assert!(e.contains(&name), "{e}");
        assert!(o.stdout.is_empty());
    }
}
