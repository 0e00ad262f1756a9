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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod output;
mod record;

use crate::remote::codec::{BlockDecoder, decoded_format};
use crate::remote::protocol::{self, Codec, Format, Kind, Parsed, Report};
use output::*;
use record::*;

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
