//! A playing plan: the reader thread decoding ahead into the player's
//! ring, the player on a cpal device or the silent output, and the meter
//! thread. The plan, reader, meters and outputs live in their own modules;
//! their public types are re-exported here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::null_output::NullOutput;
use super::player::{Jump, TrackUnit, Unit};
use super::{Command, Player, PlayerShared, Swap};
use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::plan::Plan;
use crate::plan::timeline::Timeline;
use crate::session::chain::ChainConfig;

pub use super::meters::MeterSnapshot;
use super::meters::meter_thread;
pub use super::output::StderrSilencer;
use super::output::{Output, PlayerSlot, pick_device, start_stream};
use super::reader::{LANE_CHANNELS, RING_FRAMES, ReaderControl, reader_thread};

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
    /// Publish the monitor output (what goes to the sound card) to remote
    /// listeners through this hub.
    pub monitor: Option<Arc<crate::remote::hub::Monitor>>,
    /// Run the silent output at this rate, Hz, as a device at another rate
    /// than the plan's would run (the output is then converted after the
    /// chain). None: the plan's rate.
    pub output_rate: Option<u32>,
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
    pub plan: Plan,
    /// The tracks on the timeline at the plan's rate.
    pub timeline: Timeline,
    /// The timeline's rate (the plan's, the delivery's), Hz: the chains,
    /// meters and positions run at it.
    pub rate: u32,
    /// The output device's rate, Hz (the plan's unless a device cannot run
    /// at it; then the finished output is converted).
    pub device_rate: u32,
    /// Total frames of the timeline, samples.
    pub total_frames: Option<u64>,
    /// The (first) file.
    pub path: PathBuf,
    /// Each track's codec preview, if one is playing.
    codec: Vec<Option<Arc<super::codec::CodecAudio>>>,
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
        let plan = Plan::file(path, chain, gain_db, 0.0)?;
        Self::open_plan(
            plan,
            &PlayOptions {
                device: device.map(str::to_string),
                force_null,
                freewheel,
                ..PlayOptions::default()
            },
        )
    }

    /// Build each track's unit at `rate`, padded to `latency`.
    fn build_units(plan: &Plan, rate: u32) -> Result<(Vec<Chain>, usize)> {
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
    pub fn open_plan(plan: Plan, opts: &PlayOptions) -> Result<Self> {
        if plan.tracks.is_empty() {
            return Err(LatheError::Invalid("nothing to play: no tracks".into()));
        }
        let mut notices = Vec::new();
        // Everything runs at the plan's (the delivery's) rate, exactly as
        // the render runs; a device at another rate gets the finished output
        // converted for it.
        let rate = plan.rate;
        let picked = if opts.force_null {
            Err("silent output requested".to_string())
        } else {
            pick_device(opts.device.as_deref(), rate)
        };
        let device_rate = match &picked {
            Ok((_, name, r)) => {
                if *r != rate {
                    notices.push(format!(
                        "{name} runs at {r} Hz: the {rate} Hz plan is converted for it after the chain"
                    ));
                }
                *r
            }
            Err(_) => opts.output_rate.unwrap_or(rate),
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
        player
            .set_output_rate(rate, device_rate)
            .map_err(LatheError::Invalid)?;
        if let Some(m) = &opts.monitor {
            player.set_monitor(m.tap(device_rate));
        }
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
        let meters = Arc::new(Mutex::new(MeterSnapshot::silent()));
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
                            NullOutput::start(p, device_rate, 256, opts.freewheel),
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
                Output::Null(
                    NullOutput::start(player, device_rate, 256, opts.freewheel),
                    what,
                )
            }
        };
        let path = plan.tracks[0].path.clone();
        let codec = vec![None; plan.tracks.len()];
        Ok(Self {
            codec,
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
            device_rate,
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
        // A chain edited in the interface keeps its match curves until
        // the next plan measures again.
        let mut cfg = cfg.clone();
        crate::plan::matching::inherit(&mut cfg, &t.chain);
        let mut chain = Chain::from_config(&cfg, self.rate, t.channels)?;
        chain.jump_target_gain_db(t.gain_db);
        t.chain = cfg;
        if chain.latency() > self.latency {
            self.reopen()?;
            return Ok(true);
        }
        let codec = self.codec.get(k).cloned().flatten();
        Ok(self
            .swap_tx
            .push((
                k,
                Box::new(Unit::new(chain, self.latency).with_codec(codec)),
            ))
            .is_ok())
    }

    /// Play `audio` (track `k`'s codec preview, see
    /// [`super::codec::CodecAudio`]) in place of its chain's output; None
    /// returns to the chain. The delta listen mode then plays the codec's
    /// artifacts.
    pub fn set_track_codec(
        &mut self,
        k: usize,
        audio: Option<Arc<super::codec::CodecAudio>>,
    ) -> Result<bool> {
        let Some(slot) = self.codec.get_mut(k) else {
            return Ok(false);
        };
        *slot = audio;
        let cfg = self.plan.tracks[k].chain.clone();
        self.set_track_chain(k, &cfg)
    }

    /// Track `k`'s codec preview, if one is playing.
    pub fn track_codec(&self, k: usize) -> Option<&super::codec::CodecAudio> {
        self.codec.get(k).and_then(|c| c.as_deref())
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
        for (k, c) in self.codec.iter().enumerate() {
            if c.is_some() {
                fresh.set_track_codec(k, c.clone())?;
            }
        }
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
            NullOutput::start(player, self.device_rate, 256, false),
            what,
        ));
    }

    /// The remote listeners attached to this playback's monitor output.
    pub fn listeners(&self) -> Vec<crate::remote::hub::ListenerStatus> {
        self.opts
            .monitor
            .as_ref()
            .map(|m| m.listeners())
            .unwrap_or_default()
    }

    /// Latest meter readings.
    pub fn meters(&self) -> MeterSnapshot {
        self.meters
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|_| MeterSnapshot::silent())
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
