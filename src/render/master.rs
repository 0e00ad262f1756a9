//! `lathe master`: one file through a chain to a delivery format.
//!
//! Order (so the true-peak ceiling holds in the delivered file): decode →
//! chain modules at the source rate (latency removed) → sample-rate
//! conversion to the delivery rate → loudness-target gain → true-peak
//! limiter at the delivery rate → dither → quantize → atomic write → re-read
//! and measure.
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
use std::path::{Path, PathBuf};

use crate::analysis::loudness::{LoudnessMeter, LoudnessSummary};
use crate::analysis::{FileAnalysis, analyze_file};
use crate::cancel;
use crate::dsp::chain::Chain;
use crate::dsp::limiter::LimitingStats;
use crate::error::{LatheError, Result};
use crate::io::dither::{DitherKind, Quantizer};
use crate::io::encode::{SampleFormat, WavOutput};
use crate::io::resample::Resampler;
use crate::io::{AudioBlock, AudioSource, FileSource};
use crate::session::chain::{ChainConfig, ModuleConfig};

use super::spool::Spool;

const BLOCK: usize = 8192;
/// Loudness search stops within this many LU of the target.
pub const SEARCH_TOLERANCE_LU: f64 = 0.05;
const MAX_PASSES: usize = 10;

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

/// Fill `block` with up to `left` frames of silence (flushing a latency),
/// counting them off `left`.
fn fill_silence(block: &mut AudioBlock, left: &mut usize) {
    let k = (*left).min(block.capacity());
    for ch in &mut block.channels {
        ch[..k].iter_mut().for_each(|v| *v = 0.0);
    }
    block.frames = k;
    *left -= k;
}

/// Remove up to `left` frames from the front of `block` (a latency not yet
/// dropped), counting them off `left`.
fn drop_front(block: &mut AudioBlock, left: &mut usize) {
    if *left == 0 {
        return;
    }
    let d = (*left).min(block.frames);
    for ch in &mut block.channels {
        ch.copy_within(d..block.frames, 0);
    }
    block.frames -= d;
    *left -= d;
}

/// Run the chain's pre-limiter modules over `source`, convert to `out_rate`,
/// and spool the result. Returns the spool and its integrated loudness.
pub fn process_to_spool(
    source: &mut dyn AudioSource,
    chain: &mut Chain,
    out_rate: u32,
    spool_dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
    gr: &mut [f64],
) -> Result<(Spool, LoudnessSummary)> {
    let info = source.info().clone();
    let channels = info.channels;
    let mut spool = Spool::create(spool_dir, channels)?;
    let mut resampler = if out_rate != info.sample_rate {
        Some(Resampler::new(info.sample_rate, out_rate, channels)?)
    } else {
        None
    };
    let mut meter = LoudnessMeter::new(out_rate, &info.channel_weights);
    // Two stages on two threads: decode + chain here, conversion + metering
    // + spooling in a helper, connected by a short queue of blocks.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(AudioBlock, bool)>(4);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<AudioBlock>();
    for _ in 0..6 {
        let _ = free_tx.send(AudioBlock::new(channels, BLOCK));
    }
    let spool_ref = &mut spool;
    let meter_ref = &mut meter;
    let mut writer = |rx: std::sync::mpsc::Receiver<(AudioBlock, bool)>| -> Result<()> {
        let mut converted: Vec<Vec<f32>> = vec![Vec::new(); channels];
        let mut out_block = AudioBlock::new(channels, BLOCK * 8 + 64);
        while let Ok((block, last)) = rx.recv() {
            match resampler.as_mut() {
                None => {
                    meter_ref.push(&block.channels, block.frames);
                    spool_ref.write(&block)?;
                }
                Some(r) => {
                    for c in &mut converted {
                        c.clear();
                    }
                    r.process(&block, &mut converted)?;
                    if last {
                        r.finish(&mut converted)?;
                    }
                    let n = converted[0].len();
                    let mut pos = 0;
                    while pos < n {
                        let k = (n - pos).min(out_block.capacity());
                        for (d, s) in out_block.channels.iter_mut().zip(&converted) {
                            d[..k].copy_from_slice(&s[pos..pos + k]);
                        }
                        out_block.frames = k;
                        meter_ref.push(&out_block.channels, k);
                        spool_ref.write(&out_block)?;
                        pos += k;
                    }
                }
            }
            let _ = free_tx.send(block);
            if last {
                break;
            }
        }
        Ok(())
    };
    let mut reader = |tx: std::sync::mpsc::SyncSender<(AudioBlock, bool)>| -> Result<()> {
        let mut to_drop = chain.latency_pre();
        let mut flush_left = to_drop;
        loop {
            cancel::check()?;
            let mut block = free_rx
                .recv()
                .unwrap_or_else(|_| AudioBlock::new(channels, BLOCK));
            let n = source.read(&mut block)?;
            let last_input = n == 0;
            if last_input {
                // Flush the chain's latency with silence.
                fill_silence(&mut block, &mut flush_left);
            } else {
                progress(n as u64);
            }
            chain.process_pre(&mut block);
            for (g, (_, r)) in gr.iter_mut().zip(chain.gain_reductions()) {
                *g = g.max(r);
            }
            // Drop the first `latency` frames so the output lines up with the input.
            drop_front(&mut block, &mut to_drop);
            let done = last_input && flush_left == 0;
            if tx.send((block, done)).is_err() || done {
                return Ok(());
            }
        }
    };
    let (read_result, write_result) = std::thread::scope(|s| {
        let w = s.spawn(move || writer(rx));
        let r = reader(tx);
        (r, w.join())
    });
    match write_result {
        Ok(r) => r?,
        Err(_) => return Err(LatheError::Invalid("the conversion stage failed".into())),
    }
    read_result?;
    spool.finish()?;
    Ok((spool, meter.summary().clone()))
}

/// Run the loudness-target gain and the limiter over a spool, latency
/// removed, handing each output block to `sink`. Returns how hard the
/// limiter worked (peak and time-weighted gain reduction).
pub fn limit_spool(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    channels: usize,
    gain_db: f64,
    sink: &mut dyn FnMut(&mut AudioBlock) -> Result<()>,
) -> Result<LimitingStats> {
    limit_range(
        spool,
        limiter_chain,
        rate,
        channels,
        gain_db,
        0,
        u64::MAX,
        sink,
    )
}

/// [`limit_spool`] for output frames `start..end` only: the limiter starts
/// fresh at `start` (callers that need a settled state start earlier and
/// discard the first output).
#[allow(clippy::too_many_arguments)]
pub fn limit_range(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    channels: usize,
    gain_db: f64,
    start: u64,
    end: u64,
    sink: &mut dyn FnMut(&mut AudioBlock) -> Result<()>,
) -> Result<LimitingStats> {
    let mut chain = Chain::from_config(limiter_chain, rate, channels)?;
    chain.jump_target_gain_db(gain_db);
    let mut reader = spool.reader_at(start)?;
    let mut block = AudioBlock::new(channels, BLOCK);
    let mut to_drop = chain.latency_post();
    let mut flush_left = to_drop;
    let mut out_pos = start;
    while out_pos < end {
        cancel::check()?;
        let n = reader.read(&mut block)?;
        if n == 0 {
            if flush_left == 0 {
                break;
            }
            fill_silence(&mut block, &mut flush_left);
        }
        chain.process_post(&mut block);
        drop_front(&mut block, &mut to_drop);
        let keep = (end - out_pos).min(block.frames as u64) as usize;
        block.frames = keep;
        out_pos += keep as u64;
        if keep > 0 {
            sink(&mut block)?;
        }
    }
    Ok(chain.limiter_stats())
}

/// Integrated loudness after the gain and limiter, measured on two halves
/// in parallel. The second half's limiter starts 4 s early (its release has
/// settled long before) and its meter gets the 3 s window history it needs,
/// so the result matches one sequential pass to within 0.01 LU.
fn limited_loudness(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    weights: &[f64],
    gain_db: f64,
) -> Result<f64> {
    Ok(
        limited_summary(spool, limiter_chain, rate, weights, gain_db)?
            .stats()
            .integrated_lufs,
    )
}

/// The loudness summary of a spool after gain and limiter (see
/// `limited_loudness`), mergeable across tracks.
pub fn limited_summary(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    weights: &[f64],
    gain_db: f64,
) -> Result<LoudnessSummary> {
    use crate::analysis::loudness::subblock_start;
    let channels = weights.len();
    let subs = spool.frames() * 100 / u64::from(rate);
    let mid_sub = subs / 2;
    if mid_sub < 1000 {
        let mut meter = LoudnessMeter::new(rate, weights);
        limit_spool(spool, limiter_chain, rate, channels, gain_db, &mut |b| {
            meter.push(&b.channels, b.frames);
            Ok(())
        })?;
        return Ok(meter.summary().clone());
    }
    let mid = subblock_start(mid_sub, rate);
    let warm_sub = mid_sub - 400;
    let warm = subblock_start(warm_sub, rate);
    let (a, b) = rayon::join(
        || -> Result<crate::analysis::loudness::LoudnessSummary> {
            let mut meter = LoudnessMeter::new(rate, weights);
            limit_range(
                spool,
                limiter_chain,
                rate,
                channels,
                gain_db,
                0,
                mid,
                &mut |b| {
                    meter.push(&b.channels, b.frames);
                    Ok(())
                },
            )?;
            Ok(meter.summary().clone())
        },
        || -> Result<crate::analysis::loudness::LoudnessSummary> {
            let mut meter = LoudnessMeter::for_chunk(rate, weights, warm, mid_sub - 300, mid_sub);
            limit_range(
                spool,
                limiter_chain,
                rate,
                channels,
                gain_db,
                warm,
                u64::MAX,
                &mut |b| {
                    meter.push(&b.channels, b.frames);
                    Ok(())
                },
            )?;
            Ok(meter.summary().clone())
        },
    );
    let mut summary = a?;
    summary.merge(&b?);
    Ok(summary)
}

/// Search the gain into the limiter that brings the spool to `target` LUFS
/// (see the module docs). Returns (gain dB, measured LUFS, passes).
pub fn search_gain(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    weights: &[f64],
    pre_lufs: f64,
    target: f64,
    progress: &dyn Fn(usize),
) -> Result<(f64, f64, usize)> {
    if !pre_lufs.is_finite() {
        return Ok((0.0, f64::NEG_INFINITY, 0));
    }
    secant(
        |g| limited_loudness(spool, limiter_chain, rate, weights, g),
        target - pre_lufs,
        target,
        progress,
    )
}

/// Secant search for the gain `g` (dB, −40..40) with `loudness(g) = target`,
/// starting at `g0`: stops within [`SEARCH_TOLERANCE_LU`] or after
/// `MAX_PASSES` evaluations and returns the best (gain, loudness, passes).
/// Steps are limited to 12 dB; a flat slope falls back to a 1:1 step.
pub fn secant(
    loudness: impl Fn(f64) -> Result<f64>,
    g0: f64,
    target: f64,
    progress: &dyn Fn(usize),
) -> Result<(f64, f64, usize)> {
    let mut g0 = g0.clamp(-40.0, 40.0);
    let mut l0 = loudness(g0)?;
    let mut passes = 1;
    progress(passes);
    let mut best = (g0, l0);
    if (l0 - target).abs() <= SEARCH_TOLERANCE_LU {
        return Ok((g0, l0, passes));
    }
    let mut g1 = (g0 + (target - l0)).clamp(-40.0, 40.0);
    while passes < MAX_PASSES {
        let l1 = loudness(g1)?;
        passes += 1;
        progress(passes);
        if (l1 - target).abs() < (best.1 - target).abs() {
            best = (g1, l1);
        }
        if (l1 - target).abs() <= SEARCH_TOLERANCE_LU {
            return Ok((g1, l1, passes));
        }
        let slope = (l1 - l0) / (g1 - g0);
        let step = if slope.is_finite() && slope > 0.05 {
            (target - l1) / slope
        } else {
            target - l1
        };
        let g2 = (g1 + step.clamp(-12.0, 12.0)).clamp(-40.0, 40.0);
        if (g2 - g1).abs() < 0.001 {
            break;
        }
        g0 = g1;
        l0 = l1;
        g1 = g2;
    }
    Ok((best.0, best.1, passes))
}

/// How hard the limiter works on `spool` at `gain_db` into it (one pass,
/// nothing written).
pub fn limiting_at(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    channels: usize,
    gain_db: f64,
) -> Result<LimitingStats> {
    limit_spool(spool, limiter_chain, rate, channels, gain_db, &mut |_| {
        Ok(())
    })
}

/// The gain to give up (dB, ≥ 0) so that the limiter's largest gain
/// reduction, `peak_gr_db` at the planned gain, stays within `max_db`.
/// Exact: the peak reduction is the largest (true peak ÷ ceiling) of the
/// signal into the limiter, which moves dB for dB with the gain.
pub fn limiting_cut_db(peak_gr_db: f64, max_db: f64) -> f64 {
    (peak_gr_db - max_db).max(0.0)
}

/// A chain holding only `cfg`'s limiter.
pub fn limiter_only(cfg: &ChainConfig) -> ChainConfig {
    ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules: vec![ModuleConfig::Limiter(cfg.limiter())],
    }
}

/// Master one file (see the module docs for the order of operations).
pub fn master_file(opts: &MasterOptions) -> Result<MasterReport> {
    let inputs = [opts.input.clone()];
    crate::io::atomic::check_output(&opts.output, &inputs, opts.force)?;
    let chain_cfg = opts.chain.clone().with_limiter(None);
    let mut source = FileSource::open(&opts.input)?;
    let info = source.info().clone();
    let mut chain = Chain::from_config(&chain_cfg, info.sample_rate, info.channels)
        .map_err(|e| LatheError::decode(&opts.input, e.to_string()))?;
    let out_rate = opts.rate.unwrap_or(info.sample_rate);
    if !(crate::io::decode::MIN_SAMPLE_RATE..=crate::io::decode::MAX_SAMPLE_RATE)
        .contains(&out_rate)
    {
        return Err(LatheError::Invalid(format!(
            "--rate {out_rate} is outside 8000..=384000 Hz"
        )));
    }
    let timing = std::env::var_os("LATHE_TIMING").is_some();
    let t0 = std::time::Instant::now();
    let stamp = |what: &str| {
        if timing {
            eprintln!("{what}: {:.3} s", t0.elapsed().as_secs_f64());
        }
    };
    let total = info.total_frames.unwrap_or(0);
    let progress = Progress::new(opts.progress, total);
    progress.stage("processing", total);
    let out_dir = match opts.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // What renders killed hard left here (spools, half-written files).
    crate::render::spool::remove_stale(&out_dir);
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
            )
        },
    );
    let before = before?;
    let (spool, pre_summary) = processed?;
    let pre_lufs = pre_summary.stats().integrated_lufs;
    stamp("analyze input + chain + SRC to spool");
    let lim_cfg = limiter_only(&chain_cfg);
    let ceiling = chain_cfg.limiter().ceiling_dbtp;
    let target = chain_cfg.target_lufs;
    let (mut gain_db, passes) = match target {
        Some(t) => {
            progress.stage("loudness search", MAX_PASSES as u64);
            let (g, _, p) = search_gain(
                &spool,
                &lim_cfg,
                out_rate,
                &info.channel_weights,
                pre_lufs,
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
        let st = limiting_at(&spool, &lim_cfg, out_rate, info.channels, gain_db)?;
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
        &spool,
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
    drop(spool);
    out.finish()?;
    progress.finish();
    if let Some(last) = gr.last_mut() {
        *last = last.max(lim_gr.peak_gr_db());
    }
    stamp("limit, dither, write");
    let after = analyze_file(&opts.output)?;
    stamp("analyze output");
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
    })
}
