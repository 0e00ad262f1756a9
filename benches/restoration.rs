//! Restoration beside ffmpeg on the harness's material (`cargo bench
//! --bench restoration`): piano-like music (`tests/common/restore.rs`) with
//! 50.2 Hz hum at harmonics 1, 2, 3 and 5, or tape hiss at -50 dBFS, or
//! clicks, measured against the clean original. lathe's de-hisser beside
//! ffmpeg's `afftdn` (error per band, and musical noise on hiss alone). lathe's hum module ("auto": it finds the hum) beside the
//! notch chain a user would build in ffmpeg (`bandreject` 3 Hz wide at 50,
//! 100, 150, 200 and 250 Hz), and lathe's de-click beside ffmpeg's
//! `adeclick` on 100 realistic clicks. Reports the hum left at its
//! harmonics, the error on the music away from them and at the missing
//! 4th harmonic, the click-region error, and wall time. ffmpeg missing:
//! its rows are skipped with a message.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::restore::{
    add_clicks, add_crackle, add_hiss, add_hum, align, band_level_dbfs, band_rms_dbfs,
    click_region_error_db, error, peakiness, piano,
};

const RATE: u32 = 48_000;

fn lathe_master(input: &Path, out: &Path, chain: &Path) -> f64 {
    let t = Instant::now();
    let ok = Command::new(env!("CARGO_BIN_EXE_lathe"))
        .arg("master")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(["--bits", "32f", "--force", "--chain"])
        .arg(chain)
        .output()
        .expect("lathe")
        .status
        .success();
    assert!(ok, "lathe master failed");
    t.elapsed().as_secs_f64()
}

/// Write a chain file `NAME.toml` in `dir`: module `kind` alone, then a
/// limiter at 0 dBTP (which never acts on this material).
fn one_module_chain(dir: &Path, kind: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{kind}.toml"));
    std::fs::write(
        &path,
        format!(
            "[[module]]\ntype = \"{kind}\"\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = 0.0\n"
        ),
    )
    .expect("chain");
    path
}

fn ffmpeg(input: &Path, out: &Path, filter: &str) -> Option<f64> {
    let t = Instant::now();
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(input)
        .args(["-af", filter, "-c:a", "pcm_f32le"])
        .arg(out)
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed().as_secs_f64())
}

/// Hum left at each harmonic, error away from them and at the 4th, dBFS.
fn hum_row(name: &str, secs: f64, out: &[Vec<f32>], clean: &[Vec<f32>]) {
    let e = error(out, clean);
    let at = |f: f64| band_level_dbfs(&e[0], RATE, f - 2.5, f + 2.5);
    let away = band_level_dbfs(&e[0], RATE, 260.0, 20_000.0)
        .max(band_level_dbfs(&e[0], RATE, 110.0, 145.0));
    println!(
        "  {name:<22} {secs:>6.2} s   left at 1/2/3/5: {:>6.1} {:>6.1} {:>6.1} {:>6.1}   music error away {away:>7.1}, at the missing 4th {:>7.1} dBFS",
        at(50.2),
        at(100.4),
        at(150.6),
        at(251.0),
        at(200.8)
    );
}

/// The error outside the click regions (each widened by 64 samples), dBFS:
/// what a de-clicker did to the music it should have left alone.
fn outside_clicks_db(out: &[Vec<f32>], clean: &[Vec<f32>], spots: &[(usize, usize)]) -> f64 {
    let mut e = error(out, clean).swap_remove(0);
    for &(s, l) in spots {
        for v in &mut e[s.saturating_sub(64)..(s + l + 64).min(clean[0].len())] {
            *v = 0.0;
        }
    }
    band_level_dbfs(&e, RATE, 20.0, 20_000.0)
}

/// Error per band (<300, 300-2k, 2k-6k, 6k-16k Hz) of `out` against
/// `clean`, left channel, dB RMS, beside the hiss's own.
fn hiss_row(name: &str, secs: Option<f64>, out: &[Vec<f32>], clean: &[Vec<f32>], hiss: &[f64; 4]) {
    let e = error(out, clean);
    let bands = [
        (20.0, 300.0),
        (300.0, 2000.0),
        (2000.0, 6000.0),
        (6000.0, 16_000.0),
    ];
    let cells: Vec<String> = bands
        .iter()
        .zip(hiss)
        .map(|((lo, hi), h)| {
            let v = band_rms_dbfs(&e[0], RATE, *lo, *hi);
            format!("{v:>6.1} ({:+.1})", v - h)
        })
        .collect();
    let t = secs.map_or(String::new(), |t| format!("{t:>6.2} s"));
    println!("  {name:<22} {t:>8}   {}", cells.join("  "));
}

/// Time `module` alone (then a bypassed limiter) over `input` on this
/// thread, in 512-frame blocks: seconds, and times real time.
fn module_speed(module: lathe::session::chain::ModuleConfig, input: &[Vec<f32>]) -> (f64, f64) {
    let cfg = lathe::session::chain::ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![
            module,
            lathe::session::chain::ModuleConfig::Limiter(lathe::session::chain::LimiterConfig {
                bypass: true,
                ..Default::default()
            }),
        ],
    };
    let mut chain = lathe::dsp::chain::Chain::from_config(&cfg, RATE, 2).expect("chain");
    let n = input[0].len();
    let mut block = lathe::io::AudioBlock::new(2, 512);
    let t = Instant::now();
    let mut pos = 0;
    while pos < n {
        let k = 512.min(n - pos);
        for (b, c) in block.channels.iter_mut().zip(input) {
            b[..k].copy_from_slice(&c[pos..pos + k]);
        }
        block.frames = k;
        chain.process(&mut block);
        pos += k;
    }
    let secs = t.elapsed().as_secs_f64();
    (secs, n as f64 / f64::from(RATE) / secs)
}

fn main() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let clean = piano(60.0, RATE);
    let mut hummy = clean.clone();
    add_hum(
        &mut hummy,
        RATE,
        50.2,
        &[(1, -45.0), (2, -52.0), (3, -55.0), (5, -60.0)],
    );
    common::write_wav_f32(&d.join("hum.wav"), &hummy, RATE);
    let have_ffmpeg = Command::new("ffmpeg").arg("-version").output().is_ok();
    println!("restoration on 60 s of piano-like music, 48 kHz stereo, against the clean original:");
    println!("hum at 50.2 Hz, harmonics 1/2/3/5 at -45/-52/-55/-60 dBFS:");
    one_module_chain(d, "hum");
    let t = lathe_master(
        &d.join("hum.wav"),
        &d.join("lathe_hum.wav"),
        &d.join("hum.toml"),
    );
    hum_row(
        "lathe hum (auto)",
        t,
        &common::read_wav_f32(&d.join("lathe_hum.wav")),
        &clean,
    );
    if have_ffmpeg {
        let notches: Vec<String> = (1..=5)
            .map(|k| format!("bandreject=f={}:width_type=h:w=3", 50 * k))
            .collect();
        match ffmpeg(
            &d.join("hum.wav"),
            &d.join("ff_hum.wav"),
            &notches.join(","),
        ) {
            Some(t) => hum_row(
                "ffmpeg bandreject x5",
                t,
                &common::read_wav_f32(&d.join("ff_hum.wav")),
                &clean,
            ),
            None => println!("  ffmpeg bandreject      SKIPPED: ffmpeg failed"),
        }
    } else {
        println!("  ffmpeg                 SKIPPED: ffmpeg is not installed");
    }
    // Hiss: tape hiss at -50 dBFS RMS (tilted up toward the treble).
    let mut hissy = clean.clone();
    add_hiss(&mut hissy, -50.0, 5);
    common::write_wav_f32(&d.join("hiss.wav"), &hissy, RATE);
    let hiss_err = error(&hissy, &clean);
    let bands = [
        (20.0, 300.0),
        (300.0, 2000.0),
        (2000.0, 6000.0),
        (6000.0, 16_000.0),
    ];
    let hiss = bands.map(|(lo, hi)| band_rms_dbfs(&hiss_err[0], RATE, lo, hi));
    println!(
        "hiss at -50 dBFS: error per band <300 / 300-2k / 2k-6k / 6k-16k Hz, dBFS (change), lower is better:"
    );
    hiss_row("hiss", None, &hissy, &clean, &hiss);
    one_module_chain(d, "dehiss");
    let t = lathe_master(
        &d.join("hiss.wav"),
        &d.join("lathe_hiss.wav"),
        &d.join("dehiss.toml"),
    );
    hiss_row(
        "lathe dehiss",
        Some(t),
        &common::read_wav_f32(&d.join("lathe_hiss.wav")),
        &clean,
        &hiss,
    );
    if have_ffmpeg {
        match ffmpeg(&d.join("hiss.wav"), &d.join("ff_hiss.wav"), "afftdn") {
            Some(t) => hiss_row(
                "ffmpeg afftdn",
                Some(t),
                &align(&common::read_wav_f32(&d.join("ff_hiss.wav")), &clean),
                &clean,
                &hiss,
            ),
            None => println!("  ffmpeg afftdn          SKIPPED: ffmpeg failed"),
        }
    }
    // Musical noise: hiss alone through each, the residual's peakiness
    // over 2-16 kHz (Gaussian noise 2.0; isolated blips raise it).
    let mut alone = vec![vec![0.0f32; clean[0].len()]; 2];
    add_hiss(&mut alone, -50.0, 5);
    common::write_wav_f32(&d.join("alone.wav"), &alone, RATE);
    lathe_master(
        &d.join("alone.wav"),
        &d.join("lathe_alone.wav"),
        &d.join("dehiss.toml"),
    );
    let lvl = |x: &[Vec<f32>]| band_rms_dbfs(&x[0], RATE, 20.0, 20_000.0);
    let lathe_alone = common::read_wav_f32(&d.join("lathe_alone.wav"));
    print!(
        "  hiss alone: lathe lowers it {:.1} dB, residual peakiness {:.2} (hiss {:.2})",
        lvl(&alone) - lvl(&lathe_alone),
        peakiness(&lathe_alone[0], RATE, 2000.0, 16_000.0),
        peakiness(&alone[0], RATE, 2000.0, 16_000.0)
    );
    if have_ffmpeg && ffmpeg(&d.join("alone.wav"), &d.join("ff_alone.wav"), "afftdn").is_some() {
        let ff = common::read_wav_f32(&d.join("ff_alone.wav"));
        println!(
            "; afftdn {:.1} dB, {:.2}",
            lvl(&alone) - lvl(&ff),
            peakiness(&ff[0], RATE, 2000.0, 16_000.0)
        );
    } else {
        println!();
    }
    let mut clicky = clean.clone();
    let spots = add_clicks(&mut clicky, 300, 9);
    common::write_wav_f32(&d.join("clicks.wav"), &clicky, RATE);
    println!(
        "300 clicks of 8-50 samples, -36 to -10 dBFS (click-region error, dBFS; lower is better):"
    );
    println!(
        "  {:<22} {:>9}   {:>7.1}",
        "damaged",
        "",
        click_region_error_db(&clicky, &clean, &spots)
    );
    one_module_chain(d, "declick");
    let t = lathe_master(
        &d.join("clicks.wav"),
        &d.join("lathe_clicks.wav"),
        &d.join("declick.toml"),
    );
    let out = common::read_wav_f32(&d.join("lathe_clicks.wav"));
    println!(
        "  {:<22} {t:>7.2} s   {:>7.1}   music error outside the clicks {:.1} dBFS",
        "lathe declick",
        click_region_error_db(&out, &clean, &spots),
        outside_clicks_db(&out, &clean, &spots)
    );
    // Speed of the modules alone, one core (issue 15: at least 40x real
    // time): de-click on this clicky minute and on dense crackle (a click
    // every 20 ms on each channel), de-hiss with the profile the plan learns.
    let (t, x) = module_speed(
        lathe::session::chain::ModuleConfig::Declick(Default::default()),
        &clicky,
    );
    println!("  speed, one core: declick on these clicks {t:.2} s, {x:.0}x real time");
    let mut crackle = clean.clone();
    let dense = add_clicks(&mut crackle, 3000, 4);
    let (t, x) = module_speed(
        lathe::session::chain::ModuleConfig::Declick(Default::default()),
        &crackle,
    );
    println!(
        "  speed, one core: declick on {} clicks a second {t:.2} s, {x:.0}x real time",
        dense.len() / 60
    );
    let mut profiler =
        lathe::analysis::noise::NoiseProfiler::new(RATE, 2, lathe::analysis::noise::Learn::Track);
    profiler.push(&hissy, hissy[0].len());
    let (t, x) = module_speed(
        lathe::session::chain::ModuleConfig::Dehiss(lathe::session::chain::DehissConfig {
            profile: profiler.finish().map(std::sync::Arc::new),
            ..Default::default()
        }),
        &hissy,
    );
    println!("  speed, one core: dehiss (learnt profile) {t:.2} s, {x:.0}x real time");
    if have_ffmpeg {
        match ffmpeg(&d.join("clicks.wav"), &d.join("ff_clicks.wav"), "adeclick") {
            Some(t) => {
                let out = common::read_wav_f32(&d.join("ff_clicks.wav"));
                println!(
                    "  {:<22} {t:>7.2} s   {:>7.1}   music error outside the clicks {:.1} dBFS",
                    "ffmpeg adeclick",
                    click_region_error_db(&out, &clean, &spots),
                    outside_clicks_db(&out, &clean, &spots)
                );
            }
            None => println!("  ffmpeg adeclick        SKIPPED: ffmpeg failed"),
        }
    }
    // Crackle: 20 tiny clicks a second on each channel.
    let mut crackly = clean.clone();
    let spots = add_crackle(&mut crackly, RATE, 20.0, 12);
    common::write_wav_f32(&d.join("crackle.wav"), &crackly, RATE);
    println!(
        "crackle, 20 a second per channel, 1-4 samples, -45 to -25 dBFS (crackle-region error, dBFS):"
    );
    println!(
        "  {:<22} {:>9}   {:>7.1}",
        "damaged",
        "",
        click_region_error_db(&crackly, &clean, &spots)
    );
    let t = lathe_master(
        &d.join("crackle.wav"),
        &d.join("lathe_crackle.wav"),
        &d.join("declick.toml"),
    );
    let out = common::read_wav_f32(&d.join("lathe_crackle.wav"));
    println!(
        "  {:<22} {t:>7.2} s   {:>7.1}   music error outside the crackle {:.1} dBFS",
        "lathe declick",
        click_region_error_db(&out, &clean, &spots),
        outside_clicks_db(&out, &clean, &spots)
    );
    if have_ffmpeg
        && let Some(t) = ffmpeg(
            &d.join("crackle.wav"),
            &d.join("ff_crackle.wav"),
            "adeclick",
        )
    {
        let out = common::read_wav_f32(&d.join("ff_crackle.wav"));
        println!(
            "  {:<22} {t:>7.2} s   {:>7.1}   music error outside the crackle {:.1} dBFS",
            "ffmpeg adeclick",
            click_region_error_db(&out, &clean, &spots),
            outside_clicks_db(&out, &clean, &spots)
        );
    }
}
