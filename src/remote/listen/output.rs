//! The listener's sound: the jitter buffer the output callback pulls from
//! through a drift-correcting resampler (a PI loop on the buffer level),
//! and the device or silent output it plays on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::io::resample::process_planar;
use rubato::{Adjustable as _, Async, FixedAsync, Resampler as _};

use super::*;
use crate::remote::protocol::Format;

/// Atomics shared with the output callback.
#[derive(Default)]
pub(super) struct ListenShared {
    pub(super) underruns: AtomicU64,
    /// Frames the callback has taken from the ring (including skipped).
    pub(super) consumed: AtomicU64,
    /// Stream frame number of ring frame 0.
    pub(super) base: AtomicI64,
    /// Frames waiting in the ring, as the callback last saw.
    pub(super) fill: AtomicU64,
    /// The correction ratio − 1, parts per billion.
    pub(super) ratio_ppb: AtomicI64,
    /// Output latency after the callback, frames of the stream rate.
    pub(super) device_frames: AtomicU64,
    /// Frames produced but not yet output (converter delay), stream rate.
    pub(super) pending_frames: AtomicU64,
    /// The buffer target, frames.
    pub(super) target: AtomicU64,
    pub(super) lost: AtomicBool,
}

/// The callback's side: jitter buffer, drift-correcting resampler.
pub(super) struct ListenPlayer {
    pub(super) ring: rtrb::Consumer<f32>,
    pub(super) ch: usize,
    pub(super) rs: Async<f32>,
    pub(super) inb: Vec<Vec<f32>>,
    pub(super) outb: Vec<Vec<f32>>,
    pub(super) out_pos: usize,
    pub(super) out_len: usize,
    pub(super) playing: bool,
    pub(super) target: f64,
    pub(super) min_target: f64,
    pub(super) max_target: f64,
    pub(super) fill_avg: f64,
    pub(super) integ: f64,
    pub(super) since_underrun: f64,
    /// The lowest fill since the target was last reconsidered, frames.
    pub(super) min_fill: f64,
    pub(super) rate_in: f64,
    pub(super) shared: Arc<ListenShared>,
    pub(super) fade: f32,
}

pub(super) const CHUNK: usize = 64;

impl ListenPlayer {
    pub(super) fn new(
        ring: rtrb::Consumer<f32>,
        format: Format,
        out_rate: u32,
        target_ms: f64,
        shared: Arc<ListenShared>,
    ) -> Result<Self, String> {
        let ch = format.channels as usize;
        let ratio = f64::from(out_rate) / f64::from(format.rate);
        let params = rubato::SincInterpolationParameters {
            sinc_len: 64,
            f_cutoff: None,
            oversampling_factor: 128,
            interpolation: rubato::SincInterpolationType::Linear,
            window: rubato::WindowFunction::BlackmanHarris2,
        };
        let rs = Async::<f32>::new_sinc(ratio, 1.01, &params, CHUNK, ch, FixedAsync::Output)
            .map_err(|e| format!("resampler: {e}"))?;
        let max_in = rs.input_frames_max();
        let rate_in = f64::from(format.rate);
        let target = target_ms * rate_in / 1000.0;
        shared.target.store(target as u64, Ordering::Relaxed);
        Ok(Self {
            ring,
            ch,
            inb: vec![vec![0.0; max_in]; ch],
            outb: vec![vec![0.0; rs.output_frames_max()]; ch],
            rs,
            out_pos: 0,
            out_len: 0,
            playing: false,
            target,
            min_target: 0.030 * rate_in,
            max_target: 1.0 * rate_in,
            fill_avg: target,
            integ: 0.0,
            since_underrun: 0.0,
            min_fill: f64::INFINITY,
            rate_in,
            shared,
            fade: 0.0,
        })
    }

    /// Fill `out` (interleaved, `out_ch` channels). No allocation or locks.
    pub(super) fn render(&mut self, out: &mut [f32], out_ch: usize, device_frames: u64) {
        let n = out.len() / out_ch.max(1);
        let dt = n as f64 / self.rate_in;
        let fill = (self.ring.slots() / self.ch) as f64;
        // Far too much waiting (a backlog released at once): skip ahead.
        if fill > self.target + 0.5 * self.rate_in {
            let skip = (fill - self.target) as usize;
            if let Ok(c) = self.ring.read_chunk(skip * self.ch) {
                c.commit_all();
                self.shared
                    .consumed
                    .fetch_add(skip as u64, Ordering::Relaxed);
            }
            self.fill_avg = self.target;
        }
        let fill = (self.ring.slots() / self.ch) as f64;
        if !self.playing && fill >= self.target {
            self.playing = true;
        }
        // PI loop on the smoothed fill: a full buffer consumes faster.
        let a = (dt / 1.0).min(1.0);
        self.fill_avg += a * (fill - self.fill_avg);
        if self.playing {
            let err = self.fill_avg - self.target;
            self.integ = (self.integ + err * dt).clamp(-2e4 * self.rate_in, 2e4 * self.rate_in);
            // 1 ms of error → 48 ppm; the buffer is an integrator with a
            // 21 s time constant under this gain, and the integral (40 s)
            // leaves the loop damped (ζ ≈ 0.7) while it learns the offset.
            let kp = 1e-6 * 48_000.0 / self.rate_in;
            let ki = kp / 40.0;
            let corr = (kp * err + ki * self.integ).clamp(-1e-3, 1e-3);
            let _ = self.rs.set_resample_ratio_relative(1.0 - corr, true);
            self.shared
                .ratio_ppb
                .store((-corr * 1e9) as i64, Ordering::Relaxed);
            // Shrink slowly, and only by slack never used: the lowest fill
            // of the last 30 s stayed above a safety margin.
            self.since_underrun += dt;
            self.min_fill = self.min_fill.min(fill);
            if self.since_underrun > 30.0 {
                let spare = self.min_fill - 0.015 * self.rate_in;
                if spare > 0.0 {
                    self.target =
                        (self.target - spare.min(0.005 * self.rate_in)).max(self.min_target);
                }
                self.since_underrun = 0.0;
                self.min_fill = f64::INFINITY;
            }
        }
        let mut i = 0;
        while i < n {
            if self.out_pos == self.out_len {
                if !self.playing {
                    break;
                }
                let need = self.rs.input_frames_next();
                if self.ring.slots() < need * self.ch {
                    // Underrun: wait to refill, with a higher target.
                    self.playing = false;
                    self.shared.underruns.fetch_add(1, Ordering::Relaxed);
                    self.target = (self.target + 0.02 * self.rate_in).min(self.max_target);
                    self.since_underrun = 0.0;
                    self.min_fill = f64::INFINITY;
                    break;
                }
                if let Ok(c) = self.ring.read_chunk(need * self.ch) {
                    let (x, y) = c.as_slices();
                    for (k, v) in x.iter().chain(y.iter()).enumerate() {
                        self.inb[k % self.ch][k / self.ch] = *v;
                    }
                    c.commit_all();
                }
                self.shared
                    .consumed
                    .fetch_add(need as u64, Ordering::Relaxed);
                match process_planar(&mut self.rs, &self.inb, need, &mut self.outb) {
                    Some(written) => {
                        self.out_pos = 0;
                        self.out_len = written;
                    }
                    None => break,
                }
                continue;
            }
            let take = (self.out_len - self.out_pos).min(n - i);
            for f in 0..take {
                // Fade in after silence, so a restart does not click.
                self.fade = (self.fade + 1.0 / 96.0).min(1.0);
                for c in 0..out_ch {
                    out[(i + f) * out_ch + c] =
                        self.outb[c.min(self.ch - 1)][self.out_pos + f] * self.fade;
                }
            }
            self.out_pos += take;
            i += take;
        }
        if i < n {
            self.fade = 0.0;
            out[i * out_ch..].iter_mut().for_each(|s| *s = 0.0);
        }
        let ratio = self.rs.resample_ratio();
        let pending = (self.rs.output_delay() + self.out_len - self.out_pos) as f64 / ratio;
        self.shared
            .pending_frames
            .store(pending as u64, Ordering::Relaxed);
        self.shared
            .device_frames
            .store(device_frames, Ordering::Relaxed);
        self.shared
            .fill
            .store((self.ring.slots() / self.ch) as u64, Ordering::Relaxed);
        self.shared
            .target
            .store(self.target as u64, Ordering::Relaxed);
    }
}

/// Where the listener's sound goes.
pub(super) enum Out {
    Device(#[allow(dead_code)] cpal::Stream),
    Null(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>),
}

impl Drop for Out {
    fn drop(&mut self) {
        if let Out::Null(stop, t) = self {
            stop.store(true, Ordering::Release);
            if let Some(t) = t.take() {
                let _ = t.join();
            }
        }
    }
}

/// The jitter buffer's input side and the output it feeds.
pub(super) struct Audio {
    pub(super) format: Format,
    pub(super) ring: rtrb::Producer<f32>,
    pub(super) shared: Arc<ListenShared>,
    pub(super) _out: Out,
    pub(super) description: String,
    /// Stream frame expected next (None before the first block).
    pub(super) next: Option<u64>,
    /// The latest block, held back so a gap after it can fade it out.
    pub(super) held: Vec<f32>,
    pub(super) held_first: u64,
    pub(super) pushed: u64,
    pub(super) overflow: u64,
}

impl Audio {
    pub(super) fn open(format: Format, opts: &ListenOptions) -> Result<Self, String> {
        let shared = Arc::new(ListenShared::default());
        let ring =
            || rtrb::RingBuffer::<f32>::new(format.rate as usize * 4 * format.channels as usize);
        let picked = if opts.silent {
            Err("silent output requested".to_string())
        } else {
            crate::io::device::pick_device(opts.device.as_deref(), format.rate)
        };
        let silent = |why: String| -> Result<(rtrb::Producer<f32>, Out, String), String> {
            let (prod, cons) = ring();
            let player =
                ListenPlayer::new(cons, format, format.rate, opts.buffer_ms, shared.clone())?;
            Ok((prod, start_null(player, format.rate, opts.skew_ppm), why))
        };
        let (prod, out, description) = match picked {
            Ok((device, name, rate)) => {
                let (prod, cons) = ring();
                let player = ListenPlayer::new(cons, format, rate, opts.buffer_ms, shared.clone())?;
                match start_device(&device, rate, player, shared.clone()) {
                    Ok(s) => (prod, Out::Device(s), name),
                    Err(why) => silent(format!("{why}: silent output"))?,
                }
            }
            Err(why) => silent(if opts.silent {
                "silent output (requested)".to_string()
            } else {
                format!("{why}: silent output")
            })?,
        };
        Ok(Self {
            format,
            ring: prod,
            shared,
            _out: out,
            description,
            next: None,
            held: Vec::new(),
            held_first: 0,
            pushed: 0,
            overflow: 0,
        })
    }

    pub(super) fn release(&mut self, samples: &[f32]) {
        let ch = self.format.channels as usize;
        if self.ring.slots() < samples.len() {
            self.overflow += (samples.len() / ch) as u64;
            return;
        }
        if let Ok(c) = self.ring.write_chunk_uninit(samples.len()) {
            c.fill_from_iter(samples.iter().copied());
        }
        self.pushed += (samples.len() / ch) as u64;
    }

    pub(super) fn release_held(&mut self, fade_out: bool) {
        let mut h = std::mem::take(&mut self.held);
        if fade_out {
            fade(&mut h, self.format.channels as usize, false);
        }
        self.release(&h);
        self.held = h;
        self.held.clear();
    }

    /// A decoded block at stream frame `first`.
    pub(super) fn push(&mut self, first: u64, mut block: Vec<f32>) {
        let ch = self.format.channels as usize;
        let frames = (block.len() / ch) as u64;
        match self.next {
            Some(n) if first == n => self.release_held(false),
            Some(n) if first > n && first - n <= u64::from(self.format.rate) => {
                // A gap: fade out, silence, fade in.
                self.release_held(true);
                let silence = vec![0.0f32; (first - n) as usize * ch];
                self.release(&silence);
                fade(&mut block, ch, true);
            }
            Some(_) => {
                // A jump (the server restarted its stream): start afresh.
                self.release_held(true);
                fade(&mut block, ch, true);
                self.rebase(first);
            }
            None => {
                fade(&mut block, ch, true);
                self.rebase(first);
            }
        }
        self.held = block;
        self.held_first = first;
        self.next = Some(first + frames);
    }

    /// Ring frame `pushed` is stream frame `first` from now on.
    pub(super) fn rebase(&mut self, first: u64) {
        self.shared
            .base
            .store(first as i64 - self.pushed as i64, Ordering::Relaxed);
    }

    /// The stream frame at the speakers now.
    pub(super) fn played(&self) -> u64 {
        let s = &self.shared;
        let consumed = s.consumed.load(Ordering::Relaxed) as i64;
        let behind = (s.pending_frames.load(Ordering::Relaxed)
            + s.device_frames.load(Ordering::Relaxed)) as i64;
        (s.base.load(Ordering::Relaxed) + consumed - behind).max(0) as u64
    }

    pub(super) fn buffer_ms(&self) -> f64 {
        (self.shared.fill.load(Ordering::Relaxed) + (self.held.len() / 2) as u64) as f64 * 1000.0
            / f64::from(self.format.rate)
    }

    pub(super) fn drift_ppm(&self) -> f64 {
        self.shared.ratio_ppb.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// A short linear fade over the first (`rising`) or last 2 ms of `block`.
pub(super) fn fade(block: &mut [f32], ch: usize, rising: bool) {
    let frames = block.len() / ch.max(1);
    let n = frames.min(96);
    for k in 0..n {
        let g = (k as f32 + 0.5) / n as f32;
        let f = if rising { k } else { frames - 1 - k };
        for c in 0..ch {
            block[f * ch + c] *= g;
        }
    }
}

pub(super) fn start_device(
    device: &cpal::Device,
    rate: u32,
    mut player: ListenPlayer,
    shared: Arc<ListenShared>,
) -> Result<cpal::Stream, String> {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let _quiet = crate::io::device::StderrSilencer::new();
    let config = cpal::StreamConfig {
        channels: 2,
        sample_rate: rate,
        buffer_size: cpal::BufferSize::Default,
    };
    let stream_rate = player.rate_in;
    let stream = device
        .build_output_stream::<f32, _, _>(
            config,
            move |data: &mut [f32], info: &cpal::OutputCallbackInfo| {
                let ts = info.timestamp();
                let dev = ts
                    .playback
                    .checked_duration_since(ts.callback)
                    .map_or(0, |d| (d.as_secs_f64() * stream_rate) as u64);
                player.render(data, 2, dev);
            },
            move |_| shared.lost.store(true, Ordering::Release),
            None,
        )
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    stream
        .play()
        .map_err(|e| format!("audio device unavailable ({e})"))?;
    Ok(stream)
}

/// The silent output, clocked in real time (`skew_ppm` fast or slow).
pub(super) fn start_null(mut player: ListenPlayer, rate: u32, skew_ppm: f64) -> Out {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        let frames = 256;
        let mut buf = vec![0f32; frames * 2];
        let period =
            Duration::from_secs_f64(frames as f64 / (f64::from(rate) * (1.0 + skew_ppm * 1e-6)));
        let mut deadline = Instant::now();
        while !s.load(Ordering::Acquire) {
            player.render(&mut buf, 2, frames as u64);
            deadline += period;
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            } else if now - deadline > Duration::from_millis(200) {
                deadline = now;
            }
        }
    });
    Out::Null(stop, Some(t))
}
