//! `lathe listen HOST`: hear a remote lathe on this machine's sound card.
//!
//! It runs the system `ssh` (so `~/.ssh/config`, keys, the agent, jump
//! hosts and password prompts all work) with `lathe tap` on the other side,
//! or any command given with `--via`, and reads the monitor stream from its
//! stdout:
//!
//! - a reader thread parses frames (checked, resynchronizing on damage);
//! - the session thread decodes them, fades over gaps, records (`--record`:
//!   the stream as received, lossless, aligned by the server's frame
//!   numbers) and fills the jitter buffer, a lock-free ring;
//! - the output callback pulls from that ring through rubato's
//!   adjustable-ratio resampler, steered by a PI loop on the buffer level
//!   (so a clock difference between the machines neither underruns nor
//!   creeps latency), waits to refill after an underrun and raises its
//!   target, lowers the target slowly while all is well, and skips ahead
//!   when more than half a second too much is waiting;
//! - several times a second it reports back (frame received, frame at the
//!   speakers, buffer, underruns, drift) on ssh's stdin.
//!
//! A dropped connection is retried with backoff; Ctrl-C or `q` quits.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Adjustable as _, Async, FixedAsync, Resampler as _};

use super::codec::{BlockDecoder, decoded_format};
use super::protocol::{self, Codec, Format, Kind, Parsed, Report};

/// How to listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// `[USER@]HOST` to run `ssh` to.
    pub host: Option<String>,
    /// A command that runs `lathe tap` somewhere, instead of `ssh HOST`.
    pub via: Option<String>,
    /// Extra arguments for `ssh` (before the host).
    pub ssh_args: Vec<String>,
    /// The lathe command on the far side.
    pub remote_lathe: String,
    /// The far side's publishing process (None: the newest).
    pub pid: Option<u32>,
    /// The codec to ask for.
    pub codec: Codec,
    /// Fall back to Opus when the link cannot carry `codec`, and back.
    pub auto_codec: bool,
    /// Output device whose name contains this (None: the default).
    pub device: Option<String>,
    /// Use the silent output even if a sound card exists.
    pub silent: bool,
    /// Write what is received here (32-bit float WAV).
    pub record: Option<PathBuf>,
    /// The jitter buffer's starting target, ms.
    pub buffer_ms: f64,
    /// Run the silent output's clock this far off, ppm (tests).
    pub skew_ppm: f64,
    /// Stop after this long (tests, benchmarks).
    pub seconds: Option<f64>,
    /// No status line.
    pub quiet: bool,
    /// Reconnect when the connection drops.
    pub reconnect: bool,
    /// Read `q` from the terminal.
    pub keys: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            host: None,
            via: None,
            ssh_args: Vec::new(),
            remote_lathe: "lathe".into(),
            pid: None,
            codec: Codec::Flac,
            auto_codec: true,
            device: None,
            silent: false,
            record: None,
            buffer_ms: 40.0,
            skew_ppm: 0.0,
            seconds: None,
            quiet: false,
            reconnect: true,
            keys: false,
        }
    }
}

/// What a listening run saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListenSummary {
    /// Audio frames received.
    pub frames_received: u64,
    /// Underruns of the output.
    pub underruns: u64,
    /// Frames the server reported dropped (gap markers).
    pub gap_frames: u64,
    /// Blocks that failed to parse or decode.
    pub bad_blocks: u64,
    /// Connections made.
    pub connections: u64,
    /// The largest jitter buffer seen after the first 2 s, ms.
    pub max_buffer_ms: f64,
    /// The clock correction at the end, ppm.
    pub drift_ppm: f64,
    /// The stream format.
    pub format: Option<Format>,
    /// Automatic codec changes.
    pub codec_switches: u64,
    /// The codec in use at the end.
    pub codec: Option<Codec>,
}

/// Atomics shared with the output callback.
#[derive(Default)]
struct ListenShared {
    underruns: AtomicU64,
    /// Frames the callback has taken from the ring (including skipped).
    consumed: AtomicU64,
    /// Stream frame number of ring frame 0.
    base: AtomicI64,
    /// Frames waiting in the ring, as the callback last saw.
    fill: AtomicU64,
    /// The correction ratio − 1, parts per billion.
    ratio_ppb: AtomicI64,
    /// Output latency after the callback, frames of the stream rate.
    device_frames: AtomicU64,
    /// Frames produced but not yet output (converter delay), stream rate.
    pending_frames: AtomicU64,
    /// The buffer target, frames.
    target: AtomicU64,
    lost: AtomicBool,
}

/// The callback's side: jitter buffer, drift-correcting resampler.
struct ListenPlayer {
    ring: rtrb::Consumer<f32>,
    ch: usize,
    rs: Async<f32>,
    inb: Vec<Vec<f32>>,
    outb: Vec<Vec<f32>>,
    out_pos: usize,
    out_len: usize,
    playing: bool,
    target: f64,
    min_target: f64,
    max_target: f64,
    fill_avg: f64,
    integ: f64,
    since_underrun: f64,
    /// The lowest fill since the target was last reconsidered, frames.
    min_fill: f64,
    rate_in: f64,
    shared: Arc<ListenShared>,
    fade: f32,
}

const CHUNK: usize = 64;

impl ListenPlayer {
    fn new(
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
    fn render(&mut self, out: &mut [f32], out_ch: usize, device_frames: u64) {
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
                let inp = SequentialSliceOfVecs::new(&self.inb, self.ch, need);
                let max_out = self.outb[0].len();
                let Ok(inp) = inp else { break };
                let Ok(mut outp) = SequentialSliceOfVecs::new_mut(&mut self.outb, self.ch, max_out)
                else {
                    break;
                };
                match self.rs.process_into_buffer(&inp, &mut outp, None) {
                    Ok((_, written)) => {
                        self.out_pos = 0;
                        self.out_len = written;
                    }
                    Err(_) => break,
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
enum Out {
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
struct Audio {
    format: Format,
    ring: rtrb::Producer<f32>,
    shared: Arc<ListenShared>,
    _out: Out,
    description: String,
    /// Stream frame expected next (None before the first block).
    next: Option<u64>,
    /// The latest block, held back so a gap after it can fade it out.
    held: Vec<f32>,
    held_first: u64,
    pushed: u64,
    overflow: u64,
}

impl Audio {
    fn open(format: Format, opts: &ListenOptions) -> Result<Self, String> {
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

    fn release(&mut self, samples: &[f32]) {
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

    fn release_held(&mut self, fade_out: bool) {
        let mut h = std::mem::take(&mut self.held);
        if fade_out {
            fade(&mut h, self.format.channels as usize, false);
        }
        self.release(&h);
        self.held = h;
        self.held.clear();
    }

    /// A decoded block at stream frame `first`.
    fn push(&mut self, first: u64, mut block: Vec<f32>) {
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
    fn rebase(&mut self, first: u64) {
        self.shared
            .base
            .store(first as i64 - self.pushed as i64, Ordering::Relaxed);
    }

    /// The stream frame at the speakers now.
    fn played(&self) -> u64 {
        let s = &self.shared;
        let consumed = s.consumed.load(Ordering::Relaxed) as i64;
        let behind = (s.pending_frames.load(Ordering::Relaxed)
            + s.device_frames.load(Ordering::Relaxed)) as i64;
        (s.base.load(Ordering::Relaxed) + consumed - behind).max(0) as u64
    }

    fn buffer_ms(&self) -> f64 {
        (self.shared.fill.load(Ordering::Relaxed) + (self.held.len() / 2) as u64) as f64 * 1000.0
            / f64::from(self.format.rate)
    }

    fn drift_ppm(&self) -> f64 {
        self.shared.ratio_ppb.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// A short linear fade over the first (`rising`) or last 2 ms of `block`.
fn fade(block: &mut [f32], ch: usize, rising: bool) {
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

fn start_device(
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
fn start_null(mut player: ListenPlayer, rate: u32, skew_ppm: f64) -> Out {
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

/// The recording: what was received, aligned by the server's frame numbers
/// (gaps as silence), written atomically as 32-bit float.
struct Recorder {
    out: crate::io::encode::WavOutput,
    rate: u32,
    next: u64,
    channels: usize,
}

impl Recorder {
    fn open(path: &std::path::Path, f: Format, first: u64) -> Result<Self, String> {
        let out = crate::io::encode::WavOutput::create(
            path,
            f.rate,
            f.channels as usize,
            crate::io::encode::SampleFormat::Float32,
            &[],
            true,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            out,
            rate: f.rate,
            next: first,
            channels: f.channels as usize,
        })
    }

    fn write(&mut self, first: u64, interleaved: &[f32]) -> Result<(), String> {
        if first < self.next {
            return Ok(());
        }
        let gap = (first - self.next) as usize;
        let n = interleaved.len() / self.channels;
        let mut b = crate::io::AudioBlock::new(self.channels, gap + n);
        for i in 0..n {
            for c in 0..self.channels {
                b.channels[c][gap + i] = interleaved[i * self.channels + c];
            }
        }
        b.frames = gap + n;
        self.out.write_block(&b).map_err(|e| e.to_string())?;
        self.next = first + n as u64;
        Ok(())
    }
}

enum Event {
    Greeting(Result<Format, String>),
    Frame(protocol::Frame),
    Bad,
    Eof(String),
}

/// Parse the child's stdout: the greeting line, then frames.
fn reader(mut r: impl Read, tx: mpsc::SyncSender<Event>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let mut greeted = false;
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => {
                let _ = tx.send(Event::Eof("the connection closed".into()));
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Event::Eof(e.to_string()));
                return;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        if !greeted {
            let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
                if buf.len() > protocol::MAX_LINE {
                    let _ = tx.send(Event::Greeting(Err(
                        "the other side does not speak the lathe monitor protocol".into(),
                    )));
                    return;
                }
                continue;
            };
            let line = String::from_utf8_lossy(&buf[..nl]).trim().to_string();
            buf.drain(..=nl);
            let g = match line.strip_prefix("LATHE-MONITOR-ERROR ") {
                Some(e) => Err(format!("the server refused: {e}")),
                None => protocol::parse_greeting(&line),
            };
            let ok = g.is_ok();
            if tx.send(Event::Greeting(g)).is_err() || !ok {
                return;
            }
            greeted = true;
        }
        let mut at = 0;
        loop {
            if buf[at..].starts_with(b"LATHE-MONITOR-ERROR ") {
                let rest = String::from_utf8_lossy(&buf[at..]);
                let line = rest.lines().next().unwrap_or_default().to_string();
                let _ = tx.send(Event::Eof(format!("the server refused: {}", &line[20..])));
                return;
            }
            match protocol::parse_frame(&buf[at..]) {
                Parsed::Frame(f, used) => {
                    at += used;
                    if tx.send(Event::Frame(f)).is_err() {
                        return;
                    }
                }
                Parsed::Skip(used, _) => {
                    at += used;
                    let _ = tx.send(Event::Bad);
                }
                Parsed::Incomplete => break,
            }
        }
        buf.drain(..at);
    }
}

enum Ended {
    Quit,
    Lost(String, bool),
    Fatal(String),
}

fn spawn(opts: &ListenOptions) -> Result<Child, String> {
    let tap = match opts.pid {
        Some(p) => format!("{} tap --pid {p}", opts.remote_lathe),
        None => format!("{} tap", opts.remote_lathe),
    };
    let mut cmd = if let Some(via) = &opts.via {
        let mut c = Command::new("sh");
        c.arg("-c").arg(via);
        // Its own process group, so that ending it ends a whole pipeline.
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c
    } else {
        let Some(host) = &opts.host else {
            return Err("nothing to listen to: give a HOST or --via CMD".into());
        };
        let mut c = Command::new("ssh");
        c.args(["-T", "-o", "Compression=no", "-o", "IPQoS=af21"])
            .args(["-o", "ServerAliveInterval=5"])
            .args(&opts.ssh_args)
            .arg(host)
            .arg(tap);
        c
    };
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    if opts.quiet {
        cmd.stderr(Stdio::null());
    }
    cmd.spawn().map_err(|e| {
        format!(
            "cannot run {}: {e}",
            if opts.via.is_some() { "sh" } else { "ssh" }
        )
    })
}

/// Listen until quit (Ctrl-C, `q`, `--seconds`), reconnecting as needed.
pub fn run(opts: &ListenOptions, quit: &AtomicBool) -> Result<ListenSummary, String> {
    let mut sum = ListenSummary::default();
    let started = Instant::now();
    let mut backoff = Duration::from_millis(500);
    let mut audio: Option<Audio> = None;
    let mut recorder: Option<Recorder> = None;
    let result = loop {
        if quit.load(Ordering::Acquire) {
            break Ok(());
        }
        let child = spawn(opts)?;
        sum.connections += 1;
        let got_before = sum.frames_received;
        let ended = session(
            child,
            opts,
            quit,
            started,
            &mut audio,
            &mut recorder,
            &mut sum,
        );
        match ended {
            Ended::Quit => break Ok(()),
            Ended::Fatal(e) => break Err(e),
            Ended::Lost(why, retry) => {
                if !opts.reconnect || !retry {
                    break Err(why);
                }
                if sum.frames_received > got_before {
                    backoff = Duration::from_millis(500);
                }
                if !opts.quiet {
                    eprintln!(
                        "\r\x1b[2Klathe listen: {why}; reconnecting in {:.1} s",
                        backoff.as_secs_f64()
                    );
                }
                let t = Instant::now();
                while t.elapsed() < backoff && !quit.load(Ordering::Acquire) {
                    if opts
                        .seconds
                        .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                if opts
                    .seconds
                    .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
                {
                    break Ok(());
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    };
    if let Some(a) = &audio {
        sum.drift_ppm = a.drift_ppm();
    }
    drop(audio);
    if let Some(r) = recorder.take() {
        r.out.finish().map_err(|e| e.to_string())?;
    }
    result.map(|_| sum)
}

/// The automatic codec choice: lossless while the link carries it, Opus
/// when it does not (the server had to drop audio, or the buffer ran dry,
/// twice within 5 s), lossless again after a quiet spell (30 s, doubling
/// after each failed try, at most 10 minutes).
struct AutoCodec {
    events: std::collections::VecDeque<Instant>,
    since: Instant,
    probe: Duration,
}

impl AutoCodec {
    fn new() -> Self {
        Self {
            events: Default::default(),
            since: Instant::now(),
            probe: Duration::from_secs(30),
        }
    }

    /// A gap or underrun happened.
    fn trouble(&mut self) {
        self.events.push_back(Instant::now());
    }

    /// The codec to use now, given the one in use.
    fn decide(&mut self, current: Codec, lossless: Codec) -> Codec {
        let now = Instant::now();
        while self
            .events
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(5))
        {
            self.events.pop_front();
        }
        if current != Codec::Opus && self.events.len() >= 2 {
            // A lossless try that failed soon: wait longer before the next.
            if now.duration_since(self.since) < Duration::from_secs(15) {
                self.probe = (self.probe * 2).min(Duration::from_secs(600));
            }
            self.events.clear();
            self.since = now;
            return Codec::Opus;
        }
        if current == Codec::Opus && now.duration_since(self.since) >= self.probe {
            if self.events.is_empty() {
                self.since = now;
                return lossless;
            }
            self.since = now;
        }
        current
    }
}

#[allow(clippy::too_many_arguments)]
fn session(
    mut child: Child,
    opts: &ListenOptions,
    quit: &AtomicBool,
    started: Instant,
    audio: &mut Option<Audio>,
    recorder: &mut Option<Recorder>,
    sum: &mut ListenSummary,
) -> Ended {
    let (tx, rx) = mpsc::sync_channel::<Event>(1024);
    let Some(stdout) = child.stdout.take() else {
        return Ended::Fatal("no stdout from the child".into());
    };
    let mut stdin = child.stdin.take();
    std::thread::spawn(move || reader(stdout, tx));
    let mut decoders: std::collections::HashMap<Codec, BlockDecoder> = Default::default();
    let mut last_report = Instant::now();
    let mut last_status = Instant::now();
    let mut last_frame: u64 = 0;
    let mut stream: Option<Format> = None;
    let mut asked = opts.codec;
    let mut auto = opts.auto_codec.then(AutoCodec::new);
    let mut underruns_seen = 0u64;
    let tty = !opts.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut pcm = Vec::new();
    let group = opts.via.is_some();
    let finish = |child: &mut Child, e: Ended| -> Ended {
        if group {
            // SAFETY: signals the process group we made for the command.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM) };
        }
        let _ = child.kill();
        let _ = child.wait();
        e
    };
    let lost = || Ended::Lost("the connection closed".into(), true);
    loop {
        if quit.load(Ordering::Acquire)
            || opts
                .seconds
                .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            return finish(&mut child, Ended::Quit);
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Event::Greeting(Err(e))) => return finish(&mut child, Ended::Fatal(e)),
            Ok(Event::Greeting(Ok(f))) => {
                stream = Some(f);
                sum.format = Some(f);
                let hello = format!("{}\n", protocol::hello(asked));
                if let Some(s) = stdin.as_mut()
                    && s.write_all(hello.as_bytes())
                        .and_then(|_| s.flush())
                        .is_err()
                {
                    return finish(&mut child, lost());
                }
            }
            Ok(Event::Frame(fr)) => {
                let h = fr.header;
                let Some(sf) = stream else {
                    sum.bad_blocks += 1;
                    continue;
                };
                match h.kind {
                    Kind::Audio => {
                        // The block's codec decides its decoded format
                        // (Opus: 48 kHz); a change reopens the output.
                        let f = decoded_format(h.codec, sf);
                        if audio.as_ref().is_none_or(|a| a.format != f) {
                            match Audio::open(f, opts) {
                                Ok(a) => {
                                    if !opts.quiet {
                                        eprintln!(
                                            "\r\x1b[2Klathe listen: {} Hz, {} channels, {} → {}",
                                            f.rate,
                                            f.channels,
                                            h.codec.name(),
                                            a.description
                                        );
                                    }
                                    if recorder.as_ref().is_some_and(|r| r.rate != f.rate)
                                        && let Some(r) = recorder.take()
                                    {
                                        let _ = r.out.finish();
                                    }
                                    *audio = Some(a);
                                    underruns_seen = 0;
                                }
                                Err(e) => return finish(&mut child, Ended::Fatal(e)),
                            }
                        }
                        let d = match decoders.entry(h.codec) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                match BlockDecoder::new(h.codec, f) {
                                    Ok(d) => v.insert(d),
                                    Err(e) => return finish(&mut child, Ended::Fatal(e)),
                                }
                            }
                        };
                        let Some(a) = audio.as_mut() else {
                            continue;
                        };
                        if d.decode(&fr.payload, h.frames as usize, &mut pcm).is_err() {
                            sum.bad_blocks += 1;
                            continue;
                        }
                        sum.frames_received += u64::from(h.frames);
                        last_frame = h.first_frame + u64::from(h.frames);
                        if let Some(path) = &opts.record
                            && recorder.is_none()
                        {
                            match Recorder::open(path, a.format, h.first_frame) {
                                Ok(r) => {
                                    eprintln!(
                                        "lathe listen: recording {} from engine frame {}",
                                        path.display(),
                                        h.first_frame
                                    );
                                    *recorder = Some(r);
                                }
                                Err(e) => return finish(&mut child, Ended::Fatal(e)),
                            }
                        }
                        if let Some(r) = recorder.as_mut()
                            && let Err(e) = r.write(h.first_frame, &pcm)
                        {
                            return finish(&mut child, Ended::Fatal(e));
                        }
                        a.push(h.first_frame, std::mem::take(&mut pcm));
                    }
                    Kind::Gap => {
                        sum.gap_frames += u64::from(h.frames);
                        if let Some(au) = auto.as_mut() {
                            au.trouble();
                        }
                    }
                    Kind::Format => {
                        let Some(f) = std::str::from_utf8(&fr.payload)
                            .ok()
                            .and_then(Format::parse_fields)
                        else {
                            sum.bad_blocks += 1;
                            continue;
                        };
                        if !opts.quiet {
                            eprintln!("\r\x1b[2Klathe listen: now {} Hz", f.rate);
                        }
                        stream = Some(f);
                        sum.format = Some(f);
                        decoders.clear();
                        if let Some(r) = recorder.take() {
                            let _ = r.out.finish();
                        }
                    }
                }
            }
            Ok(Event::Bad) => sum.bad_blocks += 1,
            Ok(Event::Eof(why)) => {
                let retry = !why.starts_with("the server refused");
                let status = child.try_wait().ok().flatten();
                let why = match (status, sum.frames_received) {
                    (Some(s), 0) if !s.success() => format!("{why} ({s})"),
                    _ => why,
                };
                return finish(&mut child, Ended::Lost(why, retry));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return finish(&mut child, lost());
            }
        }
        let Some(a) = audio.as_ref() else {
            continue;
        };
        if a.shared.lost.load(Ordering::Acquire) {
            if let Ok(mut o) = Audio::open(
                a.format,
                &ListenOptions {
                    silent: true,
                    ..opts.clone()
                },
            ) {
                o.description = "audio device lost: silent output".into();
                eprintln!("\r\x1b[2Klathe listen: audio device lost: silent output");
                *audio = Some(o);
            }
            continue;
        }
        let under = a.shared.underruns.load(Ordering::Relaxed);
        if under > underruns_seen {
            underruns_seen = under;
            sum.underruns += 1;
            if let Some(au) = auto.as_mut() {
                au.trouble();
            }
        }
        // The automatic codec: ask the server to switch.
        if let Some(au) = auto.as_mut() {
            let next = au.decide(asked, opts.codec);
            if next != asked {
                asked = next;
                sum.codec_switches += 1;
                if !opts.quiet {
                    eprintln!(
                        "\r\x1b[2Klathe listen: switching to {} ({})",
                        next.name(),
                        if next == Codec::Opus {
                            "the link cannot carry the lossless stream"
                        } else {
                            "trying lossless again"
                        }
                    );
                }
                if let Some(s) = stdin.as_mut()
                    && s.write_all(format!("CODEC {}\n", next.name()).as_bytes())
                        .and_then(|_| s.flush())
                        .is_err()
                {
                    stdin = None;
                }
            }
        }
        sum.codec = Some(asked);
        if started.elapsed() > Duration::from_secs(2) {
            sum.max_buffer_ms = sum.max_buffer_ms.max(a.buffer_ms());
        }
        if last_report.elapsed() >= Duration::from_millis(200) {
            last_report = Instant::now();
            // Opus frames are 48 kHz frames: report in the stream's.
            let rate = stream.map_or(a.format.rate, |f| f.rate);
            let to_stream = |v: u64| v * u64::from(rate) / u64::from(a.format.rate);
            let r = Report {
                received: to_stream(last_frame),
                played: to_stream(a.played()),
                buffer_ms: a.buffer_ms(),
                underruns: sum.underruns,
                drift_ppm: a.drift_ppm(),
                device_ms: a.shared.device_frames.load(Ordering::Relaxed) as f64 * 1000.0
                    / f64::from(a.format.rate),
            };
            if let Some(s) = stdin.as_mut()
                && s.write_all(format!("{}\n", r.to_line()).as_bytes())
                    .and_then(|_| s.flush())
                    .is_err()
            {
                stdin = None;
            }
        }
        if tty && last_status.elapsed() >= Duration::from_millis(250) {
            last_status = Instant::now();
            eprint!(
                "\r\x1b[2Klathe listen: {} · buffer {:.0} ms (target {:.0}) · drift {:+.0} ppm · underruns {}",
                asked.name(),
                a.buffer_ms(),
                a.shared.target.load(Ordering::Relaxed) as f64 * 1000.0 / f64::from(a.format.rate),
                a.drift_ppm(),
                sum.underruns
            );
            let _ = std::io::stderr().flush();
        }
    }
}

/// Read `q` (or Ctrl-C) from the terminal and set `quit`; restores the
/// terminal when `quit` is set.
pub fn watch_keys(quit: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use ratatui::crossterm::event::{self, Event as E, KeyCode, KeyModifiers};
        if ratatui::crossterm::terminal::enable_raw_mode().is_err() {
            return;
        }
        while !quit.load(Ordering::Acquire) {
            if event::poll(Duration::from_millis(100)).unwrap_or(false)
                && let Ok(E::Key(k)) = event::read()
            {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c {
                    quit.store(true, Ordering::Release);
                }
            }
        }
        let _ = ratatui::crossterm::terminal::disable_raw_mode();
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten simulated minutes (freewheeling: no sleeping) of a server
    /// sending 10 ms blocks in bursty pairs and a listener whose clock runs
    /// 200 ppm fast or slow: after settling there is no underrun, the
    /// buffer stays within a few ms of its target (no latency creep), and
    /// the correction found is the clock offset.
    #[test]
    fn a_200_ppm_clock_offset_keeps_the_buffer_bounded() {
        for skew in [200.0, -200.0] {
            let f = Format {
                rate: 48_000,
                channels: 2,
                bits: 24,
            };
            let shared = Arc::new(ListenShared::default());
            let (mut prod, cons) = rtrb::RingBuffer::<f32>::new(48_000 * 4 * 2);
            let mut p = match ListenPlayer::new(cons, f, 48_000, 40.0, shared.clone()) {
                Ok(p) => p,
                Err(e) => panic!("{e}"),
            };
            let block: Vec<f32> = (0..480 * 2)
                .map(|i| (i as f32 * 0.01).sin() * 0.1)
                .collect();
            let cb = 256;
            let mut out = vec![0f32; cb * 2];
            let listener_period = cb as f64 / (48_000.0 * (1.0 + skew * 1e-6));
            let (mut ts, mut tl) = (0.0f64, 0.0f64);
            let total = 600.0;
            let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
            let mut settled_underruns = 0;
            let mut last_minute = (0.0f64, 0.0f64);
            while ts.min(tl) < total {
                if ts <= tl {
                    // Two blocks every 20 ms: the jitter of a real link.
                    for _ in 0..2 {
                        if let Ok(c) = prod.write_chunk_uninit(block.len()) {
                            c.fill_from_iter(block.iter().copied());
                        }
                    }
                    ts += 0.020;
                } else {
                    // The fill as the callback sees it, before it takes its share.
                    let fill = (p.ring.slots() / 2) as f64 / 48.0;
                    p.render(&mut out, 2, cb as u64);
                    tl += listener_period;
                    if tl > 60.0 {
                        lo = lo.min(fill);
                        hi = hi.max(fill - p.target / 48.0);
                    }
                    if tl > total - 60.0 {
                        last_minute.0 += fill;
                        last_minute.1 += 1.0;
                    }
                    if tl < 30.0 {
                        settled_underruns = shared.underruns.load(Ordering::Relaxed);
                    }
                }
            }
            let underruns = shared.underruns.load(Ordering::Relaxed);
            assert_eq!(
                underruns, settled_underruns,
                "{skew} ppm: underruns after settling"
            );
            let target = shared.target.load(Ordering::Relaxed) as f64 / 48.0;
            assert!(
                hi < 25.0 && lo > 0.0,
                "{skew} ppm: fill at least {lo:.1} ms, at most {hi:.1} ms over the target"
            );
            // No latency creep: over the last minute the buffer averages its target.
            let mean = last_minute.0 / last_minute.1;
            assert!(
                (mean - target).abs() < 5.0,
                "{skew} ppm: mean {mean:.1} ms, target {target:.1} ms"
            );
            let drift = shared.ratio_ppb.load(Ordering::Relaxed) as f64 / 1000.0;
            assert!(
                (drift - skew).abs() < 30.0,
                "{skew} ppm: corrected {drift:.1} ppm"
            );
        }
    }
}
