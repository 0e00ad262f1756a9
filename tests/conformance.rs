//! EBU Tech 3341 (cases 1–6, 9–23) and Tech 3342 (cases 1–4), with the
//! signals built from their published definitions, asserted to the
//! published tolerances: ±0.1 LU for loudness, ±1 LU for LRA, +0.2/−0.4 dB
//! for true peak. Cases 7 and 8 need the EBU's programme files.

mod common;

use common::{concat, silence, sine};
use lathe::analysis::analyze_planar;
use lathe::analysis::loudness::LoudnessMeter;

const RATE: u32 = 48_000;
const W2: [f64; 2] = [1.0, 1.0];

fn integrated(planar: &[Vec<f32>], weights: &[f64]) -> f64 {
    analyze_planar(planar, RATE, weights).0.integrated_lufs
}

fn assert_within(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{name}: measured {got:.3}, expected {want} ±{tol}"
    );
}

fn assert_tp(name: &str, got: f64, want: f64) {
    assert!(
        got <= want + 0.2 && got >= want - 0.4,
        "{name}: true peak {got:.3} dBTP, expected {want} +0.2/−0.4"
    );
}

#[test]
fn tech3341_case1_and_2_steady_tones() {
    for (level, case) in [(-23.0, 1), (-33.0, 2)] {
        let s = sine(1000.0, level, 20.0, RATE, 2);
        let mut m = LoudnessMeter::new(RATE, &W2);
        m.push(&s, s[0].len());
        let stats = m.stats();
        assert_within(&format!("case {case} I"), stats.integrated_lufs, level, 0.1);
        assert_within(&format!("case {case} M"), m.momentary(), level, 0.1);
        assert_within(&format!("case {case} S"), m.short_term(), level, 0.1);
    }
}

#[test]
fn tech3341_case3_to_5_gating() {
    let c3 = concat(&[
        sine(1000.0, -36.0, 10.0, RATE, 2),
        sine(1000.0, -23.0, 60.0, RATE, 2),
        sine(1000.0, -36.0, 10.0, RATE, 2),
    ]);
    assert_within("case 3", integrated(&c3, &W2), -23.0, 0.1);
    let c4 = concat(&[
        sine(1000.0, -72.0, 10.0, RATE, 2),
        sine(1000.0, -36.0, 10.0, RATE, 2),
        sine(1000.0, -23.0, 60.0, RATE, 2),
        sine(1000.0, -36.0, 10.0, RATE, 2),
        sine(1000.0, -72.0, 10.0, RATE, 2),
    ]);
    assert_within("case 4", integrated(&c4, &W2), -23.0, 0.1);
    let c5 = concat(&[
        sine(1000.0, -26.0, 20.0, RATE, 2),
        sine(1000.0, -20.0, 20.1, RATE, 2),
        sine(1000.0, -26.0, 20.0, RATE, 2),
    ]);
    assert_within("case 5", integrated(&c5, &W2), -23.0, 0.1);
}

#[test]
fn tech3341_case6_five_channels_and_lfe_excluded() {
    let levels = [-28.0, -28.0, -24.0, -30.0, -30.0];
    let planar: Vec<Vec<f32>> = levels
        .iter()
        .map(|&l| sine(1000.0, l, 20.0, RATE, 1).remove(0))
        .collect();
    let w5 = [1.0, 1.0, 1.0, 1.41, 1.41];
    assert_within("case 6 (5.0)", integrated(&planar, &w5), -23.0, 0.1);
    // 5.1 in L R C LFE Ls Rs order with a loud LFE: LFE must not count.
    let mut six = planar.clone();
    six.insert(3, sine(60.0, -6.0, 20.0, RATE, 1).remove(0));
    let w6 = lathe::io::decode::default_weights(6);
    assert_within(
        "case 6 (5.1, LFE excluded)",
        integrated(&six, &w6),
        -23.0,
        0.1,
    );
}

#[test]
fn tech3341_case9_short_term_constant() {
    // 1.34 s at −20 dBFS and 1.66 s at −30 dBFS, five times: every 3 s window
    // holds the same energy, so S = −23.0 after the first 3 s.
    let mut pieces = Vec::new();
    for _ in 0..5 {
        pieces.push(sine(1000.0, -20.0, 1.34, RATE, 2));
        pieces.push(sine(1000.0, -30.0, 1.66, RATE, 2));
    }
    let s = concat(&pieces);
    let mut m = LoudnessMeter::new(RATE, &W2);
    m.record_series();
    m.push(&s, s[0].len());
    let series = m.short_term_series();
    assert!(series.len() > 1000);
    for (k, v) in series.iter().enumerate() {
        assert_within(
            &format!("case 9 S at {} ms", (k + 300) * 10),
            *v,
            -23.0,
            0.1,
        );
    }
}

#[test]
fn tech3341_case12_momentary_constant() {
    // 0.18 s at −20 dBFS and 0.22 s at −30 dBFS, repeated: M = −23.0 after 1 s.
    let mut pieces = Vec::new();
    for _ in 0..25 {
        pieces.push(sine(1000.0, -20.0, 0.18, RATE, 2));
        pieces.push(sine(1000.0, -30.0, 0.22, RATE, 2));
    }
    let s = concat(&pieces);
    let mut m = LoudnessMeter::new(RATE, &W2);
    m.record_series();
    m.push(&s, s[0].len());
    let series = m.momentary_series();
    for (k, v) in series.iter().enumerate().skip(60) {
        assert_within(
            &format!("case 12 M at {} ms", (k + 40) * 10),
            *v,
            -23.0,
            0.1,
        );
    }
}

/// Tone bursts at levels `levels`, each `burst` s long, preceded by a silence
/// that shifts it off the 10 ms grid by a different amount each time, and
/// followed by `gap` s of silence. Returns the maximum of `window`-based
/// loudness within each segment.
fn burst_maxima(levels: &[f64], burst: f64, gap: f64, short_term: bool) -> Vec<f64> {
    let mut pieces = Vec::new();
    let mut seg_bounds = Vec::new();
    let mut t = 0usize;
    for (i, &l) in levels.iter().enumerate() {
        let pre = silence(gap + 0.003_7 * i as f64, RATE, 2);
        let tone = sine(1000.0, l, burst, RATE, 2);
        let post = silence(gap, RATE, 2);
        let len = pre[0].len() + tone[0].len() + post[0].len();
        seg_bounds.push((t, t + len));
        t += len;
        pieces.extend([pre, tone, post]);
    }
    let s = concat(&pieces);
    let mut m = LoudnessMeter::new(RATE, &W2);
    m.record_series();
    m.push(&s, s[0].len());
    let (series, win) = if short_term {
        (m.short_term_series(), 300)
    } else {
        (m.momentary_series(), 40)
    };
    let sub = (RATE / 100) as usize;
    seg_bounds
        .iter()
        .map(|&(a, b)| {
            series
                .iter()
                .enumerate()
                .filter(|(k, _)| {
                    let end_frame = (k + win) * sub;
                    end_frame > a && end_frame <= b
                })
                .map(|(_, v)| *v)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

#[test]
fn tech3341_case10_and_11_max_short_term() {
    let maxima = burst_maxima(&[-23.0; 20], 3.0, 1.6, true);
    for (i, m) in maxima.iter().enumerate() {
        assert_within(&format!("case 10 segment {}", i + 1), *m, -23.0, 0.1);
    }
    let levels: Vec<f64> = (0..20).map(|i| -38.0 + f64::from(i)).collect();
    let maxima = burst_maxima(&levels, 3.0, 1.6, true);
    for (m, l) in maxima.iter().zip(&levels) {
        assert_within("case 11", *m, *l, 0.1);
    }
}

#[test]
fn tech3341_case13_and_14_max_momentary() {
    let maxima = burst_maxima(&[-23.0; 20], 0.4, 0.5, false);
    for (i, m) in maxima.iter().enumerate() {
        assert_within(&format!("case 13 segment {}", i + 1), *m, -23.0, 0.1);
    }
    let levels: Vec<f64> = (0..20).map(|i| -38.0 + f64::from(i)).collect();
    let maxima = burst_maxima(&levels, 0.4, 0.5, false);
    for (m, l) in maxima.iter().zip(&levels) {
        assert_within("case 14", *m, *l, 0.1);
    }
}

/// Steady sine at `rate / div` Hz with phase `phase_deg` and linear
/// amplitude `amp`, 1 s long. The first and last 20 ms are a raised-cosine
/// fade so the onset itself (whose ideal reconstruction rings above the
/// tone's amplitude, Gibbs) does not become the peak being measured.
fn tp_sine(rate: u32, div: f64, phase_deg: f64, amp: f64) -> Vec<Vec<f32>> {
    let n = rate as usize; // 1 s
    let fade = (rate / 50) as usize;
    let f = f64::from(rate) / div;
    let ph = phase_deg.to_radians();
    let ch: Vec<f32> = (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let g = if edge < fade {
                0.5 - 0.5 * (std::f64::consts::PI * edge as f64 / fade as f64).cos()
            } else {
                1.0
            };
            (g * amp * (std::f64::consts::TAU * f * i as f64 / f64::from(rate) + ph).sin()) as f32
        })
        .collect();
    vec![ch.clone(), ch]
}

#[test]
fn tech3341_case15_to_19_true_peak() {
    let cases = [
        (15, 4.0, 0.0, 0.5, -6.0),
        (16, 4.0, 45.0, 0.5, -6.0),
        (17, 6.0, 60.0, 0.5, -6.0),
        (18, 8.0, 67.5, 0.5, -6.0),
        (19, 4.0, 45.0, 1.41, 3.0),
    ];
    for (case, div, phase, amp, want) in cases {
        let s = tp_sine(RATE, div, phase, amp);
        let (_, tp, _) = analyze_planar(&s, RATE, &W2);
        assert_tp(&format!("case {case}"), tp, want);
    }
}

#[test]
fn tech3341_case20_to_23_zero_dbtp_signals() {
    // The EBU defines 20–23 by files; these are lathe's own 0 dBTP signals of
    // the same kind, each with an analytically known true peak of 0 dBTP.
    // 20: 44.1 kHz, 997 Hz at full scale.
    let s = sine(997.0, 0.0, 1.0, 44_100, 2);
    assert_tp(
        "case 20-like (44.1 kHz)",
        analyze_planar(&s, 44_100, &W2).1,
        0.0,
    );
    // 21: 96 kHz (×2 oversampling), fs/4 at 45°, amplitude 1.0.
    let s = tp_sine(96_000, 4.0, 45.0, 1.0);
    assert_tp(
        "case 21-like (96 kHz)",
        analyze_planar(&s, 96_000, &W2).1,
        0.0,
    );
    // 22: 192 kHz (no oversampling), 1 kHz at full scale.
    let s = sine(1000.0, 0.0, 1.0, 192_000, 2);
    assert_tp(
        "case 22-like (192 kHz)",
        analyze_planar(&s, 192_000, &W2).1,
        0.0,
    );
    // 23: 48 kHz, fs/6 at 0° with amplitude 1.0: samples at ±0.866 (−1.25 dBFS).
    let s = tp_sine(RATE, 6.0, 0.0, 1.0);
    let (_, tp, sp) = analyze_planar(&s, RATE, &W2);
    assert_tp("case 23-like (48 kHz, between samples)", tp, 0.0);
    assert!(
        sp < -1.2,
        "sample peak {sp} should sit 1.25 dB under the true peak"
    );
}

#[test]
fn tech3342_loudness_range_cases_1_to_4() {
    let seq = |levels: &[f64]| {
        concat(
            &levels
                .iter()
                .map(|&l| sine(1000.0, l, 20.0, RATE, 2))
                .collect::<Vec<_>>(),
        )
    };
    let cases: [(&[f64], f64); 4] = [
        (&[-20.0, -30.0], 10.0),
        (&[-20.0, -15.0], 5.0),
        (&[-40.0, -20.0], 20.0),
        (&[-50.0, -35.0, -20.0, -35.0, -50.0], 15.0),
    ];
    for (i, (levels, want)) in cases.iter().enumerate() {
        let (stats, _, _) = analyze_planar(&seq(levels), RATE, &W2);
        assert_within(
            &format!("Tech 3342 case {}", i + 1),
            stats.loudness_range_lu,
            *want,
            1.0,
        );
    }
}

/// Cross-check against an independent implementation (the `ebur128` crate,
/// a port of libebur128) on a music-like signal: noise bursts and tones with
/// a changing level.
#[test]
fn agrees_with_ebur128_crate_on_music_like_signal() {
    let rate = 44_100;
    let n = rate as usize * 30;
    let nl = common::noise(n, 11);
    let nr = common::noise(n, 12);
    let mut l = vec![0f32; n];
    let mut r = vec![0f32; n];
    let mut lp = (0f32, 0f32);
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let env = 0.3 + 0.25 * (t * 0.7).sin() + 0.2 * ((t * 3.1).sin() > 0.6) as i32 as f32;
        lp.0 += 0.2 * (nl[i] - lp.0);
        lp.1 += 0.2 * (nr[i] - lp.1);
        let tone = (std::f32::consts::TAU * 220.0 * t).sin() * 0.3;
        l[i] = env * (lp.0 + tone);
        r[i] = env * (lp.1 + 0.8 * tone);
    }
    let planar = vec![l.clone(), r.clone()];
    let (stats, tp, sp) = analyze_planar(&planar, rate, &W2);

    use ebur128::{EbuR128, Mode};
    let mut e = EbuR128::new(
        2,
        rate,
        Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK,
    )
    .expect("ebur128");
    e.add_frames_planar_f32(&[&l, &r]).expect("frames");
    let ref_i = e.loudness_global().expect("I");
    let ref_lra = e.loudness_range().expect("LRA");
    let ref_tp = 20.0
        * e.true_peak(0)
            .expect("tp")
            .max(e.true_peak(1).expect("tp"))
            .log10();
    let ref_sp = 20.0
        * e.sample_peak(0)
            .expect("sp")
            .max(e.sample_peak(1).expect("sp"))
            .log10();
    assert_within("integrated vs ebur128", stats.integrated_lufs, ref_i, 0.02);
    // libebur128 takes a short-term block every second for LRA, lathe every
    // 100 ms; both are within Tech 3342, so compare to its ±1 LU tolerance.
    assert_within("LRA vs ebur128", stats.loudness_range_lu, ref_lra, 1.0);
    assert_within("true peak vs ebur128", tp, ref_tp, 0.15);
    assert_within("sample peak vs ebur128", sp, ref_sp, 1e-4);
}
