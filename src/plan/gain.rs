//! Gain planning: run a track's pre-limiter chain once into a spool at the
//! delivery rate (keeping the limiter model's summary of it on the way),
//! then find the gain into the true-peak limiter that meets a loudness
//! target: the model (`plan::model`) is solved, an exact pass of the
//! limiter and a BS.1770 meter over the spool confirms and corrects it, and
//! the search stops when an exact pass lands on the target (usually the
//! first). Also measures how hard the limiter works at a gain. `lathe
//! master`, `lathe render` and playback plans all use these, so they agree
//! by construction.

use std::path::Path;

use super::model::{self, Corrections, LimiterModel, PeakRecorder, SummaryWriter};
use super::spool::Spool;
use crate::analysis::loudness::{LoudnessMeter, LoudnessSummary};
use crate::analysis::tonal::{TonalAnalyzer, TonalProfile};
use crate::cancel;
use crate::dsp::chain::Chain;
use crate::dsp::limiter::LimitingStats;
use crate::error::{LatheError, Result};
use crate::io::resample::Resampler;
use crate::io::{AudioBlock, AudioSource};
use crate::session::chain::{ChainConfig, ModuleConfig};

/// Frames per block in the offline passes (spooling, limiting, measuring).
pub const BLOCK: usize = 8192;
/// Frames per block handed between the spooling stages (decoding, the
/// chain, metering and writing): large, so that the threads hand blocks
/// over (and wake each other) seldom.
const SPOOL_BLOCK: usize = 2 * BLOCK;

/// Most limiter passes the loudness search makes.
pub const MAX_PASSES: usize = 10;
/// The loudness search ([`guided_search`]) accepts an exact pass this
/// close to the target, LU (tight: exact passes are few, and a tight
/// landing makes the gain all but independent of the path taken).
pub const EXACT_TOLERANCE_LU: f64 = 0.005;
/// The model is solved to this many LU.
pub const MODEL_TOLERANCE_LU: f64 = 0.0005;

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

/// A track run through its pre-limiter chain: the spool and what was
/// measured on the way.
pub struct Spooled {
    /// The processed audio before the limiter.
    pub spool: Spool,
    /// Its loudness summary.
    pub pre: LoudnessSummary,
    /// The loudness summary of the source as read.
    pub input: LoudnessSummary,
    /// The summary the fast limiter model runs on.
    pub model: LimiterModel,
    /// Tonal balance of the processed audio (before the limiter); no bands
    /// when not asked for.
    pub tonal: TonalProfile,
}

/// Convert `source` to `out_rate`, run the chain's pre-limiter modules over
/// it (`chain` must be built at `out_rate`), and spool the result. Returns
/// the spool, its loudness summary, the loudness summary of the source as
/// read (measured on the way, so planning needs no separate analysis) and
/// the limiter model's summary of it, and with `measure_tonal` its tonal
/// balance (album planning shows it; `lathe master` does not need it).
///
/// The conversion comes first so that everything after it runs at the
/// delivery rate, exactly as playback runs it: the engine's reader converts
/// with the same converter and the callback runs the same chain, so what is
/// heard before the device is what is rendered, at any device rate.
pub fn process_to_spool(
    source: &mut dyn AudioSource,
    chain: &mut Chain,
    out_rate: u32,
    spool_dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
    gr: &mut [f64],
    measure_tonal: bool,
) -> Result<Spooled> {
    let info = source.info().clone();
    let channels = info.channels;
    if chain.rate() != out_rate {
        return Err(LatheError::Invalid(format!(
            "chain built at {} Hz for a {out_rate} Hz spool",
            chain.rate()
        )));
    }
    // Where the spool goes: RAM when there is room (see `scratch_dir`).
    let expected = info
        .total_frames
        .map_or(u64::MAX / 8, |f| {
            f.saturating_mul(u64::from(out_rate)) / u64::from(info.sample_rate.max(1)) + 1
        })
        .saturating_mul(channels as u64 * 4);
    let spool_dir = &super::spool::scratch_dir(spool_dir, expected);
    let mut spool = Spool::create(spool_dir, channels)?;
    let mut resampler = if out_rate != info.sample_rate {
        Some(Resampler::new(info.sample_rate, out_rate, channels)?)
    } else {
        None
    };
    let mut meter = LoudnessMeter::new(out_rate, &info.channel_weights);
    meter.record_fine(model::STEP);
    let mut peaks = PeakRecorder::new(out_rate, channels);
    let mut summary = SummaryWriter::create(spool_dir)?;
    let mut tonal = measure_tonal.then(|| TonalAnalyzer::new(out_rate, channels));
    // Three stages on three threads, connected by short queues of blocks:
    // decode + conversion here, the chain in a helper, and the metering +
    // spooling in another (so one track alone keeps two cores busy).
    let (tx, rx) = std::sync::mpsc::sync_channel::<(AudioBlock, bool)>(4);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<AudioBlock>(4);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<AudioBlock>();
    for _ in 0..4 {
        let _ = free_tx.send(AudioBlock::new(channels, SPOOL_BLOCK));
    }
    let spool_ref = &mut spool;
    let meter_ref = &mut meter;
    let peaks_ref = &mut peaks;
    let summary_ref = &mut summary;
    let tonal_ref = &mut tonal;
    let chain_ref = &mut *chain;
    // The chain: latency dropped from the front, flushed with silence at
    // the end. Stops early when the metering stage has stopped (an error).
    let mut processor =
        move |rx: std::sync::mpsc::Receiver<(AudioBlock, bool)>,
              done: std::sync::mpsc::SyncSender<AudioBlock>| {
            let mut to_drop = chain_ref.latency_pre();
            let mut flush_left = to_drop;
            let mut emit = |mut block: AudioBlock, to_drop: &mut usize| -> bool {
                chain_ref.process_pre(&mut block);
                for (g, (_, r)) in gr.iter_mut().zip(chain_ref.gain_reductions()) {
                    *g = g.max(r);
                }
                // Drop the first `latency` frames so the output lines up with the input.
                drop_front(&mut block, to_drop);
                done.send(block).is_ok()
            };
            while let Ok((block, last)) = rx.recv() {
                if !emit(block, &mut to_drop) {
                    return;
                }
                if last {
                    // Flush the chain's latency with silence.
                    while flush_left > 0 {
                        let mut block = AudioBlock::new(channels, SPOOL_BLOCK);
                        fill_silence(&mut block, &mut flush_left);
                        if !emit(block, &mut to_drop) {
                            return;
                        }
                    }
                    return;
                }
            }
        };
    let mut writer = move |rx: std::sync::mpsc::Receiver<AudioBlock>| -> Result<()> {
        while let Ok(block) = rx.recv() {
            meter_ref.push(&block.channels, block.frames);
            peaks_ref.push(&block);
            if let Some(t) = tonal_ref.as_mut() {
                t.push(&block.channels, block.frames);
            }
            summary_ref.add(&peaks_ref.take(), &meter_ref.drain_fine())?;
            spool_ref.write(&block)?;
            let _ = free_tx.send(block);
        }
        Ok(())
    };
    let mut input_meter = LoudnessMeter::new(info.sample_rate, &info.channel_weights);
    let input_ref = &mut input_meter;
    let mut reader = |tx: std::sync::mpsc::SyncSender<(AudioBlock, bool)>| -> Result<()> {
        let mut input = AudioBlock::new(channels, SPOOL_BLOCK);
        let mut converted: Vec<Vec<f32>> = vec![Vec::new(); channels];
        let fresh = || {
            free_rx
                .recv()
                .unwrap_or_else(|_| AudioBlock::new(channels, SPOOL_BLOCK))
        };
        loop {
            cancel::check()?;
            match resampler.as_mut() {
                None => {
                    let mut block = fresh();
                    let n = source.read(&mut block)?;
                    let last = n == 0;
                    progress(n as u64);
                    input_ref.push(&block.channels, n);
                    if tx.send((block, last)).is_err() || last {
                        return Ok(());
                    }
                }
                Some(r) => {
                    let n = source.read(&mut input)?;
                    let last = n == 0;
                    progress(n as u64);
                    input_ref.push(&input.channels, n);
                    if last {
                        r.finish(&mut converted)?;
                    } else {
                        r.process(&input, &mut converted)?;
                    }
                    // Whole blocks out; on the last read, everything left.
                    loop {
                        let have = converted[0].len();
                        if have == 0 || (!last && have < SPOOL_BLOCK) {
                            break;
                        }
                        let k = have.min(SPOOL_BLOCK);
                        let mut block = fresh();
                        for (d, c) in block.channels.iter_mut().zip(converted.iter_mut()) {
                            d[..k].copy_from_slice(&c[..k]);
                            c.drain(..k);
                        }
                        block.frames = k;
                        let done = last && converted[0].is_empty();
                        if tx.send((block, done)).is_err() || done {
                            return Ok(());
                        }
                    }
                    if last {
                        let mut block = fresh();
                        block.frames = 0;
                        let _ = tx.send((block, true));
                        return Ok(());
                    }
                }
            }
        }
    };
    let (read_result, chain_result, write_result) = std::thread::scope(|s| {
        let w = s.spawn(move || writer(done_rx));
        let c = s.spawn(move || processor(rx, done_tx));
        let r = reader(tx);
        (r, c.join(), w.join())
    });
    match (chain_result, write_result) {
        (Ok(()), Ok(r)) => r?,
        _ => return Err(LatheError::Invalid("the processing stage failed".into())),
    }
    read_result?;
    spool.finish()?;
    let model = summary.finish(
        out_rate,
        spool.frames(),
        &peaks.finish(),
        &meter.take_fine(),
    )?;
    Ok(Spooled {
        spool,
        tonal: match &tonal {
            Some(t) => t.finish(meter.stats().integrated_lufs),
            None => TonalProfile {
                bands_db: Vec::new(),
                integrated_lufs: meter.stats().integrated_lufs,
                frames_used: 0,
                frames_total: 0,
            },
        },
        pre: meter.summary().clone(),
        input: input_meter.summary().clone(),
        model,
    })
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
    let stats = limit_range_at(
        spool,
        limiter_chain,
        rate,
        channels,
        &[gain_db],
        start,
        end,
        &mut |_, b| sink(b),
    )?;
    Ok(stats.into_iter().next().unwrap_or_default())
}

/// [`limit_range`] at each of `gains_db` (dB) over one read of the spool:
/// each gain has a limiter of its own, and `sink` gets the gain's index
/// with each of its output blocks. Each gain's output is exactly what
/// [`limit_range`] makes at that gain alone. Returns each limiter's
/// statistics.
#[allow(clippy::too_many_arguments)]
pub fn limit_range_at(
    spool: &Spool,
    limiter_chain: &ChainConfig,
    rate: u32,
    channels: usize,
    gains_db: &[f64],
    start: u64,
    end: u64,
    sink: &mut dyn FnMut(usize, &mut AudioBlock) -> Result<()>,
) -> Result<Vec<LimitingStats>> {
    let mut chains = gains_db
        .iter()
        .map(|g| {
            let mut chain = Chain::from_config(limiter_chain, rate, channels)?;
            chain.jump_target_gain_db(*g);
            Ok(chain)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut reader = spool.reader_at(start)?;
    let mut blocks: Vec<AudioBlock> = gains_db
        .iter()
        .map(|_| AudioBlock::new(channels, BLOCK))
        .collect();
    // One configuration at one rate: every limiter has the same latency.
    let latency = chains.first().map_or(0, |c| c.latency_post());
    let mut to_drop = latency;
    let mut flush_left = latency;
    let mut out_pos = start;
    while out_pos < end {
        cancel::check()?;
        let Some((first, rest)) = blocks.split_first_mut() else {
            break;
        };
        let n = reader.read(first)?;
        if n == 0 {
            if flush_left == 0 {
                break;
            }
            fill_silence(first, &mut flush_left);
        }
        for b in rest.iter_mut() {
            for (d, s) in b.channels.iter_mut().zip(&first.channels) {
                d[..first.frames].copy_from_slice(&s[..first.frames]);
            }
            b.frames = first.frames;
        }
        let mut keep = 0;
        let dropping = to_drop;
        for (i, (chain, block)) in chains.iter_mut().zip(blocks.iter_mut()).enumerate() {
            chain.process_post(block);
            to_drop = dropping;
            drop_front(block, &mut to_drop);
            keep = (end - out_pos).min(block.frames as u64) as usize;
            block.frames = keep;
            if keep > 0 {
                sink(i, block)?;
            }
        }
        out_pos += keep as u64;
    }
    Ok(chains.iter().map(|c| c.limiter_stats()).collect())
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

/// Search the gain into the limiter that brings a spooled track to
/// `target` LUFS: guided by the limiter model (see [`guided_search`]),
/// each exact pass over the spool measured in two parallel halves.
/// Returns (gain dB, measured LUFS, exact passes).
pub fn search_gain(
    spooled: &Spooled,
    limiter_chain: &ChainConfig,
    rate: u32,
    weights: &[f64],
    target: f64,
    progress: &dyn Fn(usize),
) -> Result<(f64, f64, usize)> {
    let pre_lufs = spooled.pre.stats().integrated_lufs;
    if !pre_lufs.is_finite() {
        return Ok((0.0, f64::NEG_INFINITY, 0));
    }
    let cfg = limiter_chain.limiter();
    let corrections = Corrections::default();
    let model = |g: f64| -> Result<f64> {
        let c = corrections.at(cfg.ceiling_dbtp - g);
        Ok(spooled.model.summary(&cfg, g, c)?.stats().integrated_lufs)
    };
    let mut exact = |g: f64| -> Result<(f64, ())> {
        let l = limited_loudness(&spooled.spool, limiter_chain, rate, weights, g)?;
        let m = spooled.model.summary(&cfg, g, 0.0)?.stats().integrated_lufs;
        corrections.learn(cfg.ceiling_dbtp - g, l - m);
        Ok((l, ()))
    };
    let (g, l, _, passes) = guided_search(&model, &mut exact, target - pre_lufs, target, progress)?;
    Ok((g, l, passes))
}

/// Search the gain `g` (dB) with `exact(g) = target` LUFS, using a cheap
/// `model` of the same function (which the caller corrects with what each
/// exact pass teaches it): solve the model, measure exactly there, repeat
/// until an exact pass lands within [`EXACT_TOLERANCE_LU`] (usually the
/// first or second) or after [`MAX_PASSES`]. Returns the best (gain,
/// exact loudness, what its pass returned, exact passes).
pub fn guided_search<X>(
    model: &dyn Fn(f64) -> Result<f64>,
    exact: &mut dyn FnMut(f64) -> Result<(f64, X)>,
    g0: f64,
    target: f64,
    progress: &dyn Fn(usize),
) -> Result<(f64, f64, Option<X>, usize)> {
    let mut best: Option<(f64, f64, X)> = None;
    let mut tried: Vec<f64> = Vec::new();
    let mut start = g0.clamp(-40.0, 40.0);
    let mut passes = 0;
    while passes < MAX_PASSES {
        let (g, _, _) = secant_within(model, start, target, MODEL_TOLERANCE_LU, 40, &|_| {})?;
        if tried.iter().any(|t| (t - g).abs() < 1e-4) {
            break;
        }
        tried.push(g);
        let (l, x) = exact(g)?;
        passes += 1;
        progress(passes);
        let better = best
            .as_ref()
            .is_none_or(|b| (l - target).abs() < (b.1 - target).abs());
        if better {
            best = Some((g, l, x));
        }
        if (l - target).abs() <= EXACT_TOLERANCE_LU || !l.is_finite() {
            break;
        }
        start = g;
    }
    Ok(match best {
        Some((g, l, x)) => (g, l, Some(x), passes),
        None => (start, f64::NEG_INFINITY, None, passes),
    })
}

/// Secant search for the gain `g` (dB, −40..40) with `loudness(g) = target`,
/// starting at `g0`: stops within `tolerance` LU or after `max_passes`
/// evaluations and returns the best (gain, loudness, evaluations). Steps
/// are limited to 12 dB; a flat slope falls back to a 1:1 step.
pub fn secant_within(
    loudness: impl Fn(f64) -> Result<f64>,
    g0: f64,
    target: f64,
    tolerance: f64,
    max_passes: usize,
    progress: &dyn Fn(usize),
) -> Result<(f64, f64, usize)> {
    let mut g0 = g0.clamp(-40.0, 40.0);
    let mut l0 = loudness(g0)?;
    let mut passes = 1;
    progress(passes);
    let mut best = (g0, l0);
    if (l0 - target).abs() <= tolerance {
        return Ok((g0, l0, passes));
    }
    let mut g1 = (g0 + (target - l0)).clamp(-40.0, 40.0);
    while passes < max_passes {
        let l1 = loudness(g1)?;
        passes += 1;
        progress(passes);
        if (l1 - target).abs() < (best.1 - target).abs() {
            best = (g1, l1);
        }
        if (l1 - target).abs() <= tolerance {
            return Ok((g1, l1, passes));
        }
        let slope = (l1 - l0) / (g1 - g0);
        let step = if slope.is_finite() && slope > 0.05 {
            (target - l1) / slope
        } else {
            target - l1
        };
        let g2 = (g1 + step.clamp(-12.0, 12.0)).clamp(-40.0, 40.0);
        if (g2 - g1).abs() < (tolerance * 0.02).min(0.001) {
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
