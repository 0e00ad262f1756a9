//! The codec check's reports: the text table `lathe analyze --codec` and
//! `lathe render` print, and the JSON.

use super::{CodecReport, FIRST_OVERS, aligned};
use crate::io::lossy::CodecSpec;

fn num(v: f64, unit: &str) -> String {
    if v.is_finite() {
        format!("{v:+6.1} {unit}")
    } else {
        format!("{:>6} {unit}", "-inf")
    }
}

/// `m:ss.mmm`.
fn clock(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}

const CHANNEL_NAMES: [&str; 2] = ["L", "R"];

/// The text report of one file's codec check: one row per codec, then
/// each codec's first overs and what encoded it; a codec that could not
/// run says why.
pub fn format_table<E: std::fmt::Display>(
    results: &[(CodecSpec, std::result::Result<CodecReport, E>)],
) -> String {
    let ceiling = results
        .iter()
        .find_map(|(_, r)| r.as_ref().ok().map(|r| r.ceiling_dbtp))
        .unwrap_or(f64::NAN);
    let mut s = format!(
        "  Codec check  {:>11}  {:>11}  {:<22} {:>9}  {:>11}  trim for {ceiling:.1} dBTP\n",
        "true peak", "sample peak", "overs on/inter-sample", "loudness", "artifacts"
    );
    let mut notes = String::new();
    for (spec, r) in results {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                s.push_str(&format!("    {:<11} not checked: {e}\n", spec.to_string()));
                continue;
            }
        };
        let overs: Vec<String> = r
            .overs
            .iter()
            .enumerate()
            .map(|(c, o)| {
                let name = CHANNEL_NAMES.get(c).copied().unwrap_or("?");
                format!("{name} {}/{}", o.on_sample, o.inter_sample)
            })
            .collect();
        let trim = if r.trim_db < 0.0 {
            format!("{:+.1} dB", r.trim_db)
        } else {
            "none".to_string()
        };
        s.push_str(&format!(
            "    {:<11}{:>11}  {:>11}  {:<22} {:>9}  {:>11}  {trim}\n",
            spec.to_string(),
            num(r.true_peak_dbtp, "dBTP"),
            num(r.sample_peak_dbfs, "dBFS"),
            overs.join("  "),
            format!("{:+.2} LU", r.loudness_change_lu),
            // Under BS.1770's −70 LUFS gate the artifacts have no loudness.
            if r.artifacts_lufs.is_finite() {
                num(r.artifacts_lufs, "LUFS")
            } else {
                "  <-70 LUFS".to_string()
            },
        ));
        if !r.first_overs.is_empty() {
            let list: Vec<String> = r
                .first_overs
                .iter()
                .take(FIRST_OVERS)
                .map(|o| {
                    format!(
                        "{} {} {} {:+.2} dB",
                        clock(o.time_s),
                        CHANNEL_NAMES.get(o.channel).copied().unwrap_or("?"),
                        if o.inter_sample { "inter" } else { "on" },
                        o.level_db
                    )
                })
                .collect();
            notes.push_str(&format!("    {spec} first overs: {}\n", list.join(", ")));
        }
        let uncertain = if aligned(r) {
            String::new()
        } else {
            format!(" (alignment uncertain: correlation {:.2})", r.correlation)
        };
        notes.push_str(&format!(
            "    {spec}: {} at {} Hz, delay {} samples{uncertain}; source true peak {}\n",
            r.encoder,
            r.rate,
            r.delay_frames,
            num(r.source_true_peak_dbtp, "dBTP").trim()
        ));
    }
    s.push_str(&notes);
    s
}

/// The JSON of one file's codec check: one object per codec (`skipped`
/// with the reason for a codec that could not run).
pub fn to_json<E: std::fmt::Display>(
    results: &[(CodecSpec, std::result::Result<CodecReport, E>)],
) -> serde_json::Value {
    let n = crate::units::json_number;
    let items: Vec<serde_json::Value> = results
        .iter()
        .map(|(spec, r)| match r {
            Err(e) => serde_json::json!({"codec": spec.to_string(), "skipped": e.to_string()}),
            Ok(r) => serde_json::json!({
                "codec": spec.to_string(),
                "encoder": r.encoder,
                "rate": r.rate,
                "delay_frames": r.delay_frames,
                "correlation": n(r.correlation),
                "source_true_peak_dbtp": n(r.source_true_peak_dbtp),
                "true_peak_dbtp": n(r.true_peak_dbtp),
                "sample_peak_dbfs": n(r.sample_peak_dbfs),
                "overs": r.overs.iter().map(|o| serde_json::json!({
                    "on_sample": o.on_sample,
                    "inter_sample": o.inter_sample,
                })).collect::<Vec<_>>(),
                "first_overs": r.first_overs.iter().map(|o| serde_json::json!({
                    "time_s": n(o.time_s),
                    "channel": o.channel,
                    "inter_sample": o.inter_sample,
                    "level_db": n(o.level_db),
                })).collect::<Vec<_>>(),
                "source_lufs": n(r.source_lufs),
                "loudness_change_lu": n(r.loudness_change_lu),
                "artifacts_lufs": n(r.artifacts_lufs),
                "ceiling_dbtp": n(r.ceiling_dbtp),
                "trim_db": n(r.trim_db),
            }),
        })
        .collect();
    serde_json::Value::Array(items)
}
