//! Restoration measured against a clean original (the harness in
//! `tests/common/restore.rs`): hum removal finds the mains frequency and
//! the harmonics really there, removes those, and leaves music at the
//! others untouched; the de-hisser lowers hiss and keeps the music, with
//! no musical noise; the de-clicker leaves clean music alone. ffmpeg's
//! `afftdn` runs beside the de-hisser when installed.

mod common;

use std::path::Path;

use common::restore::{add_hum, band_level_dbfs, error, piano};
use lathe::render::MasterReport;
use lathe::session::chain::{
    ChainConfig, HumConfig, HumFreq, HumHarmonics, LimiterConfig, ModuleConfig,
};

const RATE: u32 = 48_000;

/// Master `input` through a hum module with `cfg` (limiter at 0 dBTP, no
/// target, float out: the rest of the chain changes nothing).
fn run(dir: &Path, input: &[Vec<f32>], cfg: HumConfig) -> (MasterReport, Vec<Vec<f32>>) {
    run_module(dir, input, ModuleConfig::Hum(cfg))
}

/// Master `input` through `module` alone (and a limiter at 0 dBTP that
/// never acts), float out.
fn run_module(
    dir: &Path,
    input: &[Vec<f32>],
    module: ModuleConfig,
) -> (MasterReport, Vec<Vec<f32>>) {
    let inp = dir.join("in.wav");
    common::write_wav_f32(&inp, input, RATE);
    let out = dir.join("out.wav");
    let r = common::master_float(
        &inp,
        &out,
        ChainConfig {
            name: None,
            target_lufs: None,
            max_limiting_db: None,
            modules: vec![
                module,
                ModuleConfig::Limiter(LimiterConfig {
                    ceiling_dbtp: 0.0,
                    ..LimiterConfig::default()
                }),
            ],
        },
    )
    .expect("master");
    (r, common::read_wav_f32(&out))
}

/// Error level (out − clean, left channel) in `lo`..`hi` Hz, dBFS.
fn err_in(out: &[Vec<f32>], clean: &[Vec<f32>], lo: f64, hi: f64) -> f64 {
    band_level_dbfs(&error(out, clean)[0], RATE, lo, hi)
}

#[test]
fn hum_removal_finds_the_hum_and_leaves_music_at_the_missing_harmonic() {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = piano(30.0, RATE);
    let mut damaged = clean.clone();
    // 50.2 Hz mains with harmonics 1, 2, 3 and 5: no 4th (200.8 Hz), where
    // the music has partials of G3, G#3 and E1.
    let f0 = 50.2;
    let hum_spec = [(1, -45.0), (2, -52.0), (3, -55.0), (5, -60.0)];
    add_hum(&mut damaged, RATE, f0, &hum_spec);
    let music_at_200 = band_level_dbfs(&clean[0], RATE, 195.0, 207.0);
    println!("music at 195-207 Hz: {music_at_200:.1} dBFS");
    let (r, out) = run(dir.path(), &damaged, HumConfig::default());
    let found = r.hum[0].clone();
    println!("found {}", found.describe());
    assert!((found.freq_hz - f0).abs() < 0.05, "{}", found.freq_hz);
    let nums: Vec<u32> = found.harmonics.iter().map(|h| h.number).collect();
    assert_eq!(nums, [1, 2, 3, 5]);
    let at4 = err_in(&out, &clean, 195.0, 207.0);
    println!("error at the missing 4th harmonic {at4:.1} dBFS");
    assert!(at4 < -80.0, "error at 200 Hz: {at4} dBFS");
    // Given what it found, the module is linear: what is left of the hum
    // and what it does to the music are measured apart, each through the
    // same module (the hum alone; the music alone).
    let fixed = HumConfig {
        found: Some(std::sync::Arc::new(found)),
        ..HumConfig::default()
    };
    let silence = vec![vec![0.0f32; clean[0].len()]; 2];
    let mut hum = silence.clone();
    add_hum(&mut hum, RATE, f0, &hum_spec);
    let (_, hum_out) = run(dir.path(), &hum, fixed.clone());
    let (_, music_out) = run(dir.path(), &clean, fixed);
    for (k, lvl) in hum_spec {
        let f = f0 * f64::from(k);
        let left = err_in(&hum_out, &silence, f - 2.5, f + 2.5);
        let damage = err_in(&music_out, &clean, f - 2.5, f + 2.5);
        let music = band_level_dbfs(&clean[0], RATE, f - 2.5, f + 2.5);
        println!(
            "  harmonic {k}: hum {lvl} dBFS, left {left:.1} dBFS; music there {music:.1} dBFS, taken with it {damage:.1} dBFS"
        );
        assert!(lvl - left >= 30.0, "harmonic {k}: {left}");
    }
    // Away from the hum (below, between and above its harmonics) the
    // music is not touched.
    for (lo, hi) in [
        (20.0, 45.0),
        (58.0, 95.0),
        (110.0, 145.0),
        (160.0, 240.0),
        (260.0, 20_000.0),
    ] {
        let e = err_in(&music_out, &clean, lo, hi);
        println!("  music error {lo}-{hi} Hz: {e:.1} dBFS");
        assert!(e < -80.0, "{lo}-{hi} Hz: {e}");
    }
    // Notches at five harmonics of 50 Hz (the module before this one)
    // cost music at 200 Hz about -56 dBFS of error here: see the closing
    // note of issue 15.
}

#[test]
fn sixty_hertz_hum_is_found_and_clean_music_passes_untouched() {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = piano(20.0, RATE);
    let mut damaged = clean.clone();
    add_hum(&mut damaged, RATE, 59.8, &[(1, -50.0), (3, -56.0)]);
    let (r, _) = run(dir.path(), &damaged, HumConfig::default());
    println!("found {}", r.hum[0].describe());
    assert!((r.hum[0].freq_hz - 59.8).abs() < 0.05);
    let nums: Vec<u32> = r.hum[0].harmonics.iter().map(|h| h.number).collect();
    assert_eq!(nums, [1, 3]);
    // No hum: nothing found, nothing changed.
    let (r, out) = run(dir.path(), &clean, HumConfig::default());
    println!("clean: {}", r.hum[0].describe());
    assert!(r.hum[0].harmonics.is_empty());
    let worst = error(&out, &clean)
        .iter()
        .flatten()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert_eq!(worst, 0.0, "clean music changed by {worst}");
}

#[test]
fn hum_settings_take_auto_or_numbers() {
    let c = ChainConfig::from_toml("[[module]]\ntype = \"hum\"\n", "c").expect("default");
    assert!(matches!(&c.modules[0], ModuleConfig::Hum(h) if h.needs_detection()));
    let c = ChainConfig::from_toml(
        "[[module]]\ntype = \"hum\"\nfreq_hz = 60\nharmonics = 3\n",
        "c",
    )
    .expect("fixed");
    let ModuleConfig::Hum(h) = &c.modules[0] else {
        panic!("hum")
    };
    assert_eq!(
        (h.freq_hz, h.harmonics),
        (HumFreq::Hz(60.0), HumHarmonics::Count(3))
    );
    let (n, k) = h.notches();
    assert_eq!(&n[..k], &[(1, 60.0), (2, 120.0), (3, 180.0)]);
    // Round trip through TOML keeps "auto".
    let back = ChainConfig::from_toml(
        &ChainConfig::from_toml("[[module]]\ntype = \"hum\"\nfreq_hz = \"auto\"\n", "c")
            .expect("auto")
            .to_toml(),
        "b",
    )
    .expect("back");
    assert!(matches!(&back.modules[0], ModuleConfig::Hum(h) if h.freq_hz == HumFreq::Auto));
    for (text, says) in [
        ("freq_hz = 80", "40 to 70"),
        ("freq_hz = \"mains\"", "auto"),
        ("harmonics = 9", "1 to 8"),
    ] {
        let e = ChainConfig::from_toml(&format!("[[module]]\ntype = \"hum\"\n{text}\n"), "c.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(says) && e.starts_with("c.toml:"), "{text}: {e}");
    }
}

/// Run `input` through a de-clicker with `cfg`, its latency removed;
/// returns the output and the repairs made.
fn declick(cfg: &lathe::session::chain::DeclickConfig, input: &[Vec<f32>]) -> (Vec<Vec<f32>>, u64) {
    use lathe::dsp::Processor;
    let mut d = lathe::dsp::declick::Declick::new(cfg, RATE, 2);
    let lat = d.latency();
    let n = input[0].len();
    let mut block = lathe::io::AudioBlock::new(2, n + lat);
    for (b, c) in block.channels.iter_mut().zip(input) {
        b[..n].copy_from_slice(c);
    }
    block.frames = n + lat;
    d.process(&mut block);
    let out = block
        .channels
        .iter()
        .map(|c| c[lat..lat + n].to_vec())
        .collect();
    (out, d.repaired())
}

#[test]
fn declick_leaves_clean_piano_alone_at_every_sensitivity() {
    let clean = piano(20.0, RATE);
    let level = band_level_dbfs(&clean[0], RATE, 20.0, 20_000.0);
    let mut worst = f64::MIN;
    for s in 1..=10 {
        let cfg = lathe::session::chain::DeclickConfig {
            sensitivity: f64::from(s),
            ..Default::default()
        };
        let (out, repaired) = declick(&cfg, &clean);
        let e = band_level_dbfs(&error(&out, &clean)[0], RATE, 20.0, 20_000.0);
        println!("sensitivity {s}: error {e:.1} dBFS (music {level:.1} dBFS), {repaired} repairs");
        worst = worst.max(e - level);
    }
    assert!(worst < -60.0, "clean piano changed by {worst:.1} dB");
}

#[test]
fn declick_removes_realistic_clicks() {
    use common::restore::{add_clicks, click_region_error_db};
    let clean = piano(20.0, RATE);
    let mut damaged = clean.clone();
    let spots = add_clicks(&mut damaged, 100, 9);
    let cfg = lathe::session::chain::DeclickConfig::default();
    let (out, repaired) = declick(&cfg, &damaged);
    let before = click_region_error_db(&damaged, &clean, &spots);
    let after = click_region_error_db(&out, &clean, &spots);
    println!(
        "100 clicks of 8-50 samples: click-region error {before:.1} -> {after:.1} dBFS ({:.1} dB less), {} repairs",
        before - after,
        repaired
    );
    // Issue 15 asks at least 8 dB (ffmpeg's adeclick: about 6).
    assert!(before - after >= 8.0, "{before} -> {after}");
    // Every third click is on both channels: 134 channel-clicks in all;
    // the count it reports is within 10 % of that, and `lathe master`
    // reports the same count.
    let channel_clicks = spots.len() + spots.len().div_ceil(3);
    assert!(
        (repaired as f64 - channel_clicks as f64).abs() <= 0.1 * channel_clicks as f64,
        "{repaired} repairs for {channel_clicks} clicks"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let (r, _) = run_module(dir.path(), &damaged, ModuleConfig::Declick(cfg));
    assert_eq!(r.clicks_repaired, Some(repaired));
}

#[test]
fn a_session_render_reports_the_hum_it_found() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut x = piano(12.0, RATE);
    add_hum(&mut x, RATE, 50.2, &[(1, -45.0), (3, -55.0)]);
    common::write_wav_f32(&dir.path().join("hum.wav"), &x, RATE);
    common::write_wav_f32(&dir.path().join("clean.wav"), &piano(12.0, RATE), RATE);
    let session = dir.path().join("s.toml");
    std::fs::write(
        &session,
        "version = 1\n[album]\ntitle = \"t\"\nartist = \"a\"\nbalance = \"none\"\n\
         [[chain.module]]\ntype = \"hum\"\n[[chain.module]]\ntype = \"limiter\"\nceiling_dbtp = 0.0\n\
         [[track]]\npath = \"hum.wav\"\ntitle = \"Hum\"\n[[track]]\npath = \"clean.wav\"\ntitle = \"Clean\"\n\
         [[delivery]]\nname = \"f\"\nformat = \"wav\"\nbits = \"32f\"\nrate_hz = 48000\nceiling_dbtp = 0.0\n\
         track_files = true\nalbum_file = false\n",
    )
    .expect("session");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lathe"))
        .arg("render")
        .arg(&session)
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg("--json")
        .output()
        .expect("render");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let findings = |title: &str| -> Vec<String> {
        lines
            .iter()
            .find(|l| l["file"].as_str().is_some_and(|f| f.contains(title)))
            .and_then(|l| l["findings"].as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let hum = findings("Hum");
    println!("{hum:?} / {:?}", findings("Clean"));
    assert!(
        hum.len() == 1 && hum[0].starts_with("hum: 50.2") && hum[0].contains("harmonics 1 3 "),
        "{hum:?}"
    );
    assert_eq!(findings("Clean"), ["hum: no hum found"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Hum.wav: hum: 50.2"));
}

/// The four bands the harness measures error in, Hz.
const BANDS: [(f64, f64); 4] = [
    (20.0, 300.0),
    (300.0, 2000.0),
    (2000.0, 6000.0),
    (6000.0, 16_000.0),
];

/// Error (out − clean) per band of [`BANDS`], both channels' mean, dB RMS.
fn band_errors(out: &[Vec<f32>], clean: &[Vec<f32>]) -> [f64; 4] {
    use common::restore::band_rms_dbfs;
    let e = error(out, clean);
    BANDS.map(|(lo, hi)| {
        let p: f64 = e
            .iter()
            .map(|c| 10f64.powf(band_rms_dbfs(c, RATE, lo, hi) / 10.0))
            .sum::<f64>()
            / e.len() as f64;
        10.0 * p.log10()
    })
}

fn dehiss(reduction_db: f64) -> ModuleConfig {
    ModuleConfig::Dehiss(lathe::session::chain::DehissConfig {
        reduction_db,
        ..Default::default()
    })
}

#[test]
fn dehiss_lowers_the_hiss_and_keeps_the_music() {
    use common::restore::{add_hiss, align, peakiness};
    let dir = tempfile::tempdir().expect("tmp");
    let clean = piano(30.0, RATE);
    let mut damaged = clean.clone();
    // Tape hiss at -50 dBFS RMS, tilted up toward the treble.
    add_hiss(&mut damaged, -50.0, 5);
    let before = band_errors(&damaged, &clean);
    let (r, out) = run_module(dir.path(), &damaged, dehiss(15.0));
    let after = band_errors(&out, &clean);
    println!("{}", r.noise[0].describe());
    let row = |name: &str, v: [f64; 4]| {
        println!(
            "  {name:<16} {}",
            v.iter()
                .zip(before)
                .map(|(a, b)| format!("{a:>7.1} ({:+.1})", a - b))
                .collect::<Vec<_>>()
                .join("  ")
        );
    };
    println!("error per band (<300, 300-2k, 2k-6k, 6k-16k Hz), dBFS:");
    row("hiss", before);
    row("lathe dehiss", after);
    // The hiss above 6 kHz drops by at least 8 dB; the music band's error
    // rises by no more than 1 dB (it falls: less hiss there too), nor the
    // bass's.
    assert!(
        before[3] - after[3] >= 8.0,
        "6-16 kHz: {after:?} vs {before:?}"
    );
    assert!(
        after[1] - before[1] <= 1.0,
        "300-2k: {after:?} vs {before:?}"
    );
    assert!(after[0] - before[0] <= 1.0, "<300: {after:?} vs {before:?}");
    // The profile it learnt from hiss and music is the hiss's, where the
    // hiss is (6-16 kHz), within 1 dB.
    let mut hiss = vec![vec![0.0f32; clean[0].len()]; 2];
    add_hiss(&mut hiss, -50.0, 5);
    let truth = common::restore::band_rms_dbfs(&hiss[0], RATE, 6000.0, 16_000.0);
    let learnt = r.noise[0].band_rms_dbfs(6000.0, 16_000.0)[0];
    assert!((learnt - truth).abs() < 1.0, "{learnt} vs {truth}");
    // ffmpeg's afftdn beside it, same material, same run.
    let have_ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok();
    if have_ffmpeg {
        let inp = dir.path().join("hiss.wav");
        common::write_wav_f32(&inp, &damaged, RATE);
        let out = dir.path().join("afftdn.wav");
        let ok = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
            .arg(&inp)
            .args(["-af", "afftdn", "-c:a", "pcm_f32le"])
            .arg(&out)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let peer = align(&common::read_wav_f32(&out), &clean);
            row("ffmpeg afftdn", band_errors(&peer, &clean));
        } else {
            println!("  ffmpeg afftdn    SKIPPED: ffmpeg failed");
        }
    } else {
        println!("  ffmpeg afftdn    SKIPPED: ffmpeg is not installed");
    }
    // No musical noise: hiss alone through the module (its profile learnt
    // from the hiss) leaves a residual as smooth in time and frequency as
    // the hiss itself (Gaussian noise: 2.0; isolated blips push it up),
    // lowered by what reduction_db says.
    for red in [10.0, 15.0, 25.0] {
        let (_, left) = run_module(dir.path(), &hiss, dehiss(red));
        let drop = common::restore::band_rms_dbfs(&hiss[0], RATE, 20.0, 20_000.0)
            - common::restore::band_rms_dbfs(&left[0], RATE, 20.0, 20_000.0);
        let peaky = peakiness(&left[0], RATE, 2000.0, 16_000.0);
        println!(
            "hiss alone, reduction_db {red}: lowered {drop:.1} dB, peakiness {peaky:.2} (hiss {:.2})",
            peakiness(&hiss[0], RATE, 2000.0, 16_000.0)
        );
        assert!(
            (drop - red).abs() < 1.5,
            "reduction_db {red}: lowered {drop}"
        );
        assert!(peaky < if red > 20.0 { 4.5 } else { 2.5 }, "{red}: {peaky}");
    }
}

#[test]
fn dehiss_learns_the_noise_from_a_chosen_passage() {
    use common::restore::add_hiss;
    let dir = tempfile::tempdir().expect("tmp");
    // Two seconds of hiss alone (the tape's lead-in), then the music.
    let clean = common::concat(&[common::silence(2.0, RATE, 2), piano(20.0, RATE)]);
    let mut damaged = clean.clone();
    add_hiss(&mut damaged, -50.0, 8);
    let from_passage = ModuleConfig::Dehiss(lathe::session::chain::DehissConfig {
        profile_start_s: Some(0.2),
        profile_end_s: Some(1.8),
        ..Default::default()
    });
    let (r, out) = run_module(dir.path(), &damaged, from_passage);
    let before = band_errors(&damaged, &clean);
    let after = band_errors(&out, &clean);
    println!("{}: {before:.1?} -> {after:.1?}", r.noise[0].describe());
    assert!(r.noise[0].describe().contains("learnt from 0.2-1.8 s"));
    assert!(before[3] - after[3] >= 8.0 && after[1] - before[1] <= 1.0);
    // The passage's profile is the hiss's, band by band, within 1 dB.
    let hiss = error(&damaged, &clean);
    for (lo, hi) in BANDS {
        let truth = common::restore::band_rms_dbfs(&hiss[0], RATE, lo, hi);
        let learnt = r.noise[0].band_rms_dbfs(lo, hi)[0];
        assert!(
            (learnt - truth).abs() < 1.0,
            "{lo}-{hi}: {learnt} vs {truth}"
        );
    }
    // A passage outside the track is a clear error.
    let e = ChainConfig::from_toml(
        "[[module]]\ntype = \"dehiss\"\nprofile_start_s = 1.0\n",
        "c.toml",
    )
    .and_then(|c| {
        c.validate()
            .map_err(lathe::error::LatheError::Invalid)
            .map(|()| c)
    });
    assert!(
        e.as_ref().err().is_some_and(|e| e
            .to_string()
            .contains("both profile_start_s and profile_end_s")),
        "{e:?}"
    );
}

/// A limiter that passes its input through (delayed by its lookahead).
fn bypassed_limiter() -> ModuleConfig {
    ModuleConfig::Limiter(LimiterConfig {
        bypass: true,
        ..LimiterConfig::default()
    })
}

/// The largest magnitude in planar audio.
fn largest(x: &[Vec<f32>]) -> f32 {
    x.iter().flatten().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Run `input` through the chain of `modules` (the limiter last), built
/// for 48 kHz stereo, in 512-frame blocks, with `solo`; the output, its
/// latency removed, and that latency.
fn chain_out(
    modules: Vec<ModuleConfig>,
    input: &[Vec<f32>],
    solo: lathe::dsp::chain::Solo,
    bypass_at: Option<(usize, usize)>,
) -> Vec<Vec<f32>> {
    let cfg = ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules,
    };
    let mut chain = lathe::dsp::chain::Chain::from_config(&cfg, RATE, 2).expect("chain");
    chain.set_solo(solo);
    let lat = chain.latency();
    let n = input[0].len();
    let mut out: Vec<Vec<f32>> = (0..2).map(|_| Vec::with_capacity(n + lat)).collect();
    let mut block = lathe::io::AudioBlock::new(2, 512);
    let mut pos = 0;
    let mut bypass_at = bypass_at;
    while pos < n + lat {
        if let Some((at, module)) = bypass_at
            && pos >= at
        {
            chain.set_bypass(module, true);
            bypass_at = None;
        }
        let k = 512.min(n + lat - pos);
        for (b, c) in block.channels.iter_mut().zip(input) {
            for (i, v) in b[..k].iter_mut().enumerate() {
                *v = c.get(pos + i).copied().unwrap_or(0.0);
            }
        }
        block.frames = k;
        chain.process(&mut block);
        for (o, b) in out.iter_mut().zip(&block.channels) {
            o.extend_from_slice(&b[..k]);
        }
        pos += k;
    }
    out.iter().map(|c| c[lat..lat + n].to_vec()).collect()
}

#[test]
fn soloing_a_module_plays_exactly_what_it_changes() {
    use common::restore::add_hiss;
    use lathe::dsp::chain::Solo;
    let clean = piano(6.0, RATE);
    let mut damaged = clean.clone();
    add_hiss(&mut damaged, -50.0, 3);
    // A de-hisser with a learnt profile, an EQ after it, a limiter that
    // bites (ceiling well under the peaks).
    let mut profiler =
        lathe::analysis::noise::NoiseProfiler::new(RATE, 2, lathe::analysis::noise::Learn::Track);
    profiler.push(&damaged, damaged[0].len());
    let dehiss = ModuleConfig::Dehiss(lathe::session::chain::DehissConfig {
        profile: profiler.finish().map(std::sync::Arc::new),
        ..Default::default()
    });
    let eq = ChainConfig::from_toml(
        "[[module]]\ntype = \"eq\"\n[[module.band]]\ntype = \"bell\"\nfreq_hz = 1000\ngain_db = 6\nq = 1\n",
        "eq",
    )
    .expect("eq")
    .modules
    .remove(0);
    let limiter = ModuleConfig::Limiter(LimiterConfig {
        ceiling_dbtp: -12.0,
        ..LimiterConfig::default()
    });
    let modules = vec![dehiss.clone(), eq.clone(), limiter.clone()];
    // The de-hisser's residual: its output minus its input (an independent
    // reference: the de-hisser alone, and the input itself).
    let solo = chain_out(modules.clone(), &damaged, Solo::Module(0), None);
    let alone = chain_out(
        vec![dehiss.clone(), bypassed_limiter()],
        &damaged,
        Solo::Off,
        None,
    );
    let want = error(&alone, &damaged);
    let worst = largest(&error(&solo, &want));
    let level = band_level_dbfs(&want[0], RATE, 20.0, 20_000.0);
    println!("dehiss residual {level:.1} dBFS; solo differs by at most {worst:e}");
    assert!(worst < 1e-6, "{worst}");
    // What it removed is mostly hiss: within 3 dB of the hiss's level.
    let hiss_level = band_level_dbfs(&error(&damaged, &clean)[0], RATE, 20.0, 20_000.0);
    assert!((level - hiss_level).abs() < 3.0, "{level} vs {hiss_level}");
    // The limiter's residual: the chain's output minus the same chain with
    // the limiter bypassed.
    let full = chain_out(modules.clone(), &damaged, Solo::Off, None);
    let unlimited = chain_out(
        vec![dehiss.clone(), eq.clone(), bypassed_limiter()],
        &damaged,
        Solo::Off,
        None,
    );
    let bite = chain_out(modules.clone(), &damaged, Solo::Module(2), None);
    let want = error(&full, &unlimited);
    let worst = largest(&error(&bite, &want));
    let peak = largest(&want);
    println!("limiter residual peak {peak:.3}; solo differs by at most {worst:e}");
    assert!(peak > 0.05 && worst < 1e-6, "{peak} {worst}");
    // Another track's solo: silence, in time.
    let silent = chain_out(modules.clone(), &damaged, Solo::Silent, None);
    assert!(silent.iter().flatten().all(|v| *v == 0.0));
}

#[test]
fn bypassing_a_module_with_latency_plays_its_input_at_once() {
    // The hum module delays by 1 s; bypassed 3 s in, the output must be
    // the input (delayed by that second) as soon as the 10 ms crossfade is
    // over, not a second of stale or silent delay line.
    let clean = piano(6.0, RATE);
    let mut x = clean.clone();
    add_hum(&mut x, RATE, 50.0, &[(1, -40.0)]);
    let hum = ModuleConfig::Hum(HumConfig {
        freq_hz: HumFreq::Hz(50.0),
        harmonics: HumHarmonics::Count(1),
        ..HumConfig::default()
    });
    let lim = bypassed_limiter();
    // A block boundary (blocks of 512).
    let at = 281 * 512;
    let out = chain_out(
        vec![hum, lim],
        &x,
        lathe::dsp::chain::Solo::Off,
        Some((at, 0)),
    );
    // Output frame t is input frame t (latency removed); the bypass took
    // effect at tick `at`, i.e. output frame at − latency.
    let lat = RATE as usize;
    let from = at - lat + RATE as usize / 50;
    let worst = (from..x[0].len())
        .map(|i| (out[0][i] - x[0][i]).abs())
        .fold(0.0f32, f32::max);
    println!("after bypass: output differs from the input by at most {worst:e}");
    assert!(worst < 1e-6, "{worst}");
}

#[test]
fn declick_takes_crackle_and_leaves_the_music() {
    use common::restore::{add_crackle, click_region_error_db};
    let clean = piano(20.0, RATE);
    let mut damaged = clean.clone();
    // A worn record: 20 tiny clicks a second on each channel.
    let spots = add_crackle(&mut damaged, RATE, 20.0, 12);
    let cfg = lathe::session::chain::DeclickConfig::default();
    let (out, repaired) = declick(&cfg, &damaged);
    let before = click_region_error_db(&damaged, &clean, &spots);
    let after = click_region_error_db(&out, &clean, &spots);
    // What it did away from the crackle (each spot widened by 64 samples).
    let mut e = error(&out, &clean).swap_remove(0);
    for &(s, l) in &spots {
        for v in &mut e[s.saturating_sub(64)..(s + l + 64).min(clean[0].len())] {
            *v = 0.0;
        }
    }
    let away = band_level_dbfs(&e, RATE, 20.0, 20_000.0);
    let music = band_level_dbfs(&clean[0], RATE, 20.0, 20_000.0);
    println!(
        "{} crackles: crackle-region error {before:.1} -> {after:.1} dBFS ({:.1} dB less), {repaired} repairs; music error away from them {away:.1} dBFS (music {music:.1})",
        spots.len(),
        before - after
    );
    assert!(before - after >= 6.0, "{before} -> {after}");
    assert!(away - music < -60.0, "{away} vs {music}");
}
