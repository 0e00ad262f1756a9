//! The audio callback's state and code path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::dsp::chain::Chain;
use crate::dsp::smoother::Smoother;
use crate::dsp::{DelayLine, MAX_BLOCK};
use crate::io::AudioBlock;

/// What a listener hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    /// Normal stereo.
    Stereo,
    /// (L+R)/2 on both sides.
    Mono,
    /// Mid only.
    Mid,
    /// Side only.
    Side,
    /// Left channel on both sides.
    Left,
    /// Right channel on both sides.
    Right,
    /// What the chain changes: processed minus the (latency-aligned,
    /// unmatched) original — the restoration residual, the limiter's bite.
    Delta,
}

/// Control messages for the audio callback (sent through a lock-free queue).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Start or resume.
    Play,
    /// Pause (output silence, keep position).
    Pause,
    /// Hear the processed (true) or original (false) signal.
    SetProcessed(bool),
    /// Level-match the original to the processed loudness.
    SetLevelMatch(bool),
    /// Gain applied to the original when level matching, dB.
    SetMatchGainDb(f64),
    /// Listen mode.
    SetListen(ListenMode),
    /// Bypass (true) or enable module `n` of the chain.
    SetBypass(usize, bool),
}

/// State shared between the callback and other threads (atomics only).
#[derive(Debug, Default)]
pub struct PlayerShared {
    /// Frames played since the start of the stream (source position).
    pub position: AtomicU64,
    /// Callbacks that found too few frames ready.
    pub underruns: AtomicU64,
    /// Tapped samples dropped because the meter ring was full.
    pub tap_dropped: AtomicU64,
    /// Set by the reader when the stream has ended and the ring is empty.
    pub finished: AtomicBool,
    /// Set while a seek is flushing the ring.
    pub flushing: AtomicBool,
    /// Whether the callback is playing.
    pub playing: AtomicBool,
    /// Limiter gain reduction of the last callback, dB × 1000.
    pub gr_milli_db: AtomicU64,
}

/// Incoming replacement chains and outgoing retired ones.
type SwapQueues = (rtrb::Consumer<Box<Chain>>, rtrb::Producer<Box<Chain>>);

/// The callback: owns the chain and the ring ends; see the module docs.
pub struct Player {
    channels: usize,
    chain: Box<Chain>,
    /// The chain being faded out after a swap, and its scratch block.
    old_chain: Option<Box<Chain>>,
    old_block: AudioBlock,
    swap_fade: Smoother,
    /// Frames the new chain runs silently (filling its delay lines and
    /// filter states) before the crossfade starts.
    prime_left: usize,
    swaps: Option<SwapQueues>,
    input: rtrb::Consumer<f32>,
    commands: rtrb::Consumer<Command>,
    tap: rtrb::Producer<f32>,
    shared: Arc<PlayerShared>,
    proc_block: AudioBlock,
    orig_block: AudioBlock,
    orig_delay: DelayLine,
    mix: Smoother,
    match_gain: Smoother,
    match_db: f64,
    level_match: bool,
    listen: ListenMode,
    playing: bool,
    was_flushing: bool,
}

impl Player {
    /// A player for `channels`-channel audio through `chain`, reading
    /// interleaved frames from `input`. Allocates everything it will use.
    pub fn new(
        chain: Chain,
        channels: usize,
        input: rtrb::Consumer<f32>,
        commands: rtrb::Consumer<Command>,
        tap: rtrb::Producer<f32>,
        shared: Arc<PlayerShared>,
    ) -> Self {
        let rate = f64::from(chain.rate());
        let latency = chain.latency();
        Self {
            channels,
            chain: Box::new(chain),
            old_chain: None,
            old_block: AudioBlock::new(channels, MAX_BLOCK),
            swap_fade: Smoother::new(1.0, 10.0, rate),
            prime_left: 0,
            swaps: None,
            input,
            commands,
            tap,
            shared,
            proc_block: AudioBlock::new(channels, MAX_BLOCK),
            orig_block: AudioBlock::new(channels, MAX_BLOCK),
            orig_delay: DelayLine::new(channels, latency),
            // A/B crossfade: settles in 8 ms.
            mix: Smoother::new(1.0, 8.0, rate),
            match_gain: Smoother::new(1.0, 8.0, rate),
            match_db: 0.0,
            level_match: true,
            listen: ListenMode::Stereo,
            playing: false,
            was_flushing: false,
        }
    }

    /// A player that outputs silence (used when a device fails after taking the real one).
    pub fn dummy() -> Self {
        let (_, input) = rtrb::RingBuffer::new(1);
        let (_, commands) = rtrb::RingBuffer::new(1);
        let (tap, _) = rtrb::RingBuffer::new(1);
        let cfg = crate::session::chain::ChainConfig {
            name: None,
            target_lufs: None,
            modules: Vec::new(),
        };
        let chain = match Chain::from_config(&cfg, 48_000, 2) {
            Ok(c) => c,
            Err(_) => unreachable!("an empty stereo chain always builds"),
        };
        Self::new(
            chain,
            2,
            input,
            commands,
            tap,
            Arc::new(PlayerShared::default()),
        )
    }

    /// Connect the chain-swap queues: new chains (built off the audio
    /// thread) come in through `incoming`; replaced ones go out through
    /// `retired` to be dropped elsewhere, so the callback never frees memory.
    pub fn connect_swaps(
        &mut self,
        incoming: rtrb::Consumer<Box<Chain>>,
        retired: rtrb::Producer<Box<Chain>>,
    ) {
        self.swaps = Some((incoming, retired));
    }

    /// Take a new chain if one is waiting (and the previous swap has finished).
    fn poll_swap(&mut self) {
        if self.old_chain.is_some() && self.prime_left == 0 && !self.swap_fade.is_moving() {
            // The fade is over: retire the old chain (never dropped here).
            if let Some((_, retired)) = self.swaps.as_mut()
                && let Some(old) = self.old_chain.take()
                && let Err(rtrb::PushError::Full(back)) = retired.push(old)
            {
                self.old_chain = Some(back);
            }
        }
        if self.old_chain.is_some() {
            return;
        }
        let Some((incoming, _)) = self.swaps.as_mut() else {
            return;
        };
        if let Ok(new) = incoming.pop() {
            self.prime_left = new.latency() + 64;
            let old = std::mem::replace(&mut self.chain, new);
            self.old_chain = Some(old);
            self.swap_fade.jump(0.0);
            self.swap_fade.set(1.0);
        }
    }

    fn apply(&mut self, c: Command) {
        match c {
            Command::Play => self.playing = true,
            Command::Pause => self.playing = false,
            Command::SetProcessed(p) => self.mix.set(if p { 1.0 } else { 0.0 }),
            Command::SetLevelMatch(on) => {
                self.level_match = on;
                self.match_gain.set(if on {
                    crate::units::db_to_linear(self.match_db)
                } else {
                    1.0
                });
            }
            Command::SetMatchGainDb(db) => {
                self.match_db = db;
                if self.level_match {
                    self.match_gain.set(crate::units::db_to_linear(db));
                }
            }
            Command::SetListen(m) => self.listen = m,
            Command::SetBypass(i, b) => self.chain.set_bypass(i, b),
        }
        self.shared.playing.store(self.playing, Ordering::Relaxed);
    }

    /// Fill the interleaved output buffer `out` (`out_channels` per frame).
    /// Real-time safe: no allocation, locks, I/O or logging.
    pub fn render(&mut self, out: &mut [f32], out_channels: usize) {
        while let Ok(c) = self.commands.pop() {
            self.apply(c);
        }
        self.poll_swap();
        let out_channels = out_channels.max(1);
        let total = out.len() / out_channels;
        let flushing = self.shared.flushing.load(Ordering::Acquire);
        if flushing {
            // A seek: drop what is queued, play silence, start clean after.
            let n = self.input.slots();
            if let Ok(chunk) = self.input.read_chunk(n) {
                chunk.commit_all();
            }
            self.was_flushing = true;
            out.iter_mut().for_each(|s| *s = 0.0);
            return;
        }
        if self.was_flushing {
            self.was_flushing = false;
            self.chain.reset();
            self.orig_delay.reset();
        }
        if !self.playing {
            out.iter_mut().for_each(|s| *s = 0.0);
            return;
        }
        let ch = self.channels;
        let mut done = 0;
        while done < total {
            let n = (total - done).min(MAX_BLOCK);
            let avail = self.input.slots() / ch;
            let got = avail.min(n);
            if got < n && !self.shared.finished.load(Ordering::Acquire) {
                self.shared.underruns.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(chunk) = self.input.read_chunk(got * ch) {
                let (a, b) = chunk.as_slices();
                for (i, v) in a.iter().chain(b.iter()).enumerate() {
                    let (f, c) = (i / ch, i % ch);
                    self.proc_block.channels[c][f] = *v;
                    self.orig_block.channels[c][f] = *v;
                }
                chunk.commit_all();
            }
            for c in 0..ch {
                self.proc_block.channels[c][got..n]
                    .iter_mut()
                    .for_each(|s| *s = 0.0);
                self.orig_block.channels[c][got..n]
                    .iter_mut()
                    .for_each(|s| *s = 0.0);
            }
            self.proc_block.frames = n;
            self.orig_block.frames = n;
            if let Some(old) = self.old_chain.as_mut() {
                // Crossfade from the replaced chain to the new one (10 ms).
                for (d, s) in self
                    .old_block
                    .channels
                    .iter_mut()
                    .zip(&self.proc_block.channels)
                {
                    d[..n].copy_from_slice(&s[..n]);
                }
                self.old_block.frames = n;
                old.process(&mut self.old_block);
                self.chain.process(&mut self.proc_block);
                let (start, prime) = (self.swap_fade, self.prime_left);
                for (p, o) in self
                    .proc_block
                    .channels
                    .iter_mut()
                    .zip(&self.old_block.channels)
                {
                    let (mut f, mut left) = (start, prime);
                    for (x, y) in p[..n].iter_mut().zip(&o[..n]) {
                        let g = if left > 0 {
                            left -= 1;
                            0.0
                        } else {
                            f.tick()
                        };
                        *x = (g * f64::from(*x) + (1.0 - g) * f64::from(*y)) as f32;
                    }
                    self.swap_fade = f;
                    self.prime_left = left;
                }
            } else {
                self.chain.process(&mut self.proc_block);
            }
            self.orig_delay.process(&mut self.orig_block);
            let gr = self.chain.limiter_gain_reduction_db();
            self.shared
                .gr_milli_db
                .store((gr * 1000.0).max(0.0) as u64, Ordering::Relaxed);
            for f in 0..n {
                let m = self.mix.tick();
                let mg = self.match_gain.tick();
                let mut frame = [0f32; 2];
                for (c, slot) in frame.iter_mut().enumerate().take(ch.min(2)) {
                    let p = f64::from(self.proc_block.channels[c][f]);
                    let raw = f64::from(self.orig_block.channels[c][f]);
                    *slot = if self.listen == ListenMode::Delta {
                        (p - raw) as f32
                    } else {
                        (m * p + (1.0 - m) * raw * mg) as f32
                    };
                }
                if ch == 1 {
                    frame[1] = frame[0];
                }
                let [l, r] = frame;
                let (l, r) = match self.listen {
                    ListenMode::Stereo => (l, r),
                    ListenMode::Mono | ListenMode::Mid => {
                        let m = 0.5 * (l + r);
                        (m, m)
                    }
                    ListenMode::Side => {
                        let s = 0.5 * (l - r);
                        (s, s)
                    }
                    ListenMode::Left => (l, l),
                    ListenMode::Right => (r, r),
                    ListenMode::Delta => (l, r),
                };
                let o = (done + f) * out_channels;
                out[o] = l;
                if out_channels > 1 {
                    out[o + 1] = r;
                    for extra in &mut out[o + 2..o + out_channels] {
                        *extra = 0.0;
                    }
                }
                if self.tap.push(l).is_err() || self.tap.push(r).is_err() {
                    self.shared.tap_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.shared
                .position
                .fetch_add(got as u64, Ordering::Relaxed);
            done += n;
        }
    }
}
