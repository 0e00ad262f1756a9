//! Planning a delivery of an album session exactly as `lathe render` makes
//! it: each track decoded and trimmed, converted to the delivery rate,
//! through the album chain and its own modules, and spooled
//! (the spools cached between plans while nothing before the limiter
//! changes); balancing then finds each track's gain into the limiter.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::gain::{
    EXACT_TOLERANCE_LU, MAX_PASSES, MODEL_TOLERANCE_LU, guided_search, limit_range_at,
    limiter_only, limiting_at, limiting_cut_db, process_to_spool, secant_within,
};
use super::model::{Corrections, LimiterModel};
use super::spool::Spool;
use crate::analysis::loudness::LoudnessSummary;
use crate::dsp::chain::Chain;
use crate::dsp::limiter::LimitingStats;
use crate::error::{LatheError, Result};
use crate::io::{AudioBlock, AudioSource, FileSource, SourceInfo};
use crate::session::album::{Balance, Delivery, Session, Track};
use crate::session::chain::{ChainConfig, LimiterConfig, ModuleConfig};

/// A track input trimmed to `start..start+len` frames.
struct Trimmed {
    inner: FileSource,
    left: u64,
}

impl AudioSource for Trimmed {
    fn info(&self) -> &SourceInfo {
        self.inner.info()
    }
    fn read(&mut self, out: &mut AudioBlock) -> Result<usize> {
        if self.left == 0 {
            out.frames = 0;
            return Ok(0);
        }
        let n = self.inner.read(out)?;
        let n = (n as u64).min(self.left) as usize;
        out.frames = n;
        self.left -= n as u64;
        Ok(n)
    }
    fn seek(&mut self, _frame: u64) -> Result<()> {
        Err(LatheError::Invalid("trimmed sources do not seek".into()))
    }
    fn take_warnings(&mut self) -> Vec<String> {
        self.inner.take_warnings()
    }
}

fn open_trimmed(path: &Path, t: &Track) -> Result<Trimmed> {
    let mut src = FileSource::open(path)?;
    let info = src.info().clone();
    let rate = f64::from(info.sample_rate);
    let total = match info.total_frames {
        Some(n) => n,
        None => crate::analysis::analyze_file_with(path, 1)?.frames,
    };
    let start = (t.trim_start_s * rate).round() as u64;
    let end_trim = (t.trim_end_s * rate).round() as u64;
    if start + end_trim >= total {
        return Err(LatheError::decode(path, "trims leave no audio"));
    }
    if start > 0 {
        src.seek(start)?;
    }
    Ok(Trimmed {
        inner: src,
        left: total - start - end_trim,
    })
}

/// Track `t`'s chain for delivery `d`: the album chain without its limiter,
/// the track's own modules, then the limiter at the delivery's ceiling.
pub fn delivery_chain(session: &Session, t: &Track, d: &Delivery) -> ChainConfig {
    let mut modules: Vec<ModuleConfig> = session
        .chain
        .modules
        .iter()
        .filter(|m| !matches!(m, ModuleConfig::Limiter(_)))
        .cloned()
        .collect();
    modules.extend(t.modules.iter().cloned());
    let mut lim: LimiterConfig = session.chain.limiter();
    lim.ceiling_dbtp = d.ceiling_dbtp;
    lim.bypass = false;
    modules.push(ModuleConfig::Limiter(lim));
    ChainConfig {
        name: None,
        target_lufs: None,
        max_limiting_db: None,
        modules,
    }
}

/// Every track's [`delivery_chain`] with its match modules measured
/// (`plan::matching`; references relative to `base`, the session file's
/// folder; `paths` the tracks' files).
pub fn delivery_chains(
    session: &Session,
    base: &Path,
    paths: &[PathBuf],
    d: &Delivery,
) -> Result<Vec<ChainConfig>> {
    let mut chains: Vec<ChainConfig> = session
        .tracks
        .iter()
        .map(|t| delivery_chain(session, t, d))
        .collect();
    if chains.iter().any(super::matching::needs_measuring) {
        let tracks: Vec<super::matching::TrackAudio> = session
            .tracks
            .iter()
            .zip(paths)
            .map(|(t, p)| super::matching::TrackAudio::track(p, t))
            .collect();
        let album_modules = session
            .chain
            .modules
            .iter()
            .filter(|m| !matches!(m, ModuleConfig::Limiter(_)))
            .count();
        super::matching::resolve_album(&mut chains, &tracks, album_modules, base)?;
    }
    Ok(chains)
}

/// One track run through its pre-limiter chain and spooled at the delivery rate.
pub struct Prepared {
    /// The processed audio before the limiter, at the delivery rate.
    pub spool: Spool,
    /// Its loudness summary (before the limiter).
    pub pre: LoudnessSummary,
    /// The loudness summary of the (trimmed) source, as read.
    pub input: LoudnessSummary,
    /// BS.1770 channel weights of the source.
    pub weights: Vec<f64>,
    /// Channel count.
    pub channels: usize,
    /// The fast limiter model's summary of the spool.
    pub model: LimiterModel,
    /// Tonal balance of the processed track (before the limiter).
    pub tonal: crate::analysis::tonal::TonalProfile,
}

impl Prepared {
    /// The modelled loudness summary after `gain_db` into the limiter of
    /// `cfg`, corrected by what this search's exact passes taught.
    pub fn modelled(
        &self,
        cfg: &LimiterConfig,
        gain_db: f64,
        c: &Corrections,
    ) -> Result<LoudnessSummary> {
        self.model
            .summary(cfg, gain_db, c.at(cfg.ceiling_dbtp - gain_db))
    }
}

/// One exact pass over a spooled track through the gain and the limiter:
/// what [`plan_delivery`] reports of each track.
#[derive(Debug, Clone)]
pub struct TrackPass {
    /// Gain into the limiter, dB.
    pub gain_db: f64,
    /// Loudness summary of the output.
    pub summary: LoudnessSummary,
    /// How hard the limiter worked.
    pub limiting: LimitingStats,
    /// True peak of the output, dBTP (with `profile` only, else −∞).
    pub true_peak_dbtp: f64,
    /// Short-term loudness every 100 ms, LUFS (with `profile` only).
    pub series: Vec<f64>,
}

/// Run `p` through gain `gain_db` and the limiter of `lim` once, measuring
/// the output (with `profile`, also its true peak and short-term curve),
/// and teach `learn` (if any) the difference from the model's prediction.
pub fn exact_pass(
    p: &Prepared,
    lim: &ChainConfig,
    rate: u32,
    gain_db: f64,
    profile: bool,
    learn: Option<&Corrections>,
) -> Result<TrackPass> {
    let pass = exact_passes(p, lim, rate, &[(gain_db, profile)])?
        .pop()
        .ok_or_else(|| LatheError::Invalid("no exact pass was made".into()))?;
    if let Some(c) = learn {
        learn_from(p, lim, &pass, c)?;
    }
    Ok(pass)
}

/// [`exact_pass`] at each (gain dB, profile) of `at`, over one read of the
/// spool: each is exactly the pass [`exact_pass`] makes alone.
pub fn exact_passes(
    p: &Prepared,
    lim: &ChainConfig,
    rate: u32,
    at: &[(f64, bool)],
) -> Result<Vec<TrackPass>> {
    use crate::analysis::loudness::LoudnessMeter;
    use crate::analysis::truepeak::TruePeakMeter;
    let mut meters: Vec<(LoudnessMeter, Vec<TruePeakMeter>)> = at
        .iter()
        .map(|&(_, profile)| {
            let mut meter = LoudnessMeter::new(rate, &p.weights);
            let mut tps = Vec::new();
            if profile {
                meter.record_series();
                tps = (0..p.channels).map(|_| TruePeakMeter::new(rate)).collect();
            }
            (meter, tps)
        })
        .collect();
    let gains: Vec<f64> = at.iter().map(|a| a.0).collect();
    let limiting = limit_range_at(
        &p.spool,
        lim,
        rate,
        p.channels,
        &gains,
        0,
        u64::MAX,
        &mut |i, b| {
            let (meter, tps) = &mut meters[i];
            meter.push(&b.channels, b.frames);
            for (t, c) in tps.iter_mut().zip(&b.channels) {
                t.push(&c[..b.frames]);
            }
            Ok(())
        },
    )?;
    Ok(at
        .iter()
        .zip(meters)
        .zip(limiting)
        .map(|((&(gain_db, profile), (meter, tps)), limiting)| {
            let series = if profile {
                short_term_every_100ms(meter.short_term_series(), p.spool.frames(), rate)
            } else {
                Vec::new()
            };
            let tp = tps.iter().map(|t| t.true_peak()).fold(0.0, f64::max);
            TrackPass {
                gain_db,
                summary: meter.summary().clone(),
                limiting,
                true_peak_dbtp: crate::units::linear_to_db(tp),
                series,
            }
        })
        .collect())
}

/// Teach `c` what the exact `pass` over `p` (through the limiter of `lim`)
/// measured against the model's prediction at the same gain. Searches call
/// it only when the pass missed the target and another round follows.
fn learn_from(p: &Prepared, lim: &ChainConfig, pass: &TrackPass, c: &Corrections) -> Result<()> {
    let cfg = lim.limiter();
    let exact = pass.summary.stats().integrated_lufs;
    let model = p
        .model
        .summary(&cfg, pass.gain_db, 0.0)?
        .stats()
        .integrated_lufs;
    c.learn(cfg.ceiling_dbtp - pass.gain_db, exact - model);
    Ok(())
}

/// Whether a search stops at an exact pass measuring `lufs` for `target`
/// (as [`guided_search`] decides).
fn lands(lufs: f64, target: f64) -> bool {
    (lufs - target).abs() <= EXACT_TOLERANCE_LU || !lufs.is_finite()
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("frames", &self.spool.frames())
            .field("channels", &self.channels)
            .finish()
    }
}

/// Tracks already run through their pre-limiter chain and spooled, kept
/// for later plans while the file, its trims, the pre-limiter modules and
/// the rate stay the same: re-planning after a change of target, ceiling,
/// balancing, gain, order, gaps or fades only reruns the limiter passes.
/// Holds the spools of the latest plan only.
#[derive(Default, Clone)]
pub struct SpoolCache {
    map: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Prepared>>>,
    >,
    hits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SpoolCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks held.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tracks reused from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The spools, limiter-only chains, gains into the limiter (dB), the
/// gain given up per track to respect `max_limiting_db` (dB, 0: none), and
/// per track the balancing search's last exact pass when it was made at
/// exactly that track's gain (so that track needs no further pass).
pub type PreparedDelivery = (
    Vec<std::sync::Arc<Prepared>>,
    Vec<ChainConfig>,
    Vec<f64>,
    Vec<f64>,
    Vec<Option<TrackPass>>,
);

/// The limit on the limiter's gain reduction for delivery `d`, dB: the
/// delivery's own, else the album chain's.
pub fn max_limiting_db(session: &Session, d: &Delivery) -> Option<f64> {
    d.max_limiting_db.or(session.chain.max_limiting_db)
}

/// What a track's spool depends on.
fn spool_key(path: &Path, t: &Track, cfg: &ChainConfig, rate: u32) -> String {
    let pre: Vec<&ModuleConfig> = cfg
        .modules
        .iter()
        .filter(|m| !matches!(m, ModuleConfig::Limiter(_)))
        .collect();
    let pre: Vec<ModuleConfig> = pre.into_iter().cloned().collect();
    format!(
        "{}|{}|{}|{rate}|{}",
        path.display(),
        t.trim_start_s,
        t.trim_end_s,
        super::matching::modules_key(&pre)
    )
}

/// Run every track of `session` through its chain for delivery `d`
/// (spooled in `dir`) and find the gains into the limiter that balancing
/// asks for. Returns the spools, the limiter-only chains and the gains, dB.
#[allow(clippy::too_many_arguments)] // one call per consumer; a struct would only rename them
pub fn prepare_delivery(
    session: &Session,
    base: &Path,
    paths: &[PathBuf],
    d: &Delivery,
    dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
    cache: Option<&SpoolCache>,
    profile: bool,
) -> Result<PreparedDelivery> {
    let rate = d.rate_hz;
    let chains = delivery_chains(session, base, paths, d)?;
    let keys: Vec<String> = session
        .tracks
        .iter()
        .zip(paths)
        .zip(&chains)
        .map(|((t, p), cfg)| spool_key(p, t, cfg, rate))
        .collect();
    let cached = |k: &str| -> Option<std::sync::Arc<Prepared>> {
        let hit = cache?.map.lock().ok()?.get(k).cloned();
        if let (Some(_), Some(c)) = (&hit, cache) {
            c.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        hit
    };
    let prepared: Vec<std::sync::Arc<Prepared>> = session
        .tracks
        .par_iter()
        .zip(paths.par_iter())
        .zip(chains.par_iter())
        .zip(keys.par_iter())
        .map(|(((t, p), cfg), key)| -> Result<std::sync::Arc<Prepared>> {
            if let Some(hit) = cached(key) {
                return Ok(hit);
            }
            let mut src = open_trimmed(p, t)?;
            let info = src.info().clone();
            let mut chain = Chain::from_config(cfg, rate, info.channels)
                .map_err(|e| LatheError::decode(p, e.to_string()))?;
            let mut gr = vec![0.0; cfg.modules.len() + 1];
            let s = process_to_spool(&mut src, &mut chain, rate, dir, &|_| {}, &mut gr, true)?;
            Ok(std::sync::Arc::new(Prepared {
                spool: s.spool,
                pre: s.pre,
                input: s.input,
                weights: info.channel_weights.clone(),
                channels: info.channels,
                model: s.model,
                tonal: s.tonal,
            }))
        })
        .collect::<Result<_>>()?;
    if let Some(c) = cache
        && let Ok(mut m) = c.map.lock()
    {
        // Keep this plan's spools only.
        m.clear();
        for (k, p) in keys.iter().zip(&prepared) {
            m.insert(k.clone(), p.clone());
        }
    }
    let lim: Vec<ChainConfig> = chains.iter().map(limiter_only).collect();
    let target = d.target_lufs.or(session.chain.target_lufs);
    let offsets: Vec<f64> = session.tracks.iter().map(|t| t.gain_db).collect();
    progress(&format!(
        "{}: balancing ({:?})",
        d.name, session.album.balance
    ));
    // Each search solves the tracks' limiter models, confirms with an
    // exact pass per track, and repeats with the models corrected until
    // an exact pass lands on the target (see `gain::guided_search`). The
    // corrections live for one search only: a plan from cached spools
    // takes the same path as one from scratch, so the interface plays the
    // gains `lathe render` renders, bit for bit.
    // Each track's last exact pass where it was at the planned gain (None
    // where a pass at that gain is still to be made).
    let every = |ps: Option<Vec<TrackPass>>| -> Vec<Option<TrackPass>> {
        match ps {
            Some(v) => v.into_iter().map(Some).collect(),
            None => vec![None; prepared.len()],
        }
    };
    let (gains, mut passes): (Vec<f64>, Vec<Option<TrackPass>>) =
        match (session.album.balance, target) {
            (Balance::None, _) | (_, None) => (offsets.clone(), every(None)),
            (Balance::Track, Some(t)) => {
                let found: Vec<(f64, Option<TrackPass>)> = prepared
                    .par_iter()
                    .zip(lim.par_iter())
                    .zip(offsets.par_iter())
                    .map(|((p, l), off)| -> Result<(f64, Option<TrackPass>)> {
                        let pre = p.pre.stats().integrated_lufs;
                        if !pre.is_finite() {
                            return Ok((*off, None));
                        }
                        let cfg = l.limiter();
                        let learnt = Corrections::default();
                        let model = |g: f64| -> Result<f64> {
                            Ok(p.modelled(&cfg, g, &learnt)?.stats().integrated_lufs)
                        };
                        // The offset moves the track off the target: its
                        // search measures loudness only at the search's
                        // gains, and (when profiles are wanted) makes the
                        // pass at the gain plus the offset beside each,
                        // over the same read of the spool, ready for
                        // whichever gain the search settles on.
                        let mut at = vec![(0.0, profile && *off == 0.0)];
                        if profile && *off != 0.0 {
                            at.push((*off, true));
                        }
                        let mut exact = |g: f64| -> Result<(f64, TrackPass)> {
                            let gains: Vec<(f64, bool)> =
                                at.iter().map(|&(d, pr)| (g + d, pr)).collect();
                            let mut passes = exact_passes(p, l, rate, &gains)?.into_iter();
                            let pass = passes.next().ok_or_else(|| {
                                LatheError::Invalid("no exact pass was made".into())
                            })?;
                            let lufs = pass.summary.stats().integrated_lufs;
                            if !lands(lufs, t) {
                                learn_from(p, l, &pass, &learnt)?;
                            }
                            // The pass at the track's planned gain.
                            Ok((lufs, passes.next().unwrap_or(pass)))
                        };
                        let (g, _, pass, _) =
                            guided_search(&model, &mut exact, t - pre, t, &|_| {})?;
                        // Without profiles an offset track's pass is at
                        // another gain than the planned one: none is kept.
                        Ok((g + off, pass.filter(|_| *off == 0.0 || profile)))
                    })
                    .collect::<Result<_>>()?;
                let gains = found.iter().map(|f| f.0).collect();
                let passes = found.into_iter().map(|f| f.1).collect();
                (gains, passes)
            }
            (Balance::Consistent, Some(t)) => {
                let (gains, ps) = consistent_gains(&prepared, &lim, &offsets, t, rate, profile)?;
                (gains, every(ps))
            }
            (Balance::Album, Some(t)) => {
                let learnt: Vec<Corrections> =
                    prepared.iter().map(|_| Corrections::default()).collect();
                let model = |g: f64| -> Result<f64> {
                    let sums: Vec<LoudnessSummary> = prepared
                        .par_iter()
                        .zip(lim.par_iter())
                        .zip(offsets.par_iter())
                        .zip(learnt.par_iter())
                        .map(|(((p, l), off), c)| p.modelled(&l.limiter(), g + off, c))
                        .collect::<Result<_>>()?;
                    let mut all = LoudnessSummary::default();
                    for s in &sums {
                        all.merge(s);
                    }
                    Ok(all.stats().integrated_lufs)
                };
                let mut exact = |g: f64| -> Result<(f64, Vec<TrackPass>)> {
                    let passes: Vec<TrackPass> = prepared
                        .par_iter()
                        .zip(lim.par_iter())
                        .zip(offsets.par_iter())
                        .map(|((p, l), off)| exact_pass(p, l, rate, g + off, profile, None))
                        .collect::<Result<_>>()?;
                    let mut all = LoudnessSummary::default();
                    for s in &passes {
                        all.merge(&s.summary);
                    }
                    let lufs = all.stats().integrated_lufs;
                    if !lands(lufs, t) {
                        prepared
                            .par_iter()
                            .zip(lim.par_iter())
                            .zip(passes.par_iter().zip(learnt.par_iter()))
                            .try_for_each(|((p, l), (pass, c))| learn_from(p, l, pass, c))?;
                    }
                    Ok((lufs, passes))
                };
                let mut pre_all = LoudnessSummary::default();
                for p in &prepared {
                    pre_all.merge(&p.pre);
                }
                let g0 = t - pre_all.stats().integrated_lufs;
                if g0.is_finite() {
                    let (g, _, passes, _) = guided_search(&model, &mut exact, g0, t, &|_| {})?;
                    (offsets.iter().map(|o| g + o).collect(), every(passes))
                } else {
                    (offsets.clone(), every(None))
                }
            }
        };
    // With a limit on limiting the target is a maximum: measure the peak
    // gain reduction at the planned gains and give up what exceeds it
    // (per track, or the same for every track when the album is balanced
    // as one, so its balance holds).
    let mut gains = gains;
    let mut cuts = vec![0.0; gains.len()];
    if let (Some(m), Some(_), false) = (
        max_limiting_db(session, d),
        target,
        session.album.balance == Balance::None,
    ) {
        let peaks: Vec<f64> = prepared
            .par_iter()
            .zip(lim.par_iter())
            .zip(gains.par_iter().zip(passes.par_iter()))
            .map(|((p, l), (g, pass))| match pass {
                Some(pass) => Ok(pass.limiting.peak_gr_db()),
                None => limiting_at(&p.spool, l, rate, p.channels, *g).map(|s| s.peak_gr_db()),
            })
            .collect::<Result<_>>()?;
        cuts = peaks.iter().map(|p| limiting_cut_db(*p, m)).collect();
        if matches!(session.album.balance, Balance::Album | Balance::Consistent) {
            let worst = cuts.iter().copied().fold(0.0, f64::max);
            cuts.iter_mut().for_each(|c| *c = worst);
        }
        for (g, c) in gains.iter_mut().zip(&cuts) {
            *g -= c;
        }
        for (pass, c) in passes.iter_mut().zip(&cuts) {
            if *c != 0.0 {
                *pass = None;
            }
        }
    }
    Ok((prepared, lim, gains, cuts, passes))
}

/// Largest spread of the tracks' loud passages (LU, after the limiter,
/// offsets aside) that `balance = "consistent"` accepts.
pub const CONSISTENT_TOLERANCE_LU: f64 = 0.1;

/// The loudness of the album as one programme from the tracks' summaries, LUFS.
fn album_lufs(sums: &[&LoudnessSummary]) -> f64 {
    let mut all = LoudnessSummary::default();
    for s in sums {
        all.merge(s);
    }
    all.stats().integrated_lufs
}

/// Each value's distance from the mean of the finite ones (0 for the rest).
fn deviations(q: &[f64]) -> Vec<f64> {
    let finite: Vec<f64> = q.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return vec![0.0; q.len()];
    }
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    q.iter()
        .map(|v| if v.is_finite() { v - mean } else { 0.0 })
        .collect()
}

/// Gains for `balance = "consistent"`: each track moved so its loud
/// passages (after the limiter, its own offset aside) sit level with the
/// others', and one gain for all so the album hits `target` as one
/// programme. Solved on the limiter models (album gain by the secant, the
/// tracks' moves by a per-track secant on their loud passages), then
/// confirmed by one exact pass over every track; what the pass measured
/// corrects the models, and the round repeats until the pass lands
/// (album within [`EXACT_TOLERANCE_LU`], loud passages within
/// [`CONSISTENT_TOLERANCE_LU`]). Tracks too short for a short-term
/// reading (under 3 s) just take the album gain.
fn consistent_gains(
    prepared: &[std::sync::Arc<Prepared>],
    lim: &[ChainConfig],
    offsets: &[f64],
    target: f64,
    rate: u32,
    profile: bool,
) -> Result<(Vec<f64>, Option<Vec<TrackPass>>)> {
    let learnt: Vec<Corrections> = prepared.iter().map(|_| Corrections::default()).collect();
    let mut loud_corr = vec![0.0; prepared.len()];
    // Start from the loud passages before the limiter.
    let pre_q: Vec<f64> = prepared.iter().map(|p| p.pre.loud_passage_lufs()).collect();
    let mut rel: Vec<f64> = deviations(&pre_q).iter().map(|d| -d).collect();
    let model_all = |g: f64, rel: &[f64]| -> Result<Vec<LoudnessSummary>> {
        prepared
            .par_iter()
            .zip(lim.par_iter())
            .zip(learnt.par_iter())
            .zip(rel.par_iter().zip(offsets.par_iter()))
            .map(|(((p, l), c), (r, o))| p.modelled(&l.limiter(), g + r + o, c))
            .collect()
    };
    let mut pre_all = LoudnessSummary::default();
    for p in prepared {
        pre_all.merge(&p.pre);
    }
    let mut g = target - pre_all.stats().integrated_lufs;
    if !g.is_finite() {
        return Ok((offsets.to_vec(), None));
    }
    type Best = (f64, Vec<f64>, Vec<TrackPass>);
    let mut best: Option<Best> = None;
    let mut tried: Vec<(f64, Vec<f64>)> = Vec::new();
    for _ in 0..MAX_PASSES {
        // On the models: the album gain for the target, then each track's
        // move towards the mean of the loud passages, until both settle.
        let mut prev: Option<(Vec<f64>, Vec<f64>)> = None;
        for _ in 0..16 {
            g = secant_within(
                |g| {
                    let sums = model_all(g, &rel)?;
                    Ok(album_lufs(&sums.iter().collect::<Vec<_>>()))
                },
                g,
                target,
                MODEL_TOLERANCE_LU,
                40,
                &|_| {},
            )?
            .0;
            let sums = model_all(g, &rel)?;
            let q: Vec<f64> = sums
                .iter()
                .zip(&loud_corr)
                .zip(offsets)
                .map(|((s, c), o)| s.loud_passage_lufs() + c - o)
                .collect();
            let dev = deviations(&q);
            if dev.iter().all(|d| d.abs() <= MODEL_TOLERANCE_LU * 10.0) {
                break;
            }
            let step: Vec<f64> = dev
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    // The track's own slope (loud passages per dB of move)
                    // from the last step; 1 at first.
                    let slope = prev
                        .as_ref()
                        .map(|(r0, q0)| (q[i] - q0[i]) / (rel[i] - r0[i]))
                        .filter(|s| s.is_finite())
                        .map_or(1.0, |s| s.clamp(0.2, 1.5));
                    d / slope
                })
                .collect();
            prev = Some((rel.clone(), q.clone()));
            for (r, s) in rel.iter_mut().zip(&step) {
                *r -= s.clamp(-12.0, 12.0);
            }
        }
        if tried.iter().any(|(tg, tr)| {
            (tg - g).abs() < 1e-4 && tr.iter().zip(&rel).all(|(a, b)| (a - b).abs() < 1e-4)
        }) {
            break;
        }
        tried.push((g, rel.clone()));
        // Confirm exactly, and correct the models by what was measured.
        let passes: Vec<TrackPass> = prepared
            .par_iter()
            .zip(lim.par_iter())
            .zip(learnt.par_iter())
            .zip(rel.par_iter().zip(offsets.par_iter()))
            .map(|(((p, l), c), (r, o))| exact_pass(p, l, rate, g + r + o, profile, Some(c)))
            .collect::<Result<_>>()?;
        let exact = album_lufs(&passes.iter().map(|p| &p.summary).collect::<Vec<_>>());
        let q: Vec<f64> = passes
            .iter()
            .zip(offsets)
            .map(|(p, o)| p.summary.loud_passage_lufs() - o)
            .collect();
        let sums = model_all(g, &rel)?;
        for ((c, p), s) in loud_corr.iter_mut().zip(&passes).zip(&sums) {
            let d = p.summary.loud_passage_lufs() - s.loud_passage_lufs();
            *c = if d.is_finite() { d } else { 0.0 };
        }
        let spread = deviations(&q).iter().fold(0.0f64, |m, d| m.max(d.abs())) * 2.0;
        let miss = (exact - target).abs();
        let score = miss / EXACT_TOLERANCE_LU + spread / CONSISTENT_TOLERANCE_LU;
        let gains: Vec<f64> = rel.iter().zip(offsets).map(|(r, o)| g + r + o).collect();
        let done = miss <= EXACT_TOLERANCE_LU && spread <= CONSISTENT_TOLERANCE_LU;
        if best.as_ref().is_none_or(|b| score < b.0) {
            best = Some((score, gains, passes));
        }
        if done {
            break;
        }
    }
    Ok(match best {
        Some((_, gains, passes)) => (gains, Some(passes)),
        None => (offsets.to_vec(), None),
    })
}

/// What playback needs to sound like delivery `d`: per track the gain into
/// the limiter (dB) and the integrated loudness before and after (LUFS).
#[derive(Debug, Clone)]
pub struct DeliveryPlan {
    /// The delivery.
    pub delivery: Delivery,
    /// Each track's chain for this delivery (album chain, track modules,
    /// limiter at the delivery ceiling).
    pub chains: Vec<ChainConfig>,
    /// Gain into the limiter per track, dB.
    pub gains_db: Vec<f64>,
    /// Integrated loudness of each source track as played (trimmed), LUFS.
    pub input_lufs: Vec<f64>,
    /// Integrated loudness of each rendered track, LUFS.
    pub output_lufs: Vec<f64>,
    /// True peak of each rendered track before fades and dither, dBTP.
    pub output_tp_dbtp: Vec<f64>,
    /// Short-term loudness of each rendered track every 100 ms, LUFS.
    pub output_series: Vec<Vec<f64>>,
    /// Loud passages of each rendered track (90th percentile of
    /// short-term loudness), LUFS; −∞ under 3 s.
    pub output_loud_lufs: Vec<f64>,
    /// Tonal balance of each processed track: 1/3-octave levels, dB re its
    /// loudness (see `analysis::tonal`).
    pub output_tonal_db: Vec<Vec<f64>>,
    /// Integrated loudness of all rendered tracks together (gated as one
    /// programme, before gaps and fades), LUFS.
    pub album_lufs: f64,
    /// How hard the limiter works on each rendered track.
    pub output_limiting: Vec<LimitingStats>,
    /// Gain given up per track to respect `max_limiting_db`, dB (0: none).
    pub limiting_cuts_db: Vec<f64>,
    /// The limit on the limiter's gain reduction in effect, dB.
    pub max_limiting_db: Option<f64>,
}

/// Delivery `name` of the session (None: the first), or a one-line error
/// naming the session file.
pub fn find_delivery(
    session: &Session,
    session_path: &Path,
    name: Option<&str>,
) -> Result<Delivery> {
    match name {
        Some(n) => session
            .deliveries
            .iter()
            .find(|d| d.name == n)
            .cloned()
            .ok_or_else(|| {
                LatheError::Invalid(format!(
                    "{}: no delivery named '{n}'",
                    session_path.display()
                ))
            }),
        None => session.deliveries.first().cloned().ok_or_else(|| {
            LatheError::Invalid(format!("{}: has no delivery", session_path.display()))
        }),
    }
}

/// Plan delivery `name` (None: the first) of `session` (track paths
/// relative to `session_path`'s folder) exactly as `lathe render` does,
/// without writing anything.
pub fn plan_delivery(
    session: &Session,
    session_path: &Path,
    name: Option<&str>,
    cache: Option<&SpoolCache>,
) -> Result<DeliveryPlan> {
    let d = find_delivery(session, session_path, name)?;
    let base = session_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    let paths: Vec<PathBuf> = session
        .tracks
        .iter()
        .map(|t| session.track_path(session_path, t))
        .collect();
    let dir = std::env::temp_dir();
    let (prepared, lim, gains, cuts, passes) =
        prepare_delivery(session, &base, &paths, &d, &dir, &|_| {}, cache, true)?;
    // The sources' loudness, measured as they were spooled (as played: trimmed).
    let input_lufs: Vec<f64> = prepared
        .iter()
        .map(|p| p.input.stats().integrated_lufs)
        .collect();
    // One pass per track through the gain and limiter, as the render makes
    // it: loudness, true peak and the short-term curve for the History pane
    // (the balancing search's last passes when they were at these gains).
    let passes: Vec<TrackPass> = prepared
        .par_iter()
        .zip(lim.par_iter())
        .zip(gains.par_iter().zip(passes.into_par_iter()))
        .map(|((p, l), (g, pass))| match pass {
            Some(pass) => Ok(pass),
            None => exact_pass(p, l, d.rate_hz, *g, true, None),
        })
        .collect::<Result<_>>()?;
    let profiles: Vec<(f64, f64, Vec<f64>, LoudnessSummary, LimitingStats)> = passes
        .into_iter()
        .map(|p| {
            (
                p.summary.stats().integrated_lufs,
                p.true_peak_dbtp,
                p.series,
                p.summary,
                p.limiting,
            )
        })
        .collect();
    let mut album = LoudnessSummary::default();
    for p in &profiles {
        album.merge(&p.3);
    }
    let album_lufs = album.stats().integrated_lufs;
    let output_lufs = profiles.iter().map(|p| p.0).collect();
    let output_loud_lufs = profiles.iter().map(|p| p.3.loud_passage_lufs()).collect();
    let output_tp_dbtp = profiles.iter().map(|p| p.1).collect();
    let output_limiting = profiles.iter().map(|p| p.4).collect();
    let output_series = profiles.into_iter().map(|p| p.2).collect();
    let chains = delivery_chains(session, &base, &paths, &d)?;
    let max_lim = max_limiting_db(session, &d);
    Ok(DeliveryPlan {
        delivery: d,
        chains,
        gains_db: gains,
        input_lufs,
        output_lufs,
        output_tp_dbtp,
        output_series,
        output_loud_lufs,
        output_tonal_db: prepared.iter().map(|p| p.tonal.bands_db.clone()).collect(),
        album_lufs,
        output_limiting,
        limiting_cuts_db: cuts,
        max_limiting_db: max_lim,
    })
}

/// A short-term series recorded every 10 ms (index `k` is the 3 s window
/// ending at sub-block `k + 300`) resampled to one value per 100 ms of the
/// track, each the window ending there (the first 3 s repeat the first).
pub fn short_term_every_100ms(series: &[f64], frames: u64, rate: u32) -> Vec<f64> {
    let n = (frames * 10 / u64::from(rate)) as usize;
    (0..n)
        .map(|k| {
            let i = (k * 10).saturating_sub(300);
            series
                .get(i.min(series.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NEG_INFINITY)
        })
        .collect()
}
