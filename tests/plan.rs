//! The planner's fast gain search: the limiter model against exact passes,
//! the model-guided search against an exact secant search, and the fine
//! loudness energies the model runs on against the meter's own windows.

mod common;

use lathe::analysis::loudness::{LoudnessMeter, power_to_lufs, subblock_start};
use lathe::plan::delivery::{SpoolCache, exact_pass, plan_delivery, prepare_delivery};
use lathe::plan::gain::{EXACT_TOLERANCE_LU, guided_search, secant_within};
use lathe::plan::model::{Corrections, STEP};
use lathe::session::album::{Balance, Session};
use lathe::session::chain::{ChainConfig, ModuleConfig};

/// Loud, spiky material the limiter has to work on: noise with drum-like
/// bursts 12 dB over the bed every half second, and a slow swell.
fn spiky(seconds: usize, seed: u64, rate: usize) -> Vec<Vec<f32>> {
    (0..2)
        .map(|c| {
            common::noise(rate * seconds, seed + c)
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let t = i as f32 / rate as f32;
                    let beat = (t * 2.0).fract();
                    let burst = 1.0 + 3.0 * (-beat * 40.0).exp();
                    v * 0.15 * burst * (1.2 + (t * 0.7).sin())
                })
                .collect()
        })
        .collect()
}

/// An album of three spiky tracks (offsets 0, −1.5, +1 dB) balanced as
/// `balance` to `target` LUFS, 44.1 kHz delivery from 48 kHz files.
fn album(dir: &std::path::Path, balance: &str, target: f64) -> std::path::PathBuf {
    for (k, secs) in [(0, 8), (1, 6), (2, 7)] {
        let mut x = spiky(secs, 100 + 7 * k, 48_000);
        if k == 1 {
            // A quieter, mono-ish track.
            let l = x[0].clone();
            x[1] = l.iter().map(|v| v * 0.5).collect();
            x[0] = l.iter().map(|v| v * 0.5).collect();
        }
        common::write_wav_f32(&dir.join(format!("t{k}.wav")), &x, 48_000);
    }
    let text = format!(
        r#"version = 1
[album]
title = "t"
artist = "a"
balance = "{balance}"
[chain]
target_lufs = {target:.1}
[[chain.module]]
type = "compressor"
threshold_db = -20.0
ratio = 2.0
[[chain.module]]
type = "limiter"
ceiling_dbtp = -1.0
[[track]]
path = "t0.wav"
title = "A"
[[track]]
path = "t1.wav"
title = "B"
gain_db = -1.5
[[track]]
path = "t2.wav"
title = "C"
gain_db = 1.0
[[delivery]]
name = "cd"
format = "wav"
bits = "32f"
rate_hz = 44100
"#
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, text).expect("session");
    p
}

fn paths(s: &Session, sp: &std::path::Path) -> Vec<std::path::PathBuf> {
    s.tracks.iter().map(|t| s.track_path(sp, t)).collect()
}

/// `s`'s tracks run through their chains for its first delivery (spooled
/// in `dir`): the spools and the limiter-only chains.
fn prepared(
    s: &Session,
    sp: &std::path::Path,
    dir: &std::path::Path,
) -> (
    Vec<std::sync::Arc<lathe::plan::delivery::Prepared>>,
    Vec<ChainConfig>,
) {
    let d = s.deliveries[0].clone();
    let (prepared, lim, _, _, _) =
        prepare_delivery(s, dir, &paths(s, sp), &d, dir, &|_| {}, None, false).expect("prepare");
    (prepared, lim)
}

#[test]
fn the_limiter_model_predicts_exact_passes_under_heavy_limiting() {
    let dir = tempfile::tempdir().expect("tmp");
    let sp = album(dir.path(), "album", -8.0);
    let s = Session::load(&sp).expect("load");
    let (prepared, lim) = prepared(&s, &sp, dir.path());
    let none = Corrections::default();
    let mut worst = 0.0f64;
    // With the program-dependent release (the default) and with a fixed one.
    let fixed: Vec<ChainConfig> = lim
        .iter()
        .map(|l| {
            let mut c = l.limiter();
            c.auto_release = false;
            ChainConfig {
                modules: vec![ModuleConfig::Limiter(c)],
                ..l.clone()
            }
        })
        .collect();
    for (p, l) in prepared.iter().zip(&lim).chain(prepared.iter().zip(&fixed)) {
        let cfg = l.limiter();
        for g in [0.0, 4.0, 8.0, 12.0] {
            let pass = exact_pass(p, l, 44_100, g, false, None).expect("pass");
            let exact = pass.summary.stats().integrated_lufs;
            let model = p
                .modelled(&cfg, g, &none)
                .expect("model")
                .stats()
                .integrated_lufs;
            println!(
                "auto release {}, gain {g:>4.1} dB: peak reduction {:>5.2} dB, exact {exact:.3}, model {model:.3} LUFS",
                cfg.auto_release,
                pass.limiting.peak_gr_db()
            );
            worst = worst.max((exact - model).abs());
        }
    }
    // The heaviest case limits well over 10 dB; the model is a guide, the
    // exact pass decides, but a guide this close saves passes.
    assert!(worst < 0.1, "model off by {worst:.3} LU");
}

/// The album gain an exact secant search (every evaluation an exact pass
/// over every track) finds to 0.0005 LU.
fn exact_album_gain(s: &Session, sp: &std::path::Path, dir: &std::path::Path, t: f64) -> f64 {
    let (prepared, lim) = prepared(s, sp, dir);
    let offs: Vec<f64> = s.tracks.iter().map(|t| t.gain_db).collect();
    let loud = |g: f64| {
        let mut all = lathe::analysis::loudness::LoudnessSummary::default();
        for ((p, l), o) in prepared.iter().zip(&lim).zip(&offs) {
            all.merge(&exact_pass(p, l, 44_100, g + o, false, None)?.summary);
        }
        Ok(all.stats().integrated_lufs)
    };
    let (g, l, _) = secant_within(loud, 0.0, t, 0.0005, 30, &|_| {}).expect("search");
    assert!((l - t).abs() <= 0.0005, "exact search reached {l}");
    g
}

#[test]
fn guided_gains_equal_an_exact_search_to_a_hundredth_of_a_db() {
    let dir = tempfile::tempdir().expect("tmp");
    for target in [-8.0, -12.0] {
        let sp = album(dir.path(), "album", target);
        let s = Session::load(&sp).expect("load");
        let plan = plan_delivery(&s, &sp, None, None).expect("plan");
        let g = exact_album_gain(&s, &sp, dir.path(), target);
        for (k, (got, t)) in plan.gains_db.iter().zip(&s.tracks).enumerate() {
            let want = g + t.gain_db;
            assert!(
                (got - want).abs() <= 0.01,
                "target {target}: track {k}: {got:.4} vs exact {want:.4} dB"
            );
        }
        assert!(
            (plan.album_lufs - target).abs() <= EXACT_TOLERANCE_LU,
            "album at {:.4} LUFS",
            plan.album_lufs
        );
        // Heavy limiting at −8 LUFS: the search had real work to do.
        if target == -8.0 {
            let peak = plan
                .output_limiting
                .iter()
                .map(|l| l.peak_gr_db())
                .fold(0.0, f64::max);
            assert!(peak > 6.0, "peak reduction {peak:.2} dB");
        }
    }
}

#[test]
fn per_track_balance_lands_each_track_on_the_target() {
    let dir = tempfile::tempdir().expect("tmp");
    let sp = album(dir.path(), "track", -9.0);
    let mut s = Session::load(&sp).expect("load");
    s.tracks.iter_mut().for_each(|t| t.gain_db = 0.0);
    assert_eq!(s.album.balance, Balance::Track);
    let plan = plan_delivery(&s, &sp, None, None).expect("plan");
    for (k, l) in plan.output_lufs.iter().enumerate() {
        assert!(
            (l + 9.0).abs() <= EXACT_TOLERANCE_LU,
            "track {k} at {l:.4} LUFS"
        );
    }
    // A cached re-plan after a target change takes the path a fresh plan
    // takes: the same gains, bit for bit.
    let cache = SpoolCache::new();
    plan_delivery(&s, &sp, None, Some(&cache)).expect("plan");
    s.chain.target_lufs = Some(-11.0);
    let again = plan_delivery(&s, &sp, None, Some(&cache)).expect("plan");
    let fresh = plan_delivery(&s, &sp, None, None).expect("plan");
    assert_eq!(again.gains_db, fresh.gains_db);
    assert_eq!(cache.hits(), 3);
}

#[test]
fn the_guided_search_lands_despite_a_biased_model() {
    // A nonlinear "exact" loudness curve (a limiter's soft knee) and a
    // model that is off by 0.4 LU and 5 % in slope.
    let exact = |g: f64| -10.0 + g - 3.0 * (1.0 + ((g - 2.0) / 3.0).exp()).ln();
    let corr = Corrections::default();
    let model = |g: f64| Ok(exact(g) + 0.4 + 0.05 * g + corr.at(-g));
    let mut passes = 0;
    let mut measure = |g: f64| -> lathe::error::Result<(f64, ())> {
        passes += 1;
        let l = exact(g);
        corr.learn(-g, l - (exact(g) + 0.4 + 0.05 * g));
        Ok((l, ()))
    };
    let (g, l, _, n) = guided_search(&model, &mut measure, 0.0, -11.0, &|_| {}).expect("search");
    assert!((l + 11.0).abs() <= EXACT_TOLERANCE_LU, "{g} -> {l}");
    assert!((exact(g) - l).abs() < 1e-12);
    assert_eq!(n, passes);
    assert!(n <= 3, "{n} exact passes");
}

#[test]
fn corrections_interpolate_between_what_was_learnt() {
    let c = Corrections::default();
    assert_eq!(c.at(3.0), 0.0);
    c.learn(2.0, 0.1);
    assert_eq!(c.at(-5.0), 0.1);
    c.learn(6.0, 0.3);
    assert!((c.at(4.0) - 0.2).abs() < 1e-12);
    assert!((c.at(5.0) - 0.25).abs() < 1e-12);
    assert_eq!(c.at(9.0), 0.3);
    // A point at (nearly) the same headroom replaces the old one.
    c.learn(6.001, 0.5);
    assert!((c.at(4.0) - 0.3).abs() < 1e-3);
}

#[test]
fn fine_energies_add_up_to_the_meters_own_windows() {
    // 44.1 kHz: 441-frame sub-blocks, so the last piece of each is short.
    let rate = 44_100u32;
    let x = spiky(3, 9, rate as usize);
    let mut m = LoudnessMeter::new(rate, &[1.0, 1.0]);
    m.record_fine(STEP);
    m.record_series();
    for (a, b) in x[0].chunks(1000).zip(x[1].chunks(1000)) {
        m.push(&[a.to_vec(), b.to_vec()], a.len());
    }
    let fine = m.take_fine();
    // Pieces per sub-block: ceil(441 / 16) = 28.
    let per_sub = 441usize.div_ceil(STEP);
    assert_eq!(fine.len(), (3 * 100) * per_sub);
    let subs: Vec<f64> = fine
        .chunks(per_sub)
        .map(|c| c.iter().map(|v| f64::from(*v)).sum())
        .collect();
    let momentary = m.momentary_series();
    assert_eq!(momentary.len(), subs.len() - 39);
    for (k, want) in momentary.iter().enumerate() {
        let e: f64 = subs[k..k + 40].iter().sum();
        let n = subblock_start(k as u64 + 40, rate) - subblock_start(k as u64, rate);
        let got = power_to_lufs(e / n as f64);
        assert!((got - want).abs() < 1e-4, "window {k}: {got} vs {want}");
    }
}

#[test]
fn planning_measures_each_tracks_tonal_balance_as_analyze_does() {
    // With nothing before the limiter at the file's own rate, the spooled
    // track is the file: its planned tonal balance is `analyze --tonal`'s.
    let dir = tempfile::tempdir().expect("tmp");
    common::write_wav_f32(&dir.path().join("a.wav"), &spiky(6, 41, 48_000), 48_000);
    let sp = dir.path().join("s.toml");
    std::fs::write(
        &sp,
        "version = 1\n[album]\ntitle = \"t\"\nartist = \"a\"\nbalance = \"album\"\n[chain]\ntarget_lufs = -14.0\n[[chain.module]]\ntype = \"limiter\"\n[[track]]\npath = \"a.wav\"\ntitle = \"A\"\n[[delivery]]\nname = \"f\"\nformat = \"wav\"\nbits = \"32f\"\nrate_hz = 48000\n",
    )
    .expect("session");
    let s = Session::load(&sp).expect("load");
    let plan = plan_delivery(&s, &sp, None, None).expect("plan");
    let want = lathe::analysis::tonal::tonal_profile(&dir.path().join("a.wav")).expect("tonal");
    let got = &plan.output_tonal_db[0];
    assert_eq!(got.len(), lathe::analysis::tonal::BANDS);
    for (g, w) in got.iter().zip(&want.bands_db) {
        assert!((g - w).abs() < 0.01, "{g} vs {w}");
    }
}

/// Passes made side by side over one read of a spool are each exactly the
/// pass made alone; and a per-track plan with gain offsets (whose searches
/// make the pass at the planned gain beside each search pass) reports for
/// every track exactly what a pass alone at its planned gain measures.
#[test]
fn passes_side_by_side_equal_passes_alone() {
    use lathe::plan::delivery::exact_passes;
    let dir = tempfile::tempdir().expect("tmp");
    let sp = album(dir.path(), "track", -9.0);
    let s = Session::load(&sp).expect("load");
    assert!(s.tracks.iter().any(|t| t.gain_db != 0.0));
    let (prepared, lim) = prepared(&s, &sp, dir.path());
    let (p, l) = (&prepared[0], &lim[0]);
    let both = exact_passes(p, l, 44_100, &[(6.0, false), (7.5, true)]).expect("pair");
    for (pair, (g, profile)) in both.iter().zip([(6.0, false), (7.5, true)]) {
        let alone = exact_pass(p, l, 44_100, g, profile, None).expect("alone");
        assert_eq!(pair.gain_db, g);
        assert_eq!(pair.summary, alone.summary, "gain {g}");
        assert_eq!(pair.limiting, alone.limiting, "gain {g}");
        assert_eq!(
            pair.true_peak_dbtp.to_bits(),
            alone.true_peak_dbtp.to_bits()
        );
        assert_eq!(pair.series, alone.series);
    }
    assert!(both[1].limiting.peak_gr_db() > 1.0, "the pair limits");
    assert!(!both[1].series.is_empty() && both[0].series.is_empty());
    let plan = plan_delivery(&s, &sp, None, None).expect("plan");
    for (k, (p, l)) in prepared.iter().zip(&lim).enumerate() {
        let alone = exact_pass(p, l, 44_100, plan.gains_db[k], true, None).expect("alone");
        let lufs = alone.summary.stats().integrated_lufs;
        assert_eq!(plan.output_lufs[k].to_bits(), lufs.to_bits(), "track {k}");
        assert_eq!(
            plan.output_tp_dbtp[k].to_bits(),
            alone.true_peak_dbtp.to_bits()
        );
        assert_eq!(plan.output_limiting[k], alone.limiting, "track {k}");
        assert_eq!(plan.output_series[k], alone.series, "track {k}");
    }
}
