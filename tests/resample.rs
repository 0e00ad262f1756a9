//! Sample-rate conversion: passband flatness, stopband rejection, round-trip
//! error and time alignment, against synthesized signals with known answers.

mod common;

use lathe::io::resample::resample_all;
use std::f64::consts::TAU;

fn sine_mono(freq: f64, amp: f64, seconds: f64, rate: u32) -> Vec<f32> {
    let n = (seconds * f64::from(rate)) as usize;
    (0..n)
        .map(|i| (amp * (TAU * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// RMS of the middle half (away from the edges), as dB.
fn mid_rms_db(x: &[f32]) -> f64 {
    let a = x.len() / 4;
    let b = 3 * x.len() / 4;
    let p: f64 = x[a..b].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / (b - a) as f64;
    10.0 * p.log10()
}

/// Amplitude of `freq` in the middle of `x` by least-squares fit of sin/cos.
fn tone_amplitude(x: &[f32], freq: f64, rate: u32) -> f64 {
    let a = x.len() / 4;
    let b = 3 * x.len() / 4;
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate().take(b).skip(a) {
        let w = TAU * freq * i as f64 / f64::from(rate);
        s += f64::from(v) * w.sin();
        c += f64::from(v) * w.cos();
    }
    let n = (b - a) as f64;
    2.0 * (s * s + c * c).sqrt() / n
}

#[test]
fn passband_is_flat_to_20khz_within_0_1_db() {
    for (from, to) in [
        (48_000, 44_100),
        (44_100, 48_000),
        (96_000, 44_100),
        (88_200, 48_000),
        (44_100, 96_000),
    ] {
        for f in [
            20.0, 100.0, 1000.0, 5000.0, 10_000.0, 15_000.0, 18_000.0, 20_000.0,
        ] {
            let x = sine_mono(f, 0.5, 1.0, from);
            let y = resample_all(&[x], from, to).expect("resample").remove(0);
            let gain_db = 20.0 * (tone_amplitude(&y, f, to) / 0.5).log10();
            assert!(
                gain_db.abs() < 0.1,
                "{from}->{to}: {f} Hz comes out at {gain_db:+.4} dB"
            );
        }
    }
}

#[test]
fn stopband_21khz_is_removed_100_db_going_to_44k1() {
    let x = sine_mono(21_000.0, 0.9, 1.0, 48_000);
    let in_db = mid_rms_db(&x);
    let y = resample_all(&[x], 48_000, 44_100)
        .expect("resample")
        .remove(0);
    let out_db = mid_rms_db(&y);
    assert!(
        in_db - out_db >= 100.0,
        "21 kHz only {:.1} dB down",
        in_db - out_db
    );
    // Above the output Nyquist (aliasing region) too.
    let x = sine_mono(23_000.0, 0.9, 1.0, 48_000);
    let y = resample_all(std::slice::from_ref(&x), 48_000, 44_100)
        .expect("resample")
        .remove(0);
    assert!(
        mid_rms_db(&x) - mid_rms_db(&y) >= 100.0,
        "23 kHz aliases above -100 dB"
    );
}

#[test]
fn images_are_removed_100_db_going_up() {
    // A 20 kHz tone at 44.1 kHz leaves an image at 24.1 kHz when upsampled to 96 kHz.
    let x = sine_mono(20_000.0, 0.9, 1.0, 44_100);
    let y = resample_all(&[x], 44_100, 96_000)
        .expect("resample")
        .remove(0);
    let image = tone_amplitude(&y, 24_100.0, 96_000);
    let db = 20.0 * (image / 0.9).log10();
    assert!(db <= -100.0, "image at 24.1 kHz is at {db:.1} dB");
}

#[test]
fn round_trip_48k_44k1_48k_error_below_minus_100_dbfs() {
    let x = sine_mono(1000.0, 0.9, 2.0, 48_000);
    let mid = resample_all(std::slice::from_ref(&x), 48_000, 44_100).expect("down");
    let y = resample_all(&mid, 44_100, 48_000).expect("up").remove(0);
    assert_eq!(y.len(), x.len());
    let err: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    let db = mid_rms_db(&err);
    assert!(db < -100.0, "round-trip error {db:.1} dBFS");
}

#[test]
fn a_click_at_one_second_stays_at_one_second() {
    for (from, to) in [
        (48_000u32, 44_100u32),
        (44_100, 48_000),
        (44_100, 96_000),
        (96_000, 44_100),
        (192_000, 48_000),
    ] {
        let mut x = vec![0f32; from as usize * 2];
        x[from as usize] = 0.8;
        let y = resample_all(std::slice::from_ref(&x), from, to)
            .expect("resample")
            .remove(0);
        let expected_len = (x.len() as f64 * f64::from(to) / f64::from(from)).round() as usize;
        assert_eq!(y.len(), expected_len, "{from}->{to} length");
        let (peak_at, _) =
            y.iter().enumerate().fold(
                (0, 0f32),
                |acc, (i, v)| if v.abs() > acc.1 { (i, v.abs()) } else { acc },
            );
        let want = to as i64;
        assert!(
            (peak_at as i64 - want).abs() <= 1,
            "{from}->{to}: click at frame {peak_at}, want {want} ±1"
        );
    }
}
