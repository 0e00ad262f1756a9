//! Lossy round trips for the codec check ([`crate::analysis::codec`]): a
//! master encoded to AAC, MP3 or Opus and decoded back to `f32` **without
//! clamping**, streamed block by block (no temporary files, memory flat
//! with length).
//!
//! - Opus: libopus in process (the `opus` binding, linked dynamically),
//!   always at 48 kHz, 20 ms frames.
//! - MP3: LAME (`libmp3lame.so.0`, loaded at run time so the LGPL library
//!   stays a separate, replaceable shared object, and a machine without it
//!   loses only this codec), constant bit rate; the MP3 stream goes through
//!   a pipe to symphonia's decoder.
//! - AAC: ffmpeg's native `aac` encoder and its decoder, two processes
//!   joined by a pipe, raw `f32` in and out.
//!
//! Each codec runs at its coding rate ([`CodecSpec::coding_rate`]): the
//! source is converted first if its rate is not one the codec takes, as a
//! streaming service does.

use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::AudioBlock;
use super::decode::{AudioSource, FileSource};
use super::resample::Resampler;
use crate::error::{LatheError, Result};

/// A lossy codec the check can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecKind {
    /// AAC-LC through ffmpeg's native encoder.
    Aac,
    /// MPEG-1 Layer III through LAME.
    Mp3,
    /// Opus through libopus.
    Opus,
}

/// A codec at a bit rate, written `aac-256`, `mp3-320`, `opus-160`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecSpec {
    /// The codec.
    pub kind: CodecKind,
    /// Bit rate, kb/s (96 to 320).
    pub kbps: u32,
}

/// The lowest bit rate a codec check takes, kb/s.
pub const MIN_KBPS: u32 = 96;
/// The highest bit rate a codec check takes, kb/s.
pub const MAX_KBPS: u32 = 320;

/// MPEG-1 Layer III's constant bit rates from 96 kb/s up, kb/s.
const MP3_RATES_KBPS: [u32; 7] = [96, 112, 128, 160, 192, 256, 320];

impl CodecSpec {
    /// Parse `aac-256`, `mp3-320` or `opus-160` (96 to 320 kb/s; MP3 at
    /// one of its standard rates).
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("codec '{s}': use aac-KBPS, mp3-KBPS or opus-KBPS, e.g. aac-256");
        let (name, rate) = s.trim().split_once('-').ok_or_else(bad)?;
        let kind = match name.to_ascii_lowercase().as_str() {
            "aac" => CodecKind::Aac,
            "mp3" => CodecKind::Mp3,
            "opus" => CodecKind::Opus,
            _ => return Err(bad()),
        };
        let kbps: u32 = rate.parse().map_err(|_| bad())?;
        if !(MIN_KBPS..=MAX_KBPS).contains(&kbps) {
            return Err(format!(
                "codec '{s}': bit rate {kbps} kb/s is outside {MIN_KBPS}..={MAX_KBPS}"
            ));
        }
        if kind == CodecKind::Mp3 && !MP3_RATES_KBPS.contains(&kbps) {
            return Err(format!(
                "codec '{s}': MP3 has no {kbps} kb/s; use one of 96, 112, 128, 160, 192, 256, 320"
            ));
        }
        Ok(Self { kind, kbps })
    }

    /// The rate the codec runs at for a source at `source_rate` Hz, Hz:
    /// Opus always 48 kHz; MP3 and AAC the source's rate if it is 32, 44.1
    /// or 48 kHz, else 44.1 kHz (multiples of 11,025 Hz) or 48 kHz.
    pub fn coding_rate(&self, source_rate: u32) -> u32 {
        match self.kind {
            CodecKind::Opus => 48_000,
            CodecKind::Mp3 | CodecKind::Aac => match source_rate {
                32_000 | 44_100 | 48_000 => source_rate,
                r if r % 11_025 == 0 => 44_100,
                _ => 48_000,
            },
        }
    }

    /// The delay its makers document, frames at the coding rate: LAME's
    /// 576 encoder + 529 decoder samples, AAC's 1,024 priming samples,
    /// Opus's 6.5 ms lookahead (312 at 48 kHz). The check measures the
    /// delay; this only breaks ties on periodic signals.
    pub fn expected_delay(&self) -> i64 {
        match self.kind {
            CodecKind::Mp3 => 1105,
            CodecKind::Aac => 1024,
            CodecKind::Opus => 312,
        }
    }

    /// What encodes and decodes this codec here (with its version), or why
    /// it cannot run on this machine.
    pub fn encoder(&self) -> std::result::Result<String, String> {
        match self.kind {
            CodecKind::Opus => Ok(format!("{} (in process)", opus::version())),
            CodecKind::Mp3 => {
                lame().map(|l| format!("LAME {} (in process), symphonia decoder", l.version))
            }
            CodecKind::Aac => ffmpeg_version().map(|v| format!("ffmpeg {v} native aac")),
        }
    }
}

impl fmt::Display for CodecSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.kind {
            CodecKind::Aac => "aac",
            CodecKind::Mp3 => "mp3",
            CodecKind::Opus => "opus",
        };
        write!(f, "{name}-{}", self.kbps)
    }
}

impl std::str::FromStr for CodecSpec {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::parse(s)
    }
}

/// Frames read from the source per block.
const BLOCK: usize = 4096;

/// A source file read in blocks at a chosen rate (converted by lathe's
/// resampler when it differs from the file's).
pub struct RateReader {
    src: FileSource,
    rs: Option<Resampler>,
    block: AudioBlock,
    out: Vec<Vec<f32>>,
    done: bool,
}

impl RateReader {
    /// Open `path` to be read at `rate` Hz.
    pub fn open(path: &Path, rate: u32) -> Result<Self> {
        let src = FileSource::open(path)?;
        let info = src.info().clone();
        let rs = if info.sample_rate == rate {
            None
        } else {
            Some(Resampler::new(info.sample_rate, rate, info.channels)?)
        };
        Ok(Self {
            src,
            rs,
            block: AudioBlock::new(info.channels, BLOCK),
            out: vec![Vec::new(); info.channels],
            done: false,
        })
    }

    /// The file's channel count.
    pub fn channels(&self) -> usize {
        self.block.num_channels()
    }

    /// The next block (one `Vec` per channel, all the same length), or
    /// `None` at the end.
    pub fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>> {
        loop {
            if self.done {
                return Ok(None);
            }
            for c in &mut self.out {
                c.clear();
            }
            let n = self.src.read(&mut self.block)?;
            match (&mut self.rs, n) {
                (None, 0) => self.done = true,
                (None, n) => {
                    for (o, c) in self.out.iter_mut().zip(&self.block.channels) {
                        o.extend_from_slice(&c[..n]);
                    }
                }
                (Some(rs), 0) => {
                    rs.finish(&mut self.out)?;
                    self.done = true;
                }
                (Some(rs), _) => rs.process(&self.block, &mut self.out)?,
            }
            if self.out.first().is_some_and(|c| !c.is_empty()) {
                return Ok(Some(&self.out));
            }
        }
    }
}

/// Encode the file at `path` with `spec` and decode it again, handing the
/// decoded audio (planar, at [`CodecSpec::coding_rate`], the codec's delay
/// included) to `sink` block by block. Errors name the file and codec.
pub fn round_trip(
    spec: CodecSpec,
    path: &Path,
    sink: &mut dyn FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<()> {
    let src = FileSource::open(path)?;
    let info = src.info().clone();
    drop(src);
    if !(1..=2).contains(&info.channels) {
        return Err(LatheError::Invalid(format!(
            "{}: {spec}: the codec check takes mono or stereo, not {} channels",
            path.display(),
            info.channels
        )));
    }
    let rate = spec.coding_rate(info.sample_rate);
    let fail = failure(path, spec);
    spec.encoder().map_err(fail)?;
    match spec.kind {
        CodecKind::Opus => opus_trip(spec, path, rate, sink),
        CodecKind::Mp3 => mp3_trip(spec, path, rate, sink),
        CodecKind::Aac => aac_trip(spec, path, rate, info.channels, sink),
    }
}

/// An error of `spec`'s check of `path`: `PATH: CODEC: why`.
fn failure(path: &Path, spec: CodecSpec) -> impl Fn(String) -> LatheError + Copy + '_ {
    move |why| LatheError::Invalid(format!("{}: {spec}: {why}", path.display()))
}

/// Opus frames: 20 ms at 48 kHz.
const OPUS_FRAME: usize = 960;

fn opus_trip(
    spec: CodecSpec,
    path: &Path,
    rate: u32,
    sink: &mut dyn FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<()> {
    let fail = failure(path, spec);
    let mut reader = RateReader::open(path, rate)?;
    let ch = reader.channels();
    let layout = if ch == 1 {
        opus::Channels::Mono
    } else {
        opus::Channels::Stereo
    };
    let mut enc = opus::Encoder::new(rate, layout, opus::Application::Audio)
        .map_err(|e| fail(format!("libopus encoder: {e}")))?;
    enc.set_bitrate(opus::Bitrate::Bits(spec.kbps as i32 * 1000))
        .map_err(|e| fail(format!("libopus encoder: {e}")))?;
    let lookahead = enc
        .get_lookahead()
        .map_err(|e| fail(format!("libopus encoder: {e}")))?
        .max(0) as usize;
    let mut dec =
        opus::Decoder::new(rate, layout).map_err(|e| fail(format!("libopus decoder: {e}")))?;
    let mut pending: Vec<f32> = Vec::with_capacity(OPUS_FRAME * ch * 2);
    let mut packet = vec![0u8; 4000];
    let mut decoded = vec![0f32; OPUS_FRAME * ch];
    let mut planar = vec![Vec::with_capacity(OPUS_FRAME); ch];
    let mut code = |frame: &[f32], planar: &mut Vec<Vec<f32>>| -> Result<()> {
        let len = enc
            .encode_float(frame, &mut packet)
            .map_err(|e| fail(format!("libopus encoder: {e}")))?;
        let n = dec
            .decode_float(&packet[..len], &mut decoded, false)
            .map_err(|e| fail(format!("libopus decoder: {e}")))?;
        for (c, p) in planar.iter_mut().enumerate() {
            p.clear();
            p.extend(decoded[..n * ch].iter().skip(c).step_by(ch));
        }
        sink(planar)
    };
    while let Some(block) = reader.next_block()? {
        let frames = block[0].len();
        for i in 0..frames {
            for c in block {
                pending.push(c[i]);
            }
        }
        let whole = pending.len() / (OPUS_FRAME * ch) * OPUS_FRAME * ch;
        for frame in pending[..whole].chunks_exact(OPUS_FRAME * ch) {
            code(frame, &mut planar)?;
        }
        pending.drain(..whole);
    }
    // The last partial frame, then enough silence to push the encoder's
    // lookahead out.
    let tail = pending.len() / ch + lookahead;
    pending.resize(tail.div_ceil(OPUS_FRAME) * OPUS_FRAME * ch, 0.0);
    for frame in pending.chunks_exact(OPUS_FRAME * ch) {
        code(frame, &mut planar)?;
    }
    Ok(())
}

/// The parts of LAME's C interface the check uses, loaded from
/// `libmp3lame.so.0` at run time.
struct Lame {
    _lib: libloading::Library,
    version: String,
    init: unsafe extern "C" fn() -> *mut std::ffi::c_void,
    set_in_rate: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    set_out_rate: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    set_channels: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    set_brate: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    set_quality: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    set_vbr_tag: unsafe extern "C" fn(*mut std::ffi::c_void, i32) -> i32,
    init_params: unsafe extern "C" fn(*mut std::ffi::c_void) -> i32,
    #[allow(clippy::type_complexity)]
    encode: unsafe extern "C" fn(
        *mut std::ffi::c_void,
        *const f32,
        *const f32,
        i32,
        *mut u8,
        i32,
    ) -> i32,
    flush: unsafe extern "C" fn(*mut std::ffi::c_void, *mut u8, i32) -> i32,
    close: unsafe extern "C" fn(*mut std::ffi::c_void) -> i32,
}

/// The LAME shared library's file name (the environment variable
/// `LATHE_LAME_LIBRARY` names another).
pub const LAME_LIBRARY: &str = "libmp3lame.so.0";

fn lame() -> std::result::Result<&'static Lame, String> {
    static LAME: OnceLock<std::result::Result<Lame, String>> = OnceLock::new();
    LAME.get_or_init(load_lame).as_ref().map_err(Clone::clone)
}

fn load_lame() -> std::result::Result<Lame, String> {
    let name = std::env::var("LATHE_LAME_LIBRARY").unwrap_or_else(|_| LAME_LIBRARY.to_string());
    let missing = |e: libloading::Error| {
        format!("LAME is not installed ({e}); install it with: apt-get install libmp3lame0")
    };
    // SAFETY: loading LAME runs no initialisation code with preconditions;
    // each symbol is looked up with the signature lame.h declares for it.
    unsafe {
        let lib = libloading::Library::new(&name).map_err(missing)?;
        macro_rules! sym {
            ($name:literal) => {
                *lib.get($name).map_err(missing)?
            };
        }
        let get_version: unsafe extern "C" fn() -> *const std::ffi::c_char =
            sym!(b"get_lame_version\0");
        let v = get_version();
        let version = if v.is_null() {
            "?".to_string()
        } else {
            std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned()
        };
        Ok(Lame {
            version,
            init: sym!(b"lame_init\0"),
            set_in_rate: sym!(b"lame_set_in_samplerate\0"),
            set_out_rate: sym!(b"lame_set_out_samplerate\0"),
            set_channels: sym!(b"lame_set_num_channels\0"),
            set_brate: sym!(b"lame_set_brate\0"),
            set_quality: sym!(b"lame_set_quality\0"),
            set_vbr_tag: sym!(b"lame_set_bWriteVbrTag\0"),
            init_params: sym!(b"lame_init_params\0"),
            encode: sym!(b"lame_encode_buffer_ieee_float\0"),
            flush: sym!(b"lame_encode_flush\0"),
            close: sym!(b"lame_close\0"),
            _lib: lib,
        })
    }
}

/// One LAME encoder (closed on drop).
struct LameEncoder {
    lame: &'static Lame,
    handle: *mut std::ffi::c_void,
    out: Vec<u8>,
}

impl LameEncoder {
    /// LAME's quality setting: 3, the default of LAME's own command line
    /// and of ffmpeg (2 takes 2.5 times as long for the same bit rate).
    const QUALITY: i32 = 3;

    fn new(rate: u32, channels: usize, kbps: u32) -> std::result::Result<Self, String> {
        let lame = lame()?;
        // SAFETY: the handle comes from lame_init and is checked for null;
        // the setters take it and plain integers.
        unsafe {
            let handle = (lame.init)();
            if handle.is_null() {
                return Err("LAME could not start an encoder".into());
            }
            let enc = Self {
                lame,
                handle,
                out: Vec::new(),
            };
            let ok = (lame.set_in_rate)(handle, rate as i32) == 0
                && (lame.set_out_rate)(handle, rate as i32) == 0
                && (lame.set_channels)(handle, channels as i32) == 0
                && (lame.set_brate)(handle, kbps as i32) == 0
                && (lame.set_quality)(handle, Self::QUALITY) == 0
                && (lame.set_vbr_tag)(handle, 0) == 0
                && (lame.init_params)(handle) >= 0;
            if !ok {
                return Err(format!(
                    "LAME refused {rate} Hz, {channels} ch, {kbps} kb/s"
                ));
            }
            Ok(enc)
        }
    }

    /// Encode planar float (±1.0 full scale; louder values are kept);
    /// returns the MP3 bytes produced.
    fn encode(&mut self, block: &[Vec<f32>]) -> std::result::Result<&[u8], String> {
        let n = block[0].len();
        let right = block.get(1).unwrap_or(&block[0]);
        let cap = n + n / 4 + 7200;
        self.out.resize(cap, 0);
        // SAFETY: both channel pointers hold `n` samples; `out` holds `cap`
        // bytes, LAME's documented worst case (1.25 n + 7200).
        let got = unsafe {
            (self.lame.encode)(
                self.handle,
                block[0].as_ptr(),
                right.as_ptr(),
                n as i32,
                self.out.as_mut_ptr(),
                cap as i32,
            )
        };
        if got < 0 {
            return Err(format!("LAME encoding failed (code {got})"));
        }
        Ok(&self.out[..got as usize])
    }

    fn flush(&mut self) -> std::result::Result<&[u8], String> {
        self.out.resize(7200, 0);
        // SAFETY: `out` holds the 7,200 bytes lame.h asks for.
        let got = unsafe { (self.lame.flush)(self.handle, self.out.as_mut_ptr(), 7200) };
        if got < 0 {
            return Err(format!("LAME flush failed (code {got})"));
        }
        Ok(&self.out[..got as usize])
    }
}

impl Drop for LameEncoder {
    fn drop(&mut self) {
        // SAFETY: the handle came from lame_init and is closed once.
        unsafe {
            (self.lame.close)(self.handle);
        }
    }
}

// SAFETY: a LAME handle is plain heap state owned by one encoder; it is
// used from one thread at a time (moved into the encoding thread).
unsafe impl Send for LameEncoder {}

fn mp3_trip(
    spec: CodecSpec,
    path: &Path,
    rate: u32,
    sink: &mut dyn FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<()> {
    let fail = failure(path, spec);
    let mut reader = RateReader::open(path, rate)?;
    let mut enc = LameEncoder::new(rate, reader.channels(), spec.kbps).map_err(fail)?;
    let (pipe_in, pipe_out) =
        std::io::pipe().map_err(|e| fail(format!("cannot make a pipe: {e}")))?;
    let label = format!("{} ({spec})", path.display());
    std::thread::scope(|s| {
        let writer = s.spawn(move || -> Result<()> {
            let mut pipe_out = pipe_out;
            // A closed pipe means the decoding side stopped: its error
            // (or its end) is the one to report.
            while let Some(block) = reader.next_block()? {
                let bytes = enc.encode(block).map_err(fail)?;
                if pipe_out.write_all(bytes).is_err() {
                    return Ok(());
                }
            }
            let bytes = enc.flush().map_err(fail)?;
            let _ = pipe_out.write_all(bytes);
            Ok(())
        });
        let decoded = (|| -> Result<()> {
            let mut dec = FileSource::from_reader(Path::new(&label), pipe_in, "mp3")?;
            let mut block = AudioBlock::new(dec.info().channels, BLOCK);
            let mut planar = vec![Vec::new(); dec.info().channels];
            loop {
                let n = dec.read(&mut block)?;
                if n == 0 {
                    return Ok(());
                }
                for (p, c) in planar.iter_mut().zip(&block.channels) {
                    p.clear();
                    p.extend_from_slice(&c[..n]);
                }
                sink(&planar)?;
            }
        })();
        let wrote = writer
            .join()
            .unwrap_or_else(|_| Err(fail("the encoding thread stopped".into())));
        // The encoder's own error explains a decoder that saw the stream end.
        wrote.and(decoded)
    })
}

fn ffmpeg_version() -> std::result::Result<String, String> {
    static VERSION: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let out = Command::new("ffmpeg")
                .arg("-version")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map_err(|e| {
                    format!("ffmpeg is not installed ({e}); AAC is encoded with ffmpeg's aac encoder: apt-get install ffmpeg")
                })?;
            let text = String::from_utf8_lossy(&out.stdout);
            let v = text
                .split_whitespace()
                .nth(2)
                .unwrap_or("(unknown version)")
                .to_string();
            Ok(v)
        })
        .clone()
}

fn aac_trip(
    spec: CodecSpec,
    path: &Path,
    rate: u32,
    channels: usize,
    sink: &mut dyn FnMut(&[Vec<f32>]) -> Result<()>,
) -> Result<()> {
    let fail = failure(path, spec);
    let mut reader = RateReader::open(path, rate)?;
    let rate_s = rate.to_string();
    let ch_s = channels.to_string();
    let bitrate = format!("{}k", spec.kbps);
    let mut encoder = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar"])
        .args([&rate_s, "-ac", &ch_s, "-i", "pipe:0", "-c:a", "aac", "-b:a"])
        .args([&bitrate, "-f", "adts", "pipe:1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start ffmpeg: {e}")))?;
    let (Some(mut enc_in), Some(enc_out), Some(enc_err)) = (
        encoder.stdin.take(),
        encoder.stdout.take(),
        encoder.stderr.take(),
    ) else {
        return Err(fail("ffmpeg's pipes are missing".into()));
    };
    let mut decoder = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "aac", "-i"])
        .args(["pipe:0", "-f", "f32le", "-ac", &ch_s, "pipe:1"])
        .stdin(Stdio::from(enc_out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start ffmpeg: {e}")))?;
    let (Some(dec_out), Some(dec_err)) = (decoder.stdout.take(), decoder.stderr.take()) else {
        let _ = encoder.kill();
        let _ = decoder.kill();
        return Err(fail("ffmpeg's pipes are missing".into()));
    };
    let result = std::thread::scope(|s| {
        let read_err = |mut e: std::process::ChildStderr| {
            move || {
                let mut text = String::new();
                let _ = e.read_to_string(&mut text);
                text
            }
        };
        let enc_log = s.spawn(read_err(enc_err));
        let dec_log = s.spawn(read_err(dec_err));
        let writer = s.spawn(move || -> Result<()> {
            let mut bytes = Vec::new();
            while let Some(block) = reader.next_block()? {
                bytes.clear();
                for i in 0..block[0].len() {
                    for c in block {
                        bytes.extend_from_slice(&c[i].to_le_bytes());
                    }
                }
                if enc_in.write_all(&bytes).is_err() {
                    // ffmpeg stopped: its log says why.
                    return Ok(());
                }
            }
            Ok(())
        });
        // The decoder's output is owned here and closed when this returns,
        // even on an error: ffmpeg then stops on a broken pipe, and so does
        // the feeding thread, instead of all three waiting on each other.
        let decoded = (move || -> Result<()> {
            let mut dec_out = dec_out;
            let mut buf = vec![0u8; BLOCK * channels * 4];
            let mut have = 0usize;
            let mut planar = vec![Vec::with_capacity(BLOCK); channels];
            loop {
                let n = dec_out
                    .read(&mut buf[have..])
                    .map_err(|e| fail(format!("reading ffmpeg's output: {e}")))?;
                have += n;
                let whole = have / (4 * channels) * (4 * channels);
                if whole > 0 && (n == 0 || have == buf.len()) {
                    for p in planar.iter_mut() {
                        p.clear();
                    }
                    for (i, b) in buf[..whole].chunks_exact(4).enumerate() {
                        planar[i % channels].push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    }
                    sink(&planar)?;
                    buf.copy_within(whole..have, 0);
                    have -= whole;
                }
                if n == 0 {
                    return Ok(());
                }
            }
        })();
        let wrote = writer
            .join()
            .unwrap_or_else(|_| Err(fail("the feeding thread stopped".into())));
        let logs = [enc_log, dec_log].map(|h| h.join().unwrap_or_default());
        (wrote.and(decoded), logs)
    });
    let (result, logs) = result;
    let enc_status = encoder.wait();
    let dec_status = decoder.wait();
    result?;
    for (status, log, what) in [
        (enc_status, &logs[0], "encoder"),
        (dec_status, &logs[1], "decoder"),
    ] {
        let ok = status.as_ref().is_ok_and(|s| s.success());
        if !ok {
            let line = log.lines().last().unwrap_or("exited with an error").trim();
            return Err(fail(format!("ffmpeg's {what} failed: {line}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let s = CodecSpec::parse("aac-256").unwrap();
        assert_eq!(
            s,
            CodecSpec {
                kind: CodecKind::Aac,
                kbps: 256
            }
        );
        assert_eq!(s.to_string(), "aac-256");
        assert_eq!(
            CodecSpec::parse("OPUS-160").unwrap().to_string(),
            "opus-160"
        );
        for bad in ["aac", "flac-256", "mp3-330", "opus-64", "aac-x", "mp3-200"] {
            assert!(CodecSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coding_rates() {
        let mp3 = CodecSpec::parse("mp3-320").unwrap();
        let opus = CodecSpec::parse("opus-160").unwrap();
        assert_eq!(mp3.coding_rate(44_100), 44_100);
        assert_eq!(mp3.coding_rate(88_200), 44_100);
        assert_eq!(mp3.coding_rate(96_000), 48_000);
        assert_eq!(opus.coding_rate(44_100), 48_000);
    }
}
