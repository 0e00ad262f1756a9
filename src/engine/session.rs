//! A playing file: reader thread, player, output (cpal or silent), meters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::null_output::NullOutput;
use super::{Command, Player, PlayerShared};
use crate::analysis::loudness::LoudnessMeter;
use crate::analysis::truepeak::TruePeakMeter;
use crate::dsp::chain::Chain;
use crate::error::{LatheError, Result};
use crate::io::{AudioBlock, AudioSource, FileSource};
use crate::session::chain::ChainConfig;
use crate::units::linear_to_db;

/// Live meter readings (updated by the meter thread about 20 times a second).
#[derive(Debug, Clone, Copy, Default)]
pub struct MeterSnapshot {
    /// Momentary loudness, LUFS.
    pub momentary_lufs: f64,
    /// Short-term loudness, LUFS.
    pub short_term_lufs: f64,
    /// Integrated loudness since play start, LUFS.
    pub integrated_lufs: f64,
    /// True peak since play start, dBTP.
    pub true_peak_dbtp: f64,
}

/// Where the sound goes.
pub enum Output {
    /// A cpal stream on a device.
    Device(cpal::Stream, String),
    /// The silent, real-time-clocked fallback.
    Null(NullOutput, String),
}

/// A file playing through a chain.
pub struct Playback {
    /// Shared atomics (position, underruns, …).
    pub shared: Arc<PlayerShared>,
    commands: rtrb::Producer<Command>,
    seek_to: Arc<AtomicU64>,
    seek_flag: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    meters: Arc<Mutex<MeterSnapshot>>,
    output: Option<Output>,
    threads: Vec<std::thread::JoinHandle<()>>,
    swap_tx: rtrb::Producer<Box<Chain>>,
    retired_rx: rtrb::Consumer<Box<Chain>>,
    channels: usize,
    gain_db: f64,
    /// Sample rate, Hz.
    pub rate: u32,
    /// Total frames, when known.
    pub total_frames: Option<u64>,
    /// The file.
    pub path: PathBuf,
}

const RING_FRAMES: usize = 32_768;

fn try_device(
    player: Player,
    rate: u32,
    wanted: Option<&str>,
) -> std::result::Result<(cpal::Stream, String), Box<(Player, String)>> {
    use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
    // ALSA prints several lines to stderr when no card exists; keep them off the terminal.
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
        let why = match wanted {
            Some(w) => format!("no audio device named '{w}'"),
            None => "no audio device".into(),
        };
        return Err(Box::new((player, why)));
    };
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "default".into());
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Default,
    };
    // The player is handed to the callback through an atomic pointer (no
    // lock): the first callback takes it; if the stream cannot be built or
    // started, it is taken back for the silent output.
    let slot = Arc::new(std::sync::atomic::AtomicPtr::new(Box::into_raw(Box::new(
        player,
    ))));
    let cb_slot = slot.clone();
    let mut local: Option<Box<Player>> = None;
    let stream = device.build_output_stream::<f32, _, _>(
        config,
        move |data: &mut [f32], _| {
            if local.is_none() {
                let p = cb_slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
                if !p.is_null() {
                    // SAFETY: the pointer came from Box::into_raw and is taken exactly once.
                    local = Some(unsafe { Box::from_raw(p) });
                }
            }
            match local.as_mut() {
                Some(p) => p.render(data, 2),
                None => data.iter_mut().for_each(|s| *s = 0.0),
            }
        },
        |_| {},
        None,
    );
    let recover = || {
        let p = slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            Player::dummy()
        } else {
            // SAFETY: as above; the callback never ran, so we still own it.
            *unsafe { Box::from_raw(p) }
        }
    };
    match stream.and_then(|s| s.play().map(|_| s)) {
        Ok(s) => Ok((s, name)),
        Err(e) => Err(Box::new((
            recover(),
            format!("audio device unavailable ({e})"),
        ))),
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
        let mut source = FileSource::open(path)?;
        let info = source.info().clone();
        if info.channels > 2 {
            return Err(LatheError::decode(
                path,
                format!(
                    "has {} channels; playback takes mono or stereo",
                    info.channels
                ),
            ));
        }
        let mut chain_built = Chain::from_config(
            &chain.clone().with_limiter(None),
            info.sample_rate,
            info.channels,
        )?;
        chain_built.jump_target_gain_db(gain_db);
        let ch = info.channels;
        let (mut in_tx, in_rx) = rtrb::RingBuffer::<f32>::new(RING_FRAMES * ch);
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::<Command>::new(256);
        let (tap_tx, mut tap_rx) = rtrb::RingBuffer::<f32>::new(RING_FRAMES * 2);
        let shared = Arc::new(PlayerShared::default());
        let mut player = Player::new(chain_built, ch, in_rx, cmd_rx, tap_tx, shared.clone());
        let (swap_tx, swap_rx) = rtrb::RingBuffer::<Box<Chain>>::new(4);
        let (retired_tx, retired_rx) = rtrb::RingBuffer::<Box<Chain>>::new(16);
        player.connect_swaps(swap_rx, retired_tx);
        let stop = Arc::new(AtomicBool::new(false));
        let seek_to = Arc::new(AtomicU64::new(0));
        let seek_flag = Arc::new(AtomicBool::new(false));
        // Reader: decode ahead into the ring; on seek, flush and reposition.
        let (sh, st, sk, sf) = (
            shared.clone(),
            stop.clone(),
            seek_to.clone(),
            seek_flag.clone(),
        );
        let reader = std::thread::spawn(move || {
            let mut block = AudioBlock::new(ch, 4096);
            let mut pending: usize = 0; // frames of `block` not yet pushed
            let mut offset = 0;
            while !st.load(Ordering::Acquire) {
                if sf.swap(false, Ordering::AcqRel) {
                    sh.flushing.store(true, Ordering::Release);
                    // Wait for the callback to drain the ring.
                    while !in_tx.is_abandoned()
                        && in_tx.slots() < RING_FRAMES * ch
                        && !st.load(Ordering::Acquire)
                    {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    let target = sk.load(Ordering::Acquire);
                    if source.seek(target).is_ok() {
                        sh.position.store(target, Ordering::Release);
                    }
                    sh.finished.store(false, Ordering::Release);
                    pending = 0;
                    sh.flushing.store(false, Ordering::Release);
                }
                if pending == 0 {
                    match source.read(&mut block) {
                        Ok(0) | Err(_) => {
                            sh.finished.store(true, Ordering::Release);
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            continue;
                        }
                        Ok(n) => {
                            pending = n;
                            offset = 0;
                        }
                    }
                }
                let room = in_tx.slots() / ch;
                let k = room.min(pending);
                if k == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    continue;
                }
                if let Ok(mut chunk) = in_tx.write_chunk(k * ch) {
                    let (a, b) = chunk.as_mut_slices();
                    for (i, s) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                        *s = block.channels[i % ch][offset + i / ch];
                    }
                    chunk.commit_all();
                }
                offset += k;
                pending -= k;
            }
        });
        // Meter thread: reads the tap ring.
        let meters = Arc::new(Mutex::new(MeterSnapshot {
            momentary_lufs: f64::NEG_INFINITY,
            short_term_lufs: f64::NEG_INFINITY,
            integrated_lufs: f64::NEG_INFINITY,
            true_peak_dbtp: f64::NEG_INFINITY,
        }));
        let (mt, ms) = (meters.clone(), stop.clone());
        let rate = info.sample_rate;
        let meter = std::thread::spawn(move || {
            let mut lm = LoudnessMeter::new(rate, &[1.0, 1.0]);
            let mut tps = [TruePeakMeter::new(rate), TruePeakMeter::new(rate)];
            let mut planar = vec![vec![0f32; 4096]; 2];
            while !ms.load(Ordering::Acquire) {
                let n = (tap_rx.slots() / 2).min(4096);
                if n == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
                if let Ok(chunk) = tap_rx.read_chunk(n * 2) {
                    let (a, b) = chunk.as_slices();
                    for (i, v) in a.iter().chain(b.iter()).enumerate() {
                        planar[i % 2][i / 2] = *v;
                    }
                    chunk.commit_all();
                }
                lm.push(&planar, n);
                for (t, p) in tps.iter_mut().zip(&planar) {
                    t.push(&p[..n]);
                }
                if let Ok(mut m) = mt.lock() {
                    m.momentary_lufs = lm.momentary();
                    m.short_term_lufs = lm.short_term();
                    m.integrated_lufs = lm.stats().integrated_lufs;
                    m.true_peak_dbtp = linear_to_db(tps[0].true_peak().max(tps[1].true_peak()));
                }
            }
        });
        let output = if force_null {
            Output::Null(
                NullOutput::start(player, rate, 256, freewheel),
                "no audio device: silent output".into(),
            )
        } else {
            match try_device(player, rate, device) {
                Ok((s, name)) => Output::Device(s, name),
                Err(failed) => {
                    let (p, why) = *failed;
                    Output::Null(
                        NullOutput::start(p, rate, 256, freewheel),
                        format!("{why}: silent output"),
                    )
                }
            }
        };
        Ok(Self {
            shared,
            commands: cmd_tx,
            seek_to,
            seek_flag,
            stop,
            meters,
            output: Some(output),
            threads: vec![reader, meter],
            swap_tx,
            retired_rx,
            channels: ch,
            gain_db,
            rate,
            total_frames: info.total_frames,
            path: path.to_path_buf(),
        })
    }

    /// Send a command to the callback (dropped if the queue is full).
    pub fn send(&mut self, c: Command) -> bool {
        self.commands.push(c).is_ok()
    }

    /// Replace the chain with one built from `cfg` (built here, off the audio
    /// thread; the callback crossfades to it within 10 ms and hands the old
    /// one back to be dropped here). Returns false if the queue is full.
    pub fn set_chain(&mut self, cfg: &ChainConfig) -> Result<bool> {
        while let Ok(old) = self.retired_rx.pop() {
            drop(old);
        }
        let mut chain =
            Chain::from_config(&cfg.clone().with_limiter(None), self.rate, self.channels)?;
        chain.jump_target_gain_db(self.gain_db);
        Ok(self.swap_tx.push(Box::new(chain)).is_ok())
    }

    /// Jump to `frame`.
    pub fn seek(&mut self, frame: u64) {
        let frame = self
            .total_frames
            .map_or(frame, |t| frame.min(t.saturating_sub(1)));
        self.seek_to.store(frame, Ordering::Release);
        self.seek_flag.store(true, Ordering::Release);
    }

    /// Latest meter readings.
    pub fn meters(&self) -> MeterSnapshot {
        self.meters.lock().map(|m| *m).unwrap_or_default()
    }

    /// What the output is ("no audio device: silent output" or the device name).
    pub fn output_description(&self) -> String {
        match &self.output {
            Some(Output::Device(_, n)) => n.clone(),
            Some(Output::Null(_, n)) => n.clone(),
            None => String::new(),
        }
    }

    /// Whether the output is the silent fallback.
    pub fn is_silent(&self) -> bool {
        matches!(self.output, Some(Output::Null(..)))
    }

    /// Position in seconds.
    pub fn position_s(&self) -> f64 {
        self.shared.position.load(Ordering::Relaxed) as f64 / f64::from(self.rate)
    }
}

impl Drop for Playback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.output.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
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
