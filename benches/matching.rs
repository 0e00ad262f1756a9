//! Reference matching beside Matchering 2 on the same 4-minute pair.
//!
//! Run with `cargo bench --bench matching`. Generates a 4-minute 44.1 kHz
//! stereo reference (a bright, wide, loud mix) and target (another take of
//! the same kind of music: dark, narrower, 8 dB quieter), then masters the
//! target to the reference with `lathe master --reference REF --amount 100`
//! (a chain of the match module and the true-peak limiter only, as
//! Matchering does EQ, level and limiting only) and with Matchering 2
//! (`python3 -c "import matchering"`; installed from PyPI with `pip install
//! matchering` if missing and pip works, skipped with a message
//! otherwise). Reports for each: wall time and peak resident memory (of
//! the child process, from `wait4`), the residual difference per
//! 1/3-octave band between the loudness-normalized result and the
//! reference (mid; max and RMS over 25 Hz – 16 kHz and over 40 Hz –
//! 12.5 kHz, measured by lathe's long-term analyzer for both), and the
//! output's true peak (lathe's BS.1770 meter).

use std::path::Path;
use std::process::Command;

#[path = "launch.rs"]
mod launch;
#[path = "mix.rs"]
mod mix;

use mix::write_mix;

use lathe::analysis::longterm::reference_spectrum;
use lathe::analysis::tonal::band_centre_hz;

/// Mid residual against the reference per 1/3-octave band: (max, RMS) over
/// all 29 bands and over 40 Hz – 12.5 kHz, dB.
fn residual(out: &Path, reference: &Path) -> ((f64, f64), (f64, f64)) {
    let (o, _) = reference_spectrum(out).expect("out").bands_db();
    let (r, _) = reference_spectrum(reference).expect("ref").bands_db();
    let stats = |keep: &dyn Fn(f64) -> bool| {
        let d: Vec<f64> = o
            .iter()
            .zip(&r)
            .enumerate()
            .filter(|(i, (a, b))| keep(band_centre_hz(*i)) && a.is_finite() && b.is_finite())
            .map(|(_, (a, b))| a - b)
            .collect();
        let max = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let rms = (d.iter().map(|v| v * v).sum::<f64>() / d.len().max(1) as f64).sqrt();
        (max, rms)
    };
    (
        stats(&|_| true),
        stats(&|hz| (39.0..=12_600.0).contains(&hz)),
    )
}

fn have_matchering() -> bool {
    let ok = || {
        Command::new("python3")
            .args(["-c", "import matchering"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok() {
        return true;
    }
    println!("Matchering not found; trying: python3 -m pip install --user matchering");
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--user", "matchering"])
        .status();
    ok()
}

fn main() {
    launch::launcher_main();
    let lathe = env!("CARGO_BIN_EXE_lathe");
    // LATHE_BENCH_DIR keeps the files for a closer look.
    let tmp = tempfile::tempdir().expect("tmp");
    let keep = std::env::var_os("LATHE_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = keep.as_deref().unwrap_or(tmp.path());
    let reference = dir.join("reference.wav");
    let target = dir.join("target.wav");
    write_mix(&reference, 240, 7, 0.55, 1.0, 1.0);
    write_mix(&target, 240, 99, 0.22, -1.5, 0.5);
    let chain = dir.join("match.toml");
    std::fs::write(
        &chain,
        "[[module]]\ntype = \"match\"\nreference = \"reference.wav\"\namount_pct = 100.0\n\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = -1.0\n",
    )
    .expect("chain");
    let before = residual(&target, &reference);
    println!(
        "4-minute 44.1 kHz stereo pair; residual = mid, result - reference per 1/3-octave band"
    );
    println!(
        "  {:<12}{:>9}{:>10}{:>24}{:>24}{:>12}",
        "", "wall s", "peak MB", "residual 25-16k max/rms", "residual 40-12.5k", "true peak"
    );
    let row = |name: &str, t: f64, mem: f64, out: &Path| {
        let ((m1, r1), (m2, r2)) = residual(out, &reference);
        let tp = lathe::analysis::analyze_file(out)
            .map(|a| a.true_peak_dbtp)
            .unwrap_or(f64::NAN);
        println!(
            "  {name:<12}{t:>9.2}{mem:>10.1}{:>24}{:>24}{:>8.2} dBTP",
            format!("{m1:.2} / {r1:.2} dB"),
            format!("{m2:.2} / {r2:.2} dB"),
            tp
        );
        (t, mem, r1, tp)
    };
    println!(
        "  {:<12}{:>9}{:>10}{:>24}{:>24}",
        "unmatched",
        "",
        "",
        format!("{:.2} / {:.2} dB", before.0.0, before.0.1),
        format!("{:.2} / {:.2} dB", before.1.0, before.1.1)
    );
    let lathe_out = dir.join("lathe.wav");
    let (t, mem, ok) = launch::run(
        lathe,
        &[
            "master".as_ref(),
            target.as_os_str(),
            "-o".as_ref(),
            lathe_out.as_os_str(),
            "--chain".as_ref(),
            chain.as_os_str(),
            "--reference".as_ref(),
            reference.as_os_str(),
            "--amount".as_ref(),
            "100".as_ref(),
            "--force".as_ref(),
        ],
    );
    assert!(ok, "lathe master failed");
    let (lt, lmem, lres, ltp) = row("lathe", t.as_secs_f64(), mem, &lathe_out);
    assert!(
        ltp <= -1.0 + 1e-6,
        "lathe's true peak {ltp} over its ceiling"
    );
    // The same with the clamp opened to +/-12 dB (Matchering has none):
    // lathe's defaults (+6/-9 dB) stop short where the pair differs more.
    let open = dir.join("match_open.toml");
    std::fs::write(
        &open,
        "[[module]]\ntype = \"match\"\nreference = \"reference.wav\"\namount_pct = 100.0\nmax_boost_db = 12.0\nmax_cut_db = 12.0\n\n[[module]]\ntype = \"limiter\"\nceiling_dbtp = -1.0\n",
    )
    .expect("chain");
    let open_out = dir.join("lathe_open.wav");
    let (t, mem, ok) = launch::run(
        lathe,
        &[
            "master".as_ref(),
            target.as_os_str(),
            "-o".as_ref(),
            open_out.as_os_str(),
            "--chain".as_ref(),
            open.as_os_str(),
            "--force".as_ref(),
            "--target".as_ref(),
            format!(
                "{:.2}",
                lathe::analysis::analyze_file(&reference)
                    .expect("ref")
                    .loudness
                    .integrated_lufs
            )
            .as_ref(),
        ],
    );
    assert!(ok, "lathe master (open clamp) failed");
    let (_, _, ores, _) = row("lathe +/-12", t.as_secs_f64(), mem, &open_out);
    if !have_matchering() {
        println!(
            "  matchering  SKIPPED: Matchering 2 is not installed and pip could not install it"
        );
        return;
    }
    let mg_out = dir.join("matchering.wav");
    let script = format!(
        "import matchering as mg\nmg.log(print)\nmg.process(target={:?}, reference={:?}, results=[mg.pcm24({:?})])\n",
        target.display().to_string(),
        reference.display().to_string(),
        mg_out.display().to_string()
    );
    let (t, mem, ok) = launch::run("python3", &["-c".as_ref(), script.as_ref()]);
    if !ok {
        println!("  matchering  FAILED to run (see python3 -c 'import matchering')");
        return;
    }
    let (mt, mmem, mres, mtp) = row("matchering", t.as_secs_f64(), mem, &mg_out);
    println!(
        "  lathe vs Matchering: {:.1}x faster, {:.1}x less memory, residual RMS {:.2} (clamp opened: {:.2}) vs {:.2} dB, true peak {ltp:.2} vs {mtp:.2} dBTP",
        mt / lt,
        mmem / lmem,
        lres,
        ores,
        mres
    );
}
