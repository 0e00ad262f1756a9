//! Decoding with symphonia: probe, pick the audio track, decode in blocks to
//! planar `f32`, seek to an exact frame.
//!
//! [`AudioSource`] is the one abstraction the analyzer, the chain, the renderer
//! and the playback engine read from. A file is never decoded whole into
//! memory: [`FileSource`] keeps at most one decoded packet buffered.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::Timestamp;

use super::AudioBlock;
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
    /// Bits per sample of the stored PCM, when it has one (lossless and PCM formats).
    pub bits_per_sample: Option<u32>,
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

/// A decoded audio file.
pub struct FileSource {
    path: PathBuf,
    info: SourceInfo,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
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
            return Err(LatheError::open(path, "is a directory, not an audio file"));
        }
        if meta.len() == 0 {
            return Err(LatheError::decode(path, "file is empty"));
        }
        let mut file = File::open(path).map_err(|e| LatheError::open(path, io_reason(&e)))?;
        let wav = super::riff::inspect(&mut file, meta.len());
        let mut warnings = Vec::new();
        let media: Box<dyn symphonia::core::io::MediaSource> = match &wav {
            Some(layout) if layout.data_size_patched() => {
                warnings.push(format!(
                    "{}: file ends before its header says; read to its end ({} frames)",
                    path.display(),
                    layout.actual_frames()
                ));
                Box::new(
                    super::riff::PatchedFile::new(file, meta.len(), layout.patches.clone())
                        .map_err(|e| LatheError::open(path, io_reason(&e)))?,
                )
            }
            _ => {
                use std::io::Seek;
                file.rewind()
                    .map_err(|e| LatheError::open(path, io_reason(&e)))?;
                Box::new(file)
            }
        };
        let mss = MediaSourceStream::new(media, Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
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
        let sample_rate = params.sample_rate.unwrap_or(0);
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
        let channels = ch_layout.as_ref().map_or(0, |c| c.count());
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
        let wav_without_mask = wav.as_ref().is_some_and(|w| w.channel_mask.is_none());
        let weights = match &ch_layout {
            Some(c) if !wav_without_mask => channel_weights(c, channels),
            _ => default_weights(channels),
        };
        let ts_to_frames = match track.time_base {
            Some(tb) => {
                f64::from(tb.numer.get()) / f64::from(tb.denom.get()) * f64::from(sample_rate)
            }
            None => 1.0,
        };
        let total_frames = track.num_frames.or_else(|| {
            track
                .duration
                .map(|d| (d.get() as f64 * ts_to_frames).round() as u64)
        });
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| LatheError::decode(path, sym_reason(&e)))?;
        let bits = params.bits_per_sample;
        let format_name = format!(
            "{}/{}",
            format.format_info().short_name,
            decoder.codec_info().short_name
        );
        Ok(Self {
            path: path.to_path_buf(),
            info: SourceInfo {
                sample_rate,
                channels,
                total_frames,
                format: format_name,
                bits_per_sample: bits,
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
            let packet = match self.format.next_packet() {
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
            let packet_start = (packet.pts.get().max(0) as f64 * self.ts_to_frames).round() as u64;
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    let frames = buf.frames();
                    if frames == 0 {
                        continue;
                    }
                    if buf.spec().channels().count() != self.info.channels {
                        return Err(LatheError::decode(
                            &self.path,
                            "channel count changes within the stream",
                        ));
                    }
                    buf.copy_to_vecs_planar::<f32>(&mut self.pending);
                    for (c, ch) in self.pending.iter().enumerate() {
                        if let Some(i) = ch[..frames].iter().position(|s| !s.is_finite()) {
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
                    self.frames_decoded_total += frames as u64;
                    self.pending_pos = 0;
                    self.pending_len = frames;
                    if self.seeking {
                        // After a seek: drop what lies before the target frame.
                        let target = self.position;
                        if packet_start + frames as u64 <= target {
                            self.pending_len = 0;
                            continue;
                        }
                        self.pending_pos = target.saturating_sub(packet_start) as usize;
                        self.seeking = false;
                    }
                    return Ok(true);
                }
                Err(SymError::DecodeError(what)) => {
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
                Err(e) => {
                    return Err(LatheError::decode(&self.path, sym_reason(&e)));
                }
            }
        }
    }
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
        let ts = (frame as f64 / self.ts_to_frames).floor() as i64;
        let seeked = self.format.seek(
            SeekMode::Accurate,
            SeekTo::Timestamp {
                ts: Timestamp::new(ts),
                track_id: self.track_id,
            },
        );
        match seeked {
            Ok(_) => {
                self.decoder.reset();
                self.pending_pos = 0;
                self.pending_len = 0;
                self.position = frame;
                self.seeking = true;
                self.ended = false;
                Ok(())
            }
            Err(_) => {
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
        }
    }

    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
