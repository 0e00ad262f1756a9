//! Decoding with symphonia: probe, pick the audio track, decode in blocks to
//! planar `f32`, seek to an exact frame.
//!
//! [`AudioSource`] is the one abstraction the analyzer, the chain, the renderer
//! and the playback engine read from. A file is never decoded whole into
//! memory: [`FileSource`] keeps at most one decoded packet buffered.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::Timestamp;

use super::AudioBlock;
use super::opus::{OPUS_RATE, OpusDecoder, OpusHead, SEEK_PREROLL};
use crate::error::{LatheError, Result};

/// The highest sample rate lathe accepts, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// The lowest sample rate lathe accepts, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// The most channels lathe decodes.
pub const MAX_CHANNELS: usize = 8;

/// What is known about a source before reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: usize,
    /// Total length in frames, when the container says.
    pub total_frames: Option<u64>,
    /// Container and codec, e.g. `wav/pcm_s24le`.
    pub format: String,
    /// Bits per sample of the stored PCM, when it has one (lossless and PCM
    /// formats; never for lossy codecs, whose containers may name a bogus depth).
    pub bits_per_sample: Option<u32>,
    /// True for lossy codecs (MP3, AAC, Vorbis, Opus), whose info line gives
    /// the bit rate instead of a bit depth.
    pub lossy: bool,
    /// The encoder's input sample rate in Hz where the file records it and it
    /// differs from the decoded rate (Opus always decodes at 48 kHz).
    pub input_sample_rate: Option<u32>,
    /// Loudness weight per channel for BS.1770 (1.0 front, 1.41 surround, 0.0 LFE).
    pub channel_weights: Vec<f64>,
}

/// A stream of planar `f32` audio that can be read in blocks and sought.
pub trait AudioSource: Send {
    /// Format, rate and channel layout of the stream.
    fn info(&self) -> &SourceInfo;

    /// Fill `out` with up to `out.capacity()` frames; returns the number of
    /// frames read (also stored in `out.frames`). 0 means the end of the stream.
    fn read(&mut self, out: &mut AudioBlock) -> Result<usize>;

    /// Move so that the next [`read`](Self::read) starts exactly at `frame`.
    fn seek(&mut self, frame: u64) -> Result<()>;

    /// Warnings collected while reading (e.g. a header that claims more data
    /// than the file holds). Drained by the caller.
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// The codec behind a [`FileSource`]: one of symphonia's, or libopus.
enum Codec {
    Symphonia(Box<dyn AudioDecoder>),
    Opus(OpusStream),
}

/// Opus decoding state: where the decoded stream stands relative to the real
/// first sample (the header's pre-skip is dropped, as ffmpeg does).
struct OpusStream {
    decoder: OpusDecoder,
    pre_skip: u64,
    /// Ogg packets carry sample-exact timestamps (granule positions);
    /// Matroska's are in milliseconds, so there the position is counted from
    /// the start of the stream and seeking decodes from the start.
    exact_pts: bool,
    /// Where the stream starts on the packets' timeline: the first audio
    /// page's start granule in Ogg (usually 0; not always after a remux),
    /// 0 in Matroska.
    start_at: i64,
    /// End of the last decoded packet on the packets' timeline (Ogg), or
    /// frames decoded since the stream start (Matroska).
    decoded: u64,
    /// Whether a gap in the stream (damaged pages) was already reported.
    gap_reported: bool,
    /// Frames to drop from the end of the last packet (Matroska's
    /// `DiscardPadding`; Ogg marks its end trim on the packet itself).
    end_padding: u64,
}

/// A decoded audio file.
pub struct FileSource {
    path: PathBuf,
    info: SourceInfo,
    format: Box<dyn FormatReader>,
    decoder: Codec,
    track_id: u32,
    /// Seconds per timestamp tick divided into frames: frames = ts * ts_to_frames.
    ts_to_frames: f64,
    pending: Vec<Vec<f32>>,
    pending_pos: usize,
    pending_len: usize,
    /// Frame index of the next frame `read` returns.
    position: u64,
    /// True after a seek until the packet holding the target frame arrives.
    seeking: bool,
    frames_decoded_total: u64,
    decode_errors: u64,
    ended: bool,
    warnings: Vec<String>,
    /// A packet read ahead to learn whether the current one is the last.
    peeked: Option<std::result::Result<Option<Packet>, SymError>>,
}

/// Open `path` for decoding. Errors name the file and the reason in one line.
pub fn open_source(path: &Path) -> Result<FileSource> {
    FileSource::open(path)
}

/// Map a symphonia channel layout to BS.1770 channel weights (LFE 0, surround 1.41).
fn channel_weights(channels: &symphonia::core::audio::Channels, count: usize) -> Vec<f64> {
    use symphonia::core::audio::{Channels, Position};
    match channels {
        Channels::Positioned(pos) => {
            let mut weights = Vec::with_capacity(count);
            for p in pos.iter() {
                let w = if p.intersects(Position::LFE1 | Position::LFE2) {
                    0.0
                } else if p.intersects(
                    Position::SIDE_LEFT
                        | Position::SIDE_RIGHT
                        | Position::REAR_LEFT
                        | Position::REAR_RIGHT
                        | Position::REAR_CENTER,
                ) {
                    1.41
                } else {
                    1.0
                };
                weights.push(w);
            }
            weights.resize(count, 1.0);
            weights
        }
        _ => default_weights(count),
    }
}

/// BS.1770 weights for a channel count without a layout, in the usual
/// L R C LFE Ls Rs order for 5.1 and L R C Ls Rs for 5.0.
pub fn default_weights(count: usize) -> Vec<f64> {
    match count {
        5 => vec![1.0, 1.0, 1.0, 1.41, 1.41],
        6 => vec![1.0, 1.0, 1.0, 0.0, 1.41, 1.41],
        n => vec![1.0; n],
    }
}

fn sym_reason(e: &SymError) -> String {
    match e {
        SymError::Unsupported(what) => format!("unsupported format or codec ({what})"),
        SymError::DecodeError(what) => format!("malformed audio data ({what})"),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "file is truncated (ended while reading its header)".to_string()
        }
        other => other.to_string(),
    }
}

impl FileSource {
    /// Open and probe `path`; see [`open_source`].
    pub fn open(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| LatheError::open(path, io_reason(&e)))?;
        if meta.is_dir() {
            if super::ddp::is_fileset(path) {
                // A DDP fileset: its IMAGE.DAT, read as 16-bit 44.1 kHz PCM.
                let media = Box::new(super::ddp::ImageAsWav::open(path)?);
                return Self::from_media(path, media, Some("wav"), None, true, Vec::new());
            }
            return Err(LatheError::open(path, "is a directory, not an audio file"));
        }
        if meta.len() == 0 {
            return Err(LatheError::decode(path, "file is empty"));
        }
        let mut file = File::open(path).map_err(|e| LatheError::open(path, io_reason(&e)))?;
        let wav = super::riff::inspect(&mut file, meta.len());
        let mkv = match wav {
            Some(_) => None,
            None => super::mkv::inspect(&file, meta.len()),
        };
        let mut warnings = Vec::new();
        if mkv.as_ref().is_some_and(|m| m.truncated) {
            warnings.push(format!(
                "{}: file ends before its Matroska header says; read to its end",
                path.display()
            ));
        }
        let media: Box<dyn symphonia::core::io::MediaSource> = match &wav {
            Some(layout) if layout.data_size_patched() => {
                warnings.push(format!(
                    "{}: file ends before its header says; read to its end ({} frames)",
                    path.display(),
                    layout.actual_frames()
                ));
                let patches = layout
                    .patches
                    .iter()
                    .map(|(at, b)| (*at, b.to_vec()))
                    .collect();
                Box::new(
                    super::riff::PatchedFile::new(file, meta.len(), patches)
                        .map_err(|e| LatheError::open(path, io_reason(&e)))?,
                )
            }
            _ if mkv.as_ref().is_some_and(|m| !m.patches.is_empty()) => {
                let patches = mkv.as_ref().map(|m| m.patches.clone()).unwrap_or_default();
                Box::new(
                    super::riff::PatchedFile::new(file, meta.len(), patches)
                        .map_err(|e| LatheError::open(path, io_reason(&e)))?
                        .forward_only(),
                )
            }
            _ => {
                use std::io::Seek;
                file.rewind()
                    .map_err(|e| LatheError::open(path, io_reason(&e)))?;
                Box::new(file)
            }
        };
        let ext = path.extension().and_then(|e| e.to_str());
        let wav_without_mask = wav.as_ref().is_some_and(|w| w.channel_mask.is_none());
        Self::from_media(path, media, ext, mkv, wav_without_mask, warnings)
    }

    /// Decode a stream that cannot seek (a pipe from an encoder): `label`
    /// names it in errors, `extension` (e.g. `mp3`) hints at its format.
    /// Reads block until the writer writes or closes its end.
    pub fn from_reader(
        label: &Path,
        reader: impl std::io::Read + Send + Sync + 'static,
        extension: &str,
    ) -> Result<Self> {
        let media = Box::new(symphonia::core::io::ReadOnlySource::new(reader));
        Self::from_media(label, media, Some(extension), None, false, Vec::new())
    }

    fn from_media(
        path: &Path,
        media: Box<dyn symphonia::core::io::MediaSource>,
        extension: Option<&str>,
        mkv: Option<super::mkv::MkvLayout>,
        wav_without_mask: bool,
        warnings: Vec<String>,
    ) -> Result<Self> {
        let mss = MediaSourceStream::new(media, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| {
                LatheError::decode(
                    path,
                    format!("not a readable audio file: {}", sym_reason(&e)),
                )
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or_else(|| LatheError::decode(path, "contains no audio track"))?;
        let track_id = track.id;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| LatheError::decode(path, "audio track has no codec parameters"))?
            .clone();
        let opus_head = if params.codec == CODEC_ID_OPUS {
            let extra = params.extra_data.as_deref().unwrap_or(&[]);
            Some(OpusHead::parse(extra).map_err(|why| LatheError::decode(path, why))?)
        } else {
            None
        };
        let sample_rate = match &opus_head {
            Some(_) => OPUS_RATE,
            None => params.sample_rate.unwrap_or(0),
        };
        if sample_rate == 0 {
            return Err(LatheError::decode(path, "sample rate is zero or missing"));
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(LatheError::decode(
                path,
                format!("sample rate {sample_rate} Hz is outside 8000..=384000 Hz"),
            ));
        }
        let ch_layout = params.channels.clone();
        let channels = match &opus_head {
            Some(h) => h.channels,
            None => ch_layout.as_ref().map_or(0, |c| c.count()),
        };
        if channels == 0 {
            return Err(LatheError::decode(path, "has zero channels"));
        }
        if channels > MAX_CHANNELS {
            return Err(LatheError::decode(
                path,
                format!("has {channels} channels; lathe reads 1 to {MAX_CHANNELS}"),
            ));
        }
        // A WAV without a channel mask names no layout: symphonia then
        // assumes the first N speaker positions (channel 5 would be LFE), so
        // use the usual order instead, as ffmpeg and libebur128 do.
        let weights = match (&opus_head, &ch_layout) {
            (Some(h), _) => h.channel_weights(),
            (None, Some(c)) if !wav_without_mask => channel_weights(c, channels),
            _ => default_weights(channels),
        };
        let ts_to_frames = match track.time_base {
            Some(tb) => {
                f64::from(tb.numer.get()) / f64::from(tb.denom.get()) * f64::from(sample_rate)
            }
            None => 1.0,
        };
        let mut total_frames = track.num_frames.or_else(|| {
            track
                .duration
                .map(|d| (d.get() as f64 * ts_to_frames).round() as u64)
        });
        let container = format.format_info().short_name;
        let (decoder, codec_name, input_sample_rate) = match opus_head {
            Some(head) => {
                let exact_pts = container == "ogg";
                let pre_skip = head.pre_skip;
                // Ogg's duration counts granules, pre-skip included;
                // Matroska's is in milliseconds: not sample-exact, not used.
                total_frames = if exact_pts {
                    total_frames.map(|t| t.saturating_sub(pre_skip))
                } else {
                    None
                };
                let input = (head.input_rate != 0 && head.input_rate != OPUS_RATE)
                    .then_some(head.input_rate);
                let decoder =
                    OpusDecoder::new(head).map_err(|why| LatheError::decode(path, why))?;
                let padding_ns = mkv
                    .as_ref()
                    .and_then(|m| m.end_padding_ns.get(&u64::from(track_id)))
                    .copied()
                    .unwrap_or(0)
                    .max(0);
                let end_padding = (padding_ns as f64 * f64::from(OPUS_RATE) / 1e9).round() as u64;
                let start_at = if exact_pts {
                    track.start_ts.get().max(0)
                } else {
                    0
                };
                let stream = OpusStream {
                    decoder,
                    pre_skip,
                    exact_pts,
                    start_at,
                    decoded: start_at as u64,
                    gap_reported: false,
                    end_padding,
                };
                (Codec::Opus(stream), "opus", input)
            }
            None => {
                let decoder = symphonia::default::get_codecs()
                    .make_audio_decoder(&params, &AudioDecoderOptions::default())
                    .map_err(|e| LatheError::decode(path, sym_reason(&e)))?;
                let name = decoder.codec_info().short_name;
                (Codec::Symphonia(decoder), name, None)
            }
        };
        let lossy = is_lossy(codec_name);
        let bits = if lossy { None } else { params.bits_per_sample };
        let format_name = format!("{container}/{codec_name}");
        Ok(Self {
            path: path.to_path_buf(),
            info: SourceInfo {
                sample_rate,
                channels,
                total_frames,
                format: format_name,
                bits_per_sample: bits,
                lossy,
                input_sample_rate,
                channel_weights: weights,
            },
            format,
            decoder,
            track_id,
            ts_to_frames,
            pending: vec![Vec::new(); channels],
            pending_pos: 0,
            pending_len: 0,
            position: 0,
            seeking: false,
            frames_decoded_total: 0,
            decode_errors: 0,
            ended: false,
            warnings,
            peeked: None,
        })
    }

    /// The path this source decodes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decode the next packet into `pending`. Returns false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool> {
        loop {
            if self.ended {
                return Ok(false);
            }
            let next = match self.peeked.take() {
                Some(p) => p,
                None => self.format.next_packet(),
            };
            let packet = match next {
                Ok(Some(p)) => p,
                Ok(None) => {
                    self.ended = true;
                    return Ok(false);
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended = true;
                    if self.frames_decoded_total == 0 {
                        return Err(LatheError::decode(
                            &self.path,
                            "file is truncated: no audio data",
                        ));
                    }
                    self.warnings.push(format!(
                        "{}: file ends before its header says; read to its end ({} frames)",
                        self.path.display(),
                        self.frames_decoded_total
                    ));
                    return Ok(false);
                }
                Err(SymError::ResetRequired) => {
                    self.ended = true;
                    self.warnings.push(format!(
                        "{}: stream changes its layout midway; read up to the change",
                        self.path.display()
                    ));
                    return Ok(false);
                }
                Err(e) => {
                    if self.frames_decoded_total == 0 {
                        return Err(LatheError::decode(&self.path, sym_reason(&e)));
                    }
                    self.ended = true;
                    self.warnings.push(format!(
                        "{}: stopped at a read error after {} frames: {}",
                        self.path.display(),
                        self.frames_decoded_total,
                        sym_reason(&e)
                    ));
                    return Ok(false);
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoded = match &mut self.decoder {
                Codec::Symphonia(decoder) => {
                    let packet_start =
                        (packet.pts.get().max(0) as f64 * self.ts_to_frames).round() as u64;
                    match decoder.decode(&packet) {
                        Ok(buf) => {
                            let frames = buf.frames();
                            if frames > 0 && buf.spec().channels().count() != self.info.channels {
                                return Err(LatheError::decode(
                                    &self.path,
                                    "channel count changes within the stream",
                                ));
                            }
                            if frames > 0 {
                                buf.copy_to_vecs_planar::<f32>(&mut self.pending);
                            }
                            Ok((0, frames, packet_start))
                        }
                        Err(SymError::DecodeError(what)) => Err(what.to_string()),
                        Err(e) => return Err(LatheError::decode(&self.path, sym_reason(&e))),
                    }
                }
                Codec::Opus(op) => match op.decoder.decode(&packet.data, &mut self.pending) {
                    Ok(frames) => {
                        // Position of the packet's first decoded frame on the
                        // decoded timeline (pre-skip included).
                        let at = if op.exact_pts {
                            packet.pts.get()
                        } else {
                            op.decoded as i64
                        };
                        if op.exact_pts && at > op.decoded as i64 && !self.seeking {
                            // Pages went missing (a damaged page fails its
                            // checksum and is skipped): say where, once.
                            let missing = at - op.decoded as i64;
                            if !op.gap_reported {
                                op.gap_reported = true;
                                self.warnings.push(format!(
                                    "{}: a damaged stretch of {:.0} ms at {:.3} s was skipped",
                                    self.path.display(),
                                    missing as f64 * 1000.0 / f64::from(OPUS_RATE),
                                    (op.decoded as i64 - op.start_at - op.pre_skip as i64).max(0)
                                        as f64
                                        / f64::from(OPUS_RATE)
                                ));
                            }
                        }
                        op.decoded = (at.max(0) as u64).saturating_add(frames as u64);
                        let real = at - op.start_at - op.pre_skip as i64;
                        let lo = ((-real).max(0) as usize).min(frames);
                        let trim_end = if op.exact_pts {
                            packet.trim_end.get() as usize
                        } else if op.end_padding > 0 {
                            // Matroska: the padding belongs to the track's last
                            // packet; read ahead to know whether this is it.
                            let next = loop {
                                match self.format.next_packet() {
                                    Ok(Some(p)) if p.track_id != self.track_id => continue,
                                    other => break other,
                                }
                            };
                            let last = matches!(next, Ok(None));
                            self.peeked = Some(next);
                            if last { op.end_padding as usize } else { 0 }
                        } else {
                            0
                        };
                        let hi = frames.saturating_sub(trim_end).max(lo);
                        Ok((lo, hi, (real + lo as i64).max(0) as u64))
                    }
                    Err(why) => Err(why),
                },
            };
            match decoded {
                Ok((lo, hi, packet_start)) => {
                    if hi <= lo {
                        continue;
                    }
                    for (c, ch) in self.pending.iter().enumerate() {
                        if let Some(i) = ch[lo..hi].iter().position(|s| !s.is_finite()) {
                            return Err(LatheError::decode(
                                &self.path,
                                format!(
                                    "contains NaN or infinite samples (channel {}, frame {})",
                                    c + 1,
                                    self.frames_decoded_total + i as u64
                                ),
                            ));
                        }
                    }
                    let frames = hi - lo;
                    self.frames_decoded_total += frames as u64;
                    self.pending_pos = lo;
                    self.pending_len = hi;
                    if self.seeking {
                        // After a seek: drop what lies before the target frame.
                        let target = self.position;
                        if packet_start + frames as u64 <= target {
                            self.pending_len = 0;
                            continue;
                        }
                        self.pending_pos = lo + target.saturating_sub(packet_start) as usize;
                        self.seeking = false;
                    }
                    return Ok(true);
                }
                Err(what) => {
                    self.decode_errors += 1;
                    if self.decode_errors == 1 {
                        self.warnings.push(format!(
                            "{}: skipped a damaged packet ({what})",
                            self.path.display()
                        ));
                    }
                    if self.decode_errors > 64 && self.frames_decoded_total == 0 {
                        return Err(LatheError::decode(
                            &self.path,
                            format!("malformed audio data ({what})"),
                        ));
                    }
                    continue;
                }
            }
        }
    }
}

/// Codecs that discard information: their info line shows a bit rate, not a depth.
fn is_lossy(codec: &str) -> bool {
    matches!(
        codec,
        "mp1" | "mp2" | "mp3" | "aac" | "vorbis" | "opus" | "adpcm_ima" | "adpcm_ms"
    )
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied (unreadable)".to_string(),
        _ => e.to_string(),
    }
}

impl AudioSource for FileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn read(&mut self, out: &mut AudioBlock) -> Result<usize> {
        let want = out.capacity();
        let mut filled = 0;
        while filled < want {
            if self.pending_pos >= self.pending_len && !self.decode_next()? {
                break;
            }
            let n = (self.pending_len - self.pending_pos).min(want - filled);
            for (dst, src) in out.channels.iter_mut().zip(&self.pending) {
                dst[filled..filled + n]
                    .copy_from_slice(&src[self.pending_pos..self.pending_pos + n]);
            }
            self.pending_pos += n;
            filled += n;
        }
        if filled == 0 && self.frames_decoded_total == 0 && self.ended {
            return Err(LatheError::decode(&self.path, "contains no audio frames"));
        }
        self.position += filled as u64;
        out.frames = filled;
        Ok(filled)
    }

    fn seek(&mut self, frame: u64) -> Result<()> {
        // Where to ask the demuxer to go; None: decode from the start.
        let ts = match &self.decoder {
            // Opus needs pre-roll before the sought frame to converge
            // (`SEEK_PREROLL`, 960 ms: a straight decode's samples); near the
            // start (and in Matroska, whose timestamps are not sample-exact)
            // decode from the start instead.
            Codec::Opus(op) => (op.exact_pts && frame >= SEEK_PREROLL)
                .then(|| (frame + op.pre_skip - SEEK_PREROLL) as i64 + op.start_at),
            Codec::Symphonia(_) => Some((frame as f64 / self.ts_to_frames).floor() as i64),
        };
        let seeked = ts.is_some_and(|ts| {
            self.format
                .seek(
                    SeekMode::Accurate,
                    SeekTo::Timestamp {
                        ts: Timestamp::new(ts),
                        track_id: self.track_id,
                    },
                )
                .is_ok()
        });
        if seeked {
            match &mut self.decoder {
                Codec::Symphonia(d) => d.reset(),
                Codec::Opus(op) => op.decoder.reset(),
            }
            self.pending_pos = 0;
            self.pending_len = 0;
            self.peeked = None;
            self.position = frame;
            self.seeking = true;
            self.ended = false;
            return Ok(());
        }
        // Fall back to decoding from the start and dropping frames.
        let mut fresh = FileSource::open(&self.path)?;
        let mut scratch = AudioBlock::new(self.info.channels, 8192);
        let mut left = frame;
        while left > 0 {
            if left < scratch.capacity() as u64 {
                scratch = AudioBlock::new(self.info.channels, left as usize);
            }
            let n = fresh.read(&mut scratch)? as u64;
            if n == 0 {
                break;
            }
            left -= n;
        }
        *self = fresh;
        Ok(())
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
