//! The mastering chain's modules against known answers: formulas,
//! synthesized signals, and an independent true-peak meter.

mod common;

use lathe::analysis::analyze_planar;
use lathe::dsp::Processor;
use lathe::dsp::chain::Chain;
use lathe::io::AudioBlock;
use lathe::session::chain::*;
use std::f64::consts::TAU;

const RATE: u32 = 48_000;

fn block_of(planar: &[Vec<f32>]) -> AudioBlock {
    let mut b = AudioBlock::new(planar.len(), planar[0].len());
    for (d, s) in b.channels.iter_mut().zip(planar) {
        d.copy_from_slice(s);
    }
    b.frames = planar[0].len();
    b
}

/// Run `p` over `planar` in 512-frame blocks.
fn run(p: &mut dyn Processor, planar: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut out = vec![Vec::new(); planar.len()];
    let n = planar[0].len();
    let mut b = AudioBlock::new(planar.len(), 512);
    let mut pos = 0;
    while pos < n {
        let k = (n - pos).min(512);
        for (d, s) in b.channels.iter_mut().zip(planar) {
            d[..k].copy_from_slice(&s[pos..pos + k]);
        }
        b.frames = k;
        p.process(&mut b);
        for (o, c) in out.iter_mut().zip(&b.channels) {
            o.extend_from_slice(&c[..k]);
        }
        pos += k;
    }
    out
}

fn tone(freq: f64, amp: f64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (amp * (TAU * freq * i as f64 / f64::from(RATE)).sin()) as f32)
        .collect()
}

/// Amplitude of `freq` in x[a..b] by least squares.
fn amp_at(x: &[f32], freq: f64, a: usize, b: usize) -> f64 {
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in x.iter().enumerate().take(b).skip(a) {
        let w = TAU * freq * i as f64 / f64::from(RATE);
        s += f64::from(v) * w.sin();
        c += f64::from(v) * w.cos();
    }
    2.0 * (s * s + c * c).sqrt() / (b - a) as f64
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

#[test]
fn eq_bell_gain_slope_and_mid_side() {
    let n = RATE as usize;
    let cfg = EqConfig {
        bypass: false,
        bands: vec![BandConfig {
            kind: BandKind::Bell,
            freq_hz: 1000.0,
            gain_db: 6.0,
            q: 1.0,
            ..Default::default()
        }],
    };
    let mut eq = lathe::dsp::eq::Eq::new(&cfg, RATE, 2);
    let x = tone(1000.0, 0.25, n);
    let y = run(&mut eq, &[x.clone(), x.clone()]);
    let g = db(amp_at(&y[0], 1000.0, n / 2, n) / 0.25);
    assert!((g - 6.0).abs() < 0.02, "bell centre gain {g}");
    // 24 dB/oct high-pass at 200 Hz: one octave down is 24.1 dB down (Butterworth).
    let cfg = EqConfig {
        bypass: false,
        bands: vec![BandConfig {
            kind: BandKind::HighPass,
            freq_hz: 200.0,
            slope_db_oct: 24,
            ..Default::default()
        }],
    };
    let mut eq = lathe::dsp::eq::Eq::new(&cfg, RATE, 1);
    let y = run(&mut eq, &[tone(100.0, 0.5, n)]);
    let g = db(amp_at(&y[0], 100.0, n / 2, n) / 0.5);
    let want = -10.0 * (1.0 + 2f64.powi(8)).log10();
    assert!(
        (g - want).abs() < 0.3,
        "HP24 at f0/2: {g:.2} dB, want {want:.2}"
    );
    // A mid-only band leaves a pure side signal alone, and cuts a pure mid one.
    let cfg = EqConfig {
        bypass: false,
        bands: vec![BandConfig {
            kind: BandKind::Bell,
            freq_hz: 1000.0,
            gain_db: -12.0,
            q: 1.0,
            channels: ChannelMode::Mid,
            ..Default::default()
        }],
    };
    let mut eq = lathe::dsp::eq::Eq::new(&cfg, RATE, 2);
    let x = tone(1000.0, 0.25, n);
    let neg: Vec<f32> = x.iter().map(|v| -v).collect();
    let side = run(&mut eq, &[x.clone(), neg]);
    assert!((db(amp_at(&side[0], 1000.0, n / 2, n) / 0.25)).abs() < 0.01);
    let mut eq = lathe::dsp::eq::Eq::new(&cfg, RATE, 2);
    let mid = run(&mut eq, &[x.clone(), x]);
    assert!((db(amp_at(&mid[0], 1000.0, n / 2, n) / 0.25) + 12.0).abs() < 0.05);
}

/// Largest second difference of `y`: a click or zipper step shows up here.
fn max_second_diff(y: &[f32]) -> f64 {
    y.windows(3)
        .map(|w| (f64::from(w[2]) - 2.0 * f64::from(w[1]) + f64::from(w[0])).abs())
        .fold(0.0, f64::max)
}

/// For a 1 kHz sine of slowly varying amplitude the second difference is
/// at most (2 − 2 cos ω)·max|y|; a step (click, zipper) breaks this bound.
fn smooth_bound(y: &[f32]) -> f64 {
    let w = TAU * 1000.0 / f64::from(RATE);
    let peak = y.iter().fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    (2.0 - 2.0 * w.cos()) * peak * 1.03
}

/// Energy above 6 kHz relative to the whole, dB, of a Hann-windowed segment.
fn high_band_ratio_db(seg: &[f32]) -> f64 {
    let power = common::hann_power(seg);
    let cut = 6000 * seg.len() / RATE as usize;
    let total: f64 = power.iter().sum();
    let high: f64 = power[cut..].iter().sum();
    10.0 * (high / total).log10()
}

#[test]
fn parameter_changes_are_smoothed_without_clicks() {
    // A 1 kHz sine whose processing changes abruptly half way; the output's
    // second difference must stay within the bound of a smoothly varying
    // sine (a step in gain would spike it many times over).
    let n = RATE as usize;
    let x = tone(1000.0, 0.25, n);
    // Gain 0 → +12 dB.
    let mut g = lathe::dsp::gain::Gain::new(
        &GainConfig {
            bypass: false,
            gain_db: 0.0,
        },
        RATE,
    );
    let first = run(&mut g, &[x[..n / 2].to_vec()]);
    g.set_config(&GainConfig {
        bypass: false,
        gain_db: 12.0,
    });
    let second = run(&mut g, &[x[n / 2..].to_vec()]);
    let joined: Vec<f32> = first[0].iter().chain(&second[0]).copied().collect();
    assert!(
        max_second_diff(&joined) <= smooth_bound(&joined),
        "gain step clicks"
    );
    // Without smoothing the same step would break the bound: the test can fail.
    let mut stepped: Vec<f32> = x[..n / 2].to_vec();
    stepped.extend(x[n / 2..].iter().map(|v| v * 4.0));
    assert!(max_second_diff(&stepped) > smooth_bound(&stepped));
    // EQ bell gain 0 → +12 dB and frequency 500 → 2000 Hz at once.
    let bell = |gain_db: f64, freq_hz: f64| EqConfig {
        bypass: false,
        bands: vec![BandConfig {
            kind: BandKind::Bell,
            freq_hz,
            gain_db,
            q: 0.7,
            ..Default::default()
        }],
    };
    let mut eq = lathe::dsp::eq::Eq::new(&bell(0.0, 500.0), RATE, 1);
    let first = run(&mut eq, &[x[..n / 2].to_vec()]);
    eq.set_config(&bell(12.0, 2000.0));
    let second = run(&mut eq, &[x[n / 2..].to_vec()]);
    let joined: Vec<f32> = first[0].iter().chain(&second[0]).copied().collect();
    // A moving resonance is not a slowly varying sine, so judge it by its
    // spectrum: around the change, energy above 6 kHz (where a click or
    // zipper lands and a 1 kHz tone has none) stays 90 dB under the tone.
    let hf = high_band_ratio_db(&joined[n / 2 - 2048..n / 2 + 2048]);
    println!("hf {hf:.1}");
    assert!(hf < -90.0, "EQ change splatters: {hf:.1} dB above 6 kHz");
    // Switching filters abruptly instead does splatter: the measure can fail.
    let mut a = lathe::dsp::eq::Eq::new(&bell(0.0, 500.0), RATE, 1);
    let mut b = lathe::dsp::eq::Eq::new(&bell(12.0, 2000.0), RATE, 1);
    let ya = run(&mut a, std::slice::from_ref(&x));
    let yb = run(&mut b, std::slice::from_ref(&x));
    let spliced: Vec<f32> = ya[0][..n / 2]
        .iter()
        .chain(&yb[0][n / 2..])
        .copied()
        .collect();
    assert!(high_band_ratio_db(&spliced[n / 2 - 2048..n / 2 + 2048]) > -70.0);
    // Imager width 100 % → 0 % on a side-heavy signal.
    let mut im = lathe::dsp::imager::Imager::new(
        &ImagerConfig {
            bypass: false,
            width_pct: 100.0,
            bass_mono_hz: 0.0,
        },
        RATE,
    );
    let r: Vec<f32> = x.iter().map(|v| -v * 0.5).collect();
    let first = run(&mut im, &[x[..n / 2].to_vec(), r[..n / 2].to_vec()]);
    im.set_config(&ImagerConfig {
        bypass: false,
        width_pct: 0.0,
        bass_mono_hz: 0.0,
    });
    let second = run(&mut im, &[x[n / 2..].to_vec(), r[n / 2..].to_vec()]);
    let joined: Vec<f32> = first[0].iter().chain(&second[0]).copied().collect();
    assert!(
        max_second_diff(&joined) <= smooth_bound(&joined),
        "width change clicks"
    );
}

#[test]
fn compressor_reaches_its_static_curve() {
    let n = RATE as usize * 2;
    let cfg = CompressorConfig {
        threshold_db: -20.0,
        ratio: 4.0,
        knee_db: 0.0,
        attack_ms: 1.0,
        release_ms: 2000.0,
        ..Default::default()
    };
    let mut c = lathe::dsp::compressor::Compressor::new(&cfg, RATE, 2);
    let amp = 10f64.powf(-10.0 / 20.0);
    let x = tone(1000.0, amp, n);
    let y = run(&mut c, &[x.clone(), x]);
    let out = db(amp_at(&y[0], 1000.0, n - 9600, n));
    // 10 dB over a −20 dB threshold at 4:1 → 2.5 dB over: −17.5 dBFS peak.
    assert!((out + 17.5).abs() < 0.3, "compressed to {out:.2} dBFS");
    assert!(
        (c.gain_reduction_db() - 7.5).abs() < 0.3,
        "GR meter {}",
        c.gain_reduction_db()
    );
    // Make-up gain adds on top.
    let cfg2 = CompressorConfig {
        makeup_db: 3.0,
        ..cfg
    };
    let mut c = lathe::dsp::compressor::Compressor::new(&cfg2, RATE, 1);
    let y = run(&mut c, &[tone(1000.0, amp, n)]);
    assert!((db(amp_at(&y[0], 1000.0, n - 9600, n)) + 14.5).abs() < 0.3);
}

#[test]
fn multiband_bands_sum_flat_when_nothing_compresses() {
    let cfg = MultibandConfig::default();
    let mut off = cfg.clone();
    for b in [&mut off.low, &mut off.mid, &mut off.high] {
        b.ratio = 1.0;
    }
    let mut mb = lathe::dsp::multiband::Multiband::new(&off, RATE, 1);
    let n = 16_384;
    let mut imp = vec![0f32; n];
    imp[0] = 1.0;
    let h = run(&mut mb, &[imp]);
    for f in [30.0, 120.0, 500.0, 4000.0, 10_000.0, 20_000.0] {
        let w = TAU * f / f64::from(RATE);
        let (mut re, mut im) = (0.0, 0.0);
        for (k, v) in h[0].iter().enumerate() {
            re += f64::from(*v) * (w * k as f64).cos();
            im -= f64::from(*v) * (w * k as f64).sin();
        }
        let m = db((re * re + im * im).sqrt());
        assert!(m.abs() < 0.1, "multiband sum at {f} Hz: {m:.3} dB");
    }
}

#[test]
fn imager_width_bass_mono_and_correlation() {
    let n = RATE as usize;
    let l = tone(2000.0, 0.3, n);
    let r: Vec<f32> = tone(2000.0, 0.1, n);
    let mut mono = lathe::dsp::imager::Imager::new(
        &ImagerConfig {
            bypass: false,
            width_pct: 0.0,
            bass_mono_hz: 0.0,
        },
        RATE,
    );
    let y = run(&mut mono, &[l.clone(), r.clone()]);
    assert!(y[0].iter().zip(&y[1]).all(|(a, b)| (a - b).abs() < 1e-6));
    assert!((mono.correlation() - 1.0).abs() < 1e-6);
    // Bass mono at 120 Hz: side at 40 Hz goes ≥ 30 dB down, side at 2 kHz stays.
    let mut bm = lathe::dsp::imager::Imager::new(
        &ImagerConfig {
            bypass: false,
            width_pct: 100.0,
            bass_mono_hz: 120.0,
        },
        RATE,
    );
    let s40 = tone(40.0, 0.3, n);
    let neg40: Vec<f32> = s40.iter().map(|v| -v).collect();
    let y = run(&mut bm, &[s40, neg40]);
    assert!(db(amp_at(&y[0], 40.0, n / 2, n) / 0.3) < -30.0);
    assert!(bm.correlation() < 0.0 || amp_at(&y[0], 40.0, n / 2, n) < 0.01);
    let mut bm = lathe::dsp::imager::Imager::new(
        &ImagerConfig {
            bypass: false,
            width_pct: 100.0,
            bass_mono_hz: 120.0,
        },
        RATE,
    );
    let s2k = tone(2000.0, 0.3, n);
    let neg2k: Vec<f32> = s2k.iter().map(|v| -v).collect();
    let y = run(&mut bm, &[s2k, neg2k]);
    assert!(db(amp_at(&y[0], 2000.0, n / 2, n) / 0.3).abs() < 0.1);
    assert!(bm.correlation() < -0.99);
    // Mid at 40 Hz passes (all-pass) unchanged in level.
    let mut bm = lathe::dsp::imager::Imager::new(
        &ImagerConfig {
            bypass: false,
            width_pct: 100.0,
            bass_mono_hz: 120.0,
        },
        RATE,
    );
    let m40 = tone(40.0, 0.3, n);
    let y = run(&mut bm, &[m40.clone(), m40]);
    assert!(db(amp_at(&y[0], 40.0, n / 2, n) / 0.3).abs() < 0.05);
}

#[test]
fn hum_is_removed_and_music_is_not() {
    // Fixed settings (no detection): 50 Hz and four harmonics. 4 s in; the
    // module's latency is 1 s; the last 2 s are steady state.
    let n = RATE as usize * 4;
    let mut x = vec![0f32; n];
    for k in 1..=4 {
        for (i, v) in tone(50.0 * k as f64, 0.05, n).iter().enumerate() {
            x[i] += v;
        }
    }
    let music = tone(1000.0, 0.3, n);
    let mixed: Vec<f32> = x.iter().zip(&music).map(|(a, b)| a + b).collect();
    let mut h = lathe::dsp::hum::Hum::new(
        &HumConfig {
            freq_hz: lathe::session::chain::HumFreq::Hz(50.0),
            harmonics: lathe::session::chain::HumHarmonics::Count(4),
            ..HumConfig::default()
        },
        RATE,
        1,
    );
    let lat = h.latency();
    assert_eq!(lat, RATE as usize);
    let y = run(&mut h, &[mixed]);
    for k in 1..=4 {
        let a = amp_at(&y[0], 50.0 * k as f64, n / 2, n);
        assert!(
            db(a / 0.05) < -40.0,
            "harmonic {k} only {:.1} dB down",
            db(a / 0.05)
        );
    }
    assert!(db(amp_at(&y[0], 1000.0, n / 2, n) / 0.3).abs() < 0.01);
    // The music comes out as it went in, a second later.
    let worst = (n / 2..n)
        .map(|i| (y[0][i] - music[i - lat]).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "music changed by {worst}");
}

/// A music-like test signal: a few partials with slow vibrato and decays.
fn music_like(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let env = 0.6 + 0.4 * (TAU * 0.7 * t).sin();
            let v = 0.2 * (TAU * 220.0 * t + 0.3 * (TAU * 5.0 * t).sin()).sin()
                + 0.1 * (TAU * 660.0 * t).sin()
                + 0.05 * (TAU * 1870.0 * t).sin();
            (env * v) as f32
        })
        .collect()
}

#[test]
fn declicker_removes_clicks_20_db_better() {
    let n = RATE as usize * 3;
    let clean = music_like(n);
    let mut clicked = clean.clone();
    for c in 0..30 {
        let at = 10_000 + c * 4_003;
        let amp = if c % 2 == 0 { 0.5 } else { -0.4 };
        for (j, d) in [1.0f32, 0.7, -0.4].iter().enumerate() {
            clicked[at + j] += amp * d;
        }
    }
    let mut d = lathe::dsp::declick::Declick::new(&DeclickConfig::default(), RATE, 1);
    let lat = d.latency();
    let y = run(&mut d, &[clicked.clone()]);
    let err = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
    };
    let range = 8_000..n - lat - 1000;
    let before = err(&clicked[range.clone()], &clean[range.clone()]);
    let after = err(
        &y[0][range.start + lat..range.end + lat],
        &clean[range.clone()],
    );
    let gain = 10.0 * (before / after).log10();
    assert!(
        gain >= 20.0,
        "residual only {gain:.1} dB better ({} gaps repaired)",
        d.repaired()
    );
}

#[test]
fn dehisser_lowers_hiss_10_db_and_keeps_the_tone() {
    let n = RATE as usize * 6;
    let tone_amp = 0.1;
    let t = tone(1000.0, tone_amp, n);
    let noise_amp = 10f64.powf(-60.0 / 20.0) * 3f64.sqrt(); // uniform noise with −60 dBFS RMS
    let noise: Vec<f32> = common::noise(n, 77)
        .iter()
        .map(|v| (f64::from(*v) * noise_amp) as f32)
        .collect();
    let x: Vec<f32> = t.iter().zip(&noise).map(|(a, b)| a + b).collect();
    let mut d = lathe::dsp::dehiss::Dehiss::new(&DehissConfig::default(), RATE, 1);
    let lat = d.latency();
    let y = run(&mut d, &[x]);
    let (a, b) = (n / 2, n - lat);
    // Tone level (fit), aligned by the latency.
    let out_tone = amp_at(&y[0][lat..], 1000.0, a, b - lat);
    let change = db(out_tone / tone_amp);
    assert!(change.abs() < 0.5, "tone changed by {change:.2} dB");
    // Residual noise: output minus the fitted tone.
    let (mut s, mut c) = (0.0, 0.0);
    let seg = &y[0][a + lat..b];
    for (i, v) in seg.iter().enumerate() {
        let w = TAU * 1000.0 * (a + i) as f64 / f64::from(RATE);
        s += f64::from(*v) * w.sin();
        c += f64::from(*v) * w.cos();
    }
    let (s, c) = (2.0 * s / seg.len() as f64, 2.0 * c / seg.len() as f64);
    let resid: f64 = seg
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let w = TAU * 1000.0 * (a + i) as f64 / f64::from(RATE);
            (f64::from(*v) - s * w.sin() - c * w.cos()).powi(2)
        })
        .sum::<f64>()
        / seg.len() as f64;
    let noise_in: f64 = noise[a..b]
        .iter()
        .map(|v| f64::from(*v).powi(2))
        .sum::<f64>()
        / (b - a) as f64;
    let drop = 10.0 * (noise_in / resid).log10();
    println!("drop {drop:.2} dB, tone change {change:.3} dB");
    assert!(drop >= 10.0, "noise only {drop:.1} dB lower");
}

fn tp_of(planar: &[Vec<f32>]) -> f64 {
    analyze_planar(planar, RATE, &vec![1.0; planar.len()]).1
}

/// Adversarial signals for a true-peak limiter.
fn nasty_signals() -> Vec<(&'static str, Vec<Vec<f32>>)> {
    let n = RATE as usize * 2;
    let square: Vec<f32> = (0..n)
        .map(|i| if (i / 24) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let fs4: Vec<f32> = (0..n)
        .map(|i| (2.0 * (TAU * 0.25 * i as f64 + TAU / 8.0).sin()) as f32)
        .collect();
    let mut clicks = vec![0f32; n];
    for c in 0..50 {
        let at = 1000 + c * 1900;
        for k in -8i64..=8 {
            let t = k as f64 + 0.5;
            let v = 3.0 * (std::f64::consts::PI * t * 0.9).sin() / (std::f64::consts::PI * t);
            clicks[(at as i64 + k) as usize] += v as f32;
        }
    }
    let clipped: Vec<f32> = music_like(n)
        .iter()
        .map(|v| (v * 12.0).clamp(-1.0, 1.0))
        .collect();
    let loud_noise: Vec<f32> = common::noise(n, 5).iter().map(|v| v * 3.0).collect();
    let sweep: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            (1.5 * (TAU * (100.0 * t + 5000.0 * t * t)).sin()) as f32
        })
        .collect();
    vec![
        ("full-scale square", vec![square.clone(), square]),
        ("fs/4 at 45° +6 dB", vec![fs4.clone(), fs4]),
        ("band-limited clicks", vec![clicks.clone(), clicks]),
        ("hard-clipped master", vec![clipped.clone(), clipped]),
        ("noise +10 dB", vec![loud_noise.clone(), loud_noise]),
        ("sweep +3.5 dB", vec![sweep.clone(), sweep]),
    ]
}

#[test]
fn limiter_output_never_exceeds_the_ceiling() {
    for ceiling in [-1.0, -0.3, -6.0] {
        for (name, sig) in nasty_signals() {
            let cfg = LimiterConfig {
                ceiling_dbtp: ceiling,
                ..Default::default()
            };
            let mut lim = lathe::dsp::limiter::Limiter::new(&cfg, RATE, 2);
            let y = run(&mut lim, &sig);
            let tp = tp_of(&y);
            assert!(
                tp <= ceiling,
                "{name}: true peak {tp:.3} dBTP over the {ceiling} dBTP ceiling"
            );
        }
    }
}

#[test]
fn limiter_is_clean_on_a_sine_pushed_6_db_in() {
    // 1 kHz at 6 dB over a −1 dBTP ceiling; THD+N after the release settles.
    let n = RATE as usize * 3;
    let amp = 10f64.powf(5.0 / 20.0);
    let x = tone(1000.0, amp, n);
    let cfg = LimiterConfig::default();
    let mut lim = lathe::dsp::limiter::Limiter::new(&cfg, RATE, 1);
    let y = run(&mut lim, &[x]);
    let seg = &y[0][2 * RATE as usize..];
    let (mut s, mut c) = (0.0, 0.0);
    for (i, v) in seg.iter().enumerate() {
        let w = TAU * 1000.0 * i as f64 / f64::from(RATE);
        s += f64::from(*v) * w.sin();
        c += f64::from(*v) * w.cos();
    }
    let (s, c) = (2.0 * s / seg.len() as f64, 2.0 * c / seg.len() as f64);
    let (mut resid, mut total) = (0.0, 0.0);
    for (i, v) in seg.iter().enumerate() {
        let w = TAU * 1000.0 * i as f64 / f64::from(RATE);
        resid += (f64::from(*v) - s * w.sin() - c * w.cos()).powi(2);
        total += f64::from(*v).powi(2);
    }
    let thd_n = (resid / total).sqrt() * 100.0;
    assert!(thd_n < 0.1, "THD+N {thd_n:.4} %");
    assert!(tp_of(&y) <= -1.0);
}

#[test]
fn chain_is_time_aligned_and_reports_latency() {
    let text = r#"
[[module]]
type = "declick"
[[module]]
type = "dehiss"
reduction_db = 0.0
[[module]]
type = "eq"
[[module]]
type = "limiter"
"#;
    let cfg = ChainConfig::from_toml(text, "t").unwrap_or_else(|e| panic!("{e}"));
    let mut chain = Chain::from_config(&cfg, RATE, 1).unwrap_or_else(|e| panic!("{e}"));
    let lat = chain.latency();
    assert!(lat > 2048 + 2048);
    let n = RATE as usize;
    let mut x = vec![0f32; n];
    x[10_000] = 0.25;
    let mut b = block_of(&[x]);
    chain.process(&mut b);
    let peak = b.channels[0][..n]
        .iter()
        .enumerate()
        .fold(
            (0, 0f32),
            |a, (i, v)| if v.abs() > a.1 { (i, v.abs()) } else { a },
        );
    assert_eq!(
        peak.0,
        10_000 + lat,
        "impulse at {} (latency {lat})",
        peak.0
    );
    // Bypassing a module with latency keeps the same alignment.
    chain.reset();
    chain.set_bypass(1, true);
    assert_eq!(chain.latency(), lat);
}

#[test]
fn more_than_two_channels_is_refused() {
    let e = Chain::from_config(
        &ChainConfig {
            name: None,
            target_lufs: None,
            max_limiting_db: None,
            modules: vec![],
        },
        RATE,
        6,
    );
    assert!(
        e.err()
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("6 channels")
    );
}

#[test]
fn bypass_toggles_crossfade_without_clicks_or_time_shift() {
    let cfg = ChainConfig::from_toml("[[module]]\ntype = \"gain\"\ngain_db = 12.0\n[[module]]\ntype = \"limiter\"\nbypass = true\n", "t")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut chain = Chain::from_config(&cfg, RATE, 1).unwrap_or_else(|e| panic!("{e}"));
    let n = RATE as usize;
    let x = tone(1000.0, 0.05, n);
    let mut out = Vec::new();
    let mut b = AudioBlock::new(1, 256);
    for (k, piece) in x.chunks(256).enumerate() {
        if k == 90 {
            chain.set_bypass(0, true);
        }
        b.channels[0][..piece.len()].copy_from_slice(piece);
        b.frames = piece.len();
        chain.process(&mut b);
        out.extend_from_slice(&b.channels[0][..piece.len()]);
    }
    // Judge from one period after the (delayed) onset of the tone.
    let lat = chain.latency();
    let tail = &out[lat + 48..];
    assert!(
        max_second_diff(tail) <= smooth_bound(tail),
        "bypass toggle clicks"
    );
    // Settled: the input itself, at the same delay as before.
    for i in n - 2000..n {
        assert!((out[i] - x[i - lat]).abs() < 1e-6);
    }
}

#[test]
fn the_meter_spectrum_reads_a_sine_at_its_level_in_its_band() {
    use lathe::analysis::spectrum::{BANDS, Spectrum, band_centre_hz};
    for (freq, amp_db) in [(1000.0f64, -6.0f64), (100.0, -20.0), (8000.0, -12.0)] {
        let rate = 48_000u32;
        let a = 10f64.powf(amp_db / 20.0);
        let x: Vec<f32> = (0..rate as usize)
            .map(|i| (a * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin()) as f32)
            .collect();
        let mut s = Spectrum::new(rate);
        s.push(&x, &x);
        assert!(s.analyses() > 10);
        let band = (0..BANDS)
            .min_by(|&i, &j| {
                let d = |k: usize| (band_centre_hz(k) / freq).ln().abs();
                d(i).total_cmp(&d(j))
            })
            .expect("bands");
        let lv = s.raw_levels();
        // The band holding the sine reads its level (a sine on a band edge
        // splits between two bands: their power sum is the level).
        let sum = 10.0
            * (lv[band - 1..=band + 1]
                .iter()
                .map(|v| 10f64.powf(f64::from(*v) / 10.0))
                .sum::<f64>())
            .log10();
        assert!(
            (sum - amp_db).abs() < 0.3,
            "{freq} Hz at {amp_db} dB read {sum:.2} dB"
        );
        // An octave away it is at least 40 dB down.
        assert!(
            f64::from(lv[band + 6]) < amp_db - 40.0,
            "{freq} Hz leaks: {:?}",
            &lv[band..band + 7]
        );
    }
}

/// The EQ runs both channels of a stereo band through each section side by
/// side; each channel must come out exactly as it does alone (a mono EQ
/// runs its channel in the first of the two lanes), bit for bit, whatever
/// the bands.
#[test]
fn stereo_eq_equals_each_channel_alone_bit_for_bit() {
    let n = RATE as usize * 2 + 77;
    let bands = vec![
        BandConfig {
            kind: BandKind::HighPass,
            freq_hz: 30.0,
            slope_db_oct: 24,
            ..Default::default()
        },
        BandConfig {
            kind: BandKind::LowShelf,
            freq_hz: 120.0,
            gain_db: 2.0,
            ..Default::default()
        },
        BandConfig {
            kind: BandKind::Bell,
            freq_hz: 2500.0,
            gain_db: -3.0,
            q: 1.4,
            ..Default::default()
        },
        BandConfig {
            kind: BandKind::HighShelf,
            freq_hz: 9000.0,
            gain_db: 1.5,
            ..Default::default()
        },
    ];
    let cfg = EqConfig {
        bypass: false,
        bands,
    };
    let l: Vec<f32> = common::noise(n, 3).iter().map(|v| v * 0.4).collect();
    let r: Vec<f32> = common::noise(n, 4).iter().map(|v| v * 0.2).collect();
    let mut stereo = lathe::dsp::eq::Eq::new(&cfg, RATE, 2);
    let both = run(&mut stereo, &[l.clone(), r.clone()]);
    for (k, x) in [l, r].into_iter().enumerate() {
        let mut mono = lathe::dsp::eq::Eq::new(&cfg, RATE, 1);
        let alone = run(&mut mono, &[x]);
        let same = both[k]
            .iter()
            .zip(&alone[0])
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "channel {k} differs from the channel alone");
    }
}

/// A delay line fed without output holds what running the delay would
/// have left in it: the audio after it comes out the same, for blocks
/// shorter and longer than the line and runs that wrap its end.
#[test]
fn delay_line_fed_without_output_matches_the_delay() {
    use lathe::dsp::DelayLine;
    let signal: Vec<f32> = (0..5000).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
    for len in [1, 7, 64, 300] {
        let mut run = DelayLine::new(1, len);
        let mut fed = DelayLine::new(1, len);
        let mut pos = 0;
        // Mixed block sizes; every third block is fed, not run, on `fed`.
        for (k, size) in [5usize, 400, 3, 64, 1000, 17, 299, 301, 2]
            .iter()
            .cycle()
            .take(24)
            .enumerate()
        {
            if pos + size > signal.len() {
                break;
            }
            let mut a = block_of(&[signal[pos..pos + size].to_vec()]);
            let mut b = block_of(&[signal[pos..pos + size].to_vec()]);
            run.process(&mut a);
            if k % 3 == 1 {
                fed.feed(&b);
            } else {
                fed.process(&mut b);
                assert_eq!(
                    a.channels[0][..*size],
                    b.channels[0][..*size],
                    "len {len}, block {k}"
                );
            }
            pos += size;
        }
        // And each delays by exactly `len` frames.
        let mut d = DelayLine::new(1, len);
        let mut x = block_of(&[signal[..2000].to_vec()]);
        d.process(&mut x);
        assert!(x.channels[0][..len].iter().all(|v| *v == 0.0));
        assert_eq!(x.channels[0][len..2000], signal[..2000 - len]);
    }
}
