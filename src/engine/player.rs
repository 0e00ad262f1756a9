//! The audio callback's state and code path.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::dsp::chain::Chain;
use crate::dsp::chain::Solo;
use crate::dsp::smoother::Smoother;
use crate::dsp::{DelayLine, MAX_BLOCK};
use crate::io::AudioBlock;
use crate::plan::timeline::Span;

pub use super::control::{Command, Jump, ListenMode, MAX_METERED_MODULES, PlayerShared};

/// A chain with the delay that pads it to the player's latency; built off
/// the audio thread and handed in whole.
pub struct Unit {
    chain: Chain,
    pad: DelayLine,
    /// The codec preview played in place of the chain's output.
    codec: Option<std::sync::Arc<super::codec::CodecAudio>>,
}

impl Unit {
    /// `chain` padded to `latency` frames (must be at least the chain's own).
    pub fn new(chain: Chain, latency: usize) -> Self {
        let ch = chain.channels();
        let pad = DelayLine::new(ch, latency.saturating_sub(chain.latency()));
        Self {
            chain,
            pad,
            codec: None,
        }
    }

    /// Play `codec` (a codec preview of this track) in place of the
    /// chain's output; the chain keeps running.
    pub fn with_codec(mut self, codec: Option<std::sync::Arc<super::codec::CodecAudio>>) -> Self {
        self.codec = codec;
        self
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    fn process(&mut self, block: &mut AudioBlock) {
        self.chain.process(block);
        self.pad.process(block);
    }

    fn reset(&mut self) {
        self.chain.reset();
        self.pad.reset();
    }
}

/// A replacement unit for track `.0` (or every track's unit when the
/// player plays one track).
pub type Swap = (usize, Box<Unit>);

/// Incoming replacement units and outgoing retired ones.
type SwapQueues = (rtrb::Consumer<Swap>, rtrb::Producer<Box<Unit>>);

/// One track's processing state in the callback.
struct Slot {
    span: Span,
    lane: usize,
    channels: usize,
    match_db: f64,
    unit: Box<Unit>,
    /// The unit being faded out after a swap.
    old: Option<Box<Unit>>,
    swap_fade: Smoother,
    /// Frames the new unit runs silently before the crossfade starts.
    prime_left: usize,
    /// The next tick this slot expects; any other restarts it clean.
    next_tick: u64,
    work: AudioBlock,
    old_work: AudioBlock,
}

/// A track for [`Player::with_tracks`].
pub struct TrackUnit {
    /// Where it sits on the timeline.
    pub span: Span,
    /// Its processing.
    pub unit: Box<Unit>,
    /// Channels of the track (1 or 2).
    pub channels: usize,
    /// Level-match gain for its original, dB.
    pub match_db: f64,
}

/// The callback: owns the chains and the ring ends; see the module docs.
pub struct Player {
    /// Interleaved samples per tick in the input ring.
    width: usize,
    /// Channels per lane in the input ring.
    lane_channels: usize,
    latency: usize,
    slots: Vec<Slot>,
    swaps: Option<SwapQueues>,
    input: rtrb::Consumer<f32>,
    commands: rtrb::Consumer<Command>,
    jumps: Option<rtrb::Consumer<Jump>>,
    pending_jump: Option<Jump>,
    tap: rtrb::Producer<f32>,
    shared: Arc<PlayerShared>,
    acc: [Vec<f64>; 2],
    orig_block: AudioBlock,
    orig_delay: DelayLine,
    mix: Smoother,
    match_gain: Smoother,
    match_override: Option<f64>,
    level_match: bool,
    listen: ListenMode,
    /// The solo asked for: (track or every track, module or off).
    solo: (Option<usize>, Option<usize>),
    /// The track at the playhead plays a codec preview.
    codec_current: bool,
    playing: bool,
    tick: u64,
    consumed: u64,
    gen_seen: u64,
    current: usize,
    load_acc: f64,
    load_time: f64,
    freewheel: bool,
    /// False after a seek until the reader's first frames arrive (the
    /// silence while it repositions is not an underrun).
    primed: bool,
    /// The monitor stream for remote listeners: a copy of every output buffer.
    monitor: Option<crate::remote::hub::MonitorTap>,
    /// Converts the output for a device at another rate than the plan's.
    converter: Option<Box<super::convert::OutputConverter>>,
}

impl Player {
    /// A player for one endless `channels`-channel track through `chain`,
    /// reading interleaved frames from `input`. Allocates everything it will use.
    pub fn new(
        chain: Chain,
        channels: usize,
        input: rtrb::Consumer<f32>,
        commands: rtrb::Consumer<Command>,
        tap: rtrb::Producer<f32>,
        shared: Arc<PlayerShared>,
    ) -> Self {
        let latency = chain.latency();
        let track = TrackUnit {
            span: Span::plain(0, u64::MAX),
            unit: Box::new(Unit::new(chain, latency)),
            channels,
            match_db: 0.0,
        };
        Self::with_tracks(
            vec![track],
            1,
            channels,
            latency,
            input,
            commands,
            tap,
            shared,
        )
    }

    /// A player for tracks on a timeline. The input ring carries `lanes`
    /// lanes of `lane_channels` samples per tick (track `k` reads lane
    /// `k % lanes`; a mono track reads the lane's first channel); every
    /// unit is padded to `latency` frames.
    #[allow(clippy::too_many_arguments)]
    pub fn with_tracks(
        tracks: Vec<TrackUnit>,
        lanes: usize,
        lane_channels: usize,
        latency: usize,
        input: rtrb::Consumer<f32>,
        commands: rtrb::Consumer<Command>,
        tap: rtrb::Producer<f32>,
        shared: Arc<PlayerShared>,
    ) -> Self {
        let rate = tracks
            .first()
            .map_or(48_000.0, |t| f64::from(t.unit.chain.rate()));
        let lanes = lanes.max(1);
        let slots = tracks
            .into_iter()
            .enumerate()
            .map(|(k, t)| Slot {
                span: t.span,
                lane: k % lanes,
                channels: t.channels,
                match_db: t.match_db,
                unit: t.unit,
                old: None,
                swap_fade: Smoother::new(1.0, 10.0, rate),
                prime_left: 0,
                next_tick: u64::MAX,
                work: AudioBlock::new(t.channels, MAX_BLOCK),
                old_work: AudioBlock::new(t.channels, MAX_BLOCK),
            })
            .collect();
        Self {
            width: lanes * lane_channels,
            lane_channels,
            latency,
            slots,
            swaps: None,
            input,
            commands,
            jumps: None,
            pending_jump: None,
            tap,
            shared,
            acc: [vec![0.0; MAX_BLOCK], vec![0.0; MAX_BLOCK]],
            orig_block: AudioBlock::new(2, MAX_BLOCK),
            orig_delay: DelayLine::new(2, latency),
            // A/B crossfade: settles in 8 ms.
            mix: Smoother::new(1.0, 8.0, rate),
            match_gain: Smoother::new(1.0, 8.0, rate),
            match_override: None,
            level_match: true,
            listen: ListenMode::Stereo,
            solo: (None, None),
            codec_current: false,
            playing: false,
            tick: 0,
            consumed: 0,
            gen_seen: 0,
            current: usize::MAX,
            load_acc: 0.0,
            load_time: 0.0,
            freewheel: false,
            primed: false,
            monitor: None,
            converter: None,
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
            max_limiting_db: None,
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

    /// Freewheeling (an output nobody hears, running faster than real
    /// time, like an offline bounce): the player is clocked by its data.
    /// When the reader has not yet filled a whole buffer or the meter ring
    /// lacks room for one, it outputs silence and consumes nothing, so no
    /// frame is skipped or left unmetered (and no underrun can happen).
    pub fn set_freewheel(&mut self, on: bool) {
        self.freewheel = on;
    }

    /// The latency every track is padded to, samples.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Connect the unit-swap queues: new units (built off the audio
    /// thread) come in through `incoming`; replaced ones go out through
    /// `retired` to be dropped elsewhere, so the callback never frees memory.
    pub fn connect_swaps(
        &mut self,
        incoming: rtrb::Consumer<Swap>,
        retired: rtrb::Producer<Box<Unit>>,
    ) {
        self.swaps = Some((incoming, retired));
    }

    /// Connect the queue of loop jumps from the reader.
    pub fn connect_jumps(&mut self, jumps: rtrb::Consumer<Jump>) {
        self.jumps = Some(jumps);
    }

    /// Take new units if waiting (one per slot whose previous swap has finished).
    fn poll_swaps(&mut self) {
        let Some((incoming, retired)) = self.swaps.as_mut() else {
            return;
        };
        for slot in &mut self.slots {
            if slot.old.is_some()
                && slot.prime_left == 0
                && !slot.swap_fade.is_moving()
                && let Some(old) = slot.old.take()
                && let Err(rtrb::PushError::Full(back)) = retired.push(old)
            {
                slot.old = Some(back);
            }
        }
        while let Ok(peek) = incoming.peek() {
            let k = peek.0.min(self.slots.len().saturating_sub(1));
            if self.slots.get(k).is_none_or(|s| s.old.is_some()) {
                return;
            }
            let Ok((_, new)) = incoming.pop() else {
                return;
            };
            let solo = Self::solo_for(self.solo, k);
            let slot = &mut self.slots[k];
            let running = slot.next_tick != u64::MAX;
            let mut new = new;
            new.chain.set_solo(solo);
            let old = std::mem::replace(&mut slot.unit, new);
            if running {
                slot.prime_left = self.latency + 64;
                slot.old = Some(old);
                slot.swap_fade.jump(0.0);
                slot.swap_fade.set(1.0);
            } else if let Err(rtrb::PushError::Full(back)) = retired.push(old) {
                // Keep it fading (silently) until the queue has room.
                slot.old = Some(back);
                slot.swap_fade.jump(1.0);
            }
        }
    }

    fn apply(&mut self, c: Command) {
        match c {
            Command::Play => self.playing = true,
            Command::Pause => self.playing = false,
            Command::SetProcessed(p) => self.mix.set(if p { 1.0 } else { 0.0 }),
            Command::SetLevelMatch(on) => {
                self.level_match = on;
                self.update_match();
            }
            Command::SetMatchGainDb(db) => {
                self.match_override = Some(db);
                self.update_match();
            }
            Command::SetListen(m) => self.listen = m,
            Command::SetTrackMatchDb(k, db) => {
                if let Some(s) = self.slots.get_mut(k) {
                    s.match_db = db;
                }
                self.update_match();
            }
            Command::SetSolo { track, module } => {
                self.solo = (track, module);
                for k in 0..self.slots.len() {
                    let solo = Self::solo_for(self.solo, k);
                    let s = &mut self.slots[k];
                    s.unit.chain.set_solo(solo);
                    if let Some(o) = s.old.as_mut() {
                        o.chain.set_solo(solo);
                    }
                }
            }
            Command::SetBypass(i, b) => {
                for s in &mut self.slots {
                    s.unit.chain.set_bypass(i, b);
                    if let Some(o) = s.old.as_mut() {
                        o.chain.set_bypass(i, b);
                    }
                }
            }
        }
        self.shared.playing.store(self.playing, Ordering::Relaxed);
    }

    /// What slot `k`'s chain lets through under `solo` (track, module).
    fn solo_for(solo: (Option<usize>, Option<usize>), k: usize) -> Solo {
        match solo {
            (_, None) => Solo::Off,
            (None, Some(m)) => Solo::Module(m),
            (Some(t), Some(m)) if t == k => Solo::Module(m),
            (Some(_), Some(_)) => Solo::Silent,
        }
    }

    fn update_match(&mut self) {
        let db = self
            .match_override
            .or_else(|| self.slots.get(self.current).map(|s| s.match_db))
            .unwrap_or(0.0);
        self.match_gain.set(if self.level_match {
            crate::units::db_to_linear(db)
        } else {
            1.0
        });
    }

    fn restart(&mut self) {
        for s in &mut self.slots {
            s.next_tick = u64::MAX;
        }
        self.orig_delay.reset();
        // Jumps of older generations are skipped when popped; the reader
        // may already have queued some for this one.
        self.pending_jump = self
            .pending_jump
            .filter(|j| j.generation == self.shared.flush_gen.load(Ordering::Acquire));
        self.consumed = 0;
        self.primed = false;
        self.tick = self.shared.restart_tick.load(Ordering::Acquire);
        self.shared.position.store(self.tick, Ordering::Release);
    }

    /// Copy every output buffer into `tap` (the monitor stream remote
    /// listeners hear). Set before the output starts.
    pub fn set_monitor(&mut self, tap: crate::remote::hub::MonitorTap) {
        self.monitor = Some(tap);
    }

    /// Run the output at `device_rate` Hz: everything before it (chains,
    /// timeline, meters) stays at `plan_rate`, and the finished output is
    /// converted in the callback. Set before the output starts.
    pub fn set_output_rate(&mut self, plan_rate: u32, device_rate: u32) -> Result<(), String> {
        self.converter = if plan_rate == device_rate {
            None
        } else {
            Some(Box::new(super::convert::OutputConverter::new(
                plan_rate,
                device_rate,
            )?))
        };
        Ok(())
    }

    /// Fill the interleaved output buffer `out` (`out_channels` per frame).
    /// Real-time safe: no allocation, locks, I/O or logging.
    pub fn render(&mut self, out: &mut [f32], out_channels: usize) {
        match self.converter.take() {
            Some(mut conv) => {
                conv.render(out, out_channels, |buf| self.render_output(buf, 2));
                self.converter = Some(conv);
            }
            None => self.render_output(out, out_channels),
        }
        if let Some(m) = self.monitor.as_mut() {
            m.push(out, out_channels.max(1));
        }
    }

    fn render_output(&mut self, out: &mut [f32], out_channels: usize) {
        let started = std::time::Instant::now();
        while let Ok(c) = self.commands.pop() {
            self.apply(c);
        }
        self.poll_swaps();
        let out_channels = out_channels.max(1);
        let total = out.len() / out_channels;
        if self.shared.flushing.load(Ordering::Acquire) {
            // A seek: drop what is queued, play silence, start clean after.
            let n = self.input.slots();
            if let Ok(chunk) = self.input.read_chunk(n) {
                chunk.commit_all();
            }
            out.iter_mut().for_each(|s| *s = 0.0);
            return;
        }
        let generation = self.shared.flush_gen.load(Ordering::Acquire);
        if generation != self.gen_seen {
            self.gen_seen = generation;
            self.restart();
        }
        let starved = self.freewheel
            && (self.tap.slots() < total * 4
                || (self.input.slots() < total * self.width
                    && !self.shared.finished.load(Ordering::Acquire)));
        if !self.playing || starved {
            out.iter_mut().for_each(|s| *s = 0.0);
            return;
        }
        let mut done = 0;
        while done < total {
            let mut n = (total - done).min(MAX_BLOCK);
            // Frames ready: read before looking for jumps, so a jump pushed
            // before these frames is always seen.
            let avail = self.input.slots() / self.width;
            // Split at the next loop jump.
            if self.pending_jump.is_none()
                && let Some(j) = self.jumps.as_mut()
            {
                while let Ok(jump) = j.pop() {
                    if jump.generation == generation {
                        self.pending_jump = Some(jump);
                        break;
                    }
                }
            }
            if let Some(j) = self.pending_jump {
                if j.at <= self.consumed {
                    self.jump_to(j.to);
                    self.pending_jump = None;
                    continue;
                }
                n = n.min((j.at - self.consumed) as usize);
            }
            let got = avail.min(n);
            self.primed |= got > 0;
            if got < n && self.primed && !self.shared.finished.load(Ordering::Acquire) {
                self.shared.underruns.fetch_add(1, Ordering::Relaxed);
            }
            self.block(got);
            self.emit(&mut out[done * out_channels..], got, out_channels);
            for s in &mut out[(done + got) * out_channels..(done + n) * out_channels] {
                *s = 0.0;
            }
            done += n;
            if got == 0 {
                break;
            }
        }
        for s in &mut out[done.min(total) * out_channels..] {
            *s = 0.0;
        }
        self.publish_load(started.elapsed().as_secs_f64(), total);
    }

    /// Continue at `to` without a restart (a loop): running slots that are
    /// inside their span at the new tick keep their state.
    fn jump_to(&mut self, to: u64) {
        let lat = self.latency as u64;
        for s in &mut self.slots {
            let inside = to >= s.span.start && to < s.span.end().saturating_add(lat);
            s.next_tick = if s.next_tick == self.tick && inside {
                to
            } else {
                u64::MAX
            };
        }
        self.tick = to;
        self.shared.position.store(to, Ordering::Release);
    }

    /// Read `n` ticks and run every track that is active in them into `acc`.
    fn block(&mut self, n: usize) {
        for a in &mut self.acc {
            a[..n].iter_mut().for_each(|v| *v = 0.0);
        }
        if n == 0 {
            return;
        }
        let u0 = self.tick;
        let lat = self.latency as u64;
        let (w, lc) = (self.width, self.lane_channels);
        let Ok(chunk) = self.input.read_chunk(n * w) else {
            return;
        };
        let (a, b) = chunk.as_slices();
        let at = |i: usize| -> f32 { if i < a.len() { a[i] } else { b[i - a.len()] } };
        // The original: all lanes summed (mono lanes carry both channels).
        for f in 0..n {
            for c in 0..2 {
                let mut v = 0.0f32;
                let mut lane = 0;
                while lane * lc < w {
                    v += at(f * w + lane * lc + c.min(lc - 1));
                    lane += 1;
                }
                self.orig_block.channels[c][f] = v;
            }
        }
        self.orig_block.frames = n;
        for slot in &mut self.slots {
            let s = slot.span;
            let first = u0.max(s.start);
            let last = (u0 + n as u64).min(s.end().saturating_add(lat));
            if first >= last {
                continue;
            }
            if slot.next_tick != first {
                // Entering the span (or after a seek): start from silence,
                // exactly as the render starts each track.
                slot.unit.reset();
                if let Some(o) = slot.old.as_mut() {
                    o.reset();
                }
            }
            let k = (last - first) as usize;
            let off = (first - u0) as usize;
            let base = slot.lane * lc;
            for c in 0..slot.channels {
                let dst = &mut slot.work.channels[c];
                for (f, d) in dst[..k].iter_mut().enumerate() {
                    let tick = first + f as u64;
                    *d = if tick < s.end() {
                        at((off + f) * w + base + c.min(lc - 1))
                    } else {
                        0.0
                    };
                }
            }
            slot.work.frames = k;
            if let Some(old) = slot.old.as_mut() {
                // Crossfade from the replaced unit to the new one (10 ms).
                for (d, src) in slot.old_work.channels.iter_mut().zip(&slot.work.channels) {
                    d[..k].copy_from_slice(&src[..k]);
                }
                slot.old_work.frames = k;
                old.process(&mut slot.old_work);
                slot.unit.process(&mut slot.work);
                let (start, prime) = (slot.swap_fade, slot.prime_left);
                for (p, o) in slot.work.channels.iter_mut().zip(&slot.old_work.channels) {
                    let (mut fade, mut left) = (start, prime);
                    for (x, y) in p[..k].iter_mut().zip(&o[..k]) {
                        let g = if left > 0 {
                            left -= 1;
                            0.0
                        } else {
                            fade.tick()
                        };
                        *x = (g * f64::from(*x) + (1.0 - g) * f64::from(*y)) as f32;
                    }
                    slot.swap_fade = fade;
                    slot.prime_left = left;
                }
            } else {
                slot.unit.process(&mut slot.work);
            }
            // A codec preview plays in place of the chain's output.
            let codec = slot.unit.codec.as_deref();
            let artifacts = self.listen == ListenMode::Delta;
            // Output at tick u is the timeline frame u - latency.
            for f in 0..k {
                let tick = first + f as u64;
                if tick < lat {
                    continue;
                }
                let t = tick - lat;
                if t < s.start || t >= s.end() {
                    continue;
                }
                let j = t - s.start;
                let fg = s.fade_gain(j);
                let xg = s.crossfade_gain(j);
                for (c, acc) in self.acc.iter_mut().enumerate() {
                    let ch = c.min(slot.channels - 1);
                    let v = match codec {
                        Some(a) => a.sample(ch, j, artifacts),
                        None => slot.work.channels[ch][f],
                    };
                    let v = if fg != 1.0 {
                        (f64::from(v) * fg) as f32
                    } else {
                        v
                    };
                    acc[off + f] += f64::from(v) * xg;
                }
            }
            slot.next_tick = last;
        }
        chunk.commit_all();
        self.orig_delay.process(&mut self.orig_block);
        self.tick += n as u64;
        self.consumed += n as u64;
        self.shared.position.store(self.tick, Ordering::Release);
        // The track at the playhead: meters and level match follow it.
        let t = self.tick.saturating_sub(lat);
        let cur = self
            .slots
            .iter()
            .rposition(|s| s.span.start <= t)
            .unwrap_or(0);
        self.codec_current = self.slots.get(cur).is_some_and(|s| s.unit.codec.is_some());
        if cur != self.current {
            self.current = cur;
            self.shared
                .current_track
                .store(cur as u64, Ordering::Relaxed);
            self.update_match();
        }
        if let Some(slot) = self.slots.get(cur) {
            let chain = &slot.unit.chain;
            self.shared.gr_milli_db.store(
                (chain.limiter_gain_reduction_db() * 1000.0).max(0.0) as u64,
                Ordering::Relaxed,
            );
            for (m, (_, gr)) in self
                .shared
                .module_gr_milli_db
                .iter()
                .zip(chain.gain_reductions())
            {
                m.store((gr * 1000.0).max(0.0) as u64, Ordering::Relaxed);
            }
        }
    }

    /// Mix processed/original for `n` frames, apply the listen mode, write
    /// `out` and the meter tap (processed L/R, original L/R per frame).
    fn emit(&mut self, out: &mut [f32], n: usize, out_channels: usize) {
        let (mut sxy, mut sxx, mut syy) = (0.0f64, 0.0f64, 0.0f64);
        for f in 0..n {
            let m = self.mix.tick();
            let mg = self.match_gain.tick();
            let mut frame = [0f32; 2];
            let mut proc = [0f32; 2];
            for (c, slot) in frame.iter_mut().enumerate() {
                let p = self.acc[c][f] as f32;
                proc[c] = p;
                let p = f64::from(p);
                let raw = f64::from(self.orig_block.channels[c][f]);
                *slot = if self.listen == ListenMode::Delta {
                    // A codec preview's delta is already its artifacts.
                    if self.codec_current {
                        p as f32
                    } else {
                        (p - raw) as f32
                    }
                } else {
                    (m * p + (1.0 - m) * raw * mg) as f32
                };
            }
            let [l, r] = frame;
            let (l, r) = match self.listen {
                ListenMode::Stereo | ListenMode::Delta => (l, r),
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
            };
            let o = f * out_channels;
            out[o] = l;
            if out_channels > 1 {
                out[o + 1] = r;
                for extra in &mut out[o + 2..o + out_channels] {
                    *extra = 0.0;
                }
            }
            sxy += f64::from(proc[0]) * f64::from(proc[1]);
            sxx += f64::from(proc[0]) * f64::from(proc[0]);
            syy += f64::from(proc[1]) * f64::from(proc[1]);
            let tapped = [
                proc[0],
                proc[1],
                self.orig_block.channels[0][f],
                self.orig_block.channels[1][f],
            ];
            if self.tap.slots() >= 4 {
                for v in tapped {
                    let _ = self.tap.push(v);
                }
            } else {
                self.shared.tap_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if n > 0 {
            let corr = if sxx > 1e-12 && syy > 1e-12 {
                sxy / (sxx * syy).sqrt()
            } else {
                1.0
            };
            let prev = self.shared.correlation_milli.load(Ordering::Relaxed) as f64 / 1000.0 - 1.0;
            let smoothed = 0.9 * prev + 0.1 * corr.clamp(-1.0, 1.0);
            self.shared.correlation_milli.store(
                ((smoothed + 1.0) * 1000.0).round() as u64,
                Ordering::Relaxed,
            );
        }
    }

    fn publish_load(&mut self, spent_s: f64, frames: usize) {
        let rate = self
            .slots
            .first()
            .map_or(48_000.0, |s| f64::from(s.unit.chain.rate()));
        self.load_acc += spent_s;
        self.load_time += frames as f64 / rate;
        if self.load_time >= 0.5 {
            self.shared.load_permille.store(
                (self.load_acc / self.load_time * 1000.0) as u64,
                Ordering::Relaxed,
            );
            self.load_acc = 0.0;
            self.load_time = 0.0;
        }
    }
}
