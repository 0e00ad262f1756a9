//! What plays: a plan (one file, or an album session's delivery with its
//! gains, gaps, fades and crossfades), a reader thread decoding ahead into
//! the player's ring, the player on a cpal device or the silent output, and
//! a meter thread (loudness, true peak, spectrum before/after).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::null_output::NullOutput;
use super::player::{Jump, TrackUnit, Unit};
use super::timeline::{Placement, Timeline};
use super::{Command, Player, PlayerShared, Swap};
use crate::analysis::loudness::LoudnessMeter;
use crate::analysis::spectrum::Spectrum;
use crate::analysis::truepeak::TruePeakMeter;
use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::io::resample::Resampler;
use crate::io::{AudioBlock, AudioSource, FileSource};
use crate::session::album::FadeCurve;
use crate::session::chain::ChainConfig;
use crate::units::linear_to_db;

/// Live meter readings (updated by the meter thread about 20 times a second).
#[derive(Debug, Clone, Default)]
pub struct MeterSnapshot {
    /// Momentary loudness, LUFS.
    pub momentary_lufs: f64,
    /// Short-term loudness, LUFS.
    pub short_term_lufs: f64,
    /// Integrated loudness since play start (or the last meter reset), LUFS.
    pub integrated_lufs: f64,
    /// Loudness range since play start, LU.
    pub range_lu: f64,
    /// True peak since play start, dBTP.
    pub true_peak_dbtp: f64,
    /// True peak of the last 100 ms, dBTP.
    pub true_peak_now_dbtp: f64,
    /// Spectrum of the processed signal: level per band, dB (full-scale sine = 0).
    pub spectrum_after: Vec<f32>,
    /// Spectrum of the original signal per band, dB.
    pub spectrum_before: Vec<f32>,
    /// Peak-hold of the processed spectrum per band, dB.
    pub spectrum_peak: Vec<f32>,
    /// Short-term loudness every 100 ms of playback since play start: (playhead s, LUFS).
    pub history: Vec<(f64, f64)>,
}

/// One track of a [`PlaybackPlan`].
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
}

/// Everything playback needs, decided before the first sample plays.
#[derive(Debug, Clone)]
pub struct PlaybackPlan {
    /// Preferred output rate (the delivery's, or the file's), Hz.
    pub rate: u32,
    /// The tracks in play order.
    pub tracks: Vec<PlanTrack>,
    /// Integrated loudness of the whole rendered album as planned, LUFS (exact plans only).
    pub planned_album_lufs: Option<f64>,
}

impl PlaybackPlan {
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

    /// [`PlaybackPlan::session`] for a session already in memory (track
    /// paths relative to `session_path`'s folder).
    pub fn from_session(
        session: &crate::session::album::Session,
        session_path: &Path,
        delivery: Option<&str>,
    ) -> Result<Self> {
        let plan = crate::render::album::plan_delivery(session, session_path, delivery)?;
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
        }
        me.planned_album_lufs = Some(plan.album_lufs).filter(|v| v.is_finite());
        Ok(me)
    }

    /// A plan that can start playing at once, before the gains are known:
    /// the same tracks, timeline and chains as [`PlaybackPlan::from_session`],
    /// each track at its own gain offset only and without level matching.
    /// Its exact gains then replace these without a reopen (same timeline).
    pub fn provisional(
        session: &crate::session::album::Session,
        session_path: &Path,
        delivery: Option<&str>,
    ) -> Result<Self> {
        let d = crate::render::album::find_delivery(session, session_path, delivery)?;
        let chains: Vec<ChainConfig> = session
            .tracks
            .iter()
            .map(|t| crate::render::album::delivery_chain(session, t, &d))
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
            });
        }
        Ok(Self {
            rate,
            tracks,
            planned_album_lufs: None,
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

/// How to open playback.
#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    /// Output device whose name contains this (None: the default device).
    pub device: Option<String>,
    /// Use the silent output even if a device exists.
    pub force_null: bool,
    /// Run the silent output as fast as possible (tests, offline checks).
    pub freewheel: bool,
    /// Keep every processed output frame (interleaved stereo) here (tests).
    pub capture: Option<Arc<Mutex<Vec<f32>>>>,
}

/// Where the sound goes.
enum Output {
    /// A cpal stream on a device, with the slot its callback borrows the player from.
    Device(cpal::Stream, Arc<PlayerSlot>, String),
    /// The silent, real-time-clocked fallback.
    Null(NullOutput, String),
}

/// The player, lent to the device callback one buffer at a time through an
/// atomic pointer (no lock): the callback takes it, renders, puts it back.
/// After the stream is dropped the player is still here to move elsewhere.
struct PlayerSlot(std::sync::atomic::AtomicPtr<Player>);

impl PlayerSlot {
    fn new(p: Player) -> Self {
        Self(std::sync::atomic::AtomicPtr::new(Box::into_raw(Box::new(
            p,
        ))))
    }
    /// Take the player out (None while a callback holds it or after a take).
    fn take(&self) -> Option<Player> {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            None
        } else {
            // SAFETY: the pointer came from Box::into_raw and is owned by the slot.
            Some(*unsafe { Box::from_raw(p) })
        }
    }
    /// Run `f` on the player if it is in the slot (the callback path).
    fn with(&self, f: impl FnOnce(&mut Player)) -> bool {
        let p = self.0.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return false;
        }
        // SAFETY: we hold the only pointer until it is stored back.
        f(unsafe { &mut *p });
        self.0.store(p, Ordering::Release);
        true
    }
}

impl Drop for PlayerSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}

/// The device to play on and the rate to run it at: `want` if the device
/// takes it, else its default rate.
fn pick_device(
    wanted: Option<&str>,
    want: u32,
) -> std::result::Result<(cpal::Device, String, u32), String> {
    use cpal::traits::{DeviceTrait, HostTrait};
    let _quiet = StderrSilencer::new();
    let host = cpal::default_host();
    let device = match wanted {
        None => host.default_output_device(),
        Some(w) => host.output_devices().ok().and_then(|mut it| {
            it.find(|d| {
                d.description()
                    .map(|x| x.name().contains(w))
                    .unwrap_or(false)
            })
        }),
    };
    let Some(device) = device else {
        return Err(match wanted {
            Some(w) => format!("no audio device named '{w}'"),
            None => "no audio device".into(),
        });
    };
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "default".into());
    let takes = device
        .supported_output_configs()
        .ok()
        .is_some_and(|mut it| {
            it.any(|c| {
                c.channels() >= 2 && c.min_sample_rate() <= want && c.max_sample_rate() >= want
            })
        });
    let rate = if takes {
        want
    } else {
        device
            .default_output_config()
            .map(|c| c.sample_rate())
            .map_err(|e| format!("audio device unavailable ({e})"))?
    };
    Ok((device, name, rate))
}

/// Start a stream on `device` lending the player from `slot`; `lost` is set
/// if the device reports an error (unplugged, driver gone).
fn start_stream(
    device: &cpal::Device,
    rate: u32,
    slot: Arc<PlayerSlot>,
    lost: Arc<AtomicBool>,
) -> std::result::Result<cpal::Stream, String> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let _quiet = StderrSilencer::new();
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Default,
    };
    let stream = device
        .build_output_stream::<f32, _, _>(
            config,
            move |data: &mut [f32], _| {
                if !slot.with(|p| p.render(data, 2)) {
                    data.iter_mut().for_each(|s| *s = 0.0);
                }
            },
            move |_| lost.store(true, Ordering::Release),
            None,
        )
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    stream
        .play()
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    Ok(stream)
}

/// Control of the reader thread (all atomics).
#[derive(Default)]
struct ReaderControl {
    stop: AtomicBool,
    seek_to: AtomicU64,
    seek_flag: AtomicBool,
    /// Loop region in input ticks: start and end (end 0 = no loop).
    loop_start: AtomicU64,
    loop_end: AtomicU64,
    reset_meters: AtomicBool,
}

/// A playing plan: reader, player, output and meters.
pub struct Playback {
    /// Shared atomics (position, underruns, …).
    pub shared: Arc<PlayerShared>,
    commands: rtrb::Producer<Command>,
    control: Arc<ReaderControl>,
    meters: Arc<Mutex<MeterSnapshot>>,
    output: Option<Output>,
    device_lost: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    swap_tx: rtrb::Producer<Swap>,
    retired_rx: rtrb::Consumer<Box<Unit>>,
    latency: usize,
    notices: Vec<String>,
    errors: Arc<Mutex<Vec<String>>>,
    opts: PlayOptions,
    /// The plan being played.
    pub plan: PlaybackPlan,
    /// The tracks on the timeline at the output rate.
    pub timeline: Timeline,
    /// Output sample rate, Hz.
    pub rate: u32,
    /// Total frames of the timeline, samples.
    pub total_frames: Option<u64>,
    /// The (first) file.
    pub path: PathBuf,
}

const RING_FRAMES: usize = 32_768;
const LANE_CHANNELS: usize = 2;

/// Reads one track at the timeline rate from any frame.
struct TrackReader {
    src: FileSource,
    resampler: Option<Resampler>,
    /// Converted frames not yet handed out (planar).
    pending: Vec<Vec<f32>>,
    /// Timeline-rate frame index of `pending[..][0]`.
    next: u64,
    /// Source frames left before the trim end.
    src_left: u64,
    block: AudioBlock,
    flushed: bool,
}

impl TrackReader {
    fn open(t: &PlanTrack, rate: u32, from: u64) -> Result<Self> {
        let mut src = FileSource::open(&t.path)?;
        let ch = t.channels;
        let (resampler, src_from, next) = if t.rate == rate {
            (None, from, from)
        } else {
            let sf = (from as f64 * f64::from(t.rate) / f64::from(rate)).floor() as u64;
            let back = (sf as f64 * f64::from(rate) / f64::from(t.rate)).round() as u64;
            (Some(Resampler::new(t.rate, rate, ch)?), sf, back)
        };
        let src_from = src_from.min(t.frames);
        src.seek(t.trim_start + src_from)?;
        Ok(Self {
            src,
            resampler,
            pending: vec![Vec::new(); ch],
            next,
            src_left: t.frames - src_from,
            block: AudioBlock::new(ch, 4096),
            flushed: false,
        })
    }

    /// Append up to `n` frames starting at frame `self.next` into `dst`
    /// (planar, cleared first); fewer at the end of the track.
    fn read(&mut self, n: usize, dst: &mut [Vec<f32>]) -> Result<()> {
        while self.pending[0].len() < n && !self.flushed {
            let got = if self.src_left == 0 {
                0
            } else {
                self.src.read(&mut self.block)?
            };
            let got = (got as u64).min(self.src_left) as usize;
            self.src_left -= got as u64;
            self.block.frames = got;
            match self.resampler.as_mut() {
                None => {
                    for (p, c) in self.pending.iter_mut().zip(&self.block.channels) {
                        p.extend_from_slice(&c[..got]);
                    }
                    if got == 0 {
                        self.flushed = true;
                    }
                }
                Some(r) => {
                    if got > 0 {
                        r.process(&self.block, &mut self.pending)?;
                    } else {
                        r.finish(&mut self.pending)?;
                        self.flushed = true;
                    }
                }
            }
        }
        let k = n.min(self.pending[0].len());
        for (d, p) in dst.iter_mut().zip(&mut self.pending) {
            d.clear();
            d.extend(p.drain(..k));
        }
        self.next += k as u64;
        Ok(())
    }
}

/// The reader thread: walks the timeline in input ticks, decoding each
/// track that is active into its lane, zeros in gaps, a latency's worth of
/// zeros after the last track; flushes on seek; jumps at the loop end.
#[allow(clippy::too_many_arguments)]
fn reader_thread(
    plan: PlaybackPlan,
    timeline: Timeline,
    lanes: usize,
    latency: usize,
    mut ring: rtrb::Producer<f32>,
    mut jumps: rtrb::Producer<Jump>,
    shared: Arc<PlayerShared>,
    ctl: Arc<ReaderControl>,
    errors: Arc<Mutex<Vec<String>>>,
) {
    let width = lanes * LANE_CHANNELS;
    let rate = timeline.rate;
    let end = timeline.total() + latency as u64 + 64;
    let mut readers: Vec<Option<TrackReader>> = (0..plan.tracks.len()).map(|_| None).collect();
    let mut tick = 0u64;
    let mut pushed = 0u64;
    let mut generation = shared.flush_gen.load(Ordering::Acquire);
    let mut scratch: Vec<Vec<f32>> = vec![Vec::new(); LANE_CHANNELS];
    let mut frame_buf: Vec<f32> = Vec::new();
    const CHUNK: usize = 2048;
    while !ctl.stop.load(Ordering::Acquire) {
        if ctl.seek_flag.swap(false, Ordering::AcqRel) {
            shared.flushing.store(true, Ordering::Release);
            // Wait for the callback to drain the ring.
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while !ring.is_abandoned()
                && ring.slots() < ring.buffer().capacity()
                && !ctl.stop.load(Ordering::Acquire)
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            tick = ctl.seek_to.load(Ordering::Acquire).min(end);
            pushed = 0;
            shared.restart_tick.store(tick, Ordering::Release);
            shared.position.store(tick, Ordering::Release);
            shared.finished.store(false, Ordering::Release);
            generation += 1;
            shared.flush_gen.store(generation, Ordering::Release);
            shared.flushing.store(false, Ordering::Release);
        }
        if tick >= end {
            shared.finished.store(true, Ordering::Release);
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        let room = ring.slots() / width;
        if room < CHUNK.min((end - tick) as usize) {
            // The ring holds ~0.7 s: waking every 8 ms is plenty and keeps
            // a paused player near idle.
            std::thread::sleep(std::time::Duration::from_millis(8));
            continue;
        }
        let mut n = CHUNK.min((end - tick) as usize);
        let (la, lb) = (
            ctl.loop_start.load(Ordering::Acquire),
            ctl.loop_end.load(Ordering::Acquire),
        );
        let looping = lb > la && tick < lb;
        if looping {
            n = n.min((lb - tick) as usize);
        }
        frame_buf.clear();
        frame_buf.resize(n * width, 0.0);
        for (k, span) in timeline.spans.iter().enumerate() {
            let a = tick.max(span.start);
            let b = (tick + n as u64).min(span.end());
            if a >= b {
                if span.end() <= tick {
                    readers[k] = None;
                }
                continue;
            }
            let j = a - span.start;
            if readers[k].as_ref().is_none_or(|r| r.next != j) {
                match TrackReader::open(&plan.tracks[k], rate, j) {
                    Ok(r) => readers[k] = Some(r),
                    Err(e) => {
                        if let Ok(mut v) = errors.lock() {
                            v.push(e.to_string());
                        }
                        readers[k] = None;
                        continue;
                    }
                }
            }
            let Some(r) = readers[k].as_mut() else {
                continue;
            };
            // A converted track may start a few frames late after a seek.
            let skip = j.saturating_sub(r.next);
            let lead = r.next.saturating_sub(j) as usize;
            if skip > 0 {
                let _ = r.read(skip as usize, &mut scratch);
            }
            let want = (b - a) as usize - lead.min((b - a) as usize);
            if let Err(e) = r.read(want, &mut scratch) {
                if let Ok(mut v) = errors.lock() {
                    v.push(e.to_string());
                }
                readers[k] = None;
                continue;
            }
            let lane = k % lanes;
            let off = (a - tick) as usize + lead;
            let mono = plan.tracks[k].channels == 1;
            for c in 0..LANE_CHANNELS {
                let src = &scratch[if mono { 0 } else { c }];
                for (f, v) in src.iter().enumerate() {
                    frame_buf[(off + f) * width + lane * LANE_CHANNELS + c] = *v;
                }
            }
            // Keep the reader's idea of the next frame on the timeline.
            r.next = b - span.start;
        }
        if let Ok(mut chunk) = ring.write_chunk_uninit(n * width) {
            let (a, b) = chunk.as_mut_slices();
            for (d, s) in a.iter_mut().chain(b.iter_mut()).zip(&frame_buf) {
                d.write(*s);
            }
            // SAFETY: every slot of the chunk was written above.
            unsafe { chunk.commit_all() };
        }
        tick += n as u64;
        pushed += n as u64;
        if looping && tick == lb {
            let to = la;
            let _ = jumps.push(Jump {
                generation,
                at: pushed,
                to,
            });
            tick = to;
        }
        let _ = rate;
    }
}

/// Meter thread: reads the tap ring (processed L/R, original L/R per frame)
/// into loudness, true peak and spectrum meters.
fn meter_thread(
    rate: u32,
    latency: usize,
    mut tap: rtrb::Consumer<f32>,
    meters: Arc<Mutex<MeterSnapshot>>,
    shared: Arc<PlayerShared>,
    ctl: Arc<ReaderControl>,
    capture: Option<Arc<Mutex<Vec<f32>>>>,
) {
    let new_meters = || {
        (
            LoudnessMeter::new(rate, &[1.0, 1.0]),
            [TruePeakMeter::new(rate), TruePeakMeter::new(rate)],
        )
    };
    let (mut lm, mut tps) = new_meters();
    let mut now_tp = [TruePeakMeter::new(rate), TruePeakMeter::new(rate)];
    let mut since_now = 0usize;
    let mut after = Spectrum::new(rate);
    let mut before = Spectrum::new(rate);
    let mut planar = vec![vec![0f32; 4096]; 4];
    let mut since_history = 0usize;
    let mut history: Vec<(f64, f64)> = Vec::new();
    while !ctl.stop.load(Ordering::Acquire) {
        if ctl.reset_meters.swap(false, Ordering::AcqRel) {
            (lm, tps) = new_meters();
            history.clear();
        }
        let n = (tap.slots() / 4).min(4096);
        if n == 0 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        if let Ok(chunk) = tap.read_chunk(n * 4) {
            let (a, b) = chunk.as_slices();
            for (i, v) in a.iter().chain(b.iter()).enumerate() {
                planar[i % 4][i / 4] = *v;
            }
            if let Some(c) = capture.as_ref()
                && let Ok(mut c) = c.lock()
            {
                for (l, r) in planar[0][..n].iter().zip(&planar[1][..n]) {
                    c.push(*l);
                    c.push(*r);
                }
            }
            chunk.commit_all();
        }
        lm.push(&planar[..2], n);
        for (t, p) in tps.iter_mut().zip(&planar) {
            t.push(&p[..n]);
        }
        for (t, p) in now_tp.iter_mut().zip(&planar) {
            t.push(&p[..n]);
        }
        after.push(&planar[0][..n], &planar[1][..n]);
        before.push(&planar[2][..n], &planar[3][..n]);
        since_history += n;
        let tick = shared.position.load(Ordering::Relaxed);
        let playhead = tick.saturating_sub(latency as u64) as f64 / f64::from(rate);
        if since_history >= rate as usize / 10 {
            since_history = 0;
            let st = lm.short_term();
            if history.len() < 200_000 {
                history.push((playhead, st));
            }
        }
        since_now += n;
        let tp_now = linear_to_db(now_tp[0].true_peak().max(now_tp[1].true_peak()));
        if since_now >= rate as usize / 10 {
            since_now = 0;
            now_tp = [TruePeakMeter::new(rate), TruePeakMeter::new(rate)];
        }
        if let Ok(mut m) = meters.lock() {
            let stats = lm.stats();
            m.momentary_lufs = lm.momentary();
            m.short_term_lufs = lm.short_term();
            m.integrated_lufs = stats.integrated_lufs;
            m.range_lu = stats.loudness_range_lu;
            m.true_peak_dbtp = linear_to_db(tps[0].true_peak().max(tps[1].true_peak()));
            m.true_peak_now_dbtp = tp_now;
            after.levels_into(&mut m.spectrum_after);
            before.levels_into(&mut m.spectrum_before);
            after.peaks_into(&mut m.spectrum_peak);
            if m.history.len() != history.len() {
                m.history.clone_from(&history);
            }
        }
    }
}

impl Playback {
    /// Open `path` through `chain` and start the output (paused). With
    /// `force_null` (or no usable device) the silent output is used;
    /// `freewheel` runs it faster than real time.
    pub fn open(
        path: &Path,
        chain: &ChainConfig,
        gain_db: f64,
        force_null: bool,
        freewheel: bool,
    ) -> Result<Self> {
        Self::open_on(path, chain, gain_db, None, force_null, freewheel)
    }

    /// [`Playback::open`] on the output device whose name contains `device`
    /// (None: the default device).
    pub fn open_on(
        path: &Path,
        chain: &ChainConfig,
        gain_db: f64,
        device: Option<&str>,
        force_null: bool,
        freewheel: bool,
    ) -> Result<Self> {
        let plan = PlaybackPlan::file(path, chain, gain_db, 0.0)?;
        Self::open_plan(
            plan,
            &PlayOptions {
                device: device.map(str::to_string),
                force_null,
                freewheel,
                capture: None,
            },
        )
    }

    /// Build each track's unit at `rate`, padded to `latency`.
    fn build_units(plan: &PlaybackPlan, rate: u32) -> Result<(Vec<Chain>, usize)> {
        let mut chains = Vec::new();
        for t in &plan.tracks {
            let mut c = Chain::from_config(&t.chain, rate, t.channels)
                .map_err(|e| LatheError::decode(&t.path, e.to_string()))?;
            c.jump_target_gain_db(t.gain_db);
            chains.push(c);
        }
        let latency = chains.iter().map(Chain::latency).max().unwrap_or(0);
        Ok((chains, latency))
    }

    /// Start playing `plan` (paused) on the device in `opts` or the silent output.
    pub fn open_plan(plan: PlaybackPlan, opts: &PlayOptions) -> Result<Self> {
        if plan.tracks.is_empty() {
            return Err(LatheError::Invalid("nothing to play: no tracks".into()));
        }
        let mut notices = Vec::new();
        // Pick the device first: its rate decides the chains' rate.
        let picked = if opts.force_null {
            Err("silent output requested".to_string())
        } else {
            pick_device(opts.device.as_deref(), plan.rate)
        };
        let rate = match &picked {
            Ok((_, name, r)) => {
                if *r != plan.rate {
                    notices.push(format!(
                        "{name} runs at {r} Hz: converting from {} Hz in real time",
                        plan.rate
                    ));
                }
                *r
            }
            Err(_) => plan.rate,
        };
        let timeline = plan.timeline(rate);
        let (chains, latency) = Self::build_units(&plan, rate)?;
        let lanes = if timeline.spans.iter().any(|s| s.xf_in > 0) {
            2
        } else {
            1
        };
        let width = lanes * LANE_CHANNELS;
        let (in_tx, in_rx) = rtrb::RingBuffer::<f32>::new(RING_FRAMES * width);
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::<Command>::new(256);
        let (tap_tx, tap_rx) = rtrb::RingBuffer::<f32>::new(RING_FRAMES * 4);
        let (jump_tx, jump_rx) = rtrb::RingBuffer::<Jump>::new(64);
        let shared = Arc::new(PlayerShared::default());
        shared.correlation_milli.store(2000, Ordering::Relaxed);
        let tracks: Vec<TrackUnit> = chains
            .into_iter()
            .zip(&timeline.spans)
            .zip(&plan.tracks)
            .map(|((c, span), t)| TrackUnit {
                span: *span,
                unit: Box::new(Unit::new(c, latency)),
                channels: t.channels,
                match_db: t.match_db,
            })
            .collect();
        let ntracks = tracks.len();
        let mut player = Player::with_tracks(
            tracks,
            lanes,
            LANE_CHANNELS,
            latency,
            in_rx,
            cmd_rx,
            tap_tx,
            shared.clone(),
        );
        let (swap_tx, swap_rx) = rtrb::RingBuffer::<Swap>::new(2 * ntracks + 8);
        let (retired_tx, retired_rx) = rtrb::RingBuffer::<Box<Unit>>::new(4 * ntracks + 16);
        player.connect_swaps(swap_rx, retired_tx);
        player.connect_jumps(jump_rx);
        player.set_freewheel(opts.freewheel);
        let control = Arc::new(ReaderControl::default());
        let errors = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (plan, timeline, shared, ctl, errors) = (
                plan.clone(),
                timeline.clone(),
                shared.clone(),
                control.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                reader_thread(
                    plan, timeline, lanes, latency, in_tx, jump_tx, shared, ctl, errors,
                )
            })
        };
        let meters = Arc::new(Mutex::new(MeterSnapshot {
            momentary_lufs: f64::NEG_INFINITY,
            short_term_lufs: f64::NEG_INFINITY,
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
            true_peak_now_dbtp: f64::NEG_INFINITY,
            ..MeterSnapshot::default()
        }));
        let meter = {
            let (m, sh, ctl, cap) = (
                meters.clone(),
                shared.clone(),
                control.clone(),
                opts.capture.clone(),
            );
            std::thread::spawn(move || meter_thread(rate, latency, tap_rx, m, sh, ctl, cap))
        };
        let device_lost = Arc::new(AtomicBool::new(false));
        let output = match picked {
            Ok((device, name, r)) => {
                let slot = Arc::new(PlayerSlot::new(player));
                match start_stream(&device, r, slot.clone(), device_lost.clone()) {
                    Ok(s) => Output::Device(s, slot, name),
                    Err(why) => {
                        let p = slot.take().unwrap_or_else(Player::dummy);
                        notices.push(format!("{why}: silent output"));
                        Output::Null(
                            NullOutput::start(p, rate, 256, opts.freewheel),
                            format!("{why}: silent output"),
                        )
                    }
                }
            }
            Err(why) => {
                let what = if opts.force_null {
                    "silent output (requested)".to_string()
                } else {
                    notices.push(format!("{why}: silent output, meters live"));
                    "no audio device: silent output".to_string()
                };
                Output::Null(NullOutput::start(player, rate, 256, opts.freewheel), what)
            }
        };
        let path = plan.tracks[0].path.clone();
        Ok(Self {
            shared,
            commands: cmd_tx,
            control,
            meters,
            output: Some(output),
            device_lost,
            threads: vec![reader, meter],
            swap_tx,
            retired_rx,
            latency,
            notices,
            errors,
            opts: opts.clone(),
            total_frames: Some(timeline.total()),
            timeline,
            rate,
            plan,
            path,
        })
    }

    /// Send a command to the callback (dropped if the queue is full).
    pub fn send(&mut self, c: Command) -> bool {
        self.commands.push(c).is_ok()
    }

    /// Replace every track's chain with `cfg` (built here, off the audio
    /// thread; the callback crossfades within 10 ms). Returns false if the
    /// queue is full.
    pub fn set_chain(&mut self, cfg: &ChainConfig) -> Result<bool> {
        let mut ok = true;
        for k in 0..self.plan.tracks.len() {
            ok &= self.set_track_chain(k, cfg)?;
        }
        Ok(ok)
    }

    /// Replace track `k`'s chain with `cfg`. A chain with more latency than
    /// the player was built for re-opens the output at the same position.
    pub fn set_track_chain(&mut self, k: usize, cfg: &ChainConfig) -> Result<bool> {
        while let Ok(old) = self.retired_rx.pop() {
            drop(old);
        }
        let Some(t) = self.plan.tracks.get_mut(k) else {
            return Ok(false);
        };
        let mut chain = Chain::from_config(cfg, self.rate, t.channels)?;
        chain.jump_target_gain_db(t.gain_db);
        t.chain = cfg.clone();
        if chain.latency() > self.latency {
            self.reopen()?;
            return Ok(true);
        }
        Ok(self
            .swap_tx
            .push((k, Box::new(Unit::new(chain, self.latency))))
            .is_ok())
    }

    /// Set track `k`'s gain into the limiter, dB (rebuilds its unit).
    pub fn set_track_gain(&mut self, k: usize, gain_db: f64) -> Result<bool> {
        let Some(t) = self.plan.tracks.get_mut(k) else {
            return Ok(false);
        };
        t.gain_db = gain_db;
        let cfg = t.chain.clone();
        self.set_track_chain(k, &cfg)
    }

    /// Rebuild everything from the plan and continue where it was.
    fn reopen(&mut self) -> Result<()> {
        let pos = self.shared.position.load(Ordering::Acquire);
        let playing = self.shared.playing.load(Ordering::Acquire);
        let mut fresh = Self::open_plan(self.plan.clone(), &self.opts)?;
        fresh.seek_tick(pos);
        if playing {
            fresh.send(Command::Play);
        }
        *self = fresh;
        Ok(())
    }

    fn seek_tick(&mut self, tick: u64) {
        self.control.seek_to.store(tick, Ordering::Release);
        self.control.seek_flag.store(true, Ordering::Release);
    }

    /// Jump to timeline frame `frame` (samples at the output rate).
    pub fn seek(&mut self, frame: u64) {
        let frame = frame.min(self.timeline.total().saturating_sub(1));
        self.seek_tick(frame);
    }

    /// Jump to the start of track `k`.
    pub fn seek_track(&mut self, k: usize) {
        if let Some(s) = self.timeline.spans.get(k) {
            let start = s.start;
            self.seek(start);
        }
    }

    /// The track at the playhead.
    pub fn current_track(&self) -> usize {
        self.timeline.track_at(self.position_frames())
    }

    /// Next track (stays on the last).
    pub fn next_track(&mut self) {
        let k = (self.current_track() + 1).min(self.timeline.spans.len() - 1);
        self.seek_track(k);
    }

    /// Previous track, or the start of this one when more than 3 s in.
    pub fn previous_track(&mut self) {
        let k = self.current_track();
        let into = self
            .position_frames()
            .saturating_sub(self.timeline.spans[k].start);
        if into > 3 * u64::from(self.rate) || k == 0 {
            self.seek_track(k);
        } else {
            self.seek_track(k - 1);
        }
    }

    /// Stop: pause and go back to the start.
    pub fn stop(&mut self) {
        self.send(Command::Pause);
        self.seek(0);
    }

    /// Loop timeline frames `start..end` (None: no loop). Seamless: the
    /// reader jumps back without flushing.
    pub fn set_loop(&mut self, region: Option<(u64, u64)>) {
        let lat = self.latency as u64;
        match region {
            Some((a, b)) if b > a => {
                self.control.loop_start.store(a + lat, Ordering::Release);
                self.control.loop_end.store(b + lat, Ordering::Release);
            }
            _ => {
                self.control.loop_end.store(0, Ordering::Release);
                self.control.loop_start.store(0, Ordering::Release);
            }
        }
    }

    /// Loop region in timeline frames, if any.
    pub fn loop_region(&self) -> Option<(u64, u64)> {
        let (a, b) = (
            self.control.loop_start.load(Ordering::Acquire),
            self.control.loop_end.load(Ordering::Acquire),
        );
        let lat = self.latency as u64;
        (b > a).then(|| (a.saturating_sub(lat), b.saturating_sub(lat)))
    }

    /// Clear the integrated loudness, range, true-peak hold and history.
    pub fn reset_meters(&mut self) {
        self.control.reset_meters.store(true, Ordering::Release);
    }

    /// Call regularly (e.g. each UI frame): moves playback to the silent
    /// output if the device was lost. Returns messages worth logging.
    pub fn poll(&mut self) -> Vec<String> {
        if self.device_lost.swap(false, Ordering::AcqRel) {
            self.fall_back("audio device lost");
        }
        while let Ok(old) = self.retired_rx.pop() {
            drop(old);
        }
        if let Ok(mut e) = self.errors.lock() {
            self.notices.append(&mut e);
        }
        std::mem::take(&mut self.notices)
    }

    /// Move the player to the silent output (what a lost device triggers).
    pub fn fall_back(&mut self, why: &str) {
        let player = match self.output.take() {
            Some(Output::Device(stream, slot, _)) => {
                drop(stream);
                slot.take()
            }
            Some(Output::Null(n, _)) => n.stop(),
            None => None,
        };
        let player = player.unwrap_or_else(Player::dummy);
        let what = format!("{why}: silent output");
        self.notices.push(format!("{what}, meters live"));
        self.output = Some(Output::Null(
            NullOutput::start(player, self.rate, 256, false),
            what,
        ));
    }

    /// Latest meter readings.
    pub fn meters(&self) -> MeterSnapshot {
        self.meters.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// What the output is ("no audio device: silent output" or the device name).
    pub fn output_description(&self) -> String {
        match &self.output {
            Some(Output::Device(_, _, n)) => n.clone(),
            Some(Output::Null(_, n)) => n.clone(),
            None => String::new(),
        }
    }

    /// Whether the output is the silent fallback.
    pub fn is_silent(&self) -> bool {
        matches!(self.output, Some(Output::Null(..)))
    }

    /// The latency every track is padded to, samples.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Playhead in timeline frames.
    pub fn position_frames(&self) -> u64 {
        self.shared
            .position
            .load(Ordering::Relaxed)
            .saturating_sub(self.latency as u64)
    }

    /// Playhead in seconds.
    pub fn position_s(&self) -> f64 {
        self.position_frames() as f64 / f64::from(self.rate)
    }

    /// Whether everything has played.
    pub fn finished(&self) -> bool {
        self.shared.finished.load(Ordering::Acquire)
            && self.shared.position.load(Ordering::Acquire)
                >= self.timeline.total() + self.latency as u64
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.control.stop.store(true, Ordering::Release);
        self.output.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Redirects fd 2 to /dev/null while alive (ALSA prints to it when no card exists).
pub struct StderrSilencer(Option<i32>);

impl Default for StderrSilencer {
    fn default() -> Self {
        Self::new()
    }
}

impl StderrSilencer {
    /// Start silencing stderr.
    pub fn new() -> Self {
        // SAFETY: plain fd duplication; restored in Drop.
        unsafe {
            let saved = libc::dup(2);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if saved < 0 || null < 0 {
                return Self(None);
            }
            libc::dup2(null, 2);
            libc::close(null);
            Self(Some(saved))
        }
    }
}

impl Drop for StderrSilencer {
    fn drop(&mut self) {
        if let Some(fd) = self.0 {
            // SAFETY: restoring the saved descriptor.
            unsafe {
                libc::dup2(fd, 2);
                libc::close(fd);
            }
        }
    }
}

/// The gain into the limiter that `lathe render`/`master` would use for
/// `path` through `chain` (same spool and search), so playback matches the
/// render. 0 dB when the chain has no target. Also returns the input's
/// integrated loudness, LUFS.
pub fn gain_plan(path: &Path, chain: &ChainConfig) -> Result<(f64, f64)> {
    let cfg = chain.clone().with_limiter(None);
    let input = crate::analysis::analyze_file(path)?;
    let Some(target) = cfg.target_lufs else {
        return Ok((0.0, input.loudness.integrated_lufs));
    };
    let mut source = FileSource::open(path)?;
    let info = source.info().clone();
    let mut built = Chain::from_config(&cfg, info.sample_rate, info.channels)?;
    let mut gr = vec![0.0; cfg.modules.len() + 1];
    let dir = std::env::temp_dir();
    let (spool, pre) = crate::render::master::process_to_spool(
        &mut source,
        &mut built,
        info.sample_rate,
        &dir,
        &|_| {},
        &mut gr,
    )?;
    let lim = crate::render::master::limiter_only(&cfg);
    let (g, _, _) = crate::render::master::search_gain(
        &spool,
        &lim,
        info.sample_rate,
        &info.channel_weights,
        pre.stats().integrated_lufs,
        target,
        &|_| {},
    )?;
    Ok((g, input.loudness.integrated_lufs))
}
