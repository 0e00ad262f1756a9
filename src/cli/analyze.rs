//! `lathe analyze`: loudness, true peak and streaming normalization of files.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::analysis::tonal::{self, TonalProfile, tonal_profile};
use crate::analysis::{self, FileAnalysis, platforms};
use crate::units::format_duration;

use super::*;

/// Text report of one analysis.
pub fn format_report(a: &FileAnalysis) -> String {
    let mut s = String::new();
    // Lossless formats give their bit depth; lossy ones their bit rate.
    let depth = match (a.bits_per_sample, a.bitrate_kbps) {
        (Some(b), _) => format!("  {b}-bit"),
        (None, Some(kbps)) => format!("  {kbps:.0} kb/s"),
        _ => String::new(),
    };
    let input = a
        .input_sample_rate
        .map(|r| format!(" (measured; input was {r} Hz)"))
        .unwrap_or_default();
    s.push_str(&format!(
        "{}\n  {}  {} Hz{}  {} ch{}  {}\n",
        a.file.display(),
        a.format,
        a.sample_rate,
        input,
        a.channels,
        depth,
        format_duration(a.duration_s)
    ));
    let l = &a.loudness;
    let rows = [
        (
            "Integrated",
            fmt_num(l.integrated_lufs, "LUFS"),
            "Loudness range",
            fmt_num(l.loudness_range_lu, "LU"),
        ),
        (
            "True peak",
            fmt_num(a.true_peak_dbtp, "dBTP"),
            "Sample peak",
            fmt_num(a.sample_peak_dbfs, "dBFS"),
        ),
        (
            "Momentary max",
            fmt_num(l.momentary_max_lufs, "LUFS"),
            "Short-term max",
            fmt_num(l.short_term_max_lufs, "LUFS"),
        ),
    ];
    for (a1, v1, a2, v2) in rows {
        s.push_str(&format!("  {a1:<15}{v1:<14}{a2:<16}{v2}\n"));
    }
    s.push_str(&format!("  {:<15}{}\n", "PLR", fmt_num(a.plr_db(), "dB")));
    if l.integrated_lufs.is_finite() {
        s.push_str("  Streaming normalization      gain    true peak after\n");
        for p in platforms::PLATFORMS {
            if let Some(n) = platforms::normalize(p, l.integrated_lufs, a.true_peak_dbtp) {
                let flag = if n.exceeds_peak_warning {
                    "  over -1 dBTP"
                } else {
                    ""
                };
                s.push_str(&format!(
                    "    {:<13}{:>4.0} LUFS  {:+6.1} dB  {}{}\n",
                    n.platform,
                    n.target_lufs,
                    n.gain_db,
                    fmt_num(n.true_peak_after_dbtp, "dBTP"),
                    flag
                ));
            }
        }
    } else {
        s.push_str("  Digital silence: no loudness to normalize.\n");
    }
    for w in &a.warnings {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

/// Aligned one-line-per-file summary for several files.
pub fn format_summary(results: &[&FileAnalysis]) -> String {
    let width = results
        .iter()
        .map(|a| a.file.display().to_string().chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    let mut s = format!(
        "{:<width$}  {:>11}  {:>8}  {:>10}  {:>8}\n",
        "File", "Integrated", "LRA", "True peak", "PLR"
    );
    for a in results {
        let mut name = a.file.display().to_string();
        if name.chars().count() > width {
            name = name.chars().take(width - 1).collect::<String>() + "~";
        }
        s.push_str(&format!(
            "{:<width$}  {:>11}  {:>8}  {:>10}  {:>8}\n",
            name,
            fmt_num(a.loudness.integrated_lufs, "LUFS"),
            fmt_num(a.loudness.loudness_range_lu, "LU"),
            fmt_num(a.true_peak_dbtp, "dBTP"),
            fmt_num(a.plr_db(), "dB"),
        ));
    }
    s
}

pub(super) fn cmd_analyze(
    files: &[PathBuf],
    json: bool,
    tonal: bool,
    reference: Option<&std::path::Path>,
    codecs: &[crate::io::lossy::CodecSpec],
    ceiling_dbtp: f64,
) -> ExitCode {
    if !(-20.0..=0.0).contains(&ceiling_dbtp) {
        eprint_error(&format!("--ceiling {ceiling_dbtp}: use -20 to 0 dBTP"));
        return ExitCode::from(2);
    }
    use rayon::prelude::*;
    // A reference to compare with: measured first, so a bad one stops here.
    let reference = match reference.map(|r| (r, tonal_profile(r))) {
        None => None,
        Some((_, Ok(p))) if p.frames_used == 0 => {
            eprint_error(&format!(
                "{}: the reference is silent (nothing above -70 dB)",
                reference.map_or(String::new(), |r| r.display().to_string())
            ));
            return ExitCode::from(1);
        }
        Some((r, Ok(p))) => Some((r.display().to_string(), p)),
        Some((_, Err(e))) => {
            eprint_error(&e.to_string());
            return ExitCode::from(1);
        }
    };
    let tonal = tonal || reference.is_some();
    let results: Vec<crate::Result<FileAnalysis>> = files
        .par_iter()
        .map(|f| analysis::analyze_file(f))
        .collect();
    // The tonal balance of the files that analyzed, against their average.
    let profiles: Vec<Option<TonalProfile>> = if tonal {
        files
            .par_iter()
            .zip(results.par_iter())
            .map(|(f, r)| r.as_ref().ok().and_then(|_| tonal_profile(f).ok()))
            .collect()
    } else {
        vec![None; files.len()]
    };
    let present: Vec<&TonalProfile> = profiles.iter().flatten().collect();
    let average = match &reference {
        Some((_, p)) => p.bands_db.clone(),
        None => tonal::average_db(&present),
    };
    let mut failed = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut ok = Vec::new();
    for (k, r) in results.iter().enumerate() {
        match r {
            Ok(a) => {
                for w in &a.warnings {
                    eprintln!("lathe: warning: {w}");
                }
                let checked = if codecs.is_empty() {
                    Vec::new()
                } else {
                    crate::analysis::codec::check_file(&files[k], codecs, ceiling_dbtp)
                };
                if json {
                    let mut v = a.to_json();
                    if let Some(p) = &profiles[k] {
                        v["tonal"] = tonal_json(p, &average);
                    }
                    if !checked.is_empty() {
                        v["codec"] = crate::analysis::codec::to_json(&checked);
                    }
                    let _ = writeln!(out, "{v}");
                } else {
                    let _ = write!(out, "{}", format_report(a));
                    if !checked.is_empty() {
                        let _ = write!(out, "{}", crate::analysis::codec::format_table(&checked));
                    }
                    let _ = writeln!(out);
                }
                for (spec, r) in &checked {
                    if let Err(e) = r {
                        eprintln!("lathe: warning: {spec} not checked: {e}");
                    }
                }
                ok.push(a);
            }
            Err(e) => {
                failed += 1;
                eprint_error(&e.to_string());
            }
        }
    }
    if !json && ok.len() > 1 {
        let _ = write!(out, "{}", format_summary(&ok));
    }
    if tonal && !present.is_empty() {
        let names: Vec<String> = files
            .iter()
            .zip(&profiles)
            .filter(|(_, p)| p.is_some())
            .map(|(f, _)| f.display().to_string())
            .collect();
        if json {
            let bands: Vec<f64> = (0..tonal::BANDS).map(tonal::band_centre_hz).collect();
            let avg: Vec<serde_json::Value> = average.iter().map(|v| json_num(*v)).collect();
            let line = match &reference {
                Some((r, _)) => {
                    serde_json::json!({ "tonal_reference": { "file": r, "bands_hz": bands, "level_db": avg } })
                }
                None => {
                    serde_json::json!({ "tonal_average": { "bands_hz": bands, "level_db": avg } })
                }
            };
            let _ = writeln!(out, "{line}");
        } else {
            let against = reference.as_ref().map(|(r, _)| r.as_str());
            let _ = write!(out, "{}", format_tonal(&names, &present, &average, against));
        }
    }
    if failed > 0 {
        if files.len() > 1 {
            eprint_error(&format!(
                "{failed} of {} files could not be analyzed",
                files.len()
            ));
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A finite number rounded to 0.01, else null.
fn json_num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!((v * 100.0).round() / 100.0)
    } else {
        serde_json::Value::Null
    }
}

/// The `tonal` object of a file's JSON: band centres, levels (dB re the
/// integrated loudness), deviation from the files' average, its RMS.
fn tonal_json(p: &TonalProfile, average: &[f64]) -> serde_json::Value {
    let dev = tonal::deviation_db(p, average);
    serde_json::json!({
        "bands_hz": (0..tonal::BANDS).map(tonal::band_centre_hz).map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "level_db": p.bands_db.iter().map(|v| json_num(*v)).collect::<Vec<_>>(),
        "deviation_db": dev.iter().map(|v| json_num(*v)).collect::<Vec<_>>(),
        "rms_deviation_db": json_num(tonal::rms_deviation_db(&dev)),
        "frames_used": p.frames_used,
        "frames_total": p.frames_total,
    })
}

/// The tonal-balance table: one row per 1/3-octave band, the files'
/// average level (dB re their loudness; or the reference file's, when
/// `reference` names one) and each file's deviation from it, then each
/// file's RMS deviation over 40 Hz – 12 kHz.
pub fn format_tonal(
    names: &[String],
    profiles: &[&TonalProfile],
    average: &[f64],
    reference: Option<&str>,
) -> String {
    let mut s = match reference {
        Some(r) => format!(
            "Tonal balance (1/3 octave, dB re each file's loudness; files vs the reference {r}):\n"
        ),
        None => String::from(
            "Tonal balance (1/3 octave, dB re each file's loudness; files vs their average):\n",
        ),
    };
    for (k, n) in names.iter().enumerate() {
        s.push_str(&format!("  #{} {n}\n", k + 1));
    }
    s.push_str(&format!(
        "  {:>6}  {:>7}",
        "Hz",
        if reference.is_some() {
            "ref"
        } else {
            "average"
        }
    ));
    for k in 0..profiles.len() {
        s.push_str(&format!("  {:>6}", format!("#{}", k + 1)));
    }
    s.push('\n');
    let devs: Vec<Vec<f64>> = profiles
        .iter()
        .map(|p| tonal::deviation_db(p, average))
        .collect();
    for b in 0..tonal::BANDS {
        if !average[b].is_finite() {
            continue;
        }
        s.push_str(&format!(
            "  {:>6}  {:>7.1}",
            tonal::band_label(b),
            average[b]
        ));
        for d in &devs {
            s.push_str(&format!("  {:>+6.1}", d[b]));
        }
        s.push('\n');
    }
    s.push_str(&format!("  {:>6}  {:>7}", "RMS", ""));
    for d in &devs {
        s.push_str(&format!("  {:>6.1}", tonal::rms_deviation_db(d)));
    }
    s.push_str("  (dB, 40 Hz - 12 kHz)\n");
    s
}
