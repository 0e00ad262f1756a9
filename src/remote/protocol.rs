//! The monitor stream's wire format, version [`VERSION`].
//!
//! A connection starts with two text lines, then binary frames one way and
//! report lines the other way:
//!
//! 1. server → listener: `LATHE-MONITOR 1 rate=48000 channels=2 bits=24`
//! 2. listener → server: `HELLO 1 codec=flac`
//! 3. server → listener: frames (below), until either side goes.
//! 4. listener → server, several times a second: `R recv=… played=…
//!    buf_ms=… under=… drift_ppm=… dev_ms=…` (see [`Report`]); and
//!    `CODEC opus` / `CODEC flac` when the listener's automatic choice
//!    changes (each frame names its codec, so the switch is seamless).
//!
//! A frame is a 36-byte header, the payload and a CRC-32 of both:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0–3 | magic `LMF1` |
//! | 4 | kind: 0 audio, 1 gap, 2 format change |
//! | 5 | codec: 0 PCM (f32), 1 FLAC, 2 Opus |
//! | 6 | channels |
//! | 7 | reserved (0) |
//! | 8–11 | sequence number, u32 |
//! | 12–19 | first frame (the engine's output frame number), u64 |
//! | 20–27 | server monotonic time, µs, u64 |
//! | 28–31 | frames in the block (gap: frames missing), u32 |
//! | 32–35 | payload length, bytes, u32 |
//!
//! All integers are little-endian. A parser that meets bytes it cannot
//! read skips to the next magic: a damaged stream resynchronizes by itself.

/// The protocol version both ends must speak.
pub const VERSION: u32 = 1;
/// Frame magic.
pub const MAGIC: [u8; 4] = *b"LMF1";
/// Header length, bytes.
pub const HEADER_LEN: usize = 36;
/// The largest payload accepted, bytes.
pub const MAX_PAYLOAD: usize = 1 << 20;
/// The most frames one block (or gap marker of a block) may claim.
pub const MAX_FRAMES: u32 = 1 << 20;
/// The longest text line accepted, bytes.
pub const MAX_LINE: usize = 512;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A block of audio.
    Audio,
    /// Frames the server dropped (a slow link): the listener fades over them.
    Gap,
    /// The stream's format changed (payload: `rate=… channels=… bits=…`).
    Format,
}

/// How the audio is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Raw 32-bit float (debugging; about 3 Mb/s at 48 kHz stereo).
    Pcm,
    /// FLAC frames of the stream's bit depth (lossless; the default).
    Flac,
    /// Opus (lossy, low bandwidth).
    Opus,
}

impl Codec {
    /// Parse `pcm`, `flac` or `opus`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pcm" => Some(Self::Pcm),
            "flac" => Some(Self::Flac),
            "opus" => Some(Self::Opus),
            _ => None,
        }
    }

    /// The codec's name on the wire and in the status bar.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcm => "pcm",
            Self::Flac => "flac",
            Self::Opus => "opus",
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Pcm => 0,
            Self::Flac => 1,
            Self::Opus => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Pcm),
            1 => Some(Self::Flac),
            2 => Some(Self::Opus),
            _ => None,
        }
    }
}

/// A frame's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// What the frame carries.
    pub kind: Kind,
    /// How the payload is coded.
    pub codec: Codec,
    /// Channels of the audio.
    pub channels: u8,
    /// Sequence number (wraps).
    pub seq: u32,
    /// The engine output frame number of the block's first frame.
    pub first_frame: u64,
    /// The server's monotonic clock when the block was cut, µs.
    pub server_us: u64,
    /// Frames in the block (a gap: frames missing).
    pub frames: u32,
}

/// A parsed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header.
    pub header: Header,
    /// The coded payload.
    pub payload: Vec<u8>,
}

/// Append the frame `h` + `payload` (with its checksum) to `out`.
pub fn write_frame(h: &Header, payload: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(match h.kind {
        Kind::Audio => 0,
        Kind::Gap => 1,
        Kind::Format => 2,
    });
    out.push(h.codec.byte());
    out.push(h.channels);
    out.push(0);
    out.extend_from_slice(&h.seq.to_le_bytes());
    out.extend_from_slice(&h.first_frame.to_le_bytes());
    out.extend_from_slice(&h.server_us.to_le_bytes());
    out.extend_from_slice(&h.frames.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = CRC.checksum(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// What [`parse_frame`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole, checked frame and the bytes it took.
    Frame(Frame, usize),
    /// More bytes are needed.
    Incomplete,
    /// These bytes are not a frame: skip them (resynchronizing on the next
    /// magic) and say why.
    Skip(usize, &'static str),
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// Where the next magic starts after position 0 (or how much can be
/// dropped safely when none is in sight).
fn resync(buf: &[u8]) -> usize {
    (1..buf.len())
        .find(|&i| buf[i..].starts_with(&MAGIC[..(buf.len() - i).min(4)]))
        .unwrap_or(buf.len())
}

/// Parse one frame from the start of `buf`. Never panics, whatever the
/// bytes; a frame whose checksum fails is skipped.
pub fn parse_frame(buf: &[u8]) -> Parsed {
    if buf.len() < 4 {
        return if MAGIC.starts_with(buf) {
            Parsed::Incomplete
        } else {
            Parsed::Skip(resync(buf).max(1), "not a frame")
        };
    }
    if buf[..4] != MAGIC {
        return Parsed::Skip(resync(buf), "not a frame");
    }
    if buf.len() < HEADER_LEN {
        return Parsed::Incomplete;
    }
    let kind = match buf[4] {
        0 => Kind::Audio,
        1 => Kind::Gap,
        2 => Kind::Format,
        _ => return Parsed::Skip(resync(buf), "unknown frame kind"),
    };
    let Some(codec) = Codec::from_byte(buf[5]) else {
        return Parsed::Skip(resync(buf), "unknown codec");
    };
    let channels = buf[6];
    let frames = u32_at(buf, 28);
    let len = u32_at(buf, 32) as usize;
    if len > MAX_PAYLOAD || frames > MAX_FRAMES || channels == 0 || channels > 8 {
        return Parsed::Skip(resync(buf), "implausible header");
    }
    let total = HEADER_LEN + len + 4;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let crc = u32_at(buf, HEADER_LEN + len);
    if CRC.checksum(&buf[..HEADER_LEN + len]) != crc {
        return Parsed::Skip(resync(buf), "checksum mismatch");
    }
    Parsed::Frame(
        Frame {
            header: Header {
                kind,
                codec,
                channels,
                seq: u32_at(buf, 8),
                first_frame: u64_at(buf, 12),
                server_us: u64_at(buf, 20),
                frames,
            },
            payload: buf[HEADER_LEN..HEADER_LEN + len].to_vec(),
        },
        total,
    )
}

/// The stream format announced in the greeting and in format frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Sample rate, Hz.
    pub rate: u32,
    /// Channels.
    pub channels: u32,
    /// Bit depth of the lossless stream.
    pub bits: u32,
}

impl Format {
    /// `rate=48000 channels=2 bits=24`.
    pub fn to_fields(self) -> String {
        format!(
            "rate={} channels={} bits={}",
            self.rate, self.channels, self.bits
        )
    }

    /// Parse `rate=… channels=… bits=…` (other keys ignored).
    pub fn parse_fields(s: &str) -> Option<Self> {
        let f = fields(s);
        let get = |k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.parse().ok())
        };
        let me = Self {
            rate: get("rate")?,
            channels: get("channels")?,
            bits: get("bits")?,
        };
        ((8_000..=384_000).contains(&me.rate)
            && (1..=8).contains(&me.channels)
            && matches!(me.bits, 16 | 24 | 32))
        .then_some(me)
    }
}

/// `key=value` pairs of a line.
fn fields(s: &str) -> Vec<(String, String)> {
    s.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The server's greeting line (without the newline).
pub fn greeting(f: Format) -> String {
    format!("LATHE-MONITOR {VERSION} {}", f.to_fields())
}

/// What a greeting line says: the server's protocol version, and its
/// format when the versions agree.
pub fn parse_greeting(line: &str) -> Result<Format, String> {
    let mut w = line.split_whitespace();
    if w.next() != Some("LATHE-MONITOR") {
        let shown: String = line
            .chars()
            .take(60)
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        return Err(format!(
            "the other side does not speak the lathe monitor protocol (it sent: {shown})"
        ));
    }
    let v: u32 = w
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or("malformed greeting")?;
    if v != VERSION {
        return Err(format!(
            "the server speaks monitor protocol {v}, this lathe speaks {VERSION}: run the same lathe version on both machines"
        ));
    }
    Format::parse_fields(line).ok_or_else(|| "malformed greeting".to_string())
}

/// The listener's hello line (without the newline).
pub fn hello(codec: Codec) -> String {
    format!("HELLO {VERSION} codec={}", codec.name())
}

/// The codec a hello line asks for, or why it is refused.
pub fn parse_hello(line: &str) -> Result<Codec, String> {
    let mut w = line.split_whitespace();
    if w.next() != Some("HELLO") {
        return Err("expected HELLO".into());
    }
    let v: u32 = w
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or("malformed HELLO")?;
    if v != VERSION {
        return Err(format!(
            "the listener speaks monitor protocol {v}, this lathe speaks {VERSION}: run the same lathe version on both machines"
        ));
    }
    let f = fields(line);
    let c = f
        .iter()
        .find(|(k, _)| k == "codec")
        .map_or("flac", |(_, v)| v.as_str());
    Codec::parse(c).ok_or_else(|| format!("unknown codec '{c}'"))
}

/// What a listener reports back several times a second.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    /// The last frame number received.
    pub received: u64,
    /// The frame number at the listener's output (its converter and device
    /// latency taken off).
    pub played: u64,
    /// Audio waiting in the listener's jitter buffer, ms.
    pub buffer_ms: f64,
    /// Underruns so far.
    pub underruns: u64,
    /// The clock difference being corrected, ppm (listener vs server).
    pub drift_ppm: f64,
    /// The listener's device latency, ms.
    pub device_ms: f64,
}

impl Report {
    /// The report line (without the newline).
    pub fn to_line(&self) -> String {
        format!(
            "R recv={} played={} buf_ms={:.1} under={} drift_ppm={:.1} dev_ms={:.1}",
            self.received,
            self.played,
            self.buffer_ms,
            self.underruns,
            self.drift_ppm,
            self.device_ms
        )
    }

    /// Parse a report line; None if it is not one.
    pub fn parse(line: &str) -> Option<Self> {
        if !line.starts_with("R ") {
            return None;
        }
        let f = fields(line);
        let num = |k: &str| -> Option<f64> {
            f.iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        Some(Self {
            received: num("recv")? as u64,
            played: num("played")? as u64,
            buffer_ms: num("buf_ms")?,
            underruns: num("under")? as u64,
            drift_ppm: num("drift_ppm")?,
            device_ms: num("dev_ms").unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(frames: u32) -> Header {
        Header {
            kind: Kind::Audio,
            codec: Codec::Flac,
            channels: 2,
            seq: 7,
            first_frame: 1 << 40,
            server_us: 123_456,
            frames,
        }
    }

    #[test]
    fn frames_round_trip_and_resynchronize() {
        let mut bytes = b"garbage".to_vec();
        write_frame(&header(480), &[1, 2, 3, 4, 5], &mut bytes);
        write_frame(&header(441), &[], &mut bytes);
        let mut at = 0;
        let mut got = Vec::new();
        let mut skipped = 0;
        while at < bytes.len() {
            match parse_frame(&bytes[at..]) {
                Parsed::Frame(f, n) => {
                    got.push(f);
                    at += n;
                }
                Parsed::Skip(n, _) => {
                    skipped += n;
                    at += n;
                }
                Parsed::Incomplete => break,
            }
        }
        assert_eq!(skipped, 7);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header, header(480));
        assert_eq!(got[0].payload, vec![1, 2, 3, 4, 5]);
        assert_eq!(got[1].header.frames, 441);
        // One flipped bit fails the checksum; the next frame is still found.
        let mut bad = bytes.clone();
        bad[7 + HEADER_LEN + 2] ^= 0x10;
        assert!(matches!(
            parse_frame(&bad[7..]),
            Parsed::Skip(_, "checksum mismatch")
        ));
        // Every truncation is incomplete, never a panic or a false frame.
        for cut in 0..HEADER_LEN + 9 {
            assert_eq!(parse_frame(&bytes[7..7 + cut]), Parsed::Incomplete, "{cut}");
        }
    }

    /// Random bytes, and valid streams with random damage, parsed as the
    /// listener parses them: never a panic, never a frame with a bad
    /// checksum, and undamaged frames after the damage still found.
    #[test]
    fn the_parser_survives_fuzzing() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let mut bytes = Vec::new();
            let frames = (rnd() % 6) as usize;
            for k in 0..frames {
                let payload: Vec<u8> = (0..rnd() % 300).map(|_| rnd() as u8).collect();
                write_frame(&header(480 + k as u32), &payload, &mut bytes);
            }
            let good = bytes.len();
            match round % 3 {
                0 => bytes = (0..rnd() % 4000).map(|_| rnd() as u8).collect(),
                1 => {
                    for _ in 0..1 + rnd() % 8 {
                        if !bytes.is_empty() {
                            let i = (rnd() as usize) % bytes.len();
                            bytes[i] ^= 1 << (rnd() % 8);
                        }
                    }
                }
                _ => bytes.truncate((rnd() as usize) % (good + 1)),
            }
            let mut at = 0;
            let mut found = 0;
            while at < bytes.len() {
                match parse_frame(&bytes[at..]) {
                    Parsed::Frame(f, n) => {
                        assert!(f.header.frames >= 480 && n > HEADER_LEN);
                        found += 1;
                        at += n;
                    }
                    Parsed::Skip(n, _) => {
                        assert!(n > 0, "progress");
                        at += n;
                    }
                    Parsed::Incomplete => break,
                }
            }
            if round % 3 == 2 {
                assert!(found <= frames);
            }
        }
    }

    #[test]
    fn lines_and_versions() {
        let f = Format {
            rate: 44_100,
            channels: 2,
            bits: 24,
        };
        assert_eq!(parse_greeting(&greeting(f)), Ok(f));
        let old = "LATHE-MONITOR 2 rate=48000 channels=2 bits=24";
        assert!(parse_greeting(old).is_err_and(|e| e.contains("protocol 2")));
        assert!(parse_greeting("SSH-2.0-OpenSSH").is_err());
        assert_eq!(parse_hello(&hello(Codec::Pcm)), Ok(Codec::Pcm));
        assert!(parse_hello("HELLO 9 codec=flac").is_err_and(|e| e.contains("protocol 9")));
        let r = Report {
            received: 480_000,
            played: 470_000,
            buffer_ms: 40.0,
            underruns: 2,
            drift_ppm: -12.5,
            device_ms: 10.0,
        };
        assert_eq!(Report::parse(&r.to_line()), Some(r));
        assert_eq!(Report::parse("R recv=nan"), None);
    }
}
