//! `lathe master`: one file through a chain to a delivery format.
//!
//! Order (so the true-peak ceiling holds in the delivered file): decode →
//! sample-rate conversion to the delivery rate → chain modules (latency
//! removed) → loudness-target gain → true-peak limiter → dither → quantize
//! → atomic write → re-read and measure. Everything after the conversion
//! runs at the delivery rate, as playback runs it.
//!
//! **Loudness targeting.** A limiter lowers integrated loudness by an amount
//! that depends on the material, so the gain into it is found by search: the
//! processed signal is spooled to a temporary file once; starting from
//! `target − I(pre-limiter)`, each step runs the limiter and a BS.1770 meter
//! over the spool (hundreds of times real time) and updates the gain by the
//! secant method on `I(gain) − target`, stopping within 0.05 LU (at most 10
//! passes). The final pass uses exactly that gain, so the written file's
//! loudness is what the search measured (dither changes it by far less than
//! 0.01 LU). If the ceiling makes the target unreachable the report says so.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::analysis::{FileAnalysis, analyze_file};
use crate::dsp::chain::Chain;
use crate::dsp::limiter::LimitingStats;
use crate::error::{LatheError, Result};
use crate::io::dither::{DitherKind, Quantizer};
use crate::io::encode::{SampleFormat, WavOutput};
use crate::io::{AudioSource, FileSource};
use crate::session::chain::ChainConfig;

pub use crate::plan::gain::{EXACT_TOLERANCE_LU, MAX_PASSES};
use crate::plan::gain::{
    limit_spool, limiter_only, limiting_at, limiting_cut_db, process_to_spool, search_gain,
};

/// What to master and how.
#[derive(Debug, Clone)]
pub struct MasterOptions {
    /// Input file.
    pub input: PathBuf,
    /// Output WAV file.
    pub output: PathBuf,
    /// The chain (a limiter is appended if missing).
    pub chain: ChainConfig,
    /// A name for the chain in reports (preset name or file).
    pub chain_name: String,
    /// Output sample rate, Hz (None: the input's).
    pub rate: Option<u32>,
    /// Output sample format.
    pub format: SampleFormat,
    /// Dither for integer output.
    pub dither: DitherKind,
    /// Replace an existing output.
    pub force: bool,
    /// Show a progress bar on stderr (only if it is a terminal).
    pub progress: bool,
    /// Write each match module's applied curve here (CSV), if given.
    pub curve_csv: Option<PathBuf>,
}

/// What a match module did, checked on the written file: the residual
/// difference per 1/3-octave band (25 Hz – 16 kHz) between the
/// loudness-normalized audio and the reference, before (the track as it
/// entered the module) and after (the written file), mid and side, dB
/// (result − reference; NaN where a band is empty).
#[derive(Debug, Clone)]
pub struct MatchReport {
    /// The reference as named.
    pub reference: String,
    /// Amount, %.
    pub amount_pct: f64,
    /// Band centres, Hz.
    pub bands_hz: Vec<f64>,
    /// Mid residual before, per band, dB.
    pub mid_before_db: Vec<f64>,
    /// Mid residual after, per band, dB.
    pub mid_after_db: Vec<f64>,
    /// Side residual before, per band, dB.
    pub side_before_db: Vec<f64>,
    /// Side residual after, per band, dB.
    pub side_after_db: Vec<f64>,
    /// Bands where the reference's side is within 30 dB of its mid (the
    /// side's summaries count only these: elsewhere the side is noise).
    pub side_counts: Vec<bool>,
    /// The applied curve.
    pub curve: crate::dsp::matcheq::MatchCurve,
}

impl MatchReport {
    /// Largest absolute residual and RMS residual over the bands, dB
    /// (`side` picks the side, counting only [`MatchReport::side_counts`]).
    pub fn summary(v: &[f64], only: Option<&[bool]>) -> (f64, f64) {
        let vals: Vec<f64> = v
            .iter()
            .enumerate()
            .filter(|(i, x)| x.is_finite() && only.is_none_or(|o| o[*i]))
            .map(|(_, x)| *x)
            .collect();
        if vals.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        let max = vals.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let rms = (vals.iter().map(|x| x * x).sum::<f64>() / vals.len() as f64).sqrt();
        (max, rms)
    }

    /// (max, rms) of the mid before and after, then the side's, dB.
    pub fn summaries(&self) -> [(f64, f64); 4] {
        [
            Self::summary(&self.mid_before_db, None),
            Self::summary(&self.mid_after_db, None),
            Self::summary(&self.side_before_db, Some(&self.side_counts)),
            Self::summary(&self.side_after_db, Some(&self.side_counts)),
        ]
    }
}

/// The residual of `x` against `r` per band, dB.
fn residual(x: &[f64], r: &[f64]) -> Vec<f64> {
    x.iter()
        .zip(r)
        .map(|(a, b)| {
            if a.is_finite() && b.is_finite() {
                a - b
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Reports for the match modules of `cfg` against `output`'s spectrum.
fn match_reports(
    cfg: &ChainConfig,
    output: &crate::analysis::longterm::MsSpectrum,
) -> Vec<MatchReport> {
    use crate::session::chain::ModuleConfig;
    let (out_mid, out_side) = output.bands_db();
    cfg.modules
        .iter()
        .filter_map(|m| match m {
            ModuleConfig::Match(c) if !c.bypass => {
                let a = c.analysis.as_ref()?;
                let (rm, rs) = a.reference.bands_db();
                let (tm, ts) = a.track.bands_db();
                Some(MatchReport {
                    reference: a.reference_label.clone(),
                    amount_pct: c.amount_pct,
                    bands_hz: (0..crate::analysis::tonal::BANDS)
                        .map(crate::analysis::tonal::band_centre_hz)
                        .collect(),
                    mid_before_db: residual(&tm, &rm),
                    mid_after_db: residual(&out_mid, &rm),
                    side_before_db: residual(&ts, &rs),
                    side_after_db: residual(&out_side, &rs),
                    side_counts: rm.iter().zip(&rs).map(|(m, s)| s - m > -30.0).collect(),
                    curve: crate::dsp::matcheq::design_curve(c, a),
                })
            }
            _ => None,
        })
        .collect()
}

/// Write `reports`' curves to `path` as CSV (atomically): one row per
/// grid point, `freq_hz` then mid and side gain in dB for each module.
fn write_curves(path: &std::path::Path, reports: &[MatchReport], force: bool) -> Result<()> {
    use std::io::Write;
    let mut f = crate::io::atomic::AtomicFile::create(path, &[], force)?;
    let mut text = String::from("freq_hz");
    for k in 0..reports.len() {
        let n = if reports.len() > 1 {
            format!("_{}", k + 1)
        } else {
            String::new()
        };
        text.push_str(&format!(",mid_db{n},side_db{n}"));
    }
    text.push('\n');
    for g in 0..crate::analysis::longterm::GRID_POINTS {
        text.push_str(&format!("{:.2}", crate::analysis::longterm::grid_hz(g)));
        for r in reports {
            text.push_str(&format!(
                ",{:.3},{:.3}",
                r.curve.mid_db[g], r.curve.side_db[g]
            ));
        }
        text.push('\n');
    }
    f.write_all(text.as_bytes())
        .map_err(|e| LatheError::write(path, e.to_string()))?;
    f.commit()?;
    Ok(())
}

/// What `lathe master` did, measured on the written file.
#[derive(Debug, Clone)]
pub struct MasterReport {
    /// The input as analyzed.
    pub before: FileAnalysis,
    /// The written file as re-read and analyzed.
    pub after: FileAnalysis,
    /// Target loudness, LUFS, if any.
    pub target_lufs: Option<f64>,
    /// Limiter ceiling, dBTP.
    pub ceiling_dbtp: f64,
    /// Gain into the limiter, dB.
    pub gain_db: f64,
    /// Whether the target was met within 0.3 LU.
    pub target_reached: bool,
    /// Limiter passes the loudness search ran.
    pub search_passes: usize,
    /// Largest gain reduction per module over the whole file, dB.
    pub max_gain_reduction: Vec<(String, f64)>,
    /// How hard the limiter worked on the written file.
    pub limiting: LimitingStats,
    /// The limit on the limiter's gain reduction, dB, if any.
    pub max_limiting_db: Option<f64>,
    /// Gain given up to stay within `max_limiting_db`, dB (0: none); the
    /// target is then missed by about this much.
    pub limiting_cut_db: f64,
    /// Chain name.
    pub chain_name: String,
    /// Dither used.
    pub dither: DitherKind,
    /// Output format.
    pub format: SampleFormat,
    /// What each match module did, checked on the written file.
    pub matching: Vec<MatchReport>,
    /// What each hum module set to "auto" found (and so notched).
    pub hum: Vec<crate::audio::hum::HumFound>,
    /// The noise profile each de-hisser learnt (and so lowered).
    pub noise: Vec<crate::audio::noise::NoiseProfile>,
    /// Clicks the de-clickers repaired (None: no de-clicker in use).
    pub clicks_repaired: Option<u64>,
}

struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(enabled: bool, total: u64) -> Self {
        if enabled && std::io::stderr().is_terminal() {
            let pb = indicatif::ProgressBar::new(total);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{msg:>18} [{bar:40}] {percent:>3}% {eta}")
            {
                pb.set_style(style.progress_chars("=> "));
            }
            Self(Some(pb))
        } else {
            Self(None)
        }
    }
    fn stage(&self, msg: &str, len: u64) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.to_string());
            pb.set_length(len);
            pb.set_position(0);
        }
    }
    fn inc(&self, n: u64) {
        if let Some(pb) = &self.0 {
            pb.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

/// Master one file (see the module docs for the order of operations).
pub fn master_file(opts: &MasterOptions) -> Result<MasterReport> {
    let timing = std::env::var_os("LATHE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let stamp = |what: &str| {
        if timing {
            eprintln!("{what}: {:.3} s", t0.elapsed().as_secs_f64());
        }
    };
    let inputs = [opts.input.clone()];
    crate::io::atomic::check_output(&opts.output, &inputs, opts.force)?;
    if let Some(c) = &opts.curve_csv {
        crate::io::atomic::check_output(c, &inputs, opts.force)?;
        if c == &opts.output {
            return Err(LatheError::Invalid(format!(
                "{}: the curve and the master cannot be the same file",
                c.display()
            )));
        }
    }
    let mut chain_cfg = opts.chain.clone().with_limiter(None);
    // Match modules measure the track and their references first.
    crate::plan::matching::resolve_file(&mut chain_cfg, &opts.input, std::path::Path::new("."))?;
    stamp("match analysis");
    let mut source = FileSource::open(&opts.input)?;
    let info = source.info().clone();
    let out_rate = opts.rate.unwrap_or(info.sample_rate);
    if !(crate::io::decode::MIN_SAMPLE_RATE..=crate::io::decode::MAX_SAMPLE_RATE)
        .contains(&out_rate)
    {
        return Err(LatheError::Invalid(format!(
            "--rate {out_rate} is outside 8000..=384000 Hz"
        )));
    }
    // Everything after the conversion runs at the delivery rate (as playback does).
    let mut chain = Chain::from_config(&chain_cfg, out_rate, info.channels)
        .map_err(|e| LatheError::decode(&opts.input, e.to_string()))?;
    let total = info.total_frames.unwrap_or(0);
    let progress = Progress::new(opts.progress, total);
    progress.stage("processing", total);
    let out_dir = match opts.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // What renders killed hard left here (spools, half-written files).
    crate::plan::spool::remove_stale(&out_dir);
    let names: Vec<String> = chain
        .gain_reductions()
        .map(|(n, _)| n.to_string())
        .collect();
    let mut gr = vec![0.0; names.len()];
    // Measure the input on one core while the chain runs on the other.
    let (before, processed) = rayon::join(
        || analyze_file(&opts.input),
        || {
            process_to_spool(
                &mut source,
                &mut chain,
                out_rate,
                &out_dir,
                &|n| progress.inc(n),
                &mut gr,
                false,
            )
        },
    );
    let before = before?;
    let spooled = processed?;
    let spool = &spooled.spool;
    let clicks_repaired = chain.clicks_repaired();
    stamp("analyze input + chain + SRC to spool");
    let lim_cfg = limiter_only(&chain_cfg);
    let ceiling = chain_cfg.limiter().ceiling_dbtp;
    let target = chain_cfg.target_lufs;
    let (mut gain_db, passes) = match target {
        Some(t) => {
            progress.stage("loudness search", MAX_PASSES as u64);
            let (g, _, p) = search_gain(
                &spooled,
                &lim_cfg,
                out_rate,
                &info.channel_weights,
                t,
                &|p| {
                    if let Some(pb) = &progress.0 {
                        pb.set_position(p as u64);
                    }
                },
            )?;
            (g, p)
        }
        None => (0.0, 0),
    };
    stamp("loudness search");
    // The target is a maximum when the limiting is limited: stop short.
    let max_limiting_db = chain_cfg.max_limiting_db;
    let mut limiting_cut = 0.0;
    if let (Some(m), Some(_)) = (max_limiting_db, target) {
        let st = limiting_at(spool, &lim_cfg, out_rate, info.channels, gain_db)?;
        limiting_cut = limiting_cut_db(st.peak_gr_db(), m);
        gain_db -= limiting_cut;
    }
    progress.stage("writing", spool.frames());
    let mut out = WavOutput::create(
        &opts.output,
        out_rate,
        info.channels,
        opts.format,
        &inputs,
        opts.force,
    )?;
    let mut quant = opts
        .format
        .is_int()
        .then(|| Quantizer::new(opts.format.bits(), opts.dither, info.channels, 0x1a7e_5eed));
    let lim_gr = limit_spool(
        spool,
        &lim_cfg,
        out_rate,
        info.channels,
        gain_db,
        &mut |b| {
            if let Some(q) = quant.as_mut() {
                q.process(b);
            }
            progress.inc(b.frames as u64);
            out.write_block(b)
        },
    )?;
    drop(spooled);
    out.finish()?;
    progress.finish();
    if let Some(last) = gr.last_mut() {
        *last = last.max(lim_gr.peak_gr_db());
    }
    stamp("limit, dither, write");
    // The written file measured again; its spectrum too, for the match
    // verification, on the other core.
    let wants_spectrum = crate::plan::matching::has_match(&chain_cfg);
    let (after, out_spectrum) = rayon::join(
        || analyze_file(&opts.output),
        || {
            wants_spectrum
                .then(|| crate::analysis::longterm::reference_spectrum(&opts.output).ok())
                .flatten()
        },
    );
    let after = after?;
    stamp("analyze output");
    let matching = if wants_spectrum {
        let out = out_spectrum;
        let reports = out
            .map(|o| match_reports(&chain_cfg, &o))
            .unwrap_or_default();
        if let Some(c) = &opts.curve_csv {
            write_curves(c, &reports, opts.force)?;
        }
        stamp("match verification");
        reports
    } else {
        Vec::new()
    };
    let target_reached = target.is_none_or(|t| (after.loudness.integrated_lufs - t).abs() <= 0.3);
    Ok(MasterReport {
        before,
        after,
        target_lufs: target,
        ceiling_dbtp: ceiling,
        gain_db,
        target_reached,
        search_passes: passes,
        max_gain_reduction: names.into_iter().zip(gr).collect(),
        limiting: lim_gr,
        max_limiting_db,
        limiting_cut_db: limiting_cut,
        chain_name: opts.chain_name.clone(),
        dither: if opts.format.is_int() {
            opts.dither
        } else {
            DitherKind::None
        },
        format: opts.format,
        matching,
        hum: chain_cfg
            .modules
            .iter()
            .filter_map(|m| match m {
                crate::session::chain::ModuleConfig::Hum(h) if !h.bypass => {
                    h.found.as_deref().cloned()
                }
                _ => None,
            })
            .collect(),
        clicks_repaired,
        noise: chain_cfg
            .modules
            .iter()
            .filter_map(|m| match m {
                crate::session::chain::ModuleConfig::Dehiss(d) if !d.bypass => {
                    d.profile.as_deref().cloned()
                }
                _ => None,
            })
            .collect(),
    })
}
