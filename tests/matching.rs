//! Reference matching (`type = "match"`, `lathe master --reference`):
//! pink noise through a known EQ matched back to the noise before the EQ,
//! checked by the module's own verification and by the independent
//! 1/3-octave analyzer of `lathe analyze --tonal`; the amount scales the
//! correction; references of another rate and length; near-mono sides
//! left alone; the album average; clear errors for bad references.

mod common;

use std::f64::consts::{PI, TAU};
use std::path::{Path, PathBuf};
use std::process::Command;

use lathe::analysis::tonal::{BANDS, band_centre_hz, tonal_profile};
use lathe::render::MasterReport;
use lathe::session::chain::{ChainConfig, LimiterConfig, MatchConfig, ModuleConfig};

/// Pink noise (Paul Kellet's refined filter over white noise), `seconds`
/// long at `rate`, independent per channel, about `dbfs` RMS.
fn pink(seconds: f64, rate: u32, channels: usize, seed: u64, dbfs: f64) -> Vec<Vec<f32>> {
    let n = (seconds * f64::from(rate)) as usize;
    (0..channels)
        .map(|c| {
            let white = common::noise(n, seed * 31 + c as u64 * 7 + 1);
            let mut b = [0.0f64; 7];
            let raw: Vec<f64> = white
                .iter()
                .map(|w| {
                    let w = f64::from(*w);
                    b[0] = 0.99886 * b[0] + w * 0.0555179;
                    b[1] = 0.99332 * b[1] + w * 0.0750759;
                    b[2] = 0.96900 * b[2] + w * 0.1538520;
                    b[3] = 0.86650 * b[3] + w * 0.3104856;
                    b[4] = 0.55000 * b[4] + w * 0.5329522;
                    b[5] = -0.7616 * b[5] - w * 0.0168980;
                    let p = b.iter().sum::<f64>() + w * 0.5362;
                    b[6] = w * 0.115926;
                    p
                })
                .collect();
            let rms = (raw.iter().map(|x| x * x).sum::<f64>() / n as f64).sqrt();
            let g = 10f64.powf(dbfs / 20.0) / rms;
            raw.iter().map(|x| (x * g) as f32).collect()
        })
        .collect()
}

/// RBJ cookbook biquad (written here, independent of lathe's EQ).
#[derive(Clone, Copy)]
struct Rbj {
    b: [f64; 3],
    a: [f64; 3],
}

impl Rbj {
    fn shelf(low: bool, f0: f64, db: f64, rate: f64) -> Self {
        let a = 10f64.powf(db / 40.0);
        let w = TAU * f0 / rate;
        let (c, s) = (w.cos(), w.sin());
        let alpha = s / 2.0 * 2f64.sqrt(); // S = 1
        let sq = 2.0 * a.sqrt() * alpha;
        if low {
            Self {
                b: [
                    a * ((a + 1.0) - (a - 1.0) * c + sq),
                    2.0 * a * ((a - 1.0) - (a + 1.0) * c),
                    a * ((a + 1.0) - (a - 1.0) * c - sq),
                ],
                a: [
                    (a + 1.0) + (a - 1.0) * c + sq,
                    -2.0 * ((a - 1.0) + (a + 1.0) * c),
                    (a + 1.0) + (a - 1.0) * c - sq,
                ],
            }
        } else {
            Self {
                b: [
                    a * ((a + 1.0) + (a - 1.0) * c + sq),
                    -2.0 * a * ((a - 1.0) + (a + 1.0) * c),
                    a * ((a + 1.0) + (a - 1.0) * c - sq),
                ],
                a: [
                    (a + 1.0) - (a - 1.0) * c + sq,
                    2.0 * ((a - 1.0) - (a + 1.0) * c),
                    (a + 1.0) - (a - 1.0) * c - sq,
                ],
            }
        }
    }

    fn bell(f0: f64, db: f64, q: f64, rate: f64) -> Self {
        let a = 10f64.powf(db / 40.0);
        let w = TAU * f0 / rate;
        let alpha = w.sin() / (2.0 * q);
        Self {
            b: [1.0 + alpha * a, -2.0 * w.cos(), 1.0 - alpha * a],
            a: [1.0 + alpha / a, -2.0 * w.cos(), 1.0 - alpha / a],
        }
    }

    fn run(&self, x: &[f32]) -> Vec<f32> {
        let (b, a) = (self.b, self.a);
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|v| {
                let v = f64::from(*v);
                let y = (b[0] * v + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2) / a[0];
                (x2, x1, y2, y1) = (x1, v, y1, y);
                y as f32
            })
            .collect()
    }

    /// Magnitude at `f`, dB.
    fn db(&self, f: f64, rate: f64) -> f64 {
        let w = TAU * f / rate;
        let h = |c: [f64; 3]| {
            let re = c[0] + c[1] * w.cos() + c[2] * (2.0 * w).cos();
            let im = -(c[1] * w.sin() + c[2] * (2.0 * w).sin());
            re * re + im * im
        };
        10.0 * (h(self.b) / h(self.a)).log10()
    }
}

/// The known EQ: low shelf +4 dB at 150 Hz, bell −5 dB at 2 kHz (Q 0.9),
/// high shelf +3 dB at 6 kHz: within the default clamp (6 dB boost, 9 dB cut).
fn known_eq(rate: f64) -> [Rbj; 3] {
    [
        Rbj::shelf(true, 150.0, 4.0, rate),
        Rbj::bell(2000.0, -5.0, 0.9, rate),
        Rbj::shelf(false, 6000.0, 3.0, rate),
    ]
}

fn eq_all(planar: &[Vec<f32>], rate: f64) -> Vec<Vec<f32>> {
    planar
        .iter()
        .map(|c| known_eq(rate).iter().fold(c.clone(), |x, f| f.run(&x)))
        .collect()
}

/// `lathe master IN -o OUT` with `args`.
fn master_cli(input: &Path, out: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lathe"))
        .arg("master")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(args)
        .output()
        .expect("run lathe master")
}

fn match_chain(reference: &Path, amount: f64) -> ChainConfig {
    ChainConfig {
        name: Some("match test".into()),
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![
            ModuleConfig::Match(MatchConfig {
                reference: reference.display().to_string(),
                amount_pct: amount,
                ..MatchConfig::default()
            }),
            ModuleConfig::Limiter(LimiterConfig {
                ceiling_dbtp: 0.0,
                ..LimiterConfig::default()
            }),
        ],
    }
}

fn master(input: &Path, output: &Path, chain: ChainConfig) -> lathe::Result<MasterReport> {
    common::master_float(input, output, chain)
}

/// Bands from 40 Hz to 12.5 kHz: inside the matched band (30 Hz – 16 kHz)
/// clear of its fades.
fn inner(i: usize) -> bool {
    let c = band_centre_hz(i);
    (39.0..=12_600.0).contains(&c)
}

struct Fixture {
    _dir: tempfile::TempDir,
    reference: PathBuf,
    track: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 48_000u32;
    let clean = pink(40.0, rate, 2, 5, -26.0);
    let reference = dir.path().join("reference.wav");
    let track = dir.path().join("track.wav");
    common::write_wav_f32(&reference, &clean, rate);
    common::write_wav_f32(&track, &eq_all(&clean, f64::from(rate)), rate);
    let out = dir.path().join("out.wav");
    Fixture {
        _dir: dir,
        reference,
        track,
        out,
    }
}

#[test]
fn pink_noise_through_a_known_eq_is_matched_back_within_half_a_db() {
    let f = fixture();
    let r = master(&f.track, &f.out, match_chain(&f.reference, 100.0)).expect("master");
    let m = &r.matching[0];
    let rate = 48_000.0;
    let eq = known_eq(rate);
    for i in (0..BANDS).filter(|i| inner(*i)) {
        let hz = band_centre_hz(i);
        let expected: f64 = eq.iter().map(|e| e.db(hz, rate)).sum();
        println!(
            "{hz:>8.0} Hz: EQ {expected:+.2} dB; mid residual before {:+.2} after {:+.2}; side before {:+.2} after {:+.2}",
            m.mid_before_db[i], m.mid_after_db[i], m.side_before_db[i], m.side_after_db[i]
        );
        // The measured difference before is the known EQ (less the
        // loudness normalization's offset, common to all bands).
        assert!(m.mid_after_db[i].abs() <= 0.5, "mid at {hz} Hz");
        assert!(m.side_after_db[i].abs() <= 0.5, "side at {hz} Hz");
    }
    let [mb, ma, sb, sa] = m.summaries();
    println!(
        "mid max {:.2} rms {:.2} -> max {:.2} rms {:.2}",
        mb.0, mb.1, ma.0, ma.1
    );
    println!(
        "side max {:.2} rms {:.2} -> max {:.2} rms {:.2}",
        sb.0, sb.1, sa.0, sa.1
    );
    assert!(mb.0 > 3.0, "the EQ was there to correct: {mb:?}");
    // Independent check: lathe analyze --tonal's analyzer (its own FFT
    // size, band integration and BS.1770 meter), result against reference.
    let out = tonal_profile(&f.out).expect("tonal out");
    let refp = tonal_profile(&f.reference).expect("tonal ref");
    let before = tonal_profile(&f.track).expect("tonal track");
    for i in (0..BANDS).filter(|i| inner(*i)) {
        let d = out.bands_db[i] - refp.bands_db[i];
        let was = before.bands_db[i] - refp.bands_db[i];
        println!(
            "tonal {:>8.0} Hz: {was:+.2} -> {d:+.2} dB",
            band_centre_hz(i)
        );
        assert!(
            d.abs() <= 0.5,
            "tonal residual at {} Hz: {d}",
            band_centre_hz(i)
        );
    }
}

#[test]
fn the_amount_scales_the_correction() {
    let f = fixture();
    for amount in [25.0, 50.0, 75.0] {
        let r = master(&f.track, &f.out, match_chain(&f.reference, amount)).expect("master");
        let m = &r.matching[0];
        let a = amount / 100.0;
        let mut worst = 0.0f64;
        for i in (0..BANDS).filter(|i| inner(*i)) {
            for (before, after) in [
                (m.mid_before_db[i], m.mid_after_db[i]),
                (m.side_before_db[i], m.side_after_db[i]),
            ] {
                let want = (1.0 - a) * before;
                worst = worst.max((after - want).abs());
            }
        }
        println!("amount {amount} %: residual off (1 - a) x difference by at most {worst:.3} dB");
        assert!(worst <= 0.3, "amount {amount}: {worst} dB");
    }
}

#[test]
fn a_reference_of_another_rate_and_length_works() {
    let dir = tempfile::tempdir().expect("tmp");
    let reference = dir.path().join("ref44.wav");
    common::write_wav_f32(&reference, &pink(25.0, 44_100, 2, 9, -18.0), 44_100);
    let track = dir.path().join("track48.wav");
    let clean = pink(40.0, 48_000, 2, 11, -26.0);
    common::write_wav_f32(&track, &eq_all(&clean, 48_000.0), 48_000);
    let out = dir.path().join("out.wav");
    let r = master(&track, &out, match_chain(&reference, 100.0)).expect("master");
    let m = &r.matching[0];
    let [mb, ma, _, _] = m.summaries();
    println!(
        "mid residual max {:.2} rms {:.2} -> max {:.2} rms {:.2} dB",
        mb.0, mb.1, ma.0, ma.1
    );
    // Two different noises: each band's estimate carries its own scatter.
    for i in (0..BANDS).filter(|i| inner(*i)) {
        assert!(
            m.mid_after_db[i].abs() <= 0.75,
            "{} Hz: {}",
            band_centre_hz(i),
            m.mid_after_db[i]
        );
    }
    assert!(ma.1 < 0.4 && mb.1 > 2.0, "{mb:?} -> {ma:?}");
}

#[test]
fn a_near_mono_side_is_not_boosted() {
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 48_000;
    // Reference: wide (independent channels). Track: the same noise in both
    // channels plus a faint (-45 dB) difference.
    let reference = dir.path().join("wide.wav");
    common::write_wav_f32(&reference, &pink(20.0, rate, 2, 3, -20.0), rate);
    let mono = pink(20.0, rate, 1, 4, -20.0).remove(0);
    let faint = pink(20.0, rate, 1, 6, -65.0).remove(0);
    let l: Vec<f32> = mono.iter().zip(&faint).map(|(m, s)| m + s).collect();
    let r: Vec<f32> = mono.iter().zip(&faint).map(|(m, s)| m - s).collect();
    let track = dir.path().join("narrow.wav");
    common::write_wav_f32(&track, &[l, r], rate);
    let out = dir.path().join("out.wav");
    let rep = master(&track, &out, match_chain(&reference, 100.0)).expect("master");
    let curve = &rep.matching[0].curve;
    let worst = curve.side_db.iter().fold(0.0f64, |m, v| m.max(*v));
    println!("largest side boost on a near-mono track: {worst:.3} dB");
    assert!(worst < 0.01, "boosted a near-mono side by {worst} dB");
    // The mid's shape is still matched: after loudness normalization a
    // narrow track's mid sits about 3 dB above a wide reference's (the
    // reference puts half its power in the side), the same in every band.
    let after: Vec<f64> = (0..BANDS)
        .filter(|i| inner(*i))
        .map(|i| rep.matching[0].mid_after_db[i])
        .collect();
    let (lo, hi) = after
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    println!("mid residual after: {lo:+.2} .. {hi:+.2} dB");
    assert!(hi - lo < 1.0 && lo > 2.0 && hi < 4.0, "{lo} .. {hi}");
}

#[test]
fn the_curve_is_written_and_master_reports_it() {
    let f = fixture();
    let csv = f.out.with_extension("csv");
    let out = master_cli(
        &f.track,
        &f.out,
        &[
            "--reference".as_ref(),
            f.reference.as_os_str(),
            "--amount".as_ref(),
            "100".as_ref(),
            "--curve".as_ref(),
            csv.as_os_str(),
            "--json".as_ref(),
            "--force".as_ref(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &j["match"][0];
    assert_eq!(m["amount_pct"].as_f64(), Some(100.0));
    assert_eq!(m["bands_hz"].as_array().map(Vec::len), Some(BANDS));
    let after = m["mid_after"]["rms_db"].as_f64().expect("rms");
    let before = m["mid_before"]["rms_db"].as_f64().expect("rms");
    assert!(after < 0.5 && before > 2.0, "{before} -> {after}");
    // Without --target the master takes the reference's loudness.
    let ref_lufs = lathe::analysis::analyze_file(&f.reference)
        .expect("ref")
        .loudness
        .integrated_lufs;
    let out_lufs = j["after"]["integrated_lufs"].as_f64().expect("lufs");
    assert!(
        (out_lufs - ref_lufs).abs() < 0.3,
        "{out_lufs} vs {ref_lufs}"
    );
    // The CSV: the applied curve; at 2 kHz it undoes the -5 dB bell (less
    // the shelves' share there and the loudness offset).
    let text = std::fs::read_to_string(&csv).expect("csv");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').filter_map(|v| v.parse().ok()).collect())
        .collect();
    assert!(text.starts_with("freq_hz,mid_db,side_db"));
    let near = |hz: f64| {
        rows.iter()
            .min_by(|a, b| (a[0] - hz).abs().total_cmp(&(b[0] - hz).abs()))
            .map(|r| r[1])
            .unwrap_or(f64::NAN)
    };
    let eq = known_eq(48_000.0);
    let want = |hz: f64| -eq.iter().map(|e| e.db(hz, 48_000.0)).sum::<f64>();
    // Differences between frequencies cancel the common loudness offset.
    let got = near(2000.0) - near(500.0);
    let expect = want(2000.0) - want(500.0);
    assert!(
        (got - expect).abs() < 0.5,
        "curve 2k-500: {got} vs {expect}"
    );
    // The text report shows the table.
    let text = master_cli(
        &f.track,
        &f.out,
        &[
            "--reference".as_ref(),
            f.reference.as_os_str(),
            "--force".as_ref(),
        ],
    );
    let so = String::from_utf8_lossy(&text.stdout);
    assert!(
        so.contains("Match            reference reference.wav, amount 50 %"),
        "{so}"
    );
    assert!(so.contains("12.5k"), "{so}");
}

#[test]
fn bad_references_are_clear_errors_and_write_nothing() {
    let f = fixture();
    let dir = f.out.parent().expect("dir").to_path_buf();
    let silent = dir.join("silent.wav");
    common::write_wav_f32(&silent, &common::silence(5.0, 48_000, 2), 48_000);
    let garbage = dir.join("garbage.wav");
    std::fs::write(&garbage, b"RIFF not really a wave file at all").expect("write");
    let missing = dir.join("missing.wav");
    for (r, why) in [
        (&missing, "does not exist"),
        (&garbage, "garbage.wav"),
        (&silent, "silent"),
    ] {
        let out = dir.join("never.wav");
        let o = master_cli(&f.track, &out, &["--reference".as_ref(), r.as_os_str()]);
        let e = String::from_utf8_lossy(&o.stderr);
        println!("{}: {}", r.display(), e.trim());
        assert!(!o.status.success());
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(
            e.contains(why) && e.contains(&*r.file_name().expect("n").to_string_lossy()),
            "{e}"
        );
        assert!(!out.exists(), "wrote {}", out.display());
        // The same through a chain file's match module.
        let chain = dir.join("c.toml");
        std::fs::write(
            &chain,
            format!(
                "[[module]]\ntype = \"match\"\nreference = \"{}\"\n",
                r.display()
            ),
        )
        .expect("chain");
        let o = master_cli(&f.track, &out, &["--chain".as_ref(), chain.as_os_str()]);
        let e2 = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && e2.contains(why), "{e2}");
        assert!(!out.exists());
    }
    // Out of range settings name the key and the range.
    let e = ChainConfig::from_toml("[[module]]\ntype = \"match\"\namount_pct = 150\n", "c.toml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("amount_pct") && e.contains("0 to 100"), "{e}");
}

#[test]
fn linear_phase_matching_keeps_the_waveform_aligned_and_minimum_phase_has_low_latency() {
    use lathe::dsp::Processor;
    use lathe::dsp::matcheq::MatchEq;
    let f = fixture();
    let mut cfg = match_chain(&f.reference, 100.0);
    lathe::plan::matching::resolve_file(&mut cfg, &f.track, Path::new(".")).expect("resolve");
    let ModuleConfig::Match(m) = cfg.modules[0].clone() else {
        panic!("match module")
    };
    for phase in [
        lathe::session::chain::MatchPhase::Linear,
        lathe::session::chain::MatchPhase::Minimum,
    ] {
        let mc = MatchConfig { phase, ..m.clone() };
        let mut eq = MatchEq::new(&mc, 48_000, 2);
        let lat = eq.latency();
        let n = lat + 20_000;
        let mut block = lathe::io::AudioBlock::new(2, n);
        block.channels[0][0] = 1.0;
        block.channels[1][0] = 1.0;
        block.frames = n;
        eq.process(&mut block);
        let h = &block.channels[0];
        let peak = (0..n)
            .max_by(|a, b| h[*a].abs().total_cmp(&h[*b].abs()))
            .unwrap_or(0);
        println!("{phase:?}: latency {lat} frames, impulse peak at {peak}");
        match phase {
            lathe::session::chain::MatchPhase::Linear => {
                assert_eq!(peak, lat, "linear phase peaks at its latency");
                // Symmetric around the peak.
                for k in 1..2000 {
                    assert!((h[lat - k] - h[lat + k]).abs() < 1e-6, "asymmetric at {k}");
                }
            }
            lathe::session::chain::MatchPhase::Minimum => {
                assert!(lat <= 1024 + 1, "minimum phase latency {lat}");
                assert!(peak >= lat && peak < lat + 64, "peak {peak}");
                assert!(
                    h[..lat].iter().all(|v| v.abs() < 1e-6),
                    "output before the latency"
                );
            }
        }
        // Same magnitude either way: the response at 2 kHz undoes the bell.
        let spectrum_db = |hz: f64| {
            let w = TAU * hz / 48_000.0;
            let (re, im) = h.iter().enumerate().fold((0.0, 0.0), |(r, i), (k, v)| {
                (
                    r + f64::from(*v) * (w * k as f64).cos(),
                    i - f64::from(*v) * (w * k as f64).sin(),
                )
            });
            10.0 * (re * re + im * im).log10()
        };
        let want = |hz: f64| {
            -known_eq(48_000.0)
                .iter()
                .map(|e| e.db(hz, 48_000.0))
                .sum::<f64>()
        };
        let got = spectrum_db(2000.0) - spectrum_db(500.0);
        let expect = want(2000.0) - want(500.0);
        println!("  response 2 kHz re 500 Hz: {got:+.2} dB (EQ inverse {expect:+.2})");
        assert!((got - expect).abs() < 0.5);
        let _ = PI;
    }
}

#[test]
fn matching_to_the_album_average_brings_the_tracks_tonal_balance_together() {
    use lathe::analysis::tonal::{average_of, deviation_of, rms_deviation_db};
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 48_000u32;
    let r = f64::from(rate);
    // Three takes on one noise: bright, dark and as is.
    let bright: Vec<Vec<f32>> = pink(20.0, rate, 2, 21, -24.0)
        .iter()
        .map(|c| Rbj::shelf(false, 4000.0, 4.0, r).run(c))
        .collect();
    let dark: Vec<Vec<f32>> = pink(20.0, rate, 2, 22, -24.0)
        .iter()
        .map(|c| {
            let x = Rbj::shelf(true, 200.0, 3.0, r).run(c);
            Rbj::shelf(false, 3000.0, -4.0, r).run(&x)
        })
        .collect();
    let plain = pink(20.0, rate, 2, 23, -24.0);
    for (name, audio) in [("bright", &bright), ("dark", &dark), ("plain", &plain)] {
        common::write_wav_f32(&dir.path().join(format!("{name}.wav")), audio, rate);
    }
    let session = dir.path().join("s.toml");
    std::fs::write(
        &session,
        r#"version = 1
[album]
title = "t"
artist = "a"
balance = "none"
[[chain.module]]
type = "match"
reference = "album"
amount_pct = 100.0
[[chain.module]]
type = "limiter"
ceiling_dbtp = 0.0
[[track]]
path = "bright.wav"
title = "Bright"
[[track]]
path = "dark.wav"
title = "Dark"
[[track]]
path = "plain.wav"
title = "Plain"
[[delivery]]
name = "f"
format = "wav"
bits = "32f"
rate_hz = 48000
ceiling_dbtp = 0.0
track_files = true
album_file = false
"#,
    )
    .expect("session");
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_lathe"))
        .arg("render")
        .arg(&session)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let spread = |files: &[PathBuf]| -> Vec<f64> {
        let profiles: Vec<Vec<f64>> = files
            .iter()
            .map(|f| tonal_profile(f).expect("tonal").bands_db)
            .collect();
        let refs: Vec<&[f64]> = profiles.iter().map(Vec::as_slice).collect();
        let avg = average_of(&refs);
        profiles
            .iter()
            .map(|p| rms_deviation_db(&deviation_of(p, &avg)))
            .collect()
    };
    let before = spread(&["bright", "dark", "plain"].map(|n| dir.path().join(format!("{n}.wav"))));
    let after = spread(
        &["01 Bright", "02 Dark", "03 Plain"].map(|n| out.join("f").join(format!("{n}.wav"))),
    );
    println!(
        "RMS deviation from the album average (40 Hz - 12 kHz): before {before:.2?} dB, after {after:.2?} dB"
    );
    assert!(before.iter().all(|b| *b > 0.4) && before.iter().any(|b| *b > 1.5));
    for (b, a) in before.iter().zip(&after) {
        assert!(*a < 0.35 && a < b, "after matching: {b} -> {a}");
    }
}
