//! The server side: publishes the engine's monitor output to every attached
//! listener over a private Unix socket.
//!
//! The audio callback owns a [`MonitorTap`]: it copies each output buffer
//! into a lock-free ring (all or nothing; when the ring is full the buffer
//! is counted as dropped), numbering frames as the engine renders them.
//! The hub's thread drains that ring whether or not anyone listens, cuts it
//! into 10 ms blocks, codes each block once per codec in use and queues it
//! for each listener. Sockets are non-blocking: a listener that cannot take
//! its share falls behind its own bounded queue (half a second), which is
//! then dropped and replaced by a gap marker. Nothing a listener does can
//! block the engine, delay a sound card or grow memory.

mod client;

use client::{Client, Queued};
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::codec::{BlockEncoder, block_frames};
use super::protocol::{self, Codec, Format, Header, Kind, Report};
use super::socket;

/// One callback buffer's place in the monitor stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapBlock {
    /// The engine output frame number of the buffer's first frame.
    pub first_frame: u64,
    /// Frames in the buffer.
    pub frames: u32,
}

/// The audio callback's end of the monitor ring. [`MonitorTap::push`]
/// never blocks, allocates or fails.
pub struct MonitorTap {
    samples: rtrb::Producer<f32>,
    blocks: rtrb::Producer<TapBlock>,
    channels: usize,
    frame: u64,
    dropped: Arc<AtomicU64>,
}

impl MonitorTap {
    /// Copy one interleaved output buffer (`channels` per frame), or count
    /// it as dropped if the ring has no room.
    #[inline]
    pub fn push(&mut self, out: &[f32], channels: usize) {
        let n = out.len() / channels.max(1);
        if channels == self.channels
            && self.samples.slots() >= out.len()
            && self.blocks.slots() >= 1
            && let Ok(chunk) = self.samples.write_chunk_uninit(out.len())
        {
            chunk.fill_from_iter(out.iter().copied());
            let _ = self.blocks.push(TapBlock {
                first_frame: self.frame,
                frames: n as u32,
            });
        } else {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
        self.frame += n as u64;
    }
}

struct Source {
    samples: rtrb::Consumer<f32>,
    blocks: rtrb::Consumer<TapBlock>,
    format: Format,
}

/// What the interface shows about one attached listener.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerStatus {
    /// The codec it asked for.
    pub codec: Codec,
    /// Bit rate sent over the last few seconds, kb/s.
    pub kbps: f64,
    /// End-to-end latency, engine output to the listener's speakers, ms
    /// (None until its first report).
    pub latency_ms: Option<f64>,
    /// Its jitter buffer, ms.
    pub buffer_ms: f64,
    /// The clock drift it corrects, ppm.
    pub drift_ppm: f64,
    /// Underruns on the listener.
    pub underruns: u64,
    /// Frames the server dropped for it (a slow link), total.
    pub dropped_frames: u64,
}

struct HubShared {
    stop: AtomicBool,
    next_source: Mutex<Option<Source>>,
    status: Mutex<Vec<ListenerStatus>>,
    dropped: Arc<AtomicU64>,
    frames_now: Arc<AtomicU64>,
}

/// A running monitor publisher (one per process): the socket, its thread,
/// and the status of its listeners. Dropping it stops the thread and
/// removes the socket.
pub struct Monitor {
    shared: Arc<HubShared>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Monitor({})", self.path.display())
    }
}

/// Queue bound per listener, blocks (10 ms each): half a second.
const MAX_QUEUED_BLOCKS: usize = 50;

impl Monitor {
    /// Publish on `monitor-PID.sock` in the private runtime folder.
    pub fn start() -> Result<Arc<Self>, String> {
        let dir = socket::runtime_dir()?;
        socket::remove_stale(&dir);
        Self::start_at(&socket::socket_path(&dir, std::process::id()))
    }

    /// Publish on the socket `path` (its folder must be private).
    pub fn start_at(path: &Path) -> Result<Arc<Self>, String> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)
            .map_err(|e| format!("{}: cannot listen: {e}", path.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let shared = Arc::new(HubShared {
            stop: AtomicBool::new(false),
            next_source: Mutex::new(None),
            status: Mutex::new(Vec::new()),
            dropped: Arc::new(AtomicU64::new(0)),
            frames_now: Arc::new(AtomicU64::new(0)),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("lathe-monitor".into())
            .spawn(move || Hub::new(listener, sh).run())
            .map_err(|e| format!("monitor thread: {e}"))?;
        Ok(Arc::new(Self {
            shared,
            thread: Some(thread),
            path: path.to_path_buf(),
        }))
    }

    /// A new tap for an output at `rate` Hz, 2 channels: the hub switches to
    /// it (listeners are told the new format). The ring holds one second.
    pub fn tap(&self, rate: u32) -> MonitorTap {
        let channels = 2;
        let (sp, sc) = rtrb::RingBuffer::<f32>::new(rate as usize * channels);
        let (bp, bc) = rtrb::RingBuffer::<TapBlock>::new(1024);
        if let Ok(mut s) = self.shared.next_source.lock() {
            *s = Some(Source {
                samples: sc,
                blocks: bc,
                format: Format {
                    rate,
                    channels: channels as u32,
                    bits: 24,
                },
            });
        }
        MonitorTap {
            samples: sp,
            blocks: bp,
            channels,
            frame: 0,
            dropped: self.shared.dropped.clone(),
        }
    }

    /// The socket listeners connect to.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// The attached listeners, as of the last few milliseconds.
    pub fn listeners(&self) -> Vec<ListenerStatus> {
        self.shared
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Frames the audio callback could not hand over (the hub fell behind).
    pub fn dropped_frames(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Frames of the monitor stream the hub has taken so far.
    pub fn frames(&self) -> u64 {
        self.shared.frames_now.load(Ordering::Relaxed)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

struct Hub {
    listener: UnixListener,
    shared: Arc<HubShared>,
    clients: Vec<Client>,
    source: Option<Source>,
    format: Option<Format>,
    encoders: HashMap<Codec, BlockEncoder>,
    acc: Vec<f32>,
    acc_first: u64,
    expected: Option<u64>,
    seq: u32,
    t0: Instant,
    scratch: Vec<f32>,
    dump: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    dump_frames: u64,
    frames_now: Arc<AtomicU64>,
}

impl Hub {
    fn new(listener: UnixListener, shared: Arc<HubShared>) -> Self {
        Self {
            listener,
            shared: shared.clone(),
            clients: Vec::new(),
            source: None,
            format: None,
            encoders: HashMap::new(),
            acc: Vec::new(),
            acc_first: 0,
            expected: None,
            seq: 0,
            t0: Instant::now(),
            scratch: Vec::new(),
            dump: None,
            dump_frames: 0,
            frames_now: shared.frames_now.clone(),
        }
    }

    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn run(mut self) {
        while !self.shared.stop.load(Ordering::Acquire) {
            self.accept();
            self.switch_source();
            self.drain();
            let now_us = self.now_us();
            let frames_now = self.expected.unwrap_or(0);
            let rate = self.format.map_or(48_000, |f| f.rate);
            for c in &mut self.clients {
                c.receive();
                // Far behind (seconds hidden in SSH and kernel buffers):
                // what still waits here is stale; skip it.
                if let Some(r) = c.report
                    && frames_now.saturating_sub(r.played) > u64::from(rate) / 2
                    && c.out.len() > 1
                {
                    c.drop_queue(&mut self.seq, now_us);
                }
                c.flush();
            }
            self.clients.retain(|c| c.alive);
            self.publish_status(rate);
            std::thread::sleep(Duration::from_millis(2));
        }
        if let Some(d) = self.dump.take() {
            let _ = d.finalize();
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    if socket::peer_uid(&s) != Some(socket::uid()) {
                        let mut s = s;
                        let _ = s.write_all(b"LATHE-MONITOR-ERROR refused: another user\n");
                        continue;
                    }
                    if s.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let mut c = Client {
                        stream: s,
                        inbuf: Vec::new(),
                        out: VecDeque::new(),
                        front_off: 0,
                        codec: None,
                        greeted: false,
                        alive: true,
                        report: None,
                        latency_frames: None,
                        frames_now: self.frames_now.clone(),
                        sent: VecDeque::new(),
                        dropped_frames: 0,
                    };
                    if let Some(f) = self.format {
                        c.queue_line(&protocol::greeting(f));
                        c.greeted = true;
                    }
                    self.clients.push(c);
                }
                Err(_) => return,
            }
        }
    }

    fn switch_source(&mut self) {
        let next = self
            .shared
            .next_source
            .lock()
            .ok()
            .and_then(|mut s| s.take());
        let Some(src) = next else {
            return;
        };
        let f = src.format;
        let changed = self.format != Some(f);
        self.format = Some(f);
        self.source = Some(src);
        self.acc.clear();
        self.expected = None;
        if changed {
            self.encoders.clear();
            self.open_dump(f);
        }
        let now = self.now_us();
        for c in &mut self.clients {
            if !c.greeted {
                c.queue_line(&protocol::greeting(f));
                c.greeted = true;
            } else if changed && c.codec.is_some() {
                let mut bytes = Vec::new();
                protocol::write_frame(
                    &Header {
                        kind: Kind::Format,
                        codec: c.codec.unwrap_or(Codec::Flac),
                        channels: f.channels as u8,
                        seq: self.seq,
                        first_frame: 0,
                        server_us: now,
                        frames: 0,
                    },
                    f.to_fields().as_bytes(),
                    &mut bytes,
                );
                self.seq = self.seq.wrapping_add(1);
                c.out.push_back(Queued {
                    first: 0,
                    frames: 0,
                    bytes,
                });
            }
        }
    }

    /// Tests: `LATHE_MONITOR_DUMP=FILE.wav` writes the monitor stream as the
    /// callback produced it (frame 0 of the current source first).
    fn open_dump(&mut self, f: Format) {
        let Some(path) = std::env::var_os("LATHE_MONITOR_DUMP") else {
            return;
        };
        let spec = hound::WavSpec {
            channels: f.channels as u16,
            sample_rate: f.rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        if let Some(d) = self.dump.take() {
            let _ = d.finalize();
        }
        self.dump = hound::WavWriter::create(PathBuf::from(path), spec).ok();
        self.dump_frames = 0;
    }

    fn drain(&mut self) {
        let Some(mut src) = self.source.take() else {
            return;
        };
        let ch = src.format.channels as usize;
        let block = block_frames(src.format.rate);
        while let Ok(b) = src.blocks.pop() {
            let n = b.frames as usize * ch;
            self.scratch.clear();
            if let Ok(chunk) = src.samples.read_chunk(n) {
                let (a, bb) = chunk.as_slices();
                self.scratch.extend_from_slice(a);
                self.scratch.extend_from_slice(bb);
                chunk.commit_all();
            }
            if self.scratch.len() != n {
                continue;
            }
            if let Some(d) = self.dump.as_mut() {
                while self.dump_frames < b.first_frame {
                    for _ in 0..ch {
                        let _ = d.write_sample(0.0f32);
                    }
                    self.dump_frames += 1;
                }
                for v in &self.scratch {
                    let _ = d.write_sample(*v);
                }
                self.dump_frames += u64::from(b.frames);
            }
            if let Some(e) = self.expected
                && e != b.first_frame
            {
                // The callback dropped buffers: what was gathered is cut
                // short; listeners hear a gap from it to the next buffer.
                let gap_from = if self.acc.is_empty() {
                    e
                } else {
                    self.acc_first
                };
                self.acc.clear();
                let frames = b.first_frame.saturating_sub(gap_from);
                self.emit_gap(gap_from, frames);
            }
            if self.acc.is_empty() {
                self.acc_first = b.first_frame;
            }
            let scratch = std::mem::take(&mut self.scratch);
            self.acc.extend_from_slice(&scratch);
            self.scratch = scratch;
            self.expected = Some(b.first_frame + u64::from(b.frames));
            while self.acc.len() >= block * ch {
                let blk: Vec<f32> = self.acc.drain(..block * ch).collect();
                self.emit_block(&blk, self.acc_first, block as u32);
                self.acc_first += block as u64;
            }
        }
        self.source = Some(src);
        self.shared
            .frames_now
            .store(self.expected.unwrap_or(0), Ordering::Relaxed);
    }

    fn emit_gap(&mut self, first: u64, frames: u64) {
        let now = self.now_us();
        let rate = u64::from(self.format.map_or(48_000, |f| f.rate));
        for c in self.clients.iter_mut().filter(|c| c.codec.is_some()) {
            let (first, frames) = if c.codec == Some(Codec::Opus) {
                (first * 48_000 / rate, frames * 48_000 / rate)
            } else {
                (first, frames)
            };
            let mut bytes = Vec::new();
            protocol::write_frame(
                &Header {
                    kind: Kind::Gap,
                    codec: c.codec.unwrap_or(Codec::Flac),
                    channels: 2,
                    seq: self.seq,
                    first_frame: first,
                    server_us: now,
                    frames: frames.min(u64::from(protocol::MAX_FRAMES)) as u32,
                },
                &[],
                &mut bytes,
            );
            c.out.push_back(Queued {
                first,
                frames: 0,
                bytes,
            });
        }
        self.seq = self.seq.wrapping_add(1);
    }

    fn emit_block(&mut self, interleaved: &[f32], first: u64, frames: u32) {
        let Some(f) = self.format else {
            return;
        };
        let now = self.now_us();
        let codecs: Vec<Codec> = {
            let mut v: Vec<Codec> = self.clients.iter().filter_map(|c| c.codec).collect();
            v.sort_by_key(|c| c.name());
            v.dedup();
            v
        };
        for codec in codecs {
            let enc = match self.encoders.entry(codec) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => match BlockEncoder::new(codec, f) {
                    Ok(e) => v.insert(e),
                    Err(msg) => {
                        for c in self.clients.iter_mut().filter(|c| c.codec == Some(codec)) {
                            let _ = c
                                .stream
                                .write_all(format!("LATHE-MONITOR-ERROR {msg}\n").as_bytes());
                            c.alive = false;
                            c.codec = None;
                        }
                        continue;
                    }
                },
            };
            let mut payload = Vec::new();
            if enc.encode(interleaved, &mut payload).is_err() {
                continue;
            }
            // Opus: frame numbers on the 48 kHz timeline of the decoded audio.
            let (first, frames) = enc.placement(first, frames);
            let mut bytes = Vec::with_capacity(payload.len() + protocol::HEADER_LEN + 4);
            protocol::write_frame(
                &Header {
                    kind: Kind::Audio,
                    codec,
                    channels: f.channels as u8,
                    seq: self.seq,
                    first_frame: first,
                    server_us: now,
                    frames,
                },
                &payload,
                &mut bytes,
            );
            for c in self.clients.iter_mut().filter(|c| c.codec == Some(codec)) {
                c.queue_frame(
                    Queued {
                        first,
                        frames: u64::from(frames),
                        bytes: bytes.clone(),
                    },
                    &mut self.seq,
                    now,
                );
            }
        }
        self.seq = self.seq.wrapping_add(1);
    }

    fn publish_status(&mut self, rate: u32) {
        let list: Vec<ListenerStatus> = self
            .clients
            .iter_mut()
            .filter(|c| c.codec.is_some())
            .map(|c| {
                let kbps = c.kbps();
                let r = c.report;
                ListenerStatus {
                    codec: c.codec.unwrap_or(Codec::Flac),
                    kbps,
                    latency_ms: c
                        .latency_frames
                        .map(|f| f as f64 * 1000.0 / f64::from(rate)),
                    buffer_ms: r.map_or(0.0, |r| r.buffer_ms),
                    drift_ppm: r.map_or(0.0, |r| r.drift_ppm),
                    underruns: r.map_or(0, |r| r.underruns),
                    dropped_frames: c.dropped_frames,
                }
            })
            .collect();
        if let Ok(mut s) = self.shared.status.lock() {
            *s = list;
        }
    }
}
