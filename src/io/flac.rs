//! FLAC writing with the reference encoder, libFLAC (Debian's `libflac12`
//! through the `libflac-sys` binding, linked dynamically; libFLAC is under
//! Xiph's BSD licence).
//!
//! libFLAC chooses block sizes, predictors and Rice parameters itself, keeps
//! the MD5 of the audio and writes STREAMINFO (sizes, total samples, MD5)
//! over its placeholder when it finishes, through the seek callback. Frames
//! are encoded and written as they fill, so memory does not grow with
//! length. Written atomically like every output.

use std::ffi::c_void;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use libflac_sys as ffi;

use super::AudioBlock;
use super::atomic::{AtomicFile, PendingFile};
use crate::error::{LatheError, Result};

/// libFLAC's compression level (0–8): 5 is its default and `flac`'s.
pub const COMPRESSION_LEVEL: u32 = 5;

/// Where the encoder's callbacks write: the file and the first I/O error.
struct Sink {
    file: BufWriter<std::fs::File>,
    error: Option<std::io::Error>,
}

unsafe extern "C" fn write_cb(
    _enc: *const ffi::FLAC__StreamEncoder,
    buffer: *const ffi::FLAC__byte,
    bytes: usize,
    _samples: u32,
    _frame: u32,
    data: *mut c_void,
) -> ffi::FLAC__StreamEncoderWriteStatus {
    // SAFETY: `data` is the `Sink` boxed in `FlacOutput`, alive while the
    // encoder is; libFLAC hands `bytes` readable bytes at `buffer`.
    let sink = unsafe { &mut *(data as *mut Sink) };
    let bytes = unsafe { std::slice::from_raw_parts(buffer, bytes) };
    match sink.file.write_all(bytes) {
        Ok(()) => ffi::FLAC__STREAM_ENCODER_WRITE_STATUS_OK,
        Err(e) => {
            sink.error.get_or_insert(e);
            ffi::FLAC__STREAM_ENCODER_WRITE_STATUS_FATAL_ERROR
        }
    }
}

unsafe extern "C" fn seek_cb(
    _enc: *const ffi::FLAC__StreamEncoder,
    offset: ffi::FLAC__uint64,
    data: *mut c_void,
) -> ffi::FLAC__StreamEncoderSeekStatus {
    // SAFETY: as in `write_cb`.
    let sink = unsafe { &mut *(data as *mut Sink) };
    match sink.file.seek(SeekFrom::Start(offset)) {
        Ok(_) => ffi::FLAC__STREAM_ENCODER_SEEK_STATUS_OK,
        Err(e) => {
            sink.error.get_or_insert(e);
            ffi::FLAC__STREAM_ENCODER_SEEK_STATUS_ERROR
        }
    }
}

unsafe extern "C" fn tell_cb(
    _enc: *const ffi::FLAC__StreamEncoder,
    offset: *mut ffi::FLAC__uint64,
    data: *mut c_void,
) -> ffi::FLAC__StreamEncoderTellStatus {
    // SAFETY: as in `write_cb`; `offset` is libFLAC's out-parameter.
    let sink = unsafe { &mut *(data as *mut Sink) };
    match sink.file.stream_position() {
        Ok(p) => {
            unsafe { *offset = p };
            ffi::FLAC__STREAM_ENCODER_TELL_STATUS_OK
        }
        Err(e) => {
            sink.error.get_or_insert(e);
            ffi::FLAC__STREAM_ENCODER_TELL_STATUS_ERROR
        }
    }
}

/// A FLAC file being written by libFLAC.
pub struct FlacOutput {
    encoder: *mut ffi::FLAC__StreamEncoder,
    sink: Box<Sink>,
    pending: Option<PendingFile>,
    target: PathBuf,
    channels: usize,
    bits: u32,
    buf: Vec<i32>,
    total: u64,
}

// SAFETY: the encoder is owned by this value alone and used from one thread
// at a time (`&mut self`); libFLAC keeps no thread-local state.
unsafe impl Send for FlacOutput {}

impl FlacOutput {
    /// Create `path` for `channels` channels of `bits`-bit (16 or 24) audio
    /// at `rate` Hz, about `total_frames` long (written into STREAMINFO at
    /// the end whatever the length).
    pub fn create(
        path: &Path,
        rate: u32,
        channels: usize,
        bits: u32,
        total_frames: u64,
        inputs: &[PathBuf],
        force: bool,
    ) -> Result<Self> {
        if !matches!(bits, 16 | 24) {
            return Err(LatheError::write(
                path,
                format!("FLAC takes 16 or 24 bits, not {bits}"),
            ));
        }
        if !(1..=8).contains(&channels) {
            return Err(LatheError::write(
                path,
                format!("FLAC takes 1 to 8 channels, not {channels}"),
            ));
        }
        let atomic = AtomicFile::create(path, inputs, force)?;
        let (file, pending) = atomic.into_parts();
        let mut sink = Box::new(Sink { file, error: None });
        // SAFETY: plain libFLAC calls on an encoder made here; the sink
        // outlives it (dropped after `FLAC__stream_encoder_delete`).
        let encoder = unsafe { ffi::FLAC__stream_encoder_new() };
        if encoder.is_null() {
            return Err(LatheError::write(path, "libFLAC: out of memory"));
        }
        let ok = unsafe {
            ffi::FLAC__stream_encoder_set_channels(encoder, channels as u32) != 0
                && ffi::FLAC__stream_encoder_set_bits_per_sample(encoder, bits) != 0
                && ffi::FLAC__stream_encoder_set_sample_rate(encoder, rate) != 0
                && ffi::FLAC__stream_encoder_set_compression_level(encoder, COMPRESSION_LEVEL) != 0
                && ffi::FLAC__stream_encoder_set_total_samples_estimate(encoder, total_frames) != 0
        };
        let status = if ok {
            unsafe {
                ffi::FLAC__stream_encoder_init_stream(
                    encoder,
                    Some(write_cb),
                    Some(seek_cb),
                    Some(tell_cb),
                    None,
                    (&mut *sink as *mut Sink).cast::<c_void>(),
                )
            }
        } else {
            u32::MAX
        };
        if status != ffi::FLAC__STREAM_ENCODER_INIT_STATUS_OK {
            unsafe { ffi::FLAC__stream_encoder_delete(encoder) };
            return Err(LatheError::write(
                path,
                format!("libFLAC refused {channels} ch, {bits} bits, {rate} Hz (status {status})"),
            ));
        }
        Ok(Self {
            encoder,
            sink,
            pending: Some(pending),
            target: path.to_path_buf(),
            channels,
            bits,
            buf: Vec::with_capacity(8192 * channels),
            total: 0,
        })
    }

    fn failure(&mut self, what: &str) -> LatheError {
        match self.sink.error.take() {
            Some(e) => LatheError::write(&self.target, e.to_string()),
            None => {
                // SAFETY: the encoder is alive; the string is libFLAC's, static.
                let state = unsafe {
                    std::ffi::CStr::from_ptr(ffi::FLAC__stream_encoder_get_resolved_state_string(
                        self.encoder,
                    ))
                };
                LatheError::write(
                    &self.target,
                    format!("libFLAC {what}: {}", state.to_string_lossy()),
                )
            }
        }
    }

    /// Append the valid frames of `block` (samples already on the word-length grid).
    pub fn write_block(&mut self, block: &AudioBlock) -> Result<()> {
        let scale = f64::from(1u32 << (self.bits - 1));
        let max = scale - 1.0;
        self.buf.clear();
        for i in 0..block.frames {
            for ch in &block.channels[..self.channels] {
                self.buf
                    .push((f64::from(ch[i]) * scale).round().clamp(-scale, max) as i32);
            }
        }
        if block.frames == 0 {
            return Ok(());
        }
        // SAFETY: `buf` holds `frames × channels` interleaved samples.
        let ok = unsafe {
            ffi::FLAC__stream_encoder_process_interleaved(
                self.encoder,
                self.buf.as_ptr(),
                block.frames as u32,
            )
        };
        if ok == 0 {
            return Err(self.failure("could not encode"));
        }
        self.total += block.frames as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.total
    }

    /// Encode the rest, let libFLAC write STREAMINFO, publish the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        // SAFETY: the encoder is alive until Drop.
        let ok = unsafe { ffi::FLAC__stream_encoder_finish(self.encoder) };
        if ok == 0 {
            return Err(self.failure("could not finish"));
        }
        self.sink
            .file
            .flush()
            .map_err(|e| LatheError::write(&self.target, e.to_string()))?;
        match self.pending.take() {
            Some(p) => p.commit(),
            None => Err(LatheError::write(&self.target, "already finished")),
        }
    }
}

impl Drop for FlacOutput {
    fn drop(&mut self) {
        // SAFETY: made in `create`, deleted once; the sink is still alive.
        unsafe { ffi::FLAC__stream_encoder_delete(self.encoder) };
    }
}
