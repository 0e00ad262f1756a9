//! `lathe master`: one file to a delivery format, with its report.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::analysis::FileAnalysis;

use super::*;

/// The arguments of `lathe master` (parsed by clap).
#[derive(Debug, clap::Args)]
pub struct MasterArgs {
    /// Input audio file.
    #[arg(required_unless_present = "list_presets")]
    pub input: Option<PathBuf>,
    /// Output WAV file.
    #[arg(
        short,
        long,
        value_name = "OUT",
        required_unless_present = "list_presets"
    )]
    pub output: Option<PathBuf>,
    /// A built-in preset (default: streaming). See --list-presets.
    #[arg(long, value_name = "NAME", conflicts_with = "chain")]
    pub preset: Option<String>,
    /// A chain file (TOML).
    #[arg(long, value_name = "FILE.toml")]
    pub chain: Option<PathBuf>,
    /// Integrated loudness target, LUFS (-40 to 0); overrides the preset or chain.
    #[arg(long, value_name = "LUFS", allow_hyphen_values = true)]
    pub target: Option<f64>,
    /// True-peak ceiling, dBTP (-12 to 0); overrides the preset or chain.
    #[arg(long, value_name = "DBTP", allow_hyphen_values = true)]
    pub ceiling: Option<f64>,
    /// The most gain reduction the limiter may apply to reach the target,
    /// dB (0 to 30): the target becomes a maximum, the master stops
    /// short of it rather than limit more. Overrides the chain's.
    #[arg(long, value_name = "DB")]
    pub max_limiting: Option<f64>,
    /// Match the tonal balance of this reference track: adds a match
    /// module before the dynamics (or sets the chain's), and targets the
    /// reference's integrated loudness unless --target is given.
    #[arg(long, value_name = "REF")]
    pub reference: Option<PathBuf>,
    /// How much of the difference to the reference is corrected, % (0 to 100, default 50).
    #[arg(long, value_name = "PCT")]
    pub amount: Option<f64>,
    /// Write the match curve applied (frequency, mid and side gain in dB) to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    pub curve: Option<PathBuf>,
    /// Output sample rate, Hz (default: the input's).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<u32>,
    /// Output word length: 16, 24 or 32f (float). Default 24.
    #[arg(long, value_name = "16|24|32f", default_value = "24")]
    pub bits: String,
    /// Dither for integer output: tpdf, shaped or none. Default tpdf.
    #[arg(long, value_name = "tpdf|shaped|none", default_value = "tpdf")]
    pub dither: String,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Then check the master through these codecs (aac-KBPS, mp3-KBPS,
    /// opus-KBPS): decoded peaks, overs, loudness change, artifacts, trim;
    /// a decoded true peak over 0 dBTP fails (exit 1).
    #[arg(long, value_name = "CODECS", value_delimiter = ',', value_parser = crate::io::lossy::CodecSpec::parse)]
    pub codec: Vec<crate::io::lossy::CodecSpec>,
    /// List the built-in presets with their chains and exit.
    #[arg(long)]
    pub list_presets: bool,
}

pub(super) fn cmd_master(a: MasterArgs) -> crate::Result<ExitCode> {
    use crate::LatheError;
    use crate::io::dither::DitherKind;
    use crate::io::encode::SampleFormat;
    let (Some(input), Some(output)) = (a.input, a.output) else {
        return Err(LatheError::Invalid("master needs IN and -o OUT".into()));
    };
    let format = SampleFormat::parse(&a.bits)
        .ok_or_else(|| LatheError::Invalid(format!("--bits {}: use 16, 24 or 32f", a.bits)))?;
    let dither = DitherKind::parse(&a.dither).ok_or_else(|| {
        LatheError::Invalid(format!("--dither {}: use tpdf, shaped or none", a.dither))
    })?;
    if let Some(t) = a.target
        && !(-40.0..=0.0).contains(&t)
    {
        return Err(LatheError::Invalid(format!(
            "--target {t}: allowed -40 to 0 LUFS"
        )));
    }
    if let Some(c) = a.ceiling
        && !(-12.0..=0.0).contains(&c)
    {
        return Err(LatheError::Invalid(format!(
            "--ceiling {c}: allowed -12 to 0 dBTP"
        )));
    }
    if let Some(m) = a.max_limiting
        && !(0.0..=30.0).contains(&m)
    {
        return Err(LatheError::Invalid(format!(
            "--max-limiting {m}: allowed 0 to 30 dB"
        )));
    }
    if let Some(p) = a.amount
        && !(0.0..=100.0).contains(&p)
    {
        return Err(LatheError::Invalid(format!(
            "--amount {p}: allowed 0 to 100 %"
        )));
    }
    if a.amount.is_some() && a.reference.is_none() {
        return Err(LatheError::Invalid(
            "--amount applies with --reference".into(),
        ));
    }
    let (mut cfg, name) = load_chain(a.chain.as_deref(), a.preset.as_deref())?;
    if let Some(r) = &a.reference {
        add_reference(&mut cfg, r, a.amount)?;
        if a.target.is_none() {
            // lathe analyze's reader, on both cores (the match module's own
            // measurement of the reference then runs beside the track's).
            let lufs = crate::analysis::analyze_file(r)?.loudness.integrated_lufs;
            if !lufs.is_finite() {
                return Err(LatheError::decode(
                    r,
                    "the match reference is silent (no integrated loudness)",
                ));
            }
            cfg.target_lufs = Some(lufs.clamp(-40.0, 0.0));
        }
    }
    if a.curve.is_some() && !crate::plan::matching::has_match(&cfg) {
        return Err(LatheError::Invalid(
            "--curve needs a match module: give --reference or a chain with type = \"match\""
                .into(),
        ));
    }
    if a.target.is_some() {
        cfg.target_lufs = a.target;
    }
    if a.max_limiting.is_some() {
        cfg.max_limiting_db = a.max_limiting;
    }
    cfg = cfg.with_limiter(a.ceiling);
    crate::cancel::install_handler();
    let opts = crate::render::MasterOptions {
        input,
        output,
        chain: cfg,
        chain_name: name,
        rate: a.rate,
        format,
        dither,
        force: a.force,
        progress: !a.json,
        curve_csv: a.curve,
    };
    let r = crate::render::master_file(&opts)?;
    for w in &r.before.warnings {
        eprintln!("lathe: warning: {w}");
    }
    let over = r.after.true_peak_dbtp > r.ceiling_dbtp;
    let checked = if a.codec.is_empty() {
        Vec::new()
    } else {
        crate::analysis::codec::check_file(&opts.output, &a.codec, r.ceiling_dbtp)
    };
    if a.json {
        let mut v = master_json(&r, &opts);
        if !checked.is_empty() {
            v["codec"] = crate::analysis::codec::to_json(&checked);
        }
        println!("{v}");
    } else {
        print!("{}", master_text(&r, &opts));
        if !checked.is_empty() {
            print!("{}", crate::analysis::codec::format_table(&checked));
        }
    }
    let mut codec_over = false;
    for (spec, c) in &checked {
        match c {
            Ok(c) if c.true_peak_dbtp > 0.0 => {
                codec_over = true;
                eprint_error(&format!(
                    "{}: {spec} decodes to {:+.2} dBTP, over 0 dBTP ({}): lower the ceiling by {:.1} dB",
                    opts.output.display(),
                    c.true_peak_dbtp,
                    crate::analysis::codec::overs_text(c.total_overs()),
                    -c.trim_db
                ));
            }
            Ok(_) => {}
            Err(e) => eprintln!("lathe: warning: {spec} not checked: {e}"),
        }
    }
    if over {
        eprint_error(&format!(
            "{}: true peak {:.2} dBTP exceeds the {:.1} dBTP ceiling",
            opts.output.display(),
            r.after.true_peak_dbtp,
            r.ceiling_dbtp
        ));
        return Ok(ExitCode::from(1));
    }
    if r.limiting.is_heavy() {
        eprintln!(
            "lathe: warning: {}: {}; lower the target or set max_limiting_db",
            opts.output.display(),
            r.limiting.heavy_text()
        );
    }
    if !r.target_reached {
        if r.limiting_cut_db > 0.0 {
            eprintln!(
                "lathe: warning: target {:.1} LUFS missed by {:.1} LU ({:.1} LUFS): stopped at max_limiting_db {:.1} dB",
                r.target_lufs.unwrap_or(0.0),
                r.target_lufs.unwrap_or(0.0) - r.after.loudness.integrated_lufs,
                r.after.loudness.integrated_lufs,
                r.max_limiting_db.unwrap_or(0.0)
            );
        } else {
            eprintln!(
                "lathe: warning: target {:.1} LUFS not reached ({:.1} LUFS) within the {:.1} dBTP ceiling",
                r.target_lufs.unwrap_or(0.0),
                r.after.loudness.integrated_lufs,
                r.ceiling_dbtp
            );
        }
    }
    Ok(if codec_over {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Point the chain's match module at `reference` (adding one before the
/// first compressor, multiband or limiter when it has none).
fn add_reference(
    cfg: &mut crate::session::ChainConfig,
    reference: &std::path::Path,
    amount: Option<f64>,
) -> crate::Result<()> {
    use crate::session::chain::{MatchConfig, ModuleConfig};
    if !reference.is_file() {
        return Err(crate::LatheError::open(
            reference,
            "the match reference does not exist",
        ));
    }
    let abs = std::path::absolute(reference).unwrap_or_else(|_| reference.to_path_buf());
    let text = abs.display().to_string();
    if let Some(ModuleConfig::Match(m)) = cfg
        .modules
        .iter_mut()
        .find(|m| matches!(m, ModuleConfig::Match(_)))
    {
        m.reference = text;
        if let Some(a) = amount {
            m.amount_pct = a;
        }
        return Ok(());
    }
    let at = cfg
        .modules
        .iter()
        .position(|m| {
            matches!(
                m,
                ModuleConfig::Compressor(_) | ModuleConfig::Multiband(_) | ModuleConfig::Limiter(_)
            )
        })
        .unwrap_or(cfg.modules.len());
    let mut m = MatchConfig {
        reference: text,
        ..MatchConfig::default()
    };
    if let Some(a) = amount {
        m.amount_pct = a;
    }
    cfg.modules.insert(at, ModuleConfig::Match(m));
    Ok(())
}

pub(super) fn master_text(
    r: &crate::render::MasterReport,
    o: &crate::render::MasterOptions,
) -> String {
    let mut s = format!(
        "{} -> {}\n  chain {}, {} Hz, {}, dither {}\n",
        o.input.display(),
        o.output.display(),
        r.chain_name,
        r.after.sample_rate,
        match r.format {
            crate::io::encode::SampleFormat::Float32 => "32-bit float".to_string(),
            f => format!("{}-bit", f.bits()),
        },
        r.dither.name()
    );
    s.push_str(&format!("  {:<16}{:>12}  {:>12}\n", "", "before", "after"));
    let row = |label: &str, b: f64, a: f64, unit: &str, note: String| {
        format!(
            "  {label:<16}{:>12}  {:>12}{note}\n",
            fmt_num(b, unit),
            fmt_num(a, unit)
        )
    };
    s.push_str(&row(
        "Integrated",
        r.before.loudness.integrated_lufs,
        r.after.loudness.integrated_lufs,
        "LUFS",
        r.target_lufs
            .map(|t| format!("   target {t:.1}"))
            .unwrap_or_default(),
    ));
    s.push_str(&row(
        "Loudness range",
        r.before.loudness.loudness_range_lu,
        r.after.loudness.loudness_range_lu,
        "LU",
        String::new(),
    ));
    s.push_str(&row(
        "True peak",
        r.before.true_peak_dbtp,
        r.after.true_peak_dbtp,
        "dBTP",
        format!("   ceiling {:.1}", r.ceiling_dbtp),
    ));
    s.push_str(&row(
        "PLR",
        r.before.plr_db(),
        r.after.plr_db(),
        "dB",
        String::new(),
    ));
    s.push_str(&format!(
        "  Gain into limiter {:+.2} dB ({} search passes)\n",
        r.gain_db, r.search_passes
    ));
    let grs: Vec<String> = r
        .max_gain_reduction
        .iter()
        .filter(|(_, g)| *g > 0.005)
        .map(|(n, g)| format!("{n} {g:.1} dB"))
        .collect();
    if !grs.is_empty() {
        s.push_str(&format!("  Max gain reduction: {}\n", grs.join(", ")));
    }
    s.push_str(&format!(
        "  Limiting          {}\n",
        limiting_text(&r.limiting)
    ));
    for m in &r.matching {
        s.push_str(&match_text(m));
    }
    for h in &r.hum {
        s.push_str(&format!("  Hum              {}\n", h.describe()));
    }
    for n in &r.noise {
        s.push_str(&format!("  De-hiss          {}\n", n.describe()));
    }
    if let Some(n) = r.clicks_repaired {
        s.push_str(&format!("  De-click         {n} clicks repaired\n"));
    }
    if r.limiting_cut_db > 0.0 {
        s.push_str(&format!(
            "  Target missed by {:.1} LU: stopped at max_limiting_db {:.1} dB (the target needed {:.1} dB more gain)\n",
            r.target_lufs.unwrap_or(0.0) - r.after.loudness.integrated_lufs,
            r.max_limiting_db.unwrap_or(0.0),
            r.limiting_cut_db
        ));
    }
    s
}

/// The match verification: summaries, then the residual per band.
pub(super) fn match_text(m: &crate::render::MatchReport) -> String {
    let [mb, ma, sb, sa] = m.summaries();
    let mut s = format!(
        "  Match            reference {}, amount {:.0} %\n    residual vs reference (1/3 octave, 25 Hz - 16 kHz): mid max {:.1} rms {:.1} dB -> max {:.1} rms {:.1} dB; side max {:.1} rms {:.1} dB -> max {:.1} rms {:.1} dB\n",
        m.reference, m.amount_pct, mb.0, mb.1, ma.0, ma.1, sb.0, sb.1, sa.0, sa.1
    );
    s.push_str("    band Hz        mid before  after   side before  after\n");
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:+.1}")
        } else {
            "-".to_string()
        }
    };
    for (i, hz) in m.bands_hz.iter().enumerate() {
        let _ = hz;
        s.push_str(&format!(
            "    {:<12}{:>10}{:>7}{:>13}{:>7}\n",
            crate::analysis::tonal::band_label(i),
            f(m.mid_before_db[i]),
            f(m.mid_after_db[i]),
            f(m.side_before_db[i]),
            f(m.side_after_db[i])
        ));
    }
    s
}

/// The match verification as JSON.
pub(super) fn match_json(m: &crate::render::MatchReport) -> serde_json::Value {
    let num = crate::units::json_number;
    let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>();
    let [mb, ma, sb, sa] = m.summaries();
    let pair = |p: (f64, f64)| serde_json::json!({"max_db": num(p.0), "rms_db": num(p.1)});
    serde_json::json!({
        "reference": m.reference,
        "amount_pct": m.amount_pct,
        "bands_hz": list(&m.bands_hz),
        "mid_before_db": list(&m.mid_before_db),
        "mid_after_db": list(&m.mid_after_db),
        "side_before_db": list(&m.side_before_db),
        "side_after_db": list(&m.side_after_db),
        "mid_before": pair(mb),
        "mid_after": pair(ma),
        "side_before": pair(sb),
        "side_after": pair(sa),
    })
}

/// "peak 6.0 dB, mean 1.2 dB, over 3 dB 12.5 % and over 6 dB 0.4 % of the time".
pub(super) fn limiting_text(l: &crate::dsp::limiter::LimitingStats) -> String {
    format!(
        "peak {:.1} dB, mean {:.1} dB, over 3 dB {:.1} % and over 6 dB {:.1} % of the time",
        l.peak_gr_db(),
        l.mean_gr_db(),
        l.share_over_3db() * 100.0,
        l.share_over_6db() * 100.0
    )
}

/// The limiter's work as JSON.
pub(super) fn limiting_json(l: &crate::dsp::limiter::LimitingStats) -> serde_json::Value {
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    serde_json::json!({
        "peak_gr_db": r3(l.peak_gr_db()),
        "mean_gr_db": r3(l.mean_gr_db()),
        "share_over_3db": r3(l.share_over_3db()),
        "share_over_6db": r3(l.share_over_6db()),
        "heavy": l.is_heavy(),
    })
}

pub(super) fn master_json(
    r: &crate::render::MasterReport,
    o: &crate::render::MasterOptions,
) -> serde_json::Value {
    let num = crate::units::json_number;
    let side = |a: &FileAnalysis| {
        serde_json::json!({
            "integrated_lufs": num(a.loudness.integrated_lufs),
            "loudness_range_lu": num(a.loudness.loudness_range_lu),
            "true_peak_dbtp": num(a.true_peak_dbtp),
            "sample_peak_dbfs": num(a.sample_peak_dbfs),
            "plr_db": num(a.plr_db()),
            "sample_rate": a.sample_rate,
        })
    };
    let gr: serde_json::Map<String, serde_json::Value> = r
        .max_gain_reduction
        .iter()
        .map(|(n, g)| (n.clone(), num(*g)))
        .collect();
    serde_json::json!({
        "input": o.input.display().to_string(),
        "output": o.output.display().to_string(),
        "chain": r.chain_name,
        "target_lufs": r.target_lufs,
        "ceiling_dbtp": r.ceiling_dbtp,
        "gain_db": num(r.gain_db),
        "target_reached": r.target_reached,
        "bits": r.format.bits(),
        "float": !r.format.is_int(),
        "dither": r.dither.name(),
        "before": side(&r.before),
        "after": side(&r.after),
        "max_gain_reduction_db": gr,
        "limiting": limiting_json(&r.limiting),
        "max_limiting_db": r.max_limiting_db,
        "limiting_cut_db": num(r.limiting_cut_db),
        "match": r.matching.iter().map(match_json).collect::<Vec<_>>(),
        "hum": r.hum.iter().map(|h| serde_json::json!({
            "freq_hz": num(h.freq_hz),
            "harmonics": h.harmonics.iter().map(|k| serde_json::json!({
                "number": k.number,
                "freq_hz": num(k.freq_hz),
                "level_dbfs": num(k.level_dbfs),
                "above_db": num(k.above_db),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "clicks_repaired": r.clicks_repaired,
        "dehiss": r.noise.iter().map(|n| serde_json::json!({
            "noise_6_16k_dbfs": n.band_rms_dbfs(6000.0, 16_000.0).into_iter().map(num).collect::<Vec<_>>(),
            "noise_300_2k_dbfs": n.band_rms_dbfs(300.0, 2000.0).into_iter().map(num).collect::<Vec<_>>(),
            "learnt_from": match n.source {
                crate::audio::noise::ProfileSource::Track => serde_json::json!("track"),
                crate::audio::noise::ProfileSource::Range(a, b) => serde_json::json!([a, b]),
            },
        })).collect::<Vec<_>>(),
    })
}
