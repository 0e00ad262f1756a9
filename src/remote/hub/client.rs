//! One attached listener: its queue of coded blocks, its codec, and what it
//! reports back (latency, buffer, underruns).

use super::*;

pub(super) struct Queued {
    pub(super) first: u64,
    pub(super) frames: u64,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct Client {
    pub(super) stream: UnixStream,
    pub(super) inbuf: Vec<u8>,
    pub(super) out: VecDeque<Queued>,
    pub(super) front_off: usize,
    pub(super) codec: Option<Codec>,
    pub(super) greeted: bool,
    pub(super) alive: bool,
    pub(super) report: Option<Report>,
    /// Engine frames between output and the listener's speakers, as of
    /// the latest report.
    pub(super) latency_frames: Option<u64>,
    /// The hub's count of frames taken (shared, read on report arrival).
    pub(super) frames_now: Arc<AtomicU64>,
    pub(super) sent: VecDeque<(Instant, usize)>,
    pub(super) dropped_frames: u64,
}

impl Client {
    pub(super) fn queue_line(&mut self, line: &str) {
        self.out.push_back(Queued {
            first: 0,
            frames: 0,
            bytes: format!("{line}\n").into_bytes(),
        });
    }

    /// Queue a coded frame; past the bound, drop what waits (keeping a
    /// partly written frame) and say so with a gap marker.
    pub(super) fn queue_frame(&mut self, q: Queued, seq: &mut u32, now_us: u64) {
        let waiting = self.out.len() - usize::from(self.front_off > 0);
        if waiting >= MAX_QUEUED_BLOCKS {
            self.drop_queue(seq, now_us);
        }
        self.out.push_back(q);
    }

    pub(super) fn drop_queue(&mut self, seq: &mut u32, now_us: u64) {
        let keep = usize::from(self.front_off > 0);
        let dropped: Vec<Queued> = self.out.drain(keep..).collect();
        let audio: Vec<&Queued> = dropped.iter().filter(|q| q.frames > 0).collect();
        if let (Some(a), Some(b)) = (audio.first(), audio.last()) {
            let frames = b.first + b.frames - a.first;
            self.dropped_frames += frames;
            let mut bytes = Vec::new();
            protocol::write_frame(
                &Header {
                    kind: Kind::Gap,
                    codec: self.codec.unwrap_or(Codec::Flac),
                    channels: 2,
                    seq: *seq,
                    first_frame: a.first,
                    server_us: now_us,
                    frames: frames.min(u64::from(protocol::MAX_FRAMES)) as u32,
                },
                &[],
                &mut bytes,
            );
            *seq = seq.wrapping_add(1);
            self.out.push_back(Queued {
                first: a.first,
                frames: 0,
                bytes,
            });
        }
    }

    pub(super) fn flush(&mut self) {
        while let Some(front) = self.out.front() {
            match self.stream.write(&front.bytes[self.front_off..]) {
                Ok(0) => {
                    self.alive = false;
                    return;
                }
                Ok(n) => {
                    self.front_off += n;
                    self.sent.push_back((Instant::now(), n));
                    if self.front_off == front.bytes.len() {
                        self.out.pop_front();
                        self.front_off = 0;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.alive = false;
                    return;
                }
            }
        }
    }

    /// Read what the listener sent: its hello, then reports.
    pub(super) fn receive(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.alive = false;
                    return;
                }
                Ok(n) => self.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.alive = false;
                    return;
                }
            }
            if self.inbuf.len() > 64 * 1024 {
                break;
            }
        }
        while let Some(nl) = self.inbuf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.inbuf.drain(..=nl).collect();
            let line = String::from_utf8_lossy(&line[..nl]).trim().to_string();
            if self.codec.is_none() {
                match protocol::parse_hello(&line) {
                    Ok(c) => self.codec = Some(c),
                    Err(e) => {
                        // One line saying why, then goodbye.
                        let _ = self
                            .stream
                            .write_all(format!("LATHE-MONITOR-ERROR {e}\n").as_bytes());
                        self.alive = false;
                        return;
                    }
                }
            } else if let Some(r) = Report::parse(&line) {
                // Latency as of the report's arrival: the frame the engine
                // is at now against the one the listener played when it
                // wrote the report (its way back is counted in).
                let now = self.frames_now.load(Ordering::Relaxed);
                self.latency_frames = Some(now.saturating_sub(r.played));
                self.report = Some(r);
            } else if let Some(c) = line.strip_prefix("CODEC ").and_then(Codec::parse) {
                // The listener's automatic choice (the link's capacity).
                self.codec = Some(c);
            }
        }
        if self.inbuf.len() > protocol::MAX_LINE {
            // Not a listener: garbage without line ends.
            self.alive = false;
        }
    }

    pub(super) fn kbps(&mut self) -> f64 {
        let now = Instant::now();
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(2))
        {
            self.sent.pop_front();
        }
        let bytes: usize = self.sent.iter().map(|(_, n)| n).sum();
        bytes as f64 * 8.0 / 2000.0
    }
}
