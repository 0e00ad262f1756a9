//! `lathe render`: an album session to its deliveries.

use std::path::PathBuf;
use std::process::ExitCode;

use super::*;

pub(super) fn cmd_render(
    session: PathBuf,
    out_dir: PathBuf,
    delivery: Option<String>,
    json: bool,
    force: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    crate::cancel::install_handler();
    let opts = crate::render::album::RenderOptions {
        session,
        out_dir,
        delivery,
        force,
    };
    // On a terminal: one live line per delivery (indicatif); piped: plain lines.
    let multi = (!json && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
    let lines: std::sync::Mutex<Vec<(String, indicatif::ProgressBar)>> =
        std::sync::Mutex::new(Vec::new());
    let piped = !json && multi.is_none();
    let progress = |msg: &str| {
        if let Some(m) = &multi {
            let (key, text) = msg.split_once(": ").unwrap_or(("", msg));
            if let Ok(mut l) = lines.lock() {
                if let Some((_, pb)) = l.iter().find(|(k, _)| k == key) {
                    pb.set_message(text.to_string());
                } else {
                    let pb = m.add(indicatif::ProgressBar::new_spinner());
                    if let Ok(style) =
                        indicatif::ProgressStyle::with_template("{spinner} {prefix:>12}  {msg}")
                    {
                        pb.set_style(style);
                    }
                    pb.set_prefix(key.to_string());
                    pb.set_message(text.to_string());
                    pb.enable_steady_tick(std::time::Duration::from_millis(120));
                    l.push((key.to_string(), pb));
                }
            }
        } else if piped {
            eprintln!("lathe: {msg}");
        }
    };
    let result = crate::render::album::render_session(&opts, &progress);
    if let Ok(l) = lines.lock() {
        for (_, pb) in l.iter() {
            pb.finish_and_clear();
        }
    }
    let reports = match result {
        Ok(r) => r,
        Err(e) => {
            eprint_error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    // What reading the inputs found (e.g. a header that claims more data than
    // the file holds), once per input.
    let mut warned: Vec<&String> = Vec::new();
    for w in reports
        .iter()
        .filter_map(|r| r.before.as_ref())
        .flat_map(|b| &b.warnings)
    {
        if !warned.contains(&w) {
            eprintln!("lathe: warning: {w}");
            warned.push(w);
        }
    }
    let num = crate::units::json_number;
    if json {
        for r in &reports {
            let v = serde_json::json!({
                "delivery": r.delivery,
                "file": r.file.display().to_string(),
                "track": r.track.map(|i| i + 1),
                "integrated_lufs": num(r.analysis.loudness.integrated_lufs),
                "true_peak_dbtp": num(r.analysis.true_peak_dbtp),
                "loudness_range_lu": num(r.analysis.loudness.loudness_range_lu),
                "target_lufs": r.target_lufs,
                "ceiling_dbtp": r.ceiling_dbtp,
                "sample_rate": r.analysis.sample_rate,
                "bits": r.bits,
                "gain_db": num(r.gain_db),
                "before_integrated_lufs": r.before.as_ref().map(|b| num(b.loudness.integrated_lufs)),
                "before_true_peak_dbtp": r.before.as_ref().map(|b| num(b.true_peak_dbtp)),
                "ok": r.failure.is_none(),
                "failure": r.failure,
                "limiting": limiting_json(&r.limiting),
                "limiting_cut_db": num(r.limiting_cut_db),
                "loud_passage_lufs": r.track.map(|i| num(r.levels.loud_passages_lufs[i])),
                "delivery_loud_passage_spread_lu": num(r.levels.loud_passage_spread_lu()),
                "delivery_integrated_spread_lu": num(r.levels.integrated_spread_lu()),
                "notes": r.notes,
                "findings": r.findings,
            });
            let mut v = v;
            if !r.codec.is_empty() {
                v["codec"] = crate::analysis::codec::to_json(&r.codec);
            }
            println!("{v}");
        }
    } else {
        let width = reports
            .iter()
            .map(|r| r.file.display().to_string().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 60);
        println!(
            "{:<width$}  {:>22}  {:>8}  {:>22}  {:>8}  {:>15}",
            "File",
            "Integrated before/after",
            "LRA",
            "True peak before/after",
            "Gain",
            "Limiting pk >3dB"
        );
        for r in &reports {
            let (bi, bt) = r.before.as_ref().map_or((f64::NAN, f64::NAN), |b| {
                (b.loudness.integrated_lufs, b.true_peak_dbtp)
            });
            let opt = |v: f64, unit: &str| {
                if v.is_nan() {
                    format!("{:>6} {unit}", "")
                } else {
                    fmt_num(v, unit)
                }
            };
            println!(
                "{:<width$}  {} {}  {}  {} {}  {:>8}  {:>7.1} dB {:>3.0}%{}",
                r.file.display(),
                opt(bi, ""),
                fmt_num(r.analysis.loudness.integrated_lufs, "LUFS"),
                fmt_num(r.analysis.loudness.loudness_range_lu, "LU"),
                opt(bt, ""),
                fmt_num(r.analysis.true_peak_dbtp, "dBTP"),
                if r.gain_db.is_finite() {
                    format!("{:+.2} dB", r.gain_db)
                } else {
                    String::new()
                },
                r.limiting.peak_gr_db(),
                r.limiting.share_over_3db() * 100.0,
                r.failure
                    .as_ref()
                    .map(|f| format!("  FAILED: {f}"))
                    .unwrap_or_default()
            );
        }
    }
    if !json {
        // Per delivery: how level its tracks came out.
        let mut seen: Vec<&str> = Vec::new();
        for r in &reports {
            if seen.contains(&r.delivery.as_str()) || r.levels.integrated_lufs.len() < 2 {
                continue;
            }
            seen.push(&r.delivery);
            println!(
                "{}: tracks' loud passages within {:.1} LU, integrated loudness within {:.1} LU",
                r.delivery,
                r.levels.loud_passage_spread_lu(),
                r.levels.integrated_spread_lu()
            );
        }
    }
    if !json {
        for r in reports.iter().filter(|r| !r.codec.is_empty()) {
            println!("{}", r.file.display());
            print!("{}", crate::analysis::codec::format_table(&r.codec));
        }
    }
    for r in &reports {
        for n in &r.findings {
            eprintln!("lathe: {}: {n}", r.file.display());
        }
        for n in &r.notes {
            eprintln!("lathe: warning: {}: {n}", r.file.display());
        }
    }
    let failed: Vec<&crate::render::album::FileReport> =
        reports.iter().filter(|r| r.failure.is_some()).collect();
    for f in &failed {
        eprint_error(&format!(
            "{}: {}",
            f.file.display(),
            f.failure.clone().unwrap_or_default()
        ));
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
