//! The plan layer: what to play or write, decided before the first sample.
//!
//! A [`Plan`] is made from an album session and one of its deliveries
//! ([`Plan::from_session`], [`Plan::for_render`]) or from one file and a
//! chain ([`Plan::file`]): each track's file, trims, chain (limiter at the
//! delivery's ceiling), gain into the limiter, level-match gain, and its
//! place on the album timeline ([`timeline`]: gaps on CD frames,
//! crossfades, fades). Gains come from [`delivery`] (each track converted
//! to the delivery rate, through its pre-limiter chain and spooled, cached
//! between plans; balancing by the secant search in [`gain`]). Everything
//! after the conversion runs at the delivery rate, in the render and in
//! playback alike; a device at another rate gets the finished output
//! converted for it.
//!
//! Two consumers, neither importing the other: `render` writes a plan
//! (tracks, album file, CUE, reports) and `engine` plays one; `lathe
//! master`, `lathe render`, `lathe play` and the interface all get their
//! plans here. What may import what: `plan` → `dsp`, `io`, `analysis`,
//! `session`; `render` and `engine` → `plan`; nothing here imports them.

use std::path::{Path, PathBuf};

pub mod delivery;
pub mod gain;
pub mod matching;
pub mod model;
pub mod redbook;
pub mod spool;
pub mod timeline;

use self::timeline::{Placement, Timeline};
use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::io::{AudioSource, FileSource};
use crate::session::album::FadeCurve;
use crate::session::chain::ChainConfig;

/// One track of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlanTrack {
    /// The audio file.
    pub path: PathBuf,
    /// Title for display.
    pub title: String,
    /// First source frame after the trim, samples at the file rate.
    pub trim_start: u64,
    /// Trimmed length, samples at the file rate.
    pub frames: u64,
    /// File sample rate, Hz.
    pub rate: u32,
    /// Channels (1 or 2).
    pub channels: usize,
    /// The chain this track plays through (limiter included).
    pub chain: ChainConfig,
    /// Gain into the limiter, dB.
    pub gain_db: f64,
    /// Gain that level-matches the original to the processed track, dB.
    pub match_db: f64,
    /// Silence before the track, s.
    pub gap_s: f64,
    /// Crossfade with the previous track, s.
    pub crossfade_s: f64,
    /// Fade-in, s.
    pub fade_in_s: f64,
    /// Fade-out, s.
    pub fade_out_s: f64,
    /// Fade shape.
    pub curve: FadeCurve,
    /// Integrated loudness of the rendered track as planned, LUFS (exact plans only).
    pub planned_lufs: Option<f64>,
    /// True peak of the rendered track as planned (before fades and dither), dBTP.
    pub planned_tp_dbtp: Option<f64>,
    /// Short-term loudness of the rendered track every 100 ms, LUFS.
    pub planned_series: Vec<f64>,
    /// How hard the limiter works on the rendered track as planned.
    pub planned_limiting: Option<crate::dsp::limiter::LimitingStats>,
    /// Loud passages of the rendered track as planned (90th percentile of
    /// short-term loudness), LUFS.
    pub planned_loud_lufs: Option<f64>,
    /// Tonal balance of the processed track: 1/3-octave levels, dB re its
    /// loudness (empty until planned).
    pub planned_tonal_db: Vec<f64>,
    /// Gain given up to respect `max_limiting_db`, dB (0: none).
    pub limiting_cut_db: f64,
    /// The file the track's match module matches (the first one in use
    /// with a file reference): its name and 1/3-octave tonal balance
    /// (`analysis::tonal`), for the interface's tonal view.
    pub reference_tonal: Option<(String, Vec<f64>)>,
}

/// Everything playback needs, decided before the first sample plays.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Preferred output rate (the delivery's, or the file's), Hz.
    pub rate: u32,
    /// The tracks in play order.
    pub tracks: Vec<PlanTrack>,
    /// Integrated loudness of the whole rendered album as planned, LUFS (exact plans only).
    pub planned_album_lufs: Option<f64>,
    /// The most gain any track gives up to respect `max_limiting_db`, dB
    /// (0: none; the target is then missed by about this much).
    pub limiting_cut_db: f64,
    /// Each track run through its pre-limiter chain and spooled at `rate`
    /// (plans made for rendering; empty otherwise).
    pub spooled: Vec<std::sync::Arc<delivery::Prepared>>,
}

impl Plan {
    /// One file through `chain` with `gain_db` into the limiter and
    /// `match_db` to level-match the original.
    pub fn file(path: &Path, chain: &ChainConfig, gain_db: f64, match_db: f64) -> Result<Self> {
        let src = FileSource::open(path)?;
        let info = src.info().clone();
        if info.channels > 2 {
            return Err(LatheError::decode(
                path,
                format!(
                    "has {} channels; playback takes mono or stereo",
                    info.channels
                ),
            ));
        }
        let frames = match info.total_frames {
            Some(n) => n,
            None => crate::analysis::analyze_file_with(path, 1)?.frames,
        };
        Ok(Self {
            rate: info.sample_rate,
            planned_album_lufs: None,
            limiting_cut_db: 0.0,
            spooled: Vec::new(),
            tracks: vec![PlanTrack {
                path: path.to_path_buf(),
                title: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                trim_start: 0,
                frames,
                rate: info.sample_rate,
                channels: info.channels,
                chain: chain.clone(),
                gain_db,
                match_db,
                gap_s: 0.0,
                crossfade_s: 0.0,
                fade_in_s: 0.0,
                fade_out_s: 0.0,
                curve: FadeCurve::Linear,
                planned_lufs: None,
                planned_tp_dbtp: None,
                planned_series: Vec::new(),
                planned_limiting: None,
                planned_loud_lufs: None,
                planned_tonal_db: Vec::new(),
                limiting_cut_db: 0.0,
                reference_tonal: None,
            }],
        })
    }

    /// An album session played as delivery `delivery` (None: the first)
    /// renders it: same chains, same balancing gains (planned exactly as
    /// `lathe render` plans them), same gaps, fades and crossfades.
    pub fn session(session_path: &Path, delivery: Option<&str>) -> Result<Self> {
        let session = crate::session::album::Session::load(session_path)?;
        Self::from_session(&session, session_path, delivery)
    }

    /// [`Plan::session`] for a session already in memory (track
    /// paths relative to `session_path`'s folder).
    pub fn from_session(
        session: &crate::session::album::Session,
        session_path: &Path,
        delivery: Option<&str>,
    ) -> Result<Self> {
        Self::from_session_cached(session, session_path, delivery, None)
    }

    /// [`Plan::from_session`] reusing the spooled tracks in `cache`
    /// that have not changed since the last plan (and keeping this plan's).
    pub fn from_session_cached(
        session: &crate::session::album::Session,
        session_path: &Path,
        delivery: Option<&str>,
        cache: Option<&self::delivery::SpoolCache>,
    ) -> Result<Self> {
        let plan = self::delivery::plan_delivery(session, session_path, delivery, cache)?;
        let base = session_path.parent().unwrap_or_else(|| Path::new("."));
        let matches: Vec<f64> = plan
            .input_lufs
            .iter()
            .zip(&plan.output_lufs)
            .map(|(i, o)| {
                if i.is_finite() && o.is_finite() {
                    o - i
                } else {
                    0.0
                }
            })
            .collect();
        let mut me = Self::assemble(
            session,
            session_path,
            plan.delivery.rate_hz,
            &plan.chains,
            &plan.gains_db,
            &matches,
        )?;
        for (k, t) in me.tracks.iter_mut().enumerate() {
            t.planned_lufs = plan.output_lufs.get(k).copied();
            t.planned_tp_dbtp = plan.output_tp_dbtp.get(k).copied();
            t.planned_series = plan.output_series.get(k).cloned().unwrap_or_default();
            t.planned_limiting = plan.output_limiting.get(k).copied();
            t.planned_loud_lufs = plan.output_loud_lufs.get(k).copied();
            t.planned_tonal_db = plan.output_tonal_db.get(k).cloned().unwrap_or_default();
            t.limiting_cut_db = plan.limiting_cuts_db.get(k).copied().unwrap_or(0.0);
            t.reference_tonal = self::matching::reference_tonal(&t.chain, base);
        }
        me.planned_album_lufs = Some(plan.album_lufs).filter(|v| v.is_finite());
        me.limiting_cut_db = plan.limiting_cuts_db.iter().copied().fold(0.0, f64::max);
        Ok(me)
    }

    /// The plan `lathe render` writes for delivery `d` of `session` (track
    /// paths relative to `session_path`'s folder): every track spooled in
    /// `spool_dir` and kept in [`Plan::spooled`], with the gains balancing
    /// asks for. The same planning as [`Plan::from_session`], which plays it.
    pub fn for_render(
        session: &crate::session::album::Session,
        session_path: &Path,
        d: &crate::session::album::Delivery,
        spool_dir: &Path,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Self> {
        let paths: Vec<PathBuf> = session
            .tracks
            .iter()
            .map(|t| session.track_path(session_path, t))
            .collect();
        let base = session_path.parent().unwrap_or_else(|| Path::new("."));
        let (prepared, _lim, gains, cuts, _) =
            delivery::prepare_delivery(session, base, &paths, d, spool_dir, progress, None, false)?;
        let chains = delivery::delivery_chains(session, base, &paths, d)?;
        let matches = vec![0.0; session.tracks.len()];
        let mut me = Self::assemble(session, session_path, d.rate_hz, &chains, &gains, &matches)?;
        for (t, c) in me.tracks.iter_mut().zip(&cuts) {
            t.limiting_cut_db = *c;
        }
        me.limiting_cut_db = cuts.iter().copied().fold(0.0, f64::max);
        me.spooled = prepared;
        Ok(me)
    }

    /// A plan that can start playing at once, before the gains are known:
    /// the same tracks, timeline and chains as [`Plan::from_session`],
    /// each track at its own gain offset only and without level matching.
    /// Its exact gains then replace these without a reopen (same timeline).
    pub fn provisional(
        session: &crate::session::album::Session,
        session_path: &Path,
        delivery: Option<&str>,
    ) -> Result<Self> {
        let d = self::delivery::find_delivery(session, session_path, delivery)?;
        let chains: Vec<ChainConfig> = session
            .tracks
            .iter()
            .map(|t| self::delivery::delivery_chain(session, t, &d))
            .collect();
        let gains: Vec<f64> = session.tracks.iter().map(|t| t.gain_db).collect();
        let matches = vec![0.0; session.tracks.len()];
        Self::assemble(session, session_path, d.rate_hz, &chains, &gains, &matches)
    }

    /// The tracks of `session` with their chains, gains into the limiter (dB)
    /// and level-match gains (dB), read from the files' headers.
    fn assemble(
        session: &crate::session::album::Session,
        session_path: &Path,
        rate: u32,
        chains: &[ChainConfig],
        gains: &[f64],
        matches: &[f64],
    ) -> Result<Self> {
        let mut tracks = Vec::new();
        for (i, t) in session.tracks.iter().enumerate() {
            let path = session.track_path(session_path, t);
            let src = FileSource::open(&path)?;
            let info = src.info().clone();
            if info.channels > 2 {
                return Err(LatheError::decode(&path, "playback takes mono or stereo"));
            }
            let total = match info.total_frames {
                Some(n) => n,
                None => crate::analysis::analyze_file_with(&path, 1)?.frames,
            };
            let r = f64::from(info.sample_rate);
            let start = (t.trim_start_s * r).round() as u64;
            let end_trim = (t.trim_end_s * r).round() as u64;
            if start + end_trim >= total {
                return Err(LatheError::decode(&path, "trims leave no audio"));
            }
            tracks.push(PlanTrack {
                path,
                title: t.title.clone(),
                trim_start: start,
                frames: total - start - end_trim,
                rate: info.sample_rate,
                channels: info.channels,
                chain: chains[i].clone(),
                gain_db: gains[i],
                match_db: matches[i],
                gap_s: t.gap_s,
                crossfade_s: t.crossfade_s,
                fade_in_s: t.fade_in_s,
                fade_out_s: t.fade_out_s,
                curve: t.fade_curve,
                planned_lufs: None,
                planned_tp_dbtp: None,
                planned_series: Vec::new(),
                planned_limiting: None,
                planned_loud_lufs: None,
                planned_tonal_db: Vec::new(),
                limiting_cut_db: 0.0,
                reference_tonal: None,
            });
        }
        Ok(Self {
            rate,
            tracks,
            planned_album_lufs: None,
            limiting_cut_db: 0.0,
            spooled: Vec::new(),
        })
    }

    /// Each track's length at `rate`, samples (as the renderer's converter makes it).
    pub fn lengths(&self, rate: u32) -> Vec<u64> {
        self.tracks
            .iter()
            .map(|t| {
                if t.rate == rate {
                    t.frames
                } else {
                    (t.frames as f64 * f64::from(rate) / f64::from(t.rate)).round() as u64
                }
            })
            .collect()
    }

    /// The tracks placed on a timeline at `rate`.
    pub fn timeline(&self, rate: u32) -> Timeline {
        let placements: Vec<Placement> = self
            .tracks
            .iter()
            .zip(self.lengths(rate))
            .map(|(t, len)| Placement {
                len,
                gap_s: t.gap_s,
                crossfade_s: t.crossfade_s,
                fade_in_s: t.fade_in_s,
                fade_out_s: t.fade_out_s,
                curve: t.curve,
            })
            .collect();
        Timeline::album(rate, &placements)
    }
}

/// The gain into the limiter that `lathe render`/`master` would use for
/// `path` through `chain` (same spool and search), so playback matches the
/// render. 0 dB when the chain has no target. Also returns the input's
/// integrated loudness, LUFS.
pub fn gain_plan(path: &Path, chain: &ChainConfig) -> Result<(f64, f64)> {
    let cfg = chain.clone().with_limiter(None);
    let Some(target) = cfg.target_lufs else {
        let input = crate::analysis::analyze_file(path)?;
        return Ok((0.0, input.loudness.integrated_lufs));
    };
    let mut source = FileSource::open(path)?;
    let info = source.info().clone();
    let mut built = Chain::from_config(&cfg, info.sample_rate, info.channels)?;
    let mut gr = vec![0.0; cfg.modules.len() + 1];
    let dir = std::env::temp_dir();
    let spooled = self::gain::process_to_spool(
        &mut source,
        &mut built,
        info.sample_rate,
        &dir,
        &|_| {},
        &mut gr,
        false,
    )?;
    let lim = self::gain::limiter_only(&cfg);
    let (g, _, _) = self::gain::search_gain(
        &spooled,
        &lim,
        info.sample_rate,
        &info.channel_weights,
        target,
        &|_| {},
    )?;
    Ok((g, spooled.input.stats().integrated_lufs))
}
